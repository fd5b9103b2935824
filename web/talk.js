// The dashboard's Talk page: a phone call to the bot from this browser. One click asks for the
// microphone (echo cancellation and noise suppression on) and opens a WebSocket to /api/talk on
// this server; talk-worklet.js carries the audio both ways (the protocol: transport/
// browser_protocol.h). The transcript of both sides and each answer's latency show as they come.
// window.talkStats counts what went by (tests read it).
'use strict';

const talk = (() => {
  const stats = { sent: 0, received: 0, played: 0, queued: 0, dropped: 0, clears: 0, state: 'idle',
    callId: '', turns: 0 };
  window.talkStats = stats;
  let socket = null;
  let context = null;
  let microphone = null;
  let playback = null;
  let botTurn = null;  // the bot's turn being said, where its sentences go

  const $ = (selector) => document.querySelector(selector);
  function setState(state, text) {
    stats.state = state;
    $('#talk-state').textContent = text;
    $('#talk-state').className = 'talk-state ' + state;
    const button = $('#talk-button');
    button.textContent = state === 'talking' || state === 'connecting' ? 'Hang up' : 'Talk';
    button.classList.toggle('hangup', state === 'talking' || state === 'connecting');
    button.disabled = state === 'asking';
  }

  function turn(role, text) {
    const node = document.createElement('div');
    node.className = 'turn ' + (role === 'caller' ? 'user' : 'assistant') + ' live';
    const label = document.createElement('span');
    label.className = 'role';
    label.textContent = role;
    const body = document.createElement('div');
    body.className = 'text';
    body.textContent = text;
    node.append(label, body);
    $('#talk-transcript').append(node);
    node.scrollIntoView({ block: 'nearest' });
    return node;
  }

  // An answer is over: its latency and stages under it.
  function finish(news) {
    const node = botTurn || turn('bot', news.text);
    botTurn = null;
    stats.turns++;
    node.querySelector('.text').textContent = news.text;
    if (news.interrupted) {
      const mark = document.createElement('span');
      mark.className = 'interrupted';
      mark.textContent = 'interrupted';
      node.querySelector('.role').after(mark);
    }
    const timing = document.createElement('div');
    timing.className = 'total latency';
    const stages = (news.stages || []).map((s) => `${s.name} ${s.ms} ms`).join(' · ');
    timing.textContent = (news.latency_ms != null ? `response latency ${news.latency_ms} ms` :
      'response latency not known') + (stages ? ` (${stages})` : '');
    if (news.latency_ms != null) node.dataset.latency = news.latency_ms;
    node.append(timing);
  }

  function onNews(news) {
    switch (news.type) {
      case 'started':
        stats.callId = news.call_id;
        setState('talking', `in a call (${news.call_id.slice(0, 8)}); say something`);
        break;
      case 'caller':
        botTurn = null;
        turn('caller', news.text);
        break;
      case 'bot':
        if (botTurn) {
          const text = botTurn.querySelector('.text');
          text.textContent = (text.textContent + ' ' + news.text).trim();
        } else {
          botTurn = turn('bot', news.text);
        }
        break;
      case 'turn':
        finish(news);
        break;
      case 'clear':  // the caller talked over the bot: what it still had to say goes
        stats.clears++;
        if (playback) playback.port.postMessage('clear');
        break;
      case 'ended':
        setState(news.error ? 'failed' : 'ended',
          news.error ? `call ended: ${news.error}` : `call ended (${news.reason})`);
        break;
      default:
        break;
    }
  }

  async function start() {
    setState('asking', 'asking for the microphone…');
    try {
      microphone = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
      try {
        context = new AudioContext({ sampleRate: 16000, latencyHint: 'interactive' });
      } catch (e) {
        context = new AudioContext({ latencyHint: 'interactive' });  // the worklets convert
      }
      await context.audioWorklet.addModule('/talk-worklet.js');
      const capture = new AudioWorkletNode(context, 'chalkbot-capture',
        { numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1, channelCountMode: 'explicit' });
      playback = new AudioWorkletNode(context, 'chalkbot-playback',
        { numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1] });
      context.createMediaStreamSource(microphone).connect(capture);
      capture.connect(context.destination);  // silent: keeps the capture running
      playback.connect(context.destination);
      playback.port.onmessage = (event) => {
        stats.played = event.data.played;
        stats.queued = event.data.queued;
        stats.dropped = event.data.dropped;
      };
      await context.resume();

      const token = sessionStorage.getItem('chalkbot-token');
      const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
        '/api/talk' + (token ? '?token=' + encodeURIComponent(token) : '');
      setState('connecting', 'calling…');
      socket = new WebSocket(url);
      socket.binaryType = 'arraybuffer';
      socket.onopen = () => socket.send(JSON.stringify({ type: 'start', rate: 16000 }));
      socket.onmessage = (event) => {
        if (typeof event.data === 'string') return onNews(JSON.parse(event.data));
        stats.received += event.data.byteLength / 2;
        playback.port.postMessage(event.data, [event.data]);
      };
      socket.onclose = (event) => {
        if (stats.state === 'connecting') refused(url.replace(/^ws/, 'http'));
        else if (stats.state === 'talking') {
          setState('failed', `the connection closed (${event.code}${event.reason ? ': ' + event.reason : ''})`);
        }
        stop();
      };
      capture.port.onmessage = (event) => {
        if (socket && socket.readyState === WebSocket.OPEN) {
          socket.send(event.data);
          stats.sent++;
        }
      };
    } catch (e) {
      setState('failed', 'no call: ' + (e.message || e.name));
      stop();
    }
  }

  // The server refused the WebSocket before it began (a browser says nothing of why): the same
  // request without the upgrade gets the admin API's JSON error, e.g. a missing token.
  async function refused(url) {
    setState('failed', 'the server refused the call');
    try {
      const response = await fetch(url);
      const body = await response.json();
      if (response.status !== 426 && body.error) setState('failed', 'no call: ' + body.error);
    } catch (e) {
      // the server is gone: the message above stands
    }
  }

  // Releases the microphone and the audio; the socket is closed if still open.
  function stop() {
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close();
    socket = null;
    if (microphone) microphone.getTracks().forEach((track) => track.stop());
    microphone = null;
    if (context) context.close();
    context = null;
    playback = null;
    botTurn = null;
  }

  function hangUp() {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: 'hangup' }));  // the server says "ended" and closes
    } else {
      stop();
      setState('ended', 'call ended');
    }
  }

  $('#talk-button').addEventListener('click', () => {
    if (stats.state === 'talking' || stats.state === 'connecting') hangUp();
    else if (stats.state !== 'asking') start();
  });
  return { stats };
})();
