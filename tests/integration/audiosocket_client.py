#!/usr/bin/env python3
"""A scripted Asterisk for the AudioSocket tests: it speaks the protocol as Asterisk's documentation
describes it (docs/Configuration/Channel-Drivers/AudioSocket.md: a 1-byte kind, a 2-byte
big-endian length, the payload; 0x00 hang-up, 0x01 16-byte UUID, 0x03 one ASCII DTMF digit,
0x10 signed 16-bit little-endian 8 kHz mono audio, 0xff error), sending 20 ms frames in real
time as Asterisk does, and records what the bot sends back with arrival times.

Usage: audiosocket_client.py PORT SCENARIO OUT_JSON [WAV...]. Each scenario prints what it saw
as JSON for the shell test to check against the store and the log."""
import json
import socket
import struct
import sys
import threading
import time
import uuid as uuidlib
import wave

FRAME_BYTES = 320  # 20 ms of 8 kHz 16-bit mono
HANGUP, UUID, DTMF, AUDIO, ERROR = 0x00, 0x01, 0x03, 0x10, 0xFF


def message(kind, payload=b""):
    return struct.pack(">BH", kind, len(payload)) + payload


def read_pcm(path):
    with wave.open(path) as w:
        assert w.getframerate() == 8000 and w.getnchannels() == 1 and w.getsampwidth() == 2, path
        return w.readframes(w.getnframes())


