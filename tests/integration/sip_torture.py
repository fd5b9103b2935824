#!/usr/bin/env python3
"""Seeded torture run against a SIP server: thousands of broken requests over UDP and TCP.

Why: a SIP port on a public address receives every malformed message there is, and one of them
used to crash `chalkbot serve` (issue 15). sip_malformed.py checks named INVITEs and their RFC
answers; this script derives many more broken messages from valid INVITE, ACK, BYE, CANCEL,
OPTIONS and REGISTER requests (headers dropped and doubled, bad URIs in every URI-bearing header,
bad numbers, a wrong Content-Length, bad encodings, folded headers, oversize parts, truncation,
garbage) and sends them in batches. It asserts nothing about which RFC code each gets, only that
every answer is a well-formed SIP response, that after each batch the server is still running
and answers a valid OPTIONS with 200, and that every request whose mutation left what an answer
needs intact (why_unanswerable) is answered, over TCP as over UDP. The rest may go unanswered:
sofia drops a message whose request line, Via, From, To, Call-ID or CSeq it cannot parse (no
answer can be built: RFC 3261 8.2, 18.2.2), and a stream whose framing broke (Content-Length
missing or wrong, truncated, bare CR or LF) cannot be read past it (18.3). A table per mutation
kind shows which of them were answered all the same.

Deterministic per --seed: the same seed sends the same bytes (but for our own port numbers), and
--show N prints message N, so a failure can be replayed (on a fresh server: a replayed request is
a retransmission to one that saw it). Prints counts per kind, transport and status; exits 1 on a
dead server, a response that is not SIP or a request left unanswered that must be answered.
"""
import argparse
import base64
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
    """count messages as (kind, method, transport, bytes, answer_lines), the same for the same
    seed; answer_lines are the valid request's lines an answer is built from (answer_lines())."""
    rng = random.Random(seed)
    messages = []
    for _ in range(count):
        transport = rng.choice(["UDP", "TCP"])
        method, kind = rng.choice(METHODS), rng.choice(sorted(MUTATIONS))
        req = valid_request(rng, method, target_port, transport, local_ports[transport])
        lines = answer_lines(req)
        messages.append((kind, method, transport, MUTATIONS[kind](rng, req), lines))
    return messages


# What a server needs to answer a request at all (RFC 3261 8.2.6, 18.2.2): the request line (the
# method), and the Via, From, To, Call-ID and CSeq it copies into the response. A message whose
# mutation damaged one of them, or broke its framing, may go unanswered: sofia drops what it cannot
# parse there (RFC 3261 18.3 lets a stream be closed on a framing error). Anything else that
# expects an answer (all but ACK) must get one, over TCP as over UDP.
ANSWER_HEADERS = ("Via", "From", "To", "Call-ID", "CSeq")
FOLD = re.compile(rb"\r\n[ \t]+(?=[^ \t\r\n])")  # one legal fold (RFC 3261 7.3.1 LWS)


def answer_lines(req):
    head = req.serialize().split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    return [head[0]] + [line for line in head[1:]
                        if line.split(b":", 1)[0].decode() in ANSWER_HEADERS]


def why_unanswerable(kind, method, message, lines):
    """None if the server must answer `message`, else the reason it may not (a table row)."""
    if method == "ACK":
        return "ACK: never answered"
    if not well_framed(kind, message):
        return "framing broken"
    head = message.split(b"\r\n\r\n", 1)[0]
    unfolded = FOLD.sub(b" ", head)
    if re.search(rb"[\x00\r\n]", unfolded.replace(b"\r\n", b"")):
        return "bare CR, LF or NUL in the head"
    got = unfolded.split(b"\r\n")
    if got[0] != lines[0]:
        return "request line damaged"
    for line in lines[1:]:
        name = line.split(b":", 1)[0] + b":"
        if [g for g in got[1:] if g.lower().startswith(name.lower())] != [line]:
            return f"{name.decode()[:-1]} damaged, missing or doubled"
    return None


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


