#!/usr/bin/env python3
"""Sends named broken (and a few valid) INVITEs to a SIP server over UDP and reports its answers.

Each case is one INVITE with a valid PCMU offer, changed in one way (--generated adds gen_* cases:
each bad URI in each URI-bearing header, each header dropped or doubled). The final answer is never
ACKed, a 2xx left without its ACK being what used to crash the server (issue 15), except in the
REINVITE_CASES, which ACK it and then send a re-INVITE. After the last case the socket stays open
for --hold-s seconds, so the server's 2xx retransmissions and in-dialog BYEs reach a live port;
BYEs are answered 200 and counted per Call-ID. --answer-with-contact plays the far end of an
outgoing call instead.

Output, one line per case:  CASE STATUS PHRASE | Accept: ... | Unsupported: ... | Warning: ...
then one line per Call-ID that received BYEs:  BYES CASE COUNT   (distinct transactions)
"""
import argparse
import random
import socket
import sys
import time



def sdp(ip="127.0.0.1", media="m=audio 40000 RTP/AVP 0 101\r\n"):
    return ("v=0\r\n"
            f"o=probe 1 1 IN IP4 {ip}\r\n"
            "s=-\r\n"
            f"c=IN IP4 {ip}\r\n"
            "t=0 0\r\n"
            f"{media}"
            "a=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\n")


def invite(port, local_port, case, **change):
    """One INVITE: the reproducer's shape with `change` applied (None drops a header)."""
    tag = random.getrandbits(32)
    call_id = f"{case}-{random.getrandbits(48):x}@127.0.0.1"
    headers = {
        "Via": f"SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK{random.getrandbits(48):x}",
        "Max-Forwards": "70",
        "From": f"<sip:probe@127.0.0.1>;tag={tag:x}",
        "To": f"<sip:bot@127.0.0.1:{port}>",
        "Call-ID": call_id,
        "CSeq": "1 INVITE",
        "Contact": f"<sip:probe@127.0.0.1:{local_port}>",
        "Content-Type": "application/sdp",
    }
    ruri = change.pop("ruri", f"sip:bot@127.0.0.1:{port}")
    body = change.pop("body", sdp())
    extra = change.pop("extra", [])
    for name, value in change.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    lines = [f"INVITE {ruri} SIP/2.0"] + [f"{k}: {v}" for k, v in headers.items()] + extra
    lines.append(f"Content-Length: {len(body.encode())}")
    return call_id, ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


# Cases that ACK the 200 and then send a re-INVITE whose Contact is the value here.
REINVITE_CASES = {"reinvite_contact_scheme": "<xyz:probe@example.invalid>"}


def cases(port, local_port, generated=False):
    """name -> (call_id, message bytes)."""
    us = f"127.0.0.1:{local_port}"
    table = {
        # The reproducer: a Contact no request can be sent to.
        "contact_scheme": dict(Contact="<xyz:probe@example.invalid>"),
        "contact_tel": dict(Contact="<tel:+15550100>"),
        "contact_no_host": dict(Contact="<sip:probe@>"),
        "contact_port_zero": dict(Contact="<sip:probe@127.0.0.1:0>"),
        "contact_port_big": dict(Contact="<sip:probe@127.0.0.1:99999>"),
        "contact_transport": dict(Contact=f"<sip:probe@{us};transport=xyz>"),
        "contact_maddr": dict(Contact=f"<sip:probe@{us};maddr=xyz:abc>"),
        "contact_sips": dict(Contact=f"<sips:probe@{us}>"),
        "contact_missing": dict(Contact=None),
        "contact_star": dict(Contact="*"),
        "contact_two": dict(Contact=f"<sip:probe@{us}>, <sip:other@{us}>"),
        "contact_garbled": dict(Contact="<sip:probe@127.0.0.1"),
        # Found by sip_torture.py (seed 7, message 392): a Contact folded inside a URI parameter
        # was answered 200, and the BYE after the ACK timeout carried the fold in its
        # Request-URI: "BYE sip:probe@127.0.0.1:P;tra\r\n nsport=udp SIP/2.0". Now 400.
        "contact_folded": dict(Contact=f"<sip:probe@{us};tra\r\n nsport=udp>"),
        "record_route_scheme": dict(extra=["Record-Route: <xyz:proxy.example.invalid;lr>"]),
        "record_route_port": dict(extra=["Record-Route: <sip:127.0.0.1:70000;lr>"]),
        "record_route_second": dict(extra=[f"Record-Route: <sip:{us};lr>, <xyz:p.invalid;lr>"]),
        "record_route_garbled": dict(extra=["Record-Route: <sip:;lr"]),
        # From/To are echoed into the BYE; a tel: From is normal, a scheme nobody knows is not.
        "from_scheme": dict(From=f"<xyz:probe@example.invalid>;tag={random.getrandbits(32):x}"),
        "to_scheme": dict(To="<xyz:bot@example.invalid>"),
        "from_tel": dict(From=f"<tel:+15550100>;tag={random.getrandbits(32):x}"),
        # Valid, answered and never ACKed: the server tears it down with one BYE.
        "valid_no_ack": dict(),
        # Answered and ACKed; then a re-INVITE tries to move the remote target (REINVITE_CASES).
        "reinvite_contact_scheme": dict(),
        # RFC 4475 3.1.2.11 escruri: headers in the Request-URI -> 400.
        "escruri": dict(ruri="sip:bot@127.0.0.1?Route=%3Csip:example.com%3E"),
        # RFC 4475 3.3.5 invut: a body of an unknown type -> 415 with Accept.
        "invut": dict(Content_Type="application/unknownformat",
                      body="<audio>\r\n <pcmu port=\"443\"/>\r\n</audio>\r\n"),
        # RFC 4475 3.3.14 sdp01: Accept lists no type we could answer in -> 406.
        "sdp01": dict(extra=["Accept: text/nobodyknowsthis"]),
        # RFC 4475 3.3.4 bext01: an extension we do not support is required -> 420 + Unsupported.
        "bext01": dict(extra=["Require: nothingSupportedHere"]),
        # No usable media -> 488 (RFC 3261 13.3.1.3).
        "sdp_no_common_codec": dict(body=sdp(media="m=audio 40000 RTP/AVP 18\r\n")),
        "sdp_port_zero": dict(body=sdp(media="m=audio 0 RTP/AVP 0\r\n")),
        "sdp_video_only": dict(body=sdp(media="m=video 40000 RTP/AVP 31\r\n")),
        "sdp_srtp_profile": dict(body=sdp(media="m=audio 40000 RTP/SAVP 0\r\n")),
    }
    if generated:
        table.update(generated_cases())
    return {name: invite(port, local_port, name, **dict(change)) for name, change in table.items()}


