// The dashboard in a real browser (Debian's headless chromium through playwright-core): a real
// call placed with `chalkbot call` shows up live, then in the call list; its page shows the
// transcript and a latency waterfall with a bar for each stage. Then the Talk page calls the bot
// from the browser, chromium's fake microphone playing TALK_WAV (human speech, looped): the
// model gets the question, the bot's audio plays in the page, the transcript and the latency
// show, and the question said again over the answer (a barge-in) stops the bot's audio at once.
// Saves screenshots in WORK_DIR.
//
// Environment: ADMIN_URL (the dashboard), CHALKBOT (binary), SIP_TARGET (sip:bot@...),
// QUESTION (WAV the caller asks), ANSWER_WORD (a word of the scripted answer), WORK_DIR,
// TALK_WAV (the microphone), TALK_WORD (a word of what it says), STANDIN_URL (the model).
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

const stats = (page) => page.evaluate(() => ({ ...window.talkStats }));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function waitStats(page, what, test, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const now = await stats(page);
    if (test(now)) return now;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${ms} ms: ${JSON.stringify(now)}`);
    await sleep(50);
  }
}

// The Talk page: a call from the browser's (fake) microphone.
async function talkPage(page) {
  const began = Date.now();
  await page.goto(adminUrl + '/#/talk');
  await page.click('#talk-button');
  const talking = await waitStats(page, 'call', (s) => s.state === 'talking', 5000);
  console.log(`ok: Talk: in call ${talking.callId}`);
  // A normal call: on the dashboard's live list, from the browser.
  const live = await (await fetch(adminUrl + '/api/live')).json();
  const entry = live.calls.find((c) => c.id === talking.callId);
  if (!entry || !entry.from.startsWith('browser:')) throw new Error('not a live call: ' + JSON.stringify(live));

  // The caller's question, as recognised, and the model got it.
  await page.waitForSelector('#talk-transcript .turn.user', { timeout: 15000 });
  const asked = (await page.locator('#talk-transcript .turn.user .text').first().textContent()).trim();
  const word = env('TALK_WORD');
  const requests = await (await fetch(env('STANDIN_URL').replace(/\/v1$/, '') + '/requests')).json();
  const questions = requests.filter((r) => r.body && r.body.messages).map((r) => {
    const users = r.body.messages.filter((m) => m.role === 'user');
    return users.length ? String(users[users.length - 1].content) : '';
  });
  if (!questions.some((q) => q.toLowerCase().includes(word))) {
    throw new Error(`the model never got "${word}": ${JSON.stringify(questions)} (page: "${asked}")`);
  }
  console.log(`ok: Talk: the caller said "${asked}" and the model got it`);

  // The bot's answer plays in the page: half a second of it, and its words in the transcript.
  const heard = await waitStats(page, 'answer audio', (s) => s.played > 8000, 10000);
  await page.waitForSelector('#talk-transcript .turn.assistant', { timeout: 5000 });
  console.log(`ok: Talk: ${(heard.played / 16000).toFixed(2)} s of the answer played (${heard.received} samples came)`);
  await page.screenshot({ path: path.join(workDir, 'dashboard-talk.png'), fullPage: true });

  // The microphone says the question again over the long answer: the server's clear empties the
  // page's queue at once and no more of that answer plays.
  const before = heard.clears;
  const cleared = await waitStats(page, 'barge-in', (s) => s.clears > before, 15000);
  await sleep(300);
  const after = await stats(page);
  const playedSince = after.played - cleared.played;
  if (playedSince > 1600) throw new Error(`${playedSince} samples played after the barge-in`);
  if (after.queued > 0) throw new Error(`${after.queued} samples still queued after the barge-in`);
  await page.waitForSelector('#talk-transcript .turn.assistant .interrupted', { timeout: 5000 });
  const latency = await page.locator('#talk-transcript .turn.assistant .latency').first().textContent();
  console.log(`ok: Talk: barge-in stopped the bot (${playedSince} samples after the clear, ` +
    `${after.dropped} dropped from the queue); ${latency}`);
  await page.screenshot({ path: path.join(workDir, 'dashboard-talk-barge-in.png'), fullPage: true });

  await page.click('#talk-button');  // hang up
  await waitStats(page, 'hang-up', (s) => s.state === 'ended', 5000);
  const call = await (await fetch(adminUrl + '/api/calls/' + talking.callId)).json();
  if (!call.from.startsWith('browser:') || !call.turns.some((t) => t.role === 'user')) {
    throw new Error('the call is not stored: ' + JSON.stringify(call));
  }
  console.log(`ok: Talk: hung up, stored (${call.turns.length} turns, ended by ${call.end_reason}) ` +
    `in ${((Date.now() - began) / 1000).toFixed(1)} s`);
}

async function main() {
  // A fresh profile (--user-data-dir) in the work dir, which playwright passes to chromium.
  const browser = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(workDir, 'chromium-')), {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // The Talk page's microphone: a WAV file, allowed without asking.
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${env('TALK_WAV')}`,
      '--autoplay-policy=no-user-gesture-required'],
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
    await talkPage(page);
    if (problems.length) throw new Error(problems.join('\n'));
  } finally {
    await browser.close();
  }
}

main().then(() => console.log('ok: dashboard'), (e) => {
  console.error('FAIL: ' + (e.stack || e));
  process.exit(1);
});