class Call:
    """One connection: a sender thread streams 20 ms frames on absolute deadlines (the caller's
    speech when queued, silence otherwise); a reader thread records every message."""

    def __init__(self, port, call_uuid=None, send_uuid=True, stream=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.uuid = call_uuid or str(uuidlib.uuid4())
        self.lock = threading.Lock()
        self.audio = []      # (arrival time, payload bytes)
        self.kinds = []      # every message kind received, in order
        self.closed_at = None
        self.speech = b""
        self.stop = threading.Event()
        self.sent_frames = 0
        threading.Thread(target=self._read, daemon=True).start()
        if send_uuid:
            self.send(message(UUID, uuidlib.UUID(self.uuid).bytes))
        if stream:
            threading.Thread(target=self._stream, daemon=True).start()

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                with self.lock:
                    self.closed_at = time.monotonic()
                self.stop.set()
                return
            buf += chunk
            while len(buf) >= 3:
                kind, length = struct.unpack(">BH", buf[:3])
                if len(buf) < 3 + length:
                    break
                payload, buf = buf[3:3 + length], buf[3 + length:]
                with self.lock:
                    self.kinds.append(kind)
                    if kind == AUDIO:
                        self.audio.append((time.monotonic(), payload))

    def _stream(self):
        deadline = time.monotonic()
        while not self.stop.is_set():
            with self.lock:
                frame, self.speech = self.speech[:FRAME_BYTES], self.speech[FRAME_BYTES:]
            frame = frame.ljust(FRAME_BYTES, b"\0")
            if not self.send(message(AUDIO, frame)):
                return
            self.sent_frames += 1
            deadline += 0.02
            time.sleep(max(0.0, deadline - time.monotonic()))

    def say(self, pcm):
        """Queues speech and returns when it has all been sent."""
        with self.lock:
            self.speech += pcm
        while True:
            with self.lock:
                if not self.speech:
                    return
            time.sleep(0.02)

    def frames_after(self, t):
        with self.lock:
            return [a for a in self.audio if a[0] >= t]

    def wait_audio(self, after, timeout):
        """When the bot's audio first arrived after `after` (None on timeout)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            frames = self.frames_after(after)
            if frames:
                return frames[0][0]
            time.sleep(0.01)
        return None

    def wait_quiet(self, after, quiet, timeout):
        """Waits for audio after `after` and then `quiet` seconds without any; returns the
        (start, end) arrival times of that audio, or None."""
        start = self.wait_audio(after, timeout)
        if start is None:
            return None
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            last = self.frames_after(start)[-1][0]
            if time.monotonic() - last >= quiet:
                return start, last
            time.sleep(0.02)
        return None

    def wait_closed(self, timeout):
        self.stop.wait(timeout)
        with self.lock:
            return self.closed_at

    def close(self):
        # shutdown() first: a close() alone leaves the reader thread's recv holding the socket open
        self.stop.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def hang_up(self):
        self.stop.set()
        self.send(message(HANGUP))
        time.sleep(0.1)
        self.close()

    def audio_bytes(self, start, end):
        with self.lock:
            return b"".join(p for t, p in self.audio if start <= t <= end)


def write_wav(path, pcm):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm)


def conversation(port, out, question_wav):
    """Greeting, a question, its answer (paced in real time), then DTMF 9 hangs up."""
    call = Call(port)
    seen = {"uuid": call.uuid}
    greeting = call.wait_quiet(time.monotonic() - 1, 0.6, 15)
    seen["greeting"] = greeting is not None
    asked = time.monotonic()
    call.say(read_pcm(question_wav))
    answer = call.wait_quiet(asked, 1.0, 20)
    seen["answer"] = answer is not None
    if answer:
        pcm = call.audio_bytes(*answer)
        write_wav(out + ".answer.wav", pcm)
        seen["answer_audio_s"] = len(pcm) / 16000
        seen["answer_wall_s"] = answer[1] - answer[0] + 0.02
        # Real-time pacing: about 50 frames a second. Counted over a second, not a tick: this
        # process may be descheduled for a moment and then read what queued meanwhile at once.
        times = [t for t, _ in call.frames_after(answer[0]) if t <= answer[1]]
        seen["most_frames_in_1s"] = max(
            sum(1 for u in times if t <= u < t + 1.0) for t in times)
    pressed = time.monotonic()
    call.send(message(DTMF, b"9"))
    seen["closed_after_dtmf_s"] = (call.wait_closed(15) or pressed + 99) - pressed
    seen["farewell_audio"] = bool(call.frames_after(pressed))
    with call.lock:
        seen["got_hangup_message"] = HANGUP in call.kinds
    return seen


def barge_in(port, out, story_wav, question_wav):
    """The caller talks over a long answer: the bot's audio stops at once."""
    call = Call(port)
    seen = {"uuid": call.uuid}
    call.wait_quiet(time.monotonic() - 1, 0.6, 15)
    asked = time.monotonic()
    call.say(read_pcm(story_wav))
    started = call.wait_audio(asked, 20)
    seen["story_started"] = started is not None
    if started is None:
        return seen
    time.sleep(2.0)
    barge = time.monotonic()
    question = read_pcm(question_wav)
    threading.Thread(target=call.say, args=(question,), daemon=True).start()
    # The first gap of 300 ms in the bot's audio after the caller began to speak.
    gap_at = None
    end = barge + 6
    while time.monotonic() < end and gap_at is None:
        frames = call.frames_after(barge - 0.5)
        last = frames[-1][0] if frames else barge
        if time.monotonic() - last >= 0.3:
            gap_at = last
        time.sleep(0.02)
    seen["audio_stopped_after_s"] = None if gap_at is None else gap_at - barge
    call.wait_quiet(barge + len(question) / 16000, 1.0, 20)  # its answer to the new question
    call.hang_up()
    return seen


def hang_ups(port, out, question_wav):
    """A hang-up in each state of a call, all at once; and one before the UUID."""
    question = read_pcm(question_wav)
    seen = {}

    def before_uuid():
        call = Call(port, send_uuid=False, stream=False)
        time.sleep(0.2)
        call.close()

    def during_greeting():
        call = Call(port)
        seen["greeting"] = call.uuid
        seen["greeting_had_audio"] = call.wait_audio(0, 15) is not None
        call.hang_up()

    def listening():
        call = Call(port)
        seen["listening"] = call.uuid
        call.wait_quiet(0, 0.6, 15)
        time.sleep(0.3)
        call.hang_up()

    def thinking():  # the model is slow here (the shell set ttft): hang up before its answer
        call = Call(port)
        seen["thinking"] = call.uuid
        call.wait_quiet(0, 0.6, 15)
        call.say(question)
        time.sleep(0.9)  # past the end of the turn (300 ms), before the slow model's answer
        seen["thinking_had_answer"] = bool(call.frames_after(time.monotonic() - 0.9))
        call.hang_up()

    def speaking():
        call = Call(port)
        seen["speaking"] = call.uuid
        call.wait_quiet(0, 0.6, 15)
        asked = time.monotonic()
        call.say(question)
        seen["speaking_had_answer"] = call.wait_audio(asked, 20) is not None
        time.sleep(0.3)
        call.hang_up()

    def socket_closed():  # no hang-up message: closing the socket says the same
        call = Call(port)
        seen["socket_closed"] = call.uuid
        call.wait_quiet(0, 0.6, 15)
        call.close()

    threads = [threading.Thread(target=f) for f in
               (before_uuid, during_greeting, listening, thinking, speaking, socket_closed)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return seen


def malformed(port, out):
    """Messages the protocol does not allow: each connection is closed with a hang-up."""
    cases = {
        "unknown_kind": [message(0x02, b"\x01\x02")],
        "odd_audio": [message(AUDIO, b"\0" * 321)],
        "uuid_too_short": [message(UUID, b"\x11" * 15)],
        "bad_dtmf": [message(DTMF, b"x")],
        "audio_before_uuid": [message(AUDIO, b"\0" * FRAME_BYTES)],
        "second_uuid": [message(UUID, uuidlib.uuid4().bytes)],
        "huge_audio": [message(AUDIO, b"\0" * 20000)],
    }
    seen = {}

    def run(name, data):
        before_uuid = name in ("audio_before_uuid", "uuid_too_short")
        call = Call(port, send_uuid=not before_uuid, stream=False)
        if not before_uuid:
            call.wait_audio(0, 15)  # the call is running (its greeting began)
        sent = time.monotonic()
        for d in data:
            call.send(d)
        closed = call.wait_closed(5)
        with call.lock:
            kinds = list(call.kinds)
        seen[name] = {"uuid": None if before_uuid else call.uuid,
                      "closed_s": None if closed is None else closed - sent,
                      "hangup_sent": HANGUP in kinds}

    threads = [threading.Thread(target=run, args=c) for c in cases.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return seen


def main():
    port, scenario, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    args = sys.argv[4:]
    result = {"conversation": conversation, "barge_in": barge_in, "hang_ups": hang_ups,
              "malformed": malformed}[scenario](port, out, *args)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