# URIs no dialog can send to, or that are not URIs at all: put into every URI-bearing header by
# generated_cases().
BAD_URIS = ["xyz:probe@example.invalid", "tel:+15550100", "sips:probe@127.0.0.1",
            "mailto:probe@example.invalid", "sip:probe@127.0.0.1:0", "sip:probe@127.0.0.1:65536",
            "sip:probe@127.0.0.1:-1", "sip:probe@", "sip:@", "sip:probe@127.0.0.1;transport=xyz",
            "sip:probe@127.0.0.1;maddr=%00", "sip:probe@[::1", "sip:probe@exa mple.com",
            "sip:probe@127.0.0.1?Route=%3Cxyz:a%3E", "sip:" + "a" * 2000 + "@127.0.0.1", "*", ""]
HEADERS = ["Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Contact", "Content-Type"]


def generated_cases():
    """name -> change: each bad URI in each URI-bearing header, each header dropped or doubled."""
    table = {}
    for i, uri in enumerate(BAD_URIS):
        tag = f"{random.getrandbits(32):x}"
        table[f"gen_contact_{i}"] = dict(Contact=f"<{uri}>")
        table[f"gen_contact_bare_{i}"] = dict(Contact=uri)
        table[f"gen_record_route_{i}"] = dict(extra=[f"Record-Route: <{uri};lr>"])
        table[f"gen_from_{i}"] = dict(From=f"<{uri}>;tag={tag}")
        table[f"gen_to_{i}"] = dict(To=f"<{uri}>")
        table[f"gen_ruri_{i}"] = dict(ruri=uri or "sip:")
    for name in HEADERS:
        table[f"gen_drop_{name}"] = {name.replace("-", "_"): None}
        table[f"gen_double_{name}"] = dict(extra=[f"{name}: <sip:x@127.0.0.1>"])
    return table


