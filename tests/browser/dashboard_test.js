// The dashboard in a real browser (Debian's headless chromium through playwright-core): a real
// call placed with `chalkbot call` shows up live, then in the call list; its page shows the
// transcript and a latency waterfall with a bar for each stage. Saves screenshots in WORK_DIR.
//
// Environment: ADMIN_URL (the dashboard), CHALKBOT (binary), SIP_TARGET (sip:bot@...),
// QUESTION (WAV the caller asks), ANSWER_WORD (a word of the scripted answer), WORK_DIR.
'use strict';
const { chromium } = require('playwright-core');
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

const env = (name) => {
  if (!process.env[name]) throw new Error(`${name} is not set`);
  return process.env[name];
};
const adminUrl = env('ADMIN_URL');
const workDir = env('WORK_DIR');
const STAGES = ['speech', 'endpoint', 'asr', 'llm_first_token', 'first_sentence',
  'tts_first_audio', 'first_rtp_out'];

function placeCall() {
  const child = spawn(env('CHALKBOT'), ['call', env('SIP_TARGET'), '--say', env('QUESTION'),
    '--timeout-s', '60'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
}

async function main() {
  // A fresh profile (--user-data-dir) in the work dir, which playwright passes to chromium.
  const browser = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(workDir, 'chromium-')), {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1200, height: 900 },
  });
  try {
    const page = browser.pages()[0] || await browser.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    page.on('console', (m) => { if (m.type() === 'error') problems.push('console: ' + m.text()); });
    // Offline: everything the page loads must come from the binary itself.
    page.on('request', (r) => {
      if (!r.url().startsWith(adminUrl)) problems.push('external request: ' + r.url());
    });

    await page.goto(adminUrl + '/');
    await page.waitForSelector('#connection.live', { timeout: 10000 });

    // 1. The call appears live, without a reload.
    const call = placeCall();
    const liveRow = page.locator('#live-calls tr.live-call');
    await liveRow.first().waitFor({ timeout: 15000 });
    const id = await liveRow.first().getAttribute('data-id');
    console.log(`ok: call ${id} appeared live (${await liveRow.first().locator('td').nth(3).textContent()})`);
    await page.screenshot({ path: path.join(workDir, 'dashboard-live.png'), fullPage: true });

    const { code, out } = await call;
    if (code !== 0) throw new Error(`chalkbot call exited ${code}:\n${out}`);
    // 2. It leaves the live table and is in the call list, ended.
    await page.locator(`#live-calls tr.live-call[data-id="${id}"]`).waitFor({ state: 'detached', timeout: 15000 });
    const listed = page.locator(`#calls tr.call-row[data-id="${id}"]`);
    await listed.waitFor({ timeout: 10000 });
    await page.waitForFunction(() => Number(document.querySelector('#latency-chart').dataset.points) >= 1,
      null, { timeout: 10000 });
    console.log('ok: the ended call is listed and the latency chart has a point');
    await page.screenshot({ path: path.join(workDir, 'dashboard-overview.png'), fullPage: true });

    // 3. Its page: transcript and a waterfall bar for every stage.
    await listed.click();
    await page.waitForSelector('#transcript .turn.assistant', { timeout: 10000 });
    const answers = await page.locator('#transcript .turn.assistant .text').allTextContents();
    const questions = await page.locator('#transcript .turn.user .text').allTextContents();
    const word = env('ANSWER_WORD');
    if (!answers.some((t) => t.includes(word))) {
      throw new Error(`no answer mentions "${word}": ${JSON.stringify(answers)}`);
    }
    if (questions.length < 1 || !questions[0].trim()) throw new Error('no caller turn in the transcript');
    const waterfall = page.locator('#transcript .turn.assistant .waterfall').first();
    for (const stage of STAGES) {
      const bar = waterfall.locator(`.bar[data-stage="${stage}"]`);
      if (await bar.count() !== 1) throw new Error(`waterfall has no ${stage} bar`);
      const box = await bar.boundingBox();
      if (!box || box.width < 1) throw new Error(`the ${stage} bar is not visible`);
    }
    console.log(`ok: transcript "${questions[0]}" -> "${answers[0]}"; waterfall bars: ${STAGES.join(', ')}`);
    // The tools the model called: this call's model called none, and the page says so.
    const tools = (await page.locator('#tools').textContent()).trim();
    if (tools !== 'None.') throw new Error(`the tools section shows '${tools}' for a call without tools`);
    // The recording plays in the page's audio player (a 2-channel WAV of the call).
    const seconds = await page.locator('audio#call-audio').evaluate((audio) => new Promise((resolve, reject) => {
      if (audio.readyState >= 1) return resolve(audio.duration);
      audio.addEventListener('loadedmetadata', () => resolve(audio.duration));
      audio.addEventListener('error', () => reject(new Error('the recording does not load')));
    }));
    if (!(seconds > 2)) throw new Error(`the recording lasts ${seconds} s`);
    console.log(`ok: the audio player has the ${seconds.toFixed(1)} s recording`);
    await page.screenshot({ path: path.join(workDir, 'dashboard-call.png'), fullPage: true });
    if (problems.length) throw new Error(problems.join('\n'));
  } finally {
    await browser.close();
  }
}

main().then(() => console.log('ok: dashboard'), (e) => {
  console.error('FAIL: ' + (e.stack || e));
  process.exit(1);
});
