#!/usr/bin/env python3
"""A local OpenAI-compatible stand-in for tests: real HTTP/1.1, SSE streaming, scripted answers and
injectable faults. Python 3 standard library only.

  openai_standin.py --port 0 [--script FILE.json] [--ttft-ms N] [--tokens-per-sec N]
                    [--transcript TEXT] [--fault KIND] [--retry-after SECONDS] [--say-with BINARY]

Prints exactly one line "LISTENING <port>" on stdout once it accepts connections.

Endpoints (under /v1): POST chat/completions (stream or not), audio/transcriptions (multipart),
audio/speech (raw 24 kHz 16-bit mono PCM: a tone, or real speech from `BINARY say` with
--say-with). Test helpers: POST /control {"faults": [...], "endpoint": "chat"|"transcriptions"|
"speech", "fault": KIND|null, "ttft_ms": N, "tokens_per_sec": N, "clear_requests": true},
GET /requests, GET /healthz. Any method on /tool/...: a model's HTTP tool (answers with what
it got; faults queued for endpoint "tool").

Fault kinds (queued by /control "faults", one per request, for one endpoint when "endpoint" is
given, "ok" for a normal reply; or for every request: /control "fault", --fault): 429 (with Retry-After), 500, 503, 401, insufficient_quota, hang, reset, malformed on every
endpoint; hang_after_first_token on chat and speech. reset: chat breaks the connection after the
first tokens, speech after the first audio, transcription before any reply. malformed: chat sends a
broken SSE event, transcription a 200 that is not JSON, speech a 200 HTML page instead of audio.
"""

import argparse
import email.parser
import email.policy
import json
import math
import os
import re
import select
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE_LOCK = threading.Lock()
FAULTS = []        # queued fault kinds, applied one per request
ENDPOINT_FAULTS = {}  # endpoint ("chat", "transcriptions", "speech") -> its own queue, used first
REQUESTS = []      # what the server received, for GET /requests
OPTIONS = None     # argparse namespace, mutable through /control
SCRIPT = None      # {"rules": [...], "default": "..."} or None
BUILTIN_REPLY = "I heard you. You have told me {user_turns_before} things before this."
SPEECH_RATE = 24000


def error_body(message, type_, code=None):
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def choose_reply(messages):
    """The reply text and the tool calls to stream. A script rule with "tool_calls" (a list of
    {"name", "arguments"}) asks for them when the last message is the caller's; once the tool
    results are back (last message role "tool") it answers "after_tools" instead, with
    {last_tool} standing for the last tool result, so a test never loops."""
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    last_user = str(users[-1].get("content", "")) if users else ""
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    after_tools = last.get("role") == "tool"
    fields = {"user_turns_before": max(len(users) - 1, 0), "last_user": last_user,
              "last_tool": str(last.get("content", "")) if after_tools else ""}
    template = BUILTIN_REPLY
    tool_calls = []
    if SCRIPT is not None:
        template = SCRIPT.get("default", BUILTIN_REPLY)
        for rule in SCRIPT.get("rules", []):
            if str(rule.get("match", "")).lower() in last_user.lower():
                template = rule.get("reply", "")
                if rule.get("tool_calls"):
                    if after_tools:
                        template = rule.get("after_tools", "")
                    else:
                        tool_calls = rule["tool_calls"]
                break
    out = template
    for key, value in fields.items():
        out = out.replace("{" + key + "}", str(value))
    return out, tool_calls