def parse(data):
    text = data.decode(errors="replace")
    head = text.split("\r\n\r\n", 1)[0].split("\r\n")
    headers = {}
    for line in head[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    return head[0], headers


def answer_with_contact(contact, seconds):
    """The far end of an outgoing call: answers each INVITE 200 with an SDP answer and `contact`
    as its Contact, for `seconds`. Prints its port first, then each request it got."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sock.settimeout(max(end - time.monotonic(), 0.01))
        try:
            data, peer = sock.recvfrom(65535)
        except socket.timeout:
            break
        start, headers = parse(data)
        print("GOT", start, flush=True)
        if not start.startswith("INVITE "):
            continue
        body = sdp()
        reply = ["SIP/2.0 200 OK", f"Via: {headers['via'][0]}", f"From: {headers['from'][0]}",
                 f"To: {headers['to'][0]};tag=uas1", f"Call-ID: {headers['call-id'][0]}",
                 f"CSeq: {headers['cseq'][0]}", f"Contact: {contact}",
                 "Content-Type: application/sdp", f"Content-Length: {len(body)}", "", body]
        sock.sendto("\r\n".join(reply).encode(), peer)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, help="the server's SIP port")
    parser.add_argument("--answer-with-contact", metavar="URI",
                        help="instead: be the far end of an outgoing call, answering 200 with "
                             "this Contact (see --answer-s)")
    parser.add_argument("--answer-s", type=float, default=10, help="how long to answer")
    parser.add_argument("--hold-s", type=float, default=0,
                        help="keep the socket open this long after the last answer")
    parser.add_argument("--wait-s", type=float, default=5, help="longest wait for each answer")
    parser.add_argument("--generated", action="store_true",
                        help="add the generated cases (gen_*: bad URIs in every URI-bearing "
                             "header, headers dropped or doubled)")
    parser.add_argument("names", nargs="*", help="cases to send (default: all)")
    args = parser.parse_args()
    if args.answer_with_contact:
        answer_with_contact(args.answer_with_contact, args.answer_s)
        return
    if args.port is None:
        parser.error("--port is required")

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    table = cases(args.port, sock.getsockname()[1], args.generated)
    names = args.names or list(table)
    unknown = [n for n in names if n not in table]
    if unknown:
        sys.exit(f"unknown case(s): {' '.join(unknown)}")
    case_of = {table[n][0]: n for n in names}
    byes = {}  # case -> set of BYE branches

    def receive(timeout):
        sock.settimeout(timeout)
        try:
            data, peer = sock.recvfrom(65535)
        except socket.timeout:
            return None
        start, headers = parse(data)
        call_id = (headers.get("call-id") or headers.get("i") or [""])[0]
        if start.startswith("BYE "):
            via = (headers.get("via") or headers.get("v") or [""])[0]
            byes.setdefault(case_of.get(call_id, call_id), set()).add(via)
            reply = ["SIP/2.0 200 OK"]
            for name in ("via", "from", "to", "call-id", "cseq"):
                for value in headers.get(name, []):
                    reply.append(f"{name.title()}: {value}")
            sock.sendto(("\r\n".join(reply) + "\r\nContent-Length: 0\r\n\r\n").encode(), peer)
            return None
        return call_id, start, headers

    def final_answer(call_id, cseq, wait_s):
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            got = receive(max(deadline - time.monotonic(), 0.01))
            if got is None or got[0] != call_id:
                continue
            _, start, headers = got
            parts = start.split(" ", 2)
            if (len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) >= 200 and
                    (headers.get("cseq") or [""])[0].startswith(f"{cseq} ")):
                return start, headers
        return None

    def report(name, answer, wait_s):
        if answer is None:
            print(f"{name} none (no final answer in {wait_s}s)", flush=True)
            return
        start, headers = answer
        code, phrase = (start.split(" ", 2) + [""])[1:3]
        shown = [f"{name} {code} {phrase}"]
        for extra in ("accept", "unsupported", "warning"):
            if extra in headers:
                shown.append(f"{extra.title()}: {', '.join(headers[extra])}")
        print(" | ".join(shown), flush=True)

    for name in names:
        call_id, message = table[name]
        sock.sendto(message, ("127.0.0.1", args.port))
        # Generated cases the stack drops unanswered (no Via, no Call-ID ...) must not add up to
        # minutes; answers on loopback take milliseconds.
        wait_s = min(args.wait_s, 0.5) if name.startswith("gen_") else args.wait_s
        answer = final_answer(call_id, 1, wait_s)
        if name in REINVITE_CASES and answer is not None and " 200 " in answer[0] + " ":
            # ACK the 200, then try to move the dialog's remote target with a re-INVITE.
            local_port = sock.getsockname()[1]
            to = answer[1]["to"][0]
            request = message.decode().split("\r\n\r\n", 1)[0].split("\r\n")
            fields = {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in request[1:]}
            for method, cseq, contact in (("ACK", 1, None),
                                          ("INVITE", 2, REINVITE_CASES[name])):
                lines = [f"{method} sip:bot@127.0.0.1:{args.port} SIP/2.0",
                         f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK"
                         f"{random.getrandbits(48):x}",
                         "Max-Forwards: 70", f"From: {fields['From']}", f"To: {to}",
                         f"Call-ID: {call_id}", f"CSeq: {cseq} {method}"]
                body = ""
                if contact:
                    lines += [f"Contact: {contact}", "Content-Type: application/sdp"]
                    body = sdp()
                lines.append(f"Content-Length: {len(body)}")
                sock.sendto(("\r\n".join(lines) + "\r\n\r\n" + body).encode(),
                            ("127.0.0.1", args.port))
            answer = final_answer(call_id, 2, wait_s)
        report(name, answer, wait_s)

    end = time.monotonic() + args.hold_s
    while time.monotonic() < end:
        receive(max(end - time.monotonic(), 0.01))
    for name, branches in byes.items():
        print(f"BYES {name} {len(branches)}", flush=True)


if __name__ == "__main__":
    main()
