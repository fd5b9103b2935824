#!/usr/bin/env python3
"""Seeded torture run against a SIP server: thousands of broken requests over UDP and TCP.

Why: a SIP port on a public address receives every malformed message there is, and one of them
used to crash `chalkbot serve` (issue 15). sip_malformed.py checks named INVITEs and their RFC
answers; this script derives many more broken messages from valid INVITE, ACK, BYE, CANCEL,
OPTIONS and REGISTER requests (headers dropped and doubled, bad URIs in every URI-bearing header,
bad numbers, a wrong Content-Length, bad encodings, folded headers, oversize parts, truncation,
garbage) and sends them in batches. It asserts nothing about which RFC code each gets, only that
every answer is a well-formed SIP response and that after each batch the server is still running
and answers a valid OPTIONS with 200.

Deterministic per --seed: the same seed sends the same bytes (but for our own port numbers), and
--show N prints message N, so a failure can be replayed. Prints counts per kind, transport and
status; exits 1 on a dead server or a response that is not SIP.
"""
import argparse
import collections
import os
import random
import re
import socket
import sys
import time

from sip_malformed import BAD_URIS, sdp

STATUS_LINE = re.compile(rb"^SIP/2\.0 ([0-9]{3}) [^\r\n]*$")
URI_HEADERS = ["Request-URI", "To", "From", "Contact", "Route", "Record-Route"]
NUMBER_HEADERS = ["CSeq", "Max-Forwards", "Content-Length", "Expires"]
BAD_NUMBERS = ["-1", "4294967296", "99999999999999999999999", "abc", "", "1.5", "0x10", "+1",
               "1 2", "\u0661"]
