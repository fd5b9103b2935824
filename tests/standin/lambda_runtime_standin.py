#!/usr/bin/env python3
"""A local stand-in for the AWS Lambda Runtime API (2018-06-01) for tests. Python 3 stdlib only.

  lambda_runtime_standin.py --port 0

Prints exactly one line "LISTENING <port>" on stdout once it accepts connections.

Runtime API (what a custom runtime calls):
  GET  /2018-06-01/runtime/invocation/next             next queued event; blocks while none is
                                                        queued, as Lambda does (headers
                                                        Lambda-Runtime-Aws-Request-Id,
                                                        -Deadline-Ms, -Invoked-Function-Arn,
                                                        -Trace-Id)
  POST /2018-06-01/runtime/invocation/<id>/response     202; 400 for an unknown or answered id
  POST /2018-06-01/runtime/invocation/<id>/error        202 (Lambda-Runtime-Function-Error-Type)
  POST /2018-06-01/runtime/init/error                   202
Test helpers:
  POST /control {"events": [...]}   queue events: each {"event": <JSON>} or {"raw": "<body>"}
  GET  /results                     [{"request_id", "kind": response|error|init_error,
                                      "body": <JSON or the raw text>, "error_type"}] in order
"""

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"
LOCK = threading.Condition()
EVENTS = []        # queued event bodies (bytes)
PENDING = set()    # request ids handed out and not yet answered
RESULTS = []
COUNTER = [0]


def parse(body):
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("runtime-standin: " + (fmt % args) + "\n")

    def send(self, status, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):
        if self.path == "/results":
            with LOCK:
                return self.send(200, list(RESULTS))
        if self.path != PREFIX + "/invocation/next":
            return self.send(404, {"errorMessage": "no route " + self.path})
        with LOCK:
            while not EVENTS:
                LOCK.wait()
            event = EVENTS.pop(0)
            COUNTER[0] += 1
            request_id = "req-%04d" % COUNTER[0]
            PENDING.add(request_id)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(event)))
        self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         "arn:aws:lambda:us-east-1:123456789012:function:chalkbot")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.end_headers()
        self.wfile.write(event)

    def do_POST(self):
        body = self.body()
        if self.path == "/control":
            cmd = json.loads(body or b"{}")
            with LOCK:
                for item in cmd.get("events", []):
                    EVENTS.append(item["raw"].encode() if "raw" in item
                                  else json.dumps(item["event"]).encode())
                LOCK.notify_all()
            return self.send(200, {"queued": len(EVENTS)})
        if self.path == PREFIX + "/init/error":
            with LOCK:
                RESULTS.append({"request_id": None, "kind": "init_error", "body": parse(body),
                                "error_type": self.headers.get("Lambda-Runtime-Function-Error-Type")})
            return self.send(202, {"status": "OK"})
        parts = self.path[len(PREFIX):].strip("/").split("/")
        if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            request_id = parts[1]
            with LOCK:
                if request_id not in PENDING:
                    return self.send(400, {"errorMessage": "unknown or answered request id",
                                           "errorType": "InvalidRequestID"})
                PENDING.discard(request_id)
                RESULTS.append({"request_id": request_id, "kind": parts[2], "body": parse(body),
                                "error_type": self.headers.get("Lambda-Runtime-Function-Error-Type")})
            return self.send(202, {"status": "OK"})
        self.send(404, {"errorMessage": "no route " + self.path})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("LISTENING %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
