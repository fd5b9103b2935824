#!/usr/bin/env node
// Parses every deploy/aws/*.tf with HashiCorp's HCL parser (@cdktf/hcl2json, Go compiled to
// WebAssembly) and checks the configuration is consistent without AWS: every resource, data
// source, variable and local it references is declared, every declared variable is used, and
// the files it references exist. Prints a JSON summary for the caller's further checks.
//   node check_terraform.js DEPLOY_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const { parse } = require('@cdktf/hcl2json');

async function main() {
  const dir = process.argv[2];
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.tf')).sort();
  if (files.length === 0) throw new Error(`no .tf files in ${dir}`);
  const declared = { resource: new Set(), data: new Set(), variable: new Set(), local: new Set(),
                     output: new Set(), provider: new Set() };
  const strings = [];  // every string value with the file it came from
  for (const file of files) {
    const text = fs.readFileSync(path.join(dir, file), 'utf8');
    let json;
    try {
      json = await parse(file, text);
    } catch (e) {
      throw new Error(`${file}: ${e.message}`);
    }
    for (const [type, byName] of Object.entries(json.resource || {})) {
      for (const name of Object.keys(byName)) declared.resource.add(`${type}.${name}`);
    }
    for (const [type, byName] of Object.entries(json.data || {})) {
      for (const name of Object.keys(byName)) declared.data.add(`data.${type}.${name}`);
    }
    for (const name of Object.keys(json.variable || {})) declared.variable.add(name);
    for (const name of Object.keys(json.output || {})) declared.output.add(name);
    for (const name of Object.keys(json.provider || {})) declared.provider.add(name);
    for (const block of json.locals || []) {
      for (const name of Object.keys(block)) declared.local.add(name);
    }
    const walk = (node) => {
      if (typeof node === 'string') strings.push({ file, text: node });
      else if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        for (const [key, value] of Object.entries(node)) {
          strings.push({ file, text: key });
          walk(value);
        }
      }
    };
    walk(json);
  }

  const problems = [];
  const used = { variable: new Set(), local: new Set(), resource: new Set(), data: new Set() };
  const providers = new Set();
  for (const { file, text } of strings) {
    const expressions = text.match(/\$\{[^}]*\}/g) || [];
    for (const expr of expressions) {
      for (const m of expr.matchAll(/\bdata\.([a-z0-9_]+)\.([A-Za-z0-9_-]+)/g)) {
        const ref = `data.${m[1]}.${m[2]}`;
        used.data.add(ref);
        if (!declared.data.has(ref)) problems.push(`${file}: ${ref} is not declared`);
      }
      for (const m of expr.matchAll(/(?<![.\w])((?:aws|awscc)_[a-z0-9_]+)\.([A-Za-z0-9_-]+)/g)) {
        const ref = `${m[1]}.${m[2]}`;
        used.resource.add(ref);
        if (!declared.resource.has(ref)) problems.push(`${file}: ${ref} is not declared`);
      }
      for (const m of expr.matchAll(/\bvar\.([A-Za-z0-9_]+)/g)) {
        used.variable.add(m[1]);
        if (!declared.variable.has(m[1])) problems.push(`${file}: var.${m[1]} is not declared`);
      }
      for (const m of expr.matchAll(/\blocal\.([A-Za-z0-9_]+)/g)) {
        used.local.add(m[1]);
        if (!declared.local.has(m[1])) problems.push(`${file}: local.${m[1]} is not declared`);
      }
      for (const m of expr.matchAll(/\$\{path\.module\}\/([A-Za-z0-9_.\-\/]+)/g)) {
        if (!fs.existsSync(path.join(dir, m[1]))) problems.push(`${file}: ${m[1]} does not exist`);
      }
    }
  }
  for (const name of declared.variable) {
    if (!used.variable.has(name)) problems.push(`variable ${name} is never used`);
  }
  for (const name of declared.local) {
    if (!used.local.has(name)) problems.push(`local ${name} is never used`);
  }
  for (const type of [...declared.resource, ...declared.data]) {
    const provider = type.replace(/^data\./, '').split('_')[0];
    providers.add(provider);
    if (!declared.provider.has(provider)) problems.push(`${type}: provider ${provider} not configured`);
  }
  // Environment names the Lambda gets, for the caller to check against `chalkbot config --options`.
  const env = new Set();
  for (const { text } of strings) {
    for (const m of text.matchAll(/\bCHALKBOT_[A-Z0-9_]+/g)) env.add(m[0]);
  }
  console.log(JSON.stringify({
    files, resources: [...declared.resource].sort(), data: [...declared.data].sort(),
    variables: [...declared.variable].sort(), outputs: [...declared.output].sort(),
    chalkbot_env: [...env].sort(), problems,
  }, null, 2));
  if (problems.length) process.exit(1);
}

main().catch((e) => { console.error(`check_terraform: ${e.message}`); process.exit(2); });
