// Chalkbot dashboard: live calls (server-sent events), the call list, a call's transcript with
// its per-turn latency waterfall, and response-latency percentiles over time. No dependencies.
'use strict';

const PAGE = 20;
const STAGES = {
  speech: 'caller speaking',
  endpoint: 'end of speech',
  asr: 'ASR',
  llm_first_token: 'LLM first token',
  first_sentence: 'first sentence',
  tts_first_audio: 'TTS first audio',
  first_rtp_out: 'first RTP out',
};

// A token given once in the URL (?token=...) is kept for this tab and sent as a bearer token.
const token = (() => {
  const fromUrl = new URLSearchParams(location.search).get('token');
  if (fromUrl) sessionStorage.setItem('chalkbot-token', fromUrl);
  return sessionStorage.getItem('chalkbot-token') || '';
})();

async function api(path, options = {}) {
  const headers = token ? { Authorization: 'Bearer ' + token } : {};
  const response = await fetch(path, { ...options, headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

const $ = (selector) => document.querySelector(selector);
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}
const time = (ms) => new Date(ms).toLocaleString();
const seconds = (ms) => (ms / 1000).toFixed(1) + ' s';
const shortId = (id) => id.slice(0, 8);

// --- live calls ---
let liveCalls = [];
function renderLive() {
  const body = $('#live-calls tbody');
  body.replaceChildren(...liveCalls.map((c) => el('tr', { class: 'live-call', 'data-id': c.id },
    el('td', {}, el('a', { href: '#/calls/' + c.id }, shortId(c.id))),
    el('td', {}, c.from), el('td', {}, c.to),
    el('td', { class: 'state-' + c.state }, c.state),
    el('td', { class: 'duration', 'data-started': c.started_ms }, seconds(Date.now() - c.started_ms)),
    el('td', {}, el('button', { class: 'hangup', type: 'button', onclick: () => hangUp(c.id) },
      'Hang up')))));
  $('#live-count').textContent = liveCalls.length;
  $('#live-empty').hidden = liveCalls.length > 0;
}
async function hangUp(id) {
  try { await api('/api/calls/' + id + '/hangup', { method: 'POST' }); } catch (e) { alert(e.message); }
}
function watchLive() {
  const url = '/api/live/stream' + (token ? '?token=' + encodeURIComponent(token) : '');
  const source = new EventSource(url);
  source.onopen = () => { $('#connection').textContent = 'live'; $('#connection').className = 'pill live'; };
  source.onerror = () => { $('#connection').textContent = 'reconnecting…'; $('#connection').className = 'pill'; };
  source.onmessage = (event) => {
    const before = liveCalls.map((c) => c.id).join();
    liveCalls = JSON.parse(event.data).calls;
    renderLive();
    // A call started or ended: the list and the chart have news.
    if (before !== liveCalls.map((c) => c.id).join()) { loadCalls(); loadLatency(); }
  };
}
setInterval(() => {
  for (const cell of document.querySelectorAll('#live-calls .duration')) {
    cell.textContent = seconds(Date.now() - Number(cell.dataset.started));
  }
}, 1000);

// --- call list ---
let offset = 0;
async function loadCalls() {
  const page = await api(`/api/calls?offset=${offset}&limit=${PAGE}`);
  $('#calls tbody').replaceChildren(...page.calls.map((c) => el('tr', {
    class: 'call-row', 'data-id': c.id, onclick: () => { location.hash = '#/calls/' + c.id; },
  },
  el('td', {}, time(c.started_ms)),
  el('td', {}, el('a', { href: '#/calls/' + c.id }, shortId(c.id))),
  el('td', {}, c.from),
  el('td', {}, c.node || '—'),
  el('td', {}, c.ended_ms ? seconds(c.ended_ms - c.started_ms) : 'live'),
  el('td', {}, c.end_reason || '—'))));
  $('#calls-total').textContent = page.total;
  $('#page-info').textContent = page.total
    ? `${offset + 1}–${offset + page.calls.length} of ${page.total}` : '';
  $('#prev').disabled = offset === 0;
  $('#next').disabled = offset + PAGE >= page.total;
}
$('#prev').onclick = () => { offset = Math.max(0, offset - PAGE); loadCalls(); };
$('#next').onclick = () => { offset += PAGE; loadCalls(); };

// --- latency percentiles over time (one point per call, oldest left) ---
async function loadLatency() {
  const { points } = await api('/api/latency?calls=50');
  const svg = $('#latency-chart');
  const W = 800, H = 200, pad = 28;
  const max = Math.max(500, ...points.map((p) => p.p95_ms)) * 1.1;
  const x = (i) => pad + (points.length < 2 ? (W - 2 * pad) / 2 : i * (W - 2 * pad) / (points.length - 1));
  const y = (ms) => H - pad - ms / max * (H - 2 * pad);
  const ns = 'http://www.w3.org/2000/svg';
  const node = (tag, attrs) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    return n;
  };
  const parts = [];
  for (const ms of [0, max / 2, max]) {
    parts.push(node('line', { x1: pad, x2: W - pad, y1: y(ms), y2: y(ms), stroke: '#e5e7eb' }));
    const label = node('text', { x: 2, y: y(ms) + 4, 'font-size': 10, fill: '#6b7280' });
    label.textContent = Math.round(ms) + ' ms';
    parts.push(label);
  }
  for (const key of ['p50', 'p95']) {
    const d = points.map((p, i) => `${i ? 'L' : 'M'}${x(i)},${y(p[key + '_ms'])}`).join('');
    if (d) parts.push(node('path', { d, class: 'line-' + key, fill: 'none', 'stroke-width': 2 }));
    points.forEach((p, i) => {
      const dot = node('circle', { cx: x(i), cy: y(p[key + '_ms']), r: 3, class: 'line-' + key });
      dot.style.fill = key === 'p50' ? '#2563eb' : '#dc2626';
      const tip = node('title', {});
      tip.textContent = `${time(p.started_ms)}: ${key} ${p[key + '_ms']} ms over ${p.turns} turns`;
      dot.append(tip);
      parts.push(dot);
    });
  }
  svg.replaceChildren(...parts);
  svg.dataset.points = points.length;
}

// --- one call ---
function waterfall(turn) {
  const bars = turn.stages;
  if (!bars.length) return el('div');
  const start = bars[0].start_ms;
  const end = Math.max(...bars.map((b) => b.end_ms));
  const span = Math.max(end - start, 1);
  const box = el('div', { class: 'waterfall', 'data-turn': turn.index });
  for (const b of bars) {
    const bar = el('div', { class: 'bar ' + b.stage, 'data-stage': b.stage, title: STAGES[b.stage] });
    bar.style.left = ((b.start_ms - start) / span * 100) + '%';
    bar.style.width = ((b.end_ms - b.start_ms) / span * 100) + '%';
    box.append(el('div', { class: 'row' }, el('span', {}, STAGES[b.stage] || b.stage),
      el('div', { class: 'track' }, bar), el('span', { class: 'ms' }, (b.end_ms - b.start_ms) + ' ms')));
  }
  if (turn.response_latency_ms != null) {
    box.append(el('div', { class: 'total' }, `response latency ${turn.response_latency_ms} ms`));
  }
  return box;
}

async function showCall(id) {
  $('#overview').hidden = true;
  $('#call').hidden = false;
  $('#transcript').replaceChildren();
  $('#tools').replaceChildren();
  $('#player').replaceChildren();
  try {
    const call = await api('/api/calls/' + encodeURIComponent(id));
    $('#call-title').textContent = 'Call ' + call.id;
    $('#call-meta').textContent = `${call.from} → ${call.to} · ${time(call.started_ms)} · ` +
      (call.node ? `node ${call.node} · ` : '') +
      (call.ended_ms ? `${seconds(call.ended_ms - call.started_ms)}, ended by ${call.end_reason}` : 'in progress');
    if (call.recording) {
      const src = `/api/calls/${call.id}/audio` + (token ? '?token=' + encodeURIComponent(token) : '');
      $('#player').append(el('audio', { id: 'call-audio', controls: '', preload: 'metadata', src }));
    } else {
      $('#player').append(el('p', { class: 'muted' }, 'No recording (recording.enabled is off).'));
    }
    $('#transcript').replaceChildren(...call.turns.map((t) => el('div', { class: 'turn ' + t.role, 'data-index': t.index },
      el('span', { class: 'role' }, t.role === 'user' ? 'caller' : 'bot'),
      t.interrupted ? el('span', { class: 'interrupted' }, 'interrupted') : '',
      el('div', { class: 'text' }, t.text),
      t.role === 'assistant' ? waterfall(t) : '')));
    const tools = call.tool_calls || [];
    const shown = (v) => (typeof v === 'string' ? v : JSON.stringify(v));
    $('#tools').replaceChildren(...(tools.length === 0
      ? [el('p', { class: 'muted' }, 'None.')]
      : tools.map((t) => el('div', { class: 'tool ' + (t.ok ? 'ok' : 'error'), 'data-index': t.index },
        el('span', { class: 'name' }, t.name),
        el('span', { class: 'outcome' }, `${t.ok ? 'ok' : 'error'} · ${t.duration_ms} ms · ${time(t.started_ms)}`),
        el('div', { class: 'arguments' }, 'arguments: ' + shown(t.arguments)),
        el('div', { class: 'result' }, 'result: ' + shown(t.result))))));
  } catch (e) {
    $('#call-title').textContent = 'Call ' + id;
    $('#call-meta').textContent = e.message;
  }
}

function route() {
  const talking = location.hash === '#/talk';
  $('#talk').hidden = !talking;
  if (talking) {
    $('#overview').hidden = true;
    $('#call').hidden = true;
    return;
  }
  const match = location.hash.match(/^#\/calls\/([^/]+)$/);
  if (match) return showCall(decodeURIComponent(match[1]));
  $('#overview').hidden = false;
  $('#call').hidden = true;
  loadCalls();
  loadLatency();
}

$('#stage-legend').replaceChildren(...Object.entries(STAGES).map(([key, name]) =>
  el('span', {}, el('span', { class: 'swatch ' + key }), name)));
window.addEventListener('hashchange', route);
watchLive();
route();