def drain_udp(sock, tally, seconds, answered_ids):
    """Reads the server's datagrams for `seconds`, adding each one's Call-ID to answered_ids."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(70000)
        except (socket.timeout, ConnectionRefusedError):
            return
        tally.add(data.split(b"\r\n", 1)[0], "UDP", data)
        answered_ids.add(call_id(data))


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


class TcpPeer:
    """One connection to the server and all it sent back (kept whole, so that an answer split
    across reads is parsed once)."""

    def __init__(self, port):
        self.conn = socket.create_connection(("127.0.0.1", port))
        self.data, self.closed = b"", False

    def send(self, messages, rng):
        try:
            send_stream(self.conn, messages, rng)
        except OSError:
            pass  # the server may close on what it cannot frame

    def last_status(self):
        lines = start_lines(self.data)
        match = STATUS_LINE.match(lines[-1]) if lines else None
        return int(match.group(1)) if match else 0

    def answered_ids(self):
        return {call_id(b"\r\n" + m) for m in split_messages(self.data)}

    def read_until_answered(self, wanted):
        """Reads until the request with Call-ID `wanted` is answered or the server closes the
        connection (wanted None: until it falls silent for 50 ms, for a lone unframed message
        read after the rest). The 10 s limit only ends a read that would never end: what is
        counted does not depend on it."""
        self.conn.settimeout(10 if wanted else 0.05)
        try:
            while not (wanted and wanted in self.answered_ids()):
                chunk = self.conn.recv(70000)
                if not chunk:
                    self.closed = True
                    return
                self.data += chunk
        except socket.timeout:
            pass
        except ConnectionResetError:
            self.closed = True

    def finish(self, tally):
        self.conn.close()
        for line in start_lines(self.data):
            tally.add(line, "TCP")


def send_tcp_batch(messages, port, tally, rng, outcomes):
    """messages are (index, kind, method, bytes, why_unanswerable). Sets outcomes[index] to
    (answered, whether the server closed that connection); answers are matched by Call-ID.

    Those that must be answered go one at a time on a shared connection, each answer awaited
    before the next request: sofia closes a TCP connection after answering 400 to a message with
    any header it cannot parse (tport_parse: MSG_FLG_ERROR on a stream stops reading), and answers
    our handlers had not yet sent to requests before it on that connection are lost with it. A
    closed connection is replaced (and one after a 400), and a request that went unanswered goes
    again once on a new one.
    The rest go pipelined, STREAM_LENGTH well-framed ones to a
    connection ended by a valid OPTIONS (once it is answered, all before it are: a connection is
    read in order), and each message that breaks framing on a connection of its own."""
    peer = None
    for index, _, _, message, why in messages:
        if why is not None:
            continue
        for _ in range(2):
            peer = peer or TcpPeer(port)
            peer.send([message], rng)
            peer.read_until_answered(call_id(message))
            answered = call_id(message) in peer.answered_ids()
            outcomes[index] = (answered, peer.closed)
            # After a 400 sofia may read no more from the connection (and close it only later):
            # the next request goes on a fresh one. So does this one, once, if it went unanswered
            # on a connection the server had stopped reading.
            if peer.closed or not answered or peer.last_status() == 400:
                peer.finish(tally)
                peer = None
            if answered:
                break
    if peer:
        peer.finish(tally)

    rest = [m for m in messages if m[4] is not None]
    framed = [m for m in rest if well_framed(m[1], m[3])]
    streams = [framed[i:i + STREAM_LENGTH] for i in range(0, len(framed), STREAM_LENGTH)]
    streams += [[m] for m in rest if not well_framed(m[1], m[3])]
    peers = []
    for stream in streams:
        peer, sentinel = TcpPeer(port), None
        payload = [m[3] for m in stream]
        if well_framed(stream[0][1], stream[0][3]):
            req = valid_request(rng, "OPTIONS", port, "TCP", peer.conn.getsockname()[1])
            sentinel = dict(req.headers)["Call-ID"].encode()
            payload.append(req.serialize())
        peer.send(payload, rng)
        peers.append((peer, sentinel))
    for (peer, sentinel), stream in zip(peers, streams):
        peer.read_until_answered(sentinel)
        answered = peer.answered_ids()
        for index, _, _, message, _ in stream:
            outcomes[index] = (bool(call_id(message)) and call_id(message) in answered, peer.closed)
        peer.finish(tally)


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


def report(messages, outcomes):
    """A table per mutation kind and transport: of the requests that expect an answer (not ACK),
    how many must be answered (why_unanswerable is None) and were, and how many may go unanswered
    and were not; then why the unanswered ones may be. Returns the indices of messages that
    must be answered and were not."""
    rows = collections.defaultdict(lambda: [0, 0, 0, 0, 0])
    reasons = collections.Counter()
    missed = []
    for index, (kind, method, transport, data, lines) in enumerate(messages):
        if method == "ACK" or index not in outcomes:
            continue
        answered, closed = outcomes[index]
        why = why_unanswerable(kind, method, data, lines)
        row = rows[(kind, transport)]
        if why is None:
            row[0] += 1
            row[1] += answered
            if not answered:
                missed.append(index)
        else:
            row[2] += 1
            row[3] += not answered
            row[4] += not answered and closed
            if not answered:
                reasons[f"{transport} {why}"] += 1
    print(f"{'mutation':<18}{'':4}{'must answer':>14}{'answered':>10}{'may not':>10}"
          f"{'unanswered':>12}{'(conn closed)':>15}")
    for (kind, transport), row in sorted(rows.items()):
        print(f"{kind:<18}{transport:4}{row[0]:>14}{row[1]:>10}{row[2]:>10}{row[3]:>12}"
              f"{row[4] if transport == 'TCP' else '':>15}")
    totals = {t: [sum(r[i] for (_, tt), r in rows.items() if tt == t) for i in range(5)]
              for t in ("UDP", "TCP")}
    for transport, t in totals.items():
        print(f"{'total':<18}{transport:4}{t[0]:>14}{t[1]:>10}{t[2]:>10}{t[3]:>12}"
              f"{t[4] if transport == 'TCP' else '':>15}")
    print("unanswered that may be, by what the mutation damaged:")
    for why, n in sorted(reasons.items()):
        print(f"  {why}: {n}")
    return missed


def write_seeds(directory, port):
    """One file per method (as sent over UDP), and an INVITE with a Record-Route and an SRTP
    offer, so that the fuzzer starts from every branch our INVITE checks take."""
    rng = random.Random(3261)
    for method in METHODS:
        req = valid_request(rng, method, port, "UDP", 5062)
        with open(os.path.join(directory, method.lower()), "wb") as out:
            out.write(req.serialize())
    req = valid_request(rng, "INVITE", port, "UDP", 5062)
    req.headers.insert(1, ("Record-Route", "<sip:proxy.example.com;lr>"))
    req.body = sdp(media="m=audio 40000 RTP/SAVP 0 101\r\n"
                   "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
                   f"inline:{base64.b64encode(bytes(range(30))).decode()}\r\n").encode()
    with open(os.path.join(directory, "invite_srtp_record_route"), "wb") as out:
        out.write(req.serialize())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="the server's SIP port (UDP+TCP)")
    parser.add_argument("--seed", type=int, default=3261)
    parser.add_argument("--messages", type=int, default=800)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--serve-pid", type=int, help="also check this process is running")
    parser.add_argument("--show", type=int, metavar="N", help="print message N and exit")
    parser.add_argument("--write-seeds", metavar="DIR",
                        help="write the valid requests mutations start from (the seed corpus of "
                             "tests/fuzz/sip_fuzz) to DIR and exit")
    args = parser.parse_args()
    if args.write_seeds:
        write_seeds(args.write_seeds, args.port)
        return

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    local_ports = {"UDP": udp.getsockname()[1], "TCP": udp.getsockname()[1]}
    messages = generate(args.seed, args.messages, args.port, local_ports)
    if args.show is not None:
        print(repr(messages[args.show][:4]))
        return
    print(f"seed {args.seed}: {len(messages)} messages in batches of {args.batch}", flush=True)
    rng = random.Random(args.seed)
    tally, sent, outcomes = Tally(), collections.Counter(), {}
    for first in range(0, len(messages), args.batch):
        batch = messages[first:first + args.batch]
        tcp, udp_sent = [], []
        for index, (kind, method, transport, data, lines) in enumerate(batch, first):
            sent[f"{transport} {kind}"] += 1
            sent[f"{transport} {method}"] += 1
            if transport == "TCP":
                tcp.append((index, kind, method, data, why_unanswerable(kind, method, data, lines)))
                continue
            try:
                udp.sendto(data, ("127.0.0.1", args.port))
                udp_sent.append(index)
            except OSError:
                sent["UDP too big to send"] += 1
            time.sleep(0.001)
        send_tcp_batch(tcp, args.port, tally, rng, outcomes)
        udp_answered = set()
        drain_udp(udp, tally, 0.5, udp_answered)
        for index in udp_sent:
            message_call_id = call_id(messages[index][3])
            outcomes[index] = (bool(message_call_id) and message_call_id in udp_answered, False)
        if not alive(args.serve_pid, args.port):
            sys.exit(f"FAIL: server not alive after messages {first}..{first + len(batch) - 1} "
                     f"(seed {args.seed}; --show N prints one)")
        print(f"batch {first // args.batch}: alive after messages {first}..{first + len(batch) - 1}",
              flush=True)
    print("sent:", ", ".join(f"{k} {v}" for k, v in sorted(sent.items())))
    print("answers:", ", ".join(f"{k} {v}" for k, v in sorted(tally.statuses.items())))
    print("requests from the server:", dict(tally.requests))
    missed = report(messages, outcomes)
    if tally.bad:
        for transport, line in tally.bad[:20]:
            print(f"not a well-formed SIP message ({transport}): {line!r}")
        sys.exit(f"FAIL: {len(tally.bad)} messages from the server were not well-formed SIP")
    if missed:
        for index in missed[:20]:
            kind, method, transport, data, _ = messages[index]
            print(f"unanswered #{index} ({transport} {method} {kind}): {data[:400]!r}")
        sys.exit(f"FAIL: {len(missed)} requests with intact Via, From, To, Call-ID, CSeq and "
                 f"framing got no answer (seed {args.seed}; --show N prints one)")


if __name__ == "__main__":
    main()
