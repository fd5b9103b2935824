#!/usr/bin/env python3
"""A scripted Twilio for the Media Streams tests, written from Twilio's public documentation:
the voice webhook is a form POST signed with X-Twilio-Signature (base64 HMAC-SHA1 with the auth
token over the URL followed by each POST parameter's name and value, sorted by name); the
bidirectional stream (<Connect><Stream>) is a WebSocket whose handshake is signed over its URL,
carrying JSON text messages: "connected", "start" (streamSid, callSid, customParameters,
mediaFormat), "media" (base64 8 kHz u-law, 20 ms each, in real time), "dtmf", "stop" from
Twilio; "media", "mark" and "clear" back. The WebSocket client is a minimal RFC 6455 one
(client frames masked), as the tests have no WebSocket library.

Usage: twilio_client.py PORT PUBLIC_URL AUTH_TOKEN SCENARIO OUT_JSON [WAV...]"""
import base64
import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid as uuidlib
import wave

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # u-law <-> linear (removed in 3.13; Debian 12 has 3.11)

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def signature(token, url, params=None):
    data = url + "".join(k + v for k, v in sorted((params or {}).items()))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def read_pcm(path):
    with wave.open(path) as w:
        assert w.getframerate() == 8000 and w.getnchannels() == 1 and w.getsampwidth() == 2, path
        return w.readframes(w.getnframes())


def write_wav(path, pcm):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm)


