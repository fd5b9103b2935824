#!/usr/bin/env python3
"""A SIP registrar over TLS for the component tests: answers every REGISTER 200 OK, prints
"REGISTER <request-uri>" for each and "handshake failed: <why>" for each refused handshake.
  tls_registrar.py --port P --cert server.pem --key server.key
"""
import argparse
import re
import socket
import ssl
import sys
import threading


def serve(conn):
    buffer = b""
    with conn:
        while True:
            try:
                data = conn.recv(65535)
            except (OSError, ssl.SSLError):
                return
            if not data:
                return
            buffer += data
            while b"\r\n\r\n" in buffer:
                head, rest = buffer.split(b"\r\n\r\n", 1)
                length = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
                body_length = int(length.group(1)) if length else 0
                if len(rest) < body_length:
                    break
                buffer = rest[body_length:]
                text = head.decode(errors="replace")
                lines = text.split("\r\n")
                if not lines[0].startswith("REGISTER "):
                    continue
                print("REGISTER", lines[0].split()[1], flush=True)
                keep = [l for l in lines[1:] if re.match(r"(?i)(via|from|call-id|cseq|contact)\s*:", l)]
                to = next(l for l in lines[1:] if re.match(r"(?i)to\s*:", l))
                reply = ["SIP/2.0 200 OK"] + keep + [to + ";tag=reg1", "Expires: 600",
                                                     "Content-Length: 0"]
                conn.sendall(("\r\n".join(reply) + "\r\n\r\n").encode())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    args = ap.parse_args()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(8)
    print("LISTENING", flush=True)
    while True:
        raw, _ = listener.accept()
        try:
            conn = context.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError) as e:
            print("handshake failed:", e, flush=True)
            raw.close()
            continue
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
