// The Talk page's two AudioWorklet processors (loaded by talk.js with audioWorklet.addModule).
// They run on the browser's audio rendering thread and talk to the page through their ports.
//
// chalkbot-capture: the microphone in, 16 kHz 16-bit PCM out, posted as one ArrayBuffer per 20 ms
//   (320 samples), which the page sends up the WebSocket as it is.
// chalkbot-playback: the bot's 16 kHz 16-bit PCM in (ArrayBuffers posted by the page), played in
//   order from a queue; the message 'clear' (a barge-in) drops everything queued at once. It posts
//   {played, queued, dropped} (samples at 16 kHz) about every 50 ms and after each clear.
//
// talk.js asks for a 16 kHz AudioContext, so both usually pass samples straight through. Where a
// browser runs the context at another rate, they convert by linear interpolation: good enough for
// speech recognition and a voice, not a high-fidelity resampler.
'use strict';

const WIRE_RATE = 16000;
const FRAME = 320;  // 20 ms at 16 kHz

class Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / WIRE_RATE;  // input samples per 16 kHz sample
    this.pos = 0;  // where the next 16 kHz sample falls, in this block's input samples
    this.last = 0;  // the previous block's final input sample (position -1)
    this.frame = new Int16Array(FRAME);
    this.filled = 0;
  }

  process(inputs, outputs) {
    const input = inputs[0];
    if (input && input.length > 0) {
      const samples = input[0];
      const n = samples.length;
      while (this.pos <= n - 1) {
        const i = Math.floor(this.pos);
        const frac = this.pos - i;
        const a = i < 0 ? this.last : samples[i];
        const b = i + 1 < n ? samples[i + 1] : a;
        this.push(a + (b - a) * frac);
        this.pos += this.step;
      }
      this.pos -= n;
      this.last = samples[n - 1];
    }
    // Silence out: the node only sits in the graph so that the browser runs it.
    for (const channel of outputs[0] || []) channel.fill(0);
    return true;
  }

  push(value) {
    const clamped = Math.max(-1, Math.min(1, value));
    this.frame[this.filled++] = Math.round(clamped * 32767);
    if (this.filled === FRAME) {
      const buffer = this.frame.buffer;
      this.port.postMessage(buffer, [buffer]);  // handed over, not copied
      this.frame = new Int16Array(FRAME);
      this.filled = 0;
    }
  }
}

class Playback extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = WIRE_RATE / sampleRate;  // 16 kHz samples per output sample
    this.chunks = [];  // Int16Array, oldest first
    this.index = 0;    // position in chunks[0] (fractional when converting rates)
    this.queued = 0;   // samples in chunks not yet played
    this.played = 0;
    this.dropped = 0;
    this.sinceReport = 0;
    this.port.onmessage = (event) => {
      if (event.data === 'clear') {
        this.dropped += this.queued;
        this.chunks = [];
        this.index = 0;
        this.queued = 0;
        this.report();
        return;
      }
      const pcm = new Int16Array(event.data);
      if (pcm.length === 0) return;
      this.chunks.push(pcm);
      this.queued += pcm.length;
    };
  }

  // The sample at the read position (interpolated with the next), or null when the queue is dry.
  sample() {
    while (this.chunks.length > 0 && this.index >= this.chunks[0].length) {
      this.index -= this.chunks[0].length;
      this.chunks.shift();
    }
    if (this.chunks.length === 0) return null;
    const chunk = this.chunks[0];
    const i = Math.floor(this.index);
    const frac = this.index - i;
    const a = chunk[i];
    const b = i + 1 < chunk.length ? chunk[i + 1] : (this.chunks[1] ? this.chunks[1][0] : a);
    return (a + (b - a) * frac) / 32768;
  }

  process(inputs, outputs) {
    const output = outputs[0];
    if (!output || output.length === 0) return true;
    const first = output[0];
    for (let k = 0; k < first.length; k++) {
      const value = this.sample();
      if (value === null) {
        first[k] = 0;
        continue;
      }
      first[k] = value;
      const before = Math.floor(this.index);
      this.index += this.step;
      const consumed = Math.floor(this.index) - before;
      this.played += consumed;
      this.queued -= consumed;
    }
    for (let c = 1; c < output.length; c++) output[c].set(first);
    this.sinceReport += first.length;
    if (this.sinceReport >= sampleRate / 20) this.report();
    return true;
  }

  report() {
    this.sinceReport = 0;
    this.port.postMessage({ played: this.played, queued: Math.max(0, this.queued), dropped: this.dropped });
  }
}

registerProcessor('chalkbot-capture', Capture);
registerProcessor('chalkbot-playback', Playback);