class WebSocket:
    def __init__(self, port, path, headers):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            head += chunk
        head, _, self.buf = head.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1]) if head else 0
        if self.status == 101:
            want = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
            assert want.encode() in head, "bad Sec-WebSocket-Accept"
        self.wlock = threading.Lock()

    def send_frame(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        try:
            with self.wlock:
                self.sock.sendall(head + mask + masked)
            return True
        except OSError:
            return False

    def send_json(self, obj):
        return self.send_frame(0x1, json.dumps(obj).encode())

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        """(opcode, payload) of the next whole frame from the server (never masked)."""
        b0, b1 = self._need(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._need(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._need(8))[0]
        return b0 & 0x0F, self._need(n)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Call:
    """A Twilio call's stream: connected + start, then 20 ms of caller audio per tick (speech
    when queued, u-law silence otherwise); every message from the bot recorded with its time."""

    def __init__(self, port, public_url, token, start=True, sign=True):
        url = public_url.replace("http://", "ws://") + "/twilio/stream"
        headers = {"X-Twilio-Signature": signature(token, url)} if sign else {}
        self.ws = WebSocket(port, "/twilio/stream", headers)
        self.call_sid = "CA" + uuidlib.uuid4().hex
        self.stream_sid = "MZ" + uuidlib.uuid4().hex
        self.lock = threading.Lock()
        self.messages = []  # (time, event, message)
        self.close_code = None
        self.closed_at = None
        self.speech = b""
        self.stop_sending = threading.Event()
        self.ended = threading.Event()  # the server's side is gone (close frame or EOF)
        if self.ws.status != 101:
            return
        threading.Thread(target=self._read, daemon=True).start()
        self.ws.send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        if start:
            self.send_start()
            threading.Thread(target=self._stream, daemon=True).start()

    def send_start(self):
        self.ws.send_json({
            "event": "start", "sequenceNumber": "1", "streamSid": self.stream_sid,
            "start": {"accountSid": "AC" + "0" * 32, "streamSid": self.stream_sid,
                      "callSid": self.call_sid, "tracks": ["inbound"],
                      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                      "channels": 1},
                      "customParameters": {"from": "+15551230000", "to": "+15559870000"}}})

    def _read(self):
        while True:
            try:
                opcode, payload = self.ws.recv()
            except (EOFError, OSError):
                break
            if opcode == 0x8:
                with self.lock:
                    self.close_code = struct.unpack(">H", payload[:2])[0] if payload else 1005
                if not self.stop_sending.is_set():  # the server's close: answer it
                    self.ws.send_frame(0x8, payload[:2])
                break
            if opcode == 0x1:
                message = json.loads(payload)
                with self.lock:
                    self.messages.append((time.monotonic(), message.get("event"), message))
        with self.lock:
            self.closed_at = time.monotonic()
        self.stop_sending.set()
        self.ended.set()

    def _stream(self):
        deadline = time.monotonic()
        seq = 2
        while not self.stop_sending.is_set():
            with self.lock:
                frame, self.speech = self.speech[:320], self.speech[320:]
            ulaw = audioop.lin2ulaw(frame.ljust(320, b"\0"), 2)
            if not self.ws.send_json({"event": "media", "sequenceNumber": str(seq),
                                      "streamSid": self.stream_sid,
                                      "media": {"track": "inbound", "chunk": str(seq - 1),
                                                "timestamp": str((seq - 2) * 20),
                                                "payload": base64.b64encode(ulaw).decode()}}):
                return
            seq += 1
            deadline += 0.02
            time.sleep(max(0.0, deadline - time.monotonic()))

    def say(self, pcm):
        with self.lock:
            self.speech += pcm
        while True:
            with self.lock:
                if not self.speech:
                    return
            time.sleep(0.02)

    def events_after(self, t, event):
        with self.lock:
            return [(at, m) for at, e, m in self.messages if e == event and at >= t]

    def wait_event(self, after, event, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = self.events_after(after, event)
            if found:
                return found[0][0]
            time.sleep(0.01)
        return None

    def wait_quiet(self, after, quiet, timeout):
        start = self.wait_event(after, "media", timeout)
        if start is None:
            return None
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            last = self.events_after(start, "media")[-1][0]
            if time.monotonic() - last >= quiet:
                return start, last
            time.sleep(0.02)
        return None

    def audio(self, start, end):
        return b"".join(audioop.ulaw2lin(base64.b64decode(m["media"]["payload"]), 2)
                        for at, m in self.events_after(start, "media") if at <= end)

    def wait_closed(self, timeout):
        self.ended.wait(timeout)
        with self.lock:
            return self.closed_at

    def send_stop(self):
        self.stop_sending.set()
        self.ws.send_json({"event": "stop", "sequenceNumber": "999", "streamSid": self.stream_sid,
                           "stop": {"accountSid": "AC" + "0" * 32, "callSid": self.call_sid}})
        time.sleep(0.1)
        self.ws.close()


def webhook(port, public_url, token, out):
    """The voice webhook: signed, it answers with <Connect><Stream>; unsigned or wrongly signed,
    403. The stream's handshake likewise."""
    url = public_url + "/twilio/voice"
    params = {"CallSid": "CA" + "1" * 32, "From": "+15551230000", "To": "+15559870000",
              "AccountSid": "AC" + "0" * 32, "CallStatus": "ringing"}
    body = urllib.parse.urlencode(params).encode()
    seen = {}

    def post(headers):
        request = urllib.request.Request(f"http://127.0.0.1:{port}/twilio/voice", data=body,
                                         headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode(), response.headers["Content-Type"]
        except urllib.error.HTTPError as e:
            return e.code, "", ""

    seen["signed"] = post({"X-Twilio-Signature": signature(token, url, params)})
    seen["unsigned"] = post({})[0]
    seen["wrong"] = post({"X-Twilio-Signature": signature("not-the-token", url, params)})[0]
    params_tampered = dict(params, From="+15550000000")
    seen["tampered"] = post({"X-Twilio-Signature": signature(token, url, params_tampered)})[0]
    seen["stream_unsigned"] = Call(port, public_url, token, sign=False).ws.status
    seen["stream_wrong"] = Call(port, public_url, "not-the-token").ws.status
    return seen


def conversation(port, public_url, token, out, question_wav):
    call = Call(port, public_url, token)
    seen = {"call_sid": call.call_sid}
    greeting = call.wait_quiet(0, 0.6, 15)
    seen["greeting"] = greeting is not None
    seen["mark_after_greeting"] = bool(greeting and call.wait_event(greeting[1], "mark", 2))
    asked = time.monotonic()
    call.say(read_pcm(question_wav))
    answer = call.wait_quiet(asked, 1.0, 20)
    seen["answer"] = answer is not None
    if answer:
        pcm = call.audio(*answer)
        write_wav(out + ".answer.wav", pcm)
        seen["answer_audio_s"] = len(pcm) / 16000
        seen["answer_wall_s"] = answer[1] - answer[0] + 0.02
        times = [t for t, _ in call.events_after(answer[0], "media") if t <= answer[1]]
        # Paced: about 50 frames a second, counted over a second (this process may stall a moment
        # and then read at once what queued meanwhile).
        seen["most_frames_in_1s"] = max(sum(1 for u in times if t <= u < t + 1.0)
                                           for t in times)
        seen["stream_sid_echoed"] = all(m.get("streamSid") == call.stream_sid
                                        for _, m in call.events_after(0, "media"))
    pressed = time.monotonic()
    call.ws.send_json({"event": "dtmf", "streamSid": call.stream_sid, "sequenceNumber": "5000",
                       "dtmf": {"track": "inbound_track", "digit": "9"}})
    closed = call.wait_closed(15)
    seen["closed_after_dtmf_s"] = None if closed is None else closed - pressed
    seen["close_code"] = call.close_code
    return seen


def barge_in(port, public_url, token, out, story_wav, question_wav):
    call = Call(port, public_url, token)
    seen = {"call_sid": call.call_sid}
    call.wait_quiet(0, 0.6, 15)
    asked = time.monotonic()
    call.say(read_pcm(story_wav))
    if call.wait_event(asked, "media", 20) is None:
        return seen
    time.sleep(2.0)
    barge = time.monotonic()
    threading.Thread(target=call.say, args=(read_pcm(question_wav),), daemon=True).start()
    cleared = call.wait_event(barge, "clear", 5)
    seen["clear_after_s"] = None if cleared is None else cleared - barge
    if cleared is not None:
        # Nothing of the old answer after the clear: the next audio is a new answer, later.
        next_media = call.wait_event(cleared, "media", 0.3)
        seen["media_within_300ms_of_clear"] = next_media is not None
    call.wait_quiet(barge + 2, 1.0, 20)
    call.send_stop()
    return seen


def hang_ups(port, public_url, token, out, question_wav):
    question = read_pcm(question_wav)
    seen = {}

    def greeting():
        call = Call(port, public_url, token)
        seen["greeting"] = call.call_sid
        call.wait_event(0, "media", 15)
        call.send_stop()

    def listening():  # the WebSocket closed (a close frame) without a "stop"
        call = Call(port, public_url, token)
        seen["listening"] = call.call_sid
        call.wait_quiet(0, 0.6, 15)
        call.stop_sending.set()
        call.ws.send_frame(0x8, struct.pack(">H", 1000))
        call.wait_closed(5)
        call.ws.close()

    def dropped():  # the TCP connection gone, no close frame: not a hang-up but a lost line
        call = Call(port, public_url, token)
        seen["dropped"] = call.call_sid
        call.wait_quiet(0, 0.6, 15)
        call.stop_sending.set()
        call.ws.close()

    def speaking():
        call = Call(port, public_url, token)
        seen["speaking"] = call.call_sid
        call.wait_quiet(0, 0.6, 15)
        asked = time.monotonic()
        call.say(question)
        seen["speaking_had_answer"] = call.wait_event(asked, "media", 20) is not None
        time.sleep(0.3)
        call.send_stop()

    threads = [threading.Thread(target=f) for f in (greeting, listening, speaking, dropped)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return seen


def malformed(port, public_url, token, out):
    cases = {
        "not_json": (True, lambda c: c.ws.send_frame(0x1, b"{not json")),
        "no_event": (True, lambda c: c.ws.send_json({"media": {}})),
        "bad_base64": (True, lambda c: c.ws.send_json(
            {"event": "media", "streamSid": c.stream_sid, "media": {"payload": "!!!"}})),
        "unknown_event": (True, lambda c: c.ws.send_json({"event": "dance"})),
        "binary_frame": (True, lambda c: c.ws.send_frame(0x2, b"\x00\x01")),
        "bad_digit": (True, lambda c: c.ws.send_json(
            {"event": "dtmf", "streamSid": c.stream_sid, "dtmf": {"digit": "x"}})),
        "media_before_start": (False, lambda c: c.ws.send_json(
            {"event": "media", "media": {"payload": "AAAA"}})),
    }
    seen = {}

    def run(name, started, send):
        call = Call(port, public_url, token, start=started)
        if started:
            call.wait_event(0, "media", 15)
        sent = time.monotonic()
        call.stop_sending.set()
        time.sleep(0.05)
        send(call)
        closed = call.wait_closed(5)
        seen[name] = {"call_sid": call.call_sid if started else None,
                      "closed_s": None if closed is None else closed - sent,
                      "close_code": call.close_code}

    threads = [threading.Thread(target=run, args=(name, *case)) for name, case in cases.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return seen


def connection_cap(port, public_url, token, out, count):
    """Idle connections beyond the server's cap are closed at once; those within stay open."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(int(count))]
    time.sleep(0.5)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            closed += s.recv(1) == b""
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    for s in socks:
        s.close()
    return {"opened": len(socks), "closed_at_once": closed}


def main():
    port, public_url, token, scenario, out = sys.argv[1:6]
    result = {"webhook": webhook, "conversation": conversation, "barge_in": barge_in,
              "hang_ups": hang_ups, "malformed": malformed,
              "connection_cap": connection_cap}[scenario](
        int(port), public_url, token, out, *sys.argv[6:])
    with open(out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