# Mutations that break the framing of a stream: over TCP each goes on its own connection, so it
# cannot swallow the messages after it. Other kinds can break it too (a dropped or non-numeric
# Content-Length): well_framed() looks at the bytes.
UNFRAMED_KINDS = {"content_length", "truncated", "garbage", "oversize", "line_ends"}
CONTENT_LENGTH = re.compile(rb"\r\n(?:Content-Length|l)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)
STREAM_LENGTH = 8


class Request:
    """A request as parts, so that mutations can change one part and serialize the rest."""

    def __init__(self, method, ruri, headers, body=b""):
        self.method, self.ruri, self.headers, self.body = method, ruri, headers, body

    def serialize(self, content_length=True):
        lines = [f"{self.method} {self.ruri} SIP/2.0"] + [f"{n}: {v}" for n, v in self.headers]
        if content_length and not any(n.lower() == "content-length" for n, _ in self.headers):
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + self.body


def valid_request(rng, method, target_port, transport, local_port):
    """A well-formed request of `method` from 127.0.0.1:local_port; ids drawn from `rng`."""
    us = f"127.0.0.1:{local_port}"
    ruri = f"sip:bot@127.0.0.1:{target_port}"
    cseq = rng.randint(1, 1000)
    headers = [
        ("Via", f"SIP/2.0/{transport} {us};branch=z9hG4bK{rng.getrandbits(48):x};rport"),
        ("Max-Forwards", "70"),
        ("From", f"<sip:probe@127.0.0.1>;tag={rng.getrandbits(32):x}"),
        ("To", f"<{ruri}>" + (f";tag={rng.getrandbits(32):x}" if method in ("ACK", "BYE") else "")),
        ("Call-ID", f"torture-{rng.getrandbits(64):x}@127.0.0.1"),
        ("CSeq", f"{cseq} {method}"),
    ]
    body = b""
    if method in ("INVITE", "REGISTER"):
        headers.append(("Contact", f"<sip:probe@{us};transport={transport.lower()}>"))
    if method == "INVITE":
        headers.append(("Content-Type", "application/sdp"))
        body = sdp().encode()
    if method == "REGISTER":
        ruri = "sip:127.0.0.1"
        headers.append(("Expires", "60"))
    if method == "OPTIONS":
        headers.append(("Accept", "application/sdp"))
    return Request(method, ruri, headers, body)


# Each mutation takes (rng, request) and returns the bytes to send.

def drop_header(rng, req):
    if req.headers:
        req.headers.pop(rng.randrange(len(req.headers)))
    return req.serialize(content_length=rng.random() < 0.5)


def duplicate_header(rng, req):
    name, value = rng.choice(req.headers)
    other = rng.choice([value, "<sip:x@127.0.0.1>", "1 " + req.method, "70"])
    req.headers.insert(rng.randrange(len(req.headers) + 1), (name, other))
    return req.serialize()


def bad_uri(rng, req):
    where, uri = rng.choice(URI_HEADERS), rng.choice(BAD_URIS)
    bracketed = f"<{uri}>" if rng.random() < 0.7 else uri
    if where == "Request-URI":
        req.ruri = uri
    elif where in ("Route", "Record-Route"):
        req.headers.insert(1, (where, f"<{uri};lr>"))
    else:
        req.headers = [(n, v) for n, v in req.headers if n != where]
        req.headers.append((where, bracketed + (f";tag={rng.getrandbits(16):x}"
                                                 if where == "From" else "")))
    return req.serialize()


def bad_number(rng, req):
    name, number = rng.choice(NUMBER_HEADERS), rng.choice(BAD_NUMBERS)
    req.headers = [(n, v) for n, v in req.headers if n != name]
    req.headers.append((name, f"{number} {req.method}" if name == "CSeq" else number))
    return req.serialize(content_length=name != "Content-Length")


def content_length(rng, req):
    if not req.body or rng.random() < 0.3:
        req.body = sdp().encode()
        req.headers.append(("Content-Type", "application/sdp"))
    size = len(req.body)
    claimed = rng.choice([0, size // 2, size - 1, size + 1, size + 500, None])
    if claimed is not None:
        req.headers.append(("Content-Length", str(claimed)))
    return req.serialize(content_length=False)


def bad_encoding(rng, req):
    data = bytearray(req.serialize())
    head_end = data.find(b"\r\n\r\n")
    at = rng.randrange(1, head_end)
    insert = rng.choice([b"\x00", b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\x07\x1b[2J",
                         b"\x7f", b"\r", b"\n", bytes([rng.randrange(1, 32)])])
    data[at:at] = insert
    return bytes(data)


def line_ends(rng, req):
    """The whole message with CR-only, LF-only or mixed line ends."""
    data = req.serialize()
    choice = rng.choice(["cr", "lf", "mixed"])
    if choice == "cr":
        return data.replace(b"\r\n", b"\r")
    if choice == "lf":
        return data.replace(b"\r\n", b"\n")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    return b"".join(line + rng.choice([b"\r\n", b"\n", b"\r"]) for line in lines) + b"\r\n" + body


def folding(rng, req):
    """A header value continued on the next lines (legal in RFC 3261, rare in practice), or a
    continuation line where none may be (before the first header)."""
    i = rng.randrange(len(req.headers))
    name, value = req.headers[i]
    if rng.random() < 0.2:
        req.ruri += "\r\n continued"
        return req.serialize()
    cut = rng.randrange(len(value) + 1)
    fold = rng.choice(["\r\n ", "\r\n\t", "\r\n   \r\n ", "\r\n"])
    req.headers[i] = (name, value[:cut] + fold + value[cut:])
    return req.serialize()


def oversize(rng, req):
    choice = rng.choice(["long_value", "many_headers", "big_body", "long_ruri"])
    if choice == "long_value":
        name, value = rng.choice(req.headers)
        req.headers.append((name, value + "x" * rng.choice([1000, 8000, 40000, 70000])))
    elif choice == "many_headers":
        req.headers += [(f"X-Filler-{i}", "y" * 20) for i in range(rng.choice([200, 1000, 3000]))]
    elif choice == "big_body":
        req.headers.append(("Content-Type", "application/sdp"))
        req.body = sdp().encode() + b"a=x-pad:" + b"z" * (64 * 1024) + b"\r\n"
    else:
        req.ruri = f"sip:{'b' * rng.choice([300, 5000, 60000])}@127.0.0.1"
    return req.serialize()


def truncated(rng, req):
    data = req.serialize()
    return data[:rng.randrange(1, len(data))]


def garbage(rng, req):
    noise = bytes(rng.getrandbits(8) for _ in range(rng.choice([1, 4, 64, 700])))
    return rng.choice([noise, req.serialize()[:rng.randrange(1, 40)] + noise,
                       b"SIP/2.0 200 OK\r\n" + noise, b"\r\n\r\n" + noise])


MUTATIONS = {f.__name__: f for f in (drop_header, duplicate_header, bad_uri, bad_number,
                                     content_length, bad_encoding, line_ends, folding, oversize,
                                     truncated, garbage)}
METHODS = ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER"]


def generate(seed, count, target_port, local_ports):
    """count messages as (kind, method, transport, bytes), the same for the same seed."""
    rng = random.Random(seed)
    messages = []
    for _ in range(count):
        transport = rng.choice(["UDP", "TCP"])
        method, kind = rng.choice(METHODS), rng.choice(sorted(MUTATIONS))
        req = valid_request(rng, method, target_port, transport, local_ports[transport])
        messages.append((kind, method, transport, MUTATIONS[kind](rng, req)))
    return messages


def split_messages(stream):
    """The heads of the SIP messages in a byte stream, framed by Content-Length."""
    heads = []
    while stream:
        head_end = stream.find(b"\r\n\r\n")
        if head_end < 0:
            heads.append(stream)
            break
        head = stream[:head_end]
        match = re.search(rb"\r\n(?:Content-Length|l)\s*:\s*([0-9]+)", head, re.IGNORECASE)
        heads.append(head)
        stream = stream[head_end + 4 + (int(match.group(1)) if match else 0):]
    return heads


def start_lines(stream):
    return [head.split(b"\r\n", 1)[0] for head in split_messages(stream)]


class Tally:
    """What the server answered: counts per status code, and every answer that is not SIP."""

    def __init__(self):
        self.statuses, self.requests, self.bad = collections.Counter(), collections.Counter(), []

    def add(self, start_line, transport, message=b""):
        match = STATUS_LINE.match(start_line)
        if match and 100 <= int(match.group(1)) <= 699:
            self.statuses[f"{transport} {match.group(1).decode()}"] += 1
        elif re.match(rb"^[A-Z]+ sips?:\S+ SIP/2\.0$", start_line):
            self.requests[start_line.split(b" ")[0].decode()] += 1  # a BYE for a call, say
        else:
            self.bad.append((transport, (message or start_line)[:300]))


def drain_udp(sock, tally, seconds):
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(70000)
        except (socket.timeout, ConnectionRefusedError):
            return
        tally.add(data.split(b"\r\n", 1)[0], "UDP", data)


def read_tcp(conn, seconds):
    """What the server sent, and whether it closed (or reset) the connection."""
    conn.settimeout(seconds)
    data = b""
    try:
        while chunk := conn.recv(70000):
            data += chunk
    except socket.timeout:
        return data, False
    except ConnectionResetError:
        pass
    return data, True


def send_stream(conn, messages, rng):
    """messages down one connection: the first few in one write, now and then one split in two."""
    group = rng.randint(2, 5)
    conn.sendall(b"".join(messages[:group]))
    for message in messages[group:]:
        if len(message) > 20 and rng.random() < 0.1:
            cut = rng.randrange(1, len(message))
            conn.sendall(message[:cut])
            time.sleep(0.02)
            message = message[cut:]
        conn.sendall(message)


CALL_ID = re.compile(rb"\r\n(?:Call-ID|i)[ \t]*:[ \t]*([^\r\n]+)", re.IGNORECASE)


def well_framed(kind, message):
    """True if a stream reader finds where `message` ends: one numeric Content-Length that
    matches its body."""
    head, _, body = message.partition(b"\r\n\r\n")
    lengths = CONTENT_LENGTH.findall(head)
    return (kind not in UNFRAMED_KINDS and len(lengths) == 1 and lengths[0].strip().isdigit()
            and int(lengths[0]) == len(body))


def call_id(message):
    match = CALL_ID.search(message)
    return match.group(1).strip() if match else None


def send_tcp_batch(messages, port, tally, rng, streams_seen):
    """Well-framed messages STREAM_LENGTH to a connection (the server may close one on a message
    it rejects); each message that breaks framing on a connection of its own. Per connection,
    adds to streams_seen: requests that expect an answer (not ACK), how many of them got one
    (matched by Call-ID), and whether the server closed the connection."""
    framed = [(m, d) for k, m, d in messages if well_framed(k, d)]
    streams = [framed[i:i + STREAM_LENGTH] for i in range(0, len(framed), STREAM_LENGTH)]
    streams += [[(m, d)] for k, m, d in messages if not well_framed(k, d)]
    conns = []
    for stream in streams:
        conn = socket.create_connection(("127.0.0.1", port))
        conns.append(conn)
        try:
            send_stream(conn, [d for _, d in stream], rng)
        except OSError:
            pass  # the server may close on what it cannot frame
    time.sleep(0.3)
    for conn, stream in zip(conns, streams):
        data, closed = read_tcp(conn, 0.05)
        answered_ids = {call_id(b"\r\n" + m) for m in split_messages(data)}
        for line in start_lines(data):
            tally.add(line, "TCP")
        conn.close()
        expected = [d for m, d in stream if m != "ACK"]
        got = sum(1 for d in expected if call_id(d) and call_id(d) in answered_ids)
        streams_seen.append((len(stream), len(expected), got, closed, stream))


def options_answered(port):
    """True if a valid OPTIONS over UDP from a fresh socket gets 200."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    req = valid_request(random.Random(), "OPTIONS", port, "UDP", sock.getsockname()[1])
    call_id = dict(req.headers)["Call-ID"].encode()
    try:
        for _ in range(3):
            sock.sendto(req.serialize(), ("127.0.0.1", port))
            end = time.monotonic() + 1
            while (left := end - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    data = sock.recv(70000)
                except socket.timeout:
                    break
                if call_id in data and data.startswith(b"SIP/2.0 200 "):
                    return True
        return False
    finally:
        sock.close()


def alive(pid, port):
    if pid:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
    return options_answered(port)


def report_tcp(streams):
    """Over TCP, which requests were answered, per connection: ACKs get no answer by design, and
    after the server closes a connection (on a message it cannot frame or parse) the requests
    behind that one on it are never read."""
    sent = sum(n for n, _, _, _, _ in streams)
    expected = sum(e for _, e, _, _, _ in streams)
    answered = sum(g for _, _, g, _, _ in streams)
    closed = [s for s in streams if s[3]]
    lost_behind_close = sum(e - g for _, e, g, c, _ in streams if c)
    print(f"TCP: {sent} requests on {len(streams)} connections, {sent - expected} ACKs, "
          f"{expected} expect an answer, {answered} answered (by Call-ID); "
          f"{len(closed)} connections closed by the server, {lost_behind_close} requests "
          f"unanswered on them; {expected - answered - lost_behind_close} unanswered on "
          f"connections left open")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="the server's SIP port (UDP+TCP)")
    parser.add_argument("--seed", type=int, default=3261)
    parser.add_argument("--messages", type=int, default=800)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--serve-pid", type=int, help="also check this process is running")
    parser.add_argument("--show", type=int, metavar="N", help="print message N and exit")
    args = parser.parse_args()

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    local_ports = {"UDP": udp.getsockname()[1], "TCP": udp.getsockname()[1]}
    messages = generate(args.seed, args.messages, args.port, local_ports)
    if args.show is not None:
        print(repr(messages[args.show]))
        return
    print(f"seed {args.seed}: {len(messages)} messages in batches of {args.batch}", flush=True)
    rng = random.Random(args.seed)
    tally, sent, tcp_streams = Tally(), collections.Counter(), []
    for first in range(0, len(messages), args.batch):
        batch = messages[first:first + args.batch]
        tcp = []
        for kind, method, transport, data in batch:
            sent[f"{transport} {kind}"] += 1
            sent[f"{transport} {method}"] += 1
            if transport == "TCP":
                tcp.append((kind, method, data))
                continue
            try:
                udp.sendto(data, ("127.0.0.1", args.port))
            except OSError:
                sent["UDP too big to send"] += 1
            time.sleep(0.001)
        send_tcp_batch(tcp, args.port, tally, rng, tcp_streams)
        drain_udp(udp, tally, 0.5)
        if not alive(args.serve_pid, args.port):
            sys.exit(f"FAIL: server not alive after messages {first}..{first + len(batch) - 1} "
                     f"(seed {args.seed}; --show N prints one)")
        print(f"batch {first // args.batch}: alive after messages {first}..{first + len(batch) - 1}",
              flush=True)
    print("sent:", ", ".join(f"{k} {v}" for k, v in sorted(sent.items())))
    print("answers:", ", ".join(f"{k} {v}" for k, v in sorted(tally.statuses.items())))
    print("requests from the server:", dict(tally.requests))
    report_tcp(tcp_streams)
    if tally.bad:
        for transport, line in tally.bad[:20]:
            print(f"not a well-formed SIP message ({transport}): {line!r}")
        sys.exit(f"FAIL: {len(tally.bad)} messages from the server were not well-formed SIP")


if __name__ == "__main__":
    main()
