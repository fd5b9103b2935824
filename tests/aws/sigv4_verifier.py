#!/usr/bin/env python3
"""A DynamoDB-shaped endpoint that checks AWS Signature Version 4 the way AWS does, for tests of
the request signing (dynalite does not check signatures). Python 3 stdlib only.

  sigv4_verifier.py --port 0 --access-key AKID --secret SECRET [--token TOKEN]

Prints "LISTENING <port>". Every POST is verified: a valid signature gets 200 {"TableNames": []};
anything else 400 with DynamoDB's error JSON (__type ...#InvalidSignatureException or
#IncompleteSignatureException or #UnrecognizedClientException) naming what is wrong."""
import argparse
import hashlib
import hmac
import json
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None


def sign(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def check(method, path, headers, body):
    """None when the request is signed correctly, else (error type, message)."""
    auth = headers.get("authorization", "")
    m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,"
                     r" ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})", auth)
    if not m:
        return "IncompleteSignatureException", "malformed Authorization: " + auth[:80]
    key_id, date, region, service, signed, signature = m.groups()
    if key_id != ARGS.access_key:
        return "UnrecognizedClientException", "unknown access key " + key_id
    if service != "dynamodb":
        return "InvalidSignatureException", "credential scope service is " + service
    signed_names = signed.split(";")
    for name in signed_names:
        if name not in headers:
            return ("IncompleteSignatureException",
                    "'%s' is named as a SignedHeader, but it does not exist in the request" % name)
    for required in ("host", "x-amz-date"):
        if required not in signed_names:
            return "IncompleteSignatureException", required + " is not signed"
    amz_date = headers["x-amz-date"]
    if not amz_date.startswith(date):
        return "InvalidSignatureException", "date in scope and x-amz-date differ"
    if ARGS.token and headers.get("x-amz-security-token") != ARGS.token:
        return "UnrecognizedClientException", "missing or wrong security token"
    canonical_headers = "".join(
        "%s:%s\n" % (name, " ".join(headers[name].strip().split())) for name in signed_names)
    canonical = "\n".join([method, path, "", canonical_headers, signed,
                           hashlib.sha256(body).hexdigest()])
    scope = "/".join([date, region, service, "aws4_request"])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = sign(sign(sign(sign(("AWS4" + ARGS.secret).encode(), date), region), service),
               "aws4_request")
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "InvalidSignatureException", "signature mismatch (signed: %s)" % signed
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        problem = check("POST", self.path, headers, body)
        if problem is None:
            status, reply = 200, {"TableNames": []}
        else:
            status, reply = 400, {"__type": "com.amazon.coral.service#" + problem[0],
                                  "message": problem[1]}
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--access-key", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--token", default="")
    ARGS = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    print("LISTENING %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