def tool_call_deltas(tool_calls):
    """Streamed tool_calls the way OpenAI sends them: a first delta per call with its index, id and
    name, then its arguments in three pieces, the calls' pieces interleaved so a client must key
    them by index."""
    pieces = []
    for index, call in enumerate(tool_calls):
        arguments = call.get("arguments", {})
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        third = max(1, len(text) // 3)
        parts = [text[:third], text[third:2 * third], text[2 * third:]]
        pieces.append([{"index": index, "id": "call_standin_%d" % index, "type": "function",
                        "function": {"name": call["name"], "arguments": ""}}] +
                      [{"index": index, "function": {"arguments": part}} for part in parts if part])
    deltas = []
    for step in range(max((len(p) for p in pieces), default=0)):
        for call_pieces in pieces:
            if step < len(call_pieces):
                deltas.append(call_pieces[step])
    return deltas


def split_tokens(text):
    # Word-sized pieces with their leading space, the way OpenAI streams them.
    return re.findall(r"\s*\S+", text) or [text]


def take_fault(endpoint):
    with STATE_LOCK:
        queue = ENDPOINT_FAULTS.get(endpoint)
        if queue:
            return queue.pop(0)
        if FAULTS:
            return FAULTS.pop(0)
    return OPTIONS.fault


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "openai-standin/1.0"

    def log_message(self, fmt, *args):  # quiet unless asked
        if OPTIONS.verbose:
            sys.stderr.write("standin: " + (fmt % args) + "\n")

    # ---- plumbing -------------------------------------------------------------------------
    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_json(self, status, obj, extra_headers=None):
        self.send_raw(status, "application/json", json.dumps(obj).encode(), extra_headers)

    def send_raw(self, status, content_type, data, extra_headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def start_chunked(self, content_type):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()

    def chunk(self, data):
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def end_chunked(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def wait_for_disconnect(self, limit_s=120.0):
        """Blocks until the client closes its side (or limit_s passes)."""
        sock = self.connection
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                try:
                    if not sock.recv(4096, socket.MSG_PEEK):
                        break
                    sock.recv(4096)
                except OSError:
                    break
        self.close_connection = True

    def abort_connection(self):
        self.wfile.flush()
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True

    def record(self, entry):
        entry["path"] = self.path
        entry["authorization"] = self.headers.get("Authorization")
        with STATE_LOCK:
            REQUESTS.append(entry)

    def apply_error_fault(self, fault):
        """Sends the error response for error-kind faults; True when it did."""
        if fault == "429":
            self.send_json(429, error_body("Rate limit reached for requests", "requests",
                                           "rate_limit_exceeded"),
                           {"Retry-After": OPTIONS.retry_after})
        elif fault in ("500", "503"):
            self.send_json(int(fault), error_body(
                "The server had an error while processing your request.", "server_error"))
        elif fault == "401":
            auth = self.headers.get("Authorization") or ""
            key = auth[len("Bearer "):] if auth.startswith("Bearer ") else auth
            # Echoes the key like a careless server would, so clients must redact it.
            self.send_json(401, error_body("Incorrect API key provided: %s." % key,
                                           "invalid_request_error", "invalid_api_key"))
        elif fault == "insufficient_quota":
            self.send_json(429, error_body(
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota", "insufficient_quota"))
        elif fault == "hang":
            self.wait_for_disconnect()
        else:
            return False
        return True

    # ---- routes ---------------------------------------------------------------------------
    def tool(self):
        """A model's HTTP tool (any method on /tool/...): records the request and answers with
        what it got, or with the fault queued for endpoint "tool" (500, hang, ...)."""
        body = self.read_body()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = body.decode("utf-8", "replace")
        fault = take_fault("tool")
        self.record({"method": self.command, "body": parsed, "tool": True,
                     "x_api_key": self.headers.get("X-Api-Key"), "fault": fault})
        try:
            if self.apply_error_fault(fault):
                return
            self.send_json(200, {"ok": True, "method": self.command, "path": self.path,
                                 "body": parsed, "order_status": "shipped on Monday"})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_PUT(self):
        self.tool() if self.path.startswith("/tool/") else self.send_json(404, {})

    def do_PATCH(self):
        self.do_PUT()

    def do_DELETE(self):
        self.do_PUT()

    def do_GET(self):
        if self.path.startswith("/tool/"):
            return self.tool()
        if self.path == "/healthz":
            self.send_json(200, {"ok": True})
        elif self.path == "/requests":
            with STATE_LOCK:
                self.send_json(200, list(REQUESTS))
        else:
            self.send_json(404, error_body("no route " + self.path, "invalid_request_error"))

    def do_POST(self):
        if self.path.startswith("/tool/"):
            return self.tool()
        body = self.read_body()
        if self.path == "/control":
            return self.control(body)
        routes = {
            "/v1/chat/completions": self.chat,
            "/v1/audio/transcriptions": self.transcriptions,
            "/v1/audio/speech": self.speech,
        }
        route = routes.get(self.path.split("?")[0])
        if route is None:
            return self.send_json(404, error_body("no route " + self.path, "invalid_request_error"))
        fault = take_fault(self.path.split("?")[0].rsplit("/", 1)[-1].replace("completions", "chat"))
        try:
            route(body, fault)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def control(self, body):
        try:
            cmd = json.loads(body or b"{}")
        except ValueError:
            return self.send_json(400, error_body("bad JSON", "invalid_request_error"))
        with STATE_LOCK:
            if "endpoint" in cmd:  # faults for that endpoint only ("ok": a normal reply)
                ENDPOINT_FAULTS.setdefault(str(cmd["endpoint"]), []).extend(
                    str(f) for f in cmd.get("faults", []))
            else:
                FAULTS.extend(str(f) for f in cmd.get("faults", []))
            if "fault" in cmd:
                OPTIONS.fault = None if cmd["fault"] is None else str(cmd["fault"])
            if "ttft_ms" in cmd:
                OPTIONS.ttft_ms = float(cmd["ttft_ms"])
            if "tokens_per_sec" in cmd:
                OPTIONS.tokens_per_sec = float(cmd["tokens_per_sec"])
            if cmd.get("clear_requests"):
                REQUESTS.clear()
            queued = list(FAULTS)
        self.send_json(200, {"faults": queued})

    def chat(self, body, fault):
        try:
            req = json.loads(body)
        except ValueError:
            self.record({"body": None})
            return self.send_json(400, error_body("request body is not JSON",
                                                  "invalid_request_error"))
        self.record({"body": req, "fault": fault})
        if self.apply_error_fault(fault):
            return
        messages = req.get("messages")
        if not isinstance(messages, list) or not messages:
            return self.send_json(400, error_body("'messages' must be a non-empty array",
                                                  "invalid_request_error"))
        reply, tool_calls = choose_reply(messages)
        model = req.get("model", "standin")
        created = int(time.time())
        if not req.get("stream"):
            time.sleep(OPTIONS.ttft_ms / 1000.0)
            return self.send_json(200, {
                "id": "chatcmpl-standin", "object": "chat.completion", "created": created,
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}})

        def event(delta, finish=None):
            chunk = {"id": "chatcmpl-standin", "object": "chat.completion.chunk",
                     "created": created, "model": model,
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            self.chunk(b"data: " + json.dumps(chunk).encode() + b"\n\n")

        self.start_chunked("text/event-stream")
        self.chunk(b": stand-in stream\n\n")
        event({"role": "assistant", "content": ""})
        if fault == "malformed":
            self.chunk(b'data: {"choices": [{"delta": {"content": "Hel\n\n')
            self.chunk(b"data: [DONE]\n\n")
            return self.end_chunked()
        time.sleep(OPTIONS.ttft_ms / 1000.0)
        gap = 1.0 / OPTIONS.tokens_per_sec if OPTIONS.tokens_per_sec > 0 else 0.0
        tokens = split_tokens(reply)
        for index, token in enumerate(tokens):
            if index > 0 and gap:
                time.sleep(gap)
            event({"content": token})
            if fault == "hang_after_first_token":
                return self.wait_for_disconnect()
            if fault == "reset" and index == min(1, len(tokens) - 1):
                return self.abort_connection()
        for delta in tool_call_deltas(tool_calls):
            event({"tool_calls": [delta]})
        event({}, "tool_calls" if tool_calls else "stop")
        self.chunk(b"data: [DONE]\n\n")
        self.end_chunked()

    def transcriptions(self, body, fault):
        ctype = self.headers.get("Content-Type", "")
        fields, files = {}, {}
        if ctype.startswith("multipart/form-data"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True) or b""
                if part.get_filename() is not None:
                    files[name] = payload
                else:
                    fields[name] = payload.decode(errors="replace")
        entry = {"fields": fields, "files": {n: len(d) for n, d in files.items()}, "fault": fault}
        wav = files.get("file")
        if wav is not None and len(wav) >= 44 and wav[:4] == b"RIFF" and wav[8:12] == b"WAVE":
            channels, rate = struct.unpack("<HI", wav[22:28])
            bits = struct.unpack("<H", wav[34:36])[0]
            entry["wav"] = {"channels": channels, "rate": rate, "bits": bits,
                            "samples": (len(wav) - 44) // 2}
        self.record(entry)
        if self.apply_error_fault(fault):
            return
        if fault == "reset":
            return self.abort_connection()
        if fault == "malformed":
            return self.send_raw(200, "application/json", b'{"text": "hello')
        if wav is None:
            return self.send_json(400, error_body("no 'file' part in the form",
                                                  "invalid_request_error"))
        time.sleep(OPTIONS.ttft_ms / 1000.0)
        self.send_json(200, {"text": OPTIONS.transcript})

    def speech(self, body, fault):
        try:
            req = json.loads(body)
        except ValueError:
            req = None
        self.record({"body": req, "fault": fault})
        if self.apply_error_fault(fault):
            return
        text = (req or {}).get("input") or ""
        if not text.strip():
            return self.send_json(400, error_body("'input' is empty", "invalid_request_error"))
        if fault == "malformed":
            # What a misconfigured proxy sends: a 200 page, not audio.
            return self.send_raw(200, "text/html",
                                 b"<html><body>Service temporarily unavailable</body></html>")
        pcm = spoken_pcm(text) if OPTIONS.say_with else tone_pcm(text)
        time.sleep(OPTIONS.ttft_ms / 1000.0)
        self.start_chunked("application/octet-stream")
        step = OPTIONS.speech_chunk_bytes
        for start in range(0, len(pcm), step):
            self.chunk(pcm[start:start + step])
            if fault == "hang_after_first_token":
                return self.wait_for_disconnect()
            if fault == "reset":
                return self.abort_connection()
            if OPTIONS.speech_chunk_ms > 0:
                time.sleep(OPTIONS.speech_chunk_ms / 1000.0)
        self.end_chunked()


TONE = None


def tone_pcm(text):
    """A 440 Hz tone: 0.2 s plus 50 ms per character of input."""
    count = int(SPEECH_RATE * (0.2 + 0.05 * len(text)))
    period = tone_second()  # 440 Hz repeats exactly every second at 24 kHz
    return period * (count // SPEECH_RATE) + period[:2 * (count % SPEECH_RATE)]


SPOKEN = {}  # text -> PCM: a busy machine can take seconds to start `chalkbot say`


def spoken_pcm(text):
    """Real speech for `text` at 24 kHz from `chalkbot say`, so tests can transcribe it back."""
    text = text.strip()
    with STATE_LOCK:
        if text in SPOKEN:
            return SPOKEN[text]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "say.wav")
        env = dict(os.environ, CHALKBOT_STORE_PATH=os.path.join(tmp, "say.db"))
        subprocess.run([OPTIONS.say_with, "say", text, "-o", out, "--rate", str(SPEECH_RATE)],
                       check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with wave.open(out, "rb") as w:
            pcm = w.readframes(w.getnframes())
    with STATE_LOCK:
        SPOKEN[text] = pcm
    return pcm


def tone_second():
    global TONE
    if TONE is None:
        TONE = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / SPEECH_RATE)))
                        for i in range(SPEECH_RATE))
    return TONE


class QuietServer(ThreadingHTTPServer):
    """Clients that hang up mid-request (cancelled streams, timeouts) are normal here: no traceback."""

    daemon_threads = True
    allow_reuse_address = True
    # Many streams connect at once (load tests); with the default backlog of 5 the rest would
    # wait for a SYN retransmission (1 s).
    request_queue_size = 256

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def main():
    global OPTIONS, SCRIPT
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", help="JSON file of reply rules")
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="delay before the first token")
    parser.add_argument("--tokens-per-sec", type=float, default=0.0, help="0: no pacing")
    parser.add_argument("--transcript", default="hello from the stand in")
    parser.add_argument("--fault", default=None, help="apply this fault to every request")
    parser.add_argument("--retry-after", default="1", help="Retry-After value sent with 429")
    parser.add_argument("--speech-chunk-bytes", type=int, default=4001,
                        help="PCM bytes per chunk (odd on purpose: clients must carry a byte)")
    parser.add_argument("--speech-chunk-ms", type=float, default=5.0,
                        help="pause between speech chunks")
    parser.add_argument("--say-with", default=None,
                        help="speak audio/speech input with this chalkbot binary instead of a tone")
    parser.add_argument("--verbose", action="store_true")
    OPTIONS = parser.parse_args()
    if OPTIONS.script:
        with open(OPTIONS.script, encoding="utf-8") as f:
            SCRIPT = json.load(f)

    server = QuietServer(("127.0.0.1", OPTIONS.port), Handler)
    print("LISTENING %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
