#!/usr/bin/env python3
"""A minimal SIP-over-UDP caller with its own SDES-SRTP (RFC 3711 AES-CM-128 + HMAC-SHA1-80), for
the SRTP integration test.

It offers RTP/SAVP with an a=crypto key (or plain RTP/AVP with --plain), and when answered 200 sends
WAV as SRTP: under the offered key, or under another one (--wrong-key) so that the server must
drop every packet. It checks the server's SRTP with the key from the answer, which also proves
this implementation against the server's libsrtp. Prints one JSON line:
  {"status": 200, "sent": N, "received": M, "authentic": K, "answer_profile": "RTP/SAVP"}
"""
import argparse
import audioop
import base64
import hashlib
import hmac
import json
import os
import random
import re
import socket
import struct
import sys
import time
import wave

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def aes_ctr(key, iv, data):
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return enc.update(data) + enc.finalize()


class SrtpKeys:
    """Session keys of one SRTP direction (RFC 3711 4.3, key derivation rate 0)."""

    def __init__(self, key_salt):
        master_key, master_salt = key_salt[:16], key_salt[16:30]

        def derive(label, length):
            x = bytearray(master_salt)
            x[7] ^= label  # key_id = label || r (r = 0), right-aligned under the 14-byte salt
            return aes_ctr(master_key, bytes(x) + b"\0\0", b"\0" * length)

        self.enc = derive(0, 16)
        self.auth = derive(1, 20)
        self.salt = derive(2, 14)

    def iv(self, ssrc, index):
        iv = bytearray(self.salt + b"\0\0")
        for i, b in enumerate(struct.pack(">I", ssrc)):
            iv[4 + i] ^= b
        for i, b in enumerate(struct.pack(">Q", index << 16)):  # index * 2^16 in the last 8 bytes
            iv[8 + i] ^= b
        return bytes(iv)

    def protect(self, header, payload, ssrc, seq, roc=0):
        body = header + aes_ctr(self.enc, self.iv(ssrc, (roc << 16) | seq), payload)
        tag = hmac.new(self.auth, body + struct.pack(">I", roc), hashlib.sha1).digest()[:10]
        return body + tag

    def authentic(self, packet):
        if len(packet) < 12 + 10:
            return False
        body, tag = packet[:-10], packet[-10:]
        for roc in (0, 1):  # a random first sequence number may wrap once in a short call
            mac = hmac.new(self.auth, body + struct.pack(">I", roc), hashlib.sha1).digest()[:10]
            if hmac.compare_digest(mac, tag):
                return True
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True, help="host:port of the server's UDP SIP")
    ap.add_argument("--wav", required=True, help="8 kHz mono 16-bit WAV to send")
    ap.add_argument("--wrong-key", action="store_true", help="send under a key not offered")
    ap.add_argument("--plain", action="store_true", help="offer plain RTP/AVP, no a=crypto")
    ap.add_argument("--listen-after", type=float, default=1.0, help="seconds before BYE")
    args = ap.parse_args()
    host, port = args.target.rsplit(":", 1)
    server = (host, int(port))

    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind(("127.0.0.1", 0))
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    sip_port, rtp_port = sip.getsockname()[1], rtp.getsockname()[1]

    offered = os.urandom(30)
    call_id = "%x@127.0.0.1" % random.getrandbits(64)
    from_tag = "%x" % random.getrandbits(32)
    sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio %d %s 0\r\na=rtpmap:0 PCMU/8000\r\n" %
           (rtp_port, "RTP/AVP" if args.plain else "RTP/SAVP"))
    if not args.plain:
        sdp += "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:%s\r\n" % base64.b64encode(offered).decode()
    sdp += "a=sendrecv\r\n"

    def request(method, cseq, to_tag="", body="", branch=None):
        branch = branch or "z9hG4bK%x" % random.getrandbits(48)
        lines = [
            "%s sip:bot@%s:%d SIP/2.0" % (method, host, server[1]),
            "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport" % (sip_port, branch),
            "Max-Forwards: 70",
            "From: <sip:srtp-caller@127.0.0.1>;tag=%s" % from_tag,
            "To: <sip:bot@%s>%s" % (host, ";tag=" + to_tag if to_tag else ""),
            "Call-ID: " + call_id,
            "CSeq: %d %s" % (cseq, method),
            "Contact: <sip:srtp-caller@127.0.0.1:%d>" % sip_port,
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append("Content-Length: %d" % len(body))
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    invite = request("INVITE", 1, body=sdp)
    status, response = 0, ""
    deadline = time.time() + 10
    sip.settimeout(0.5)
    sip.sendto(invite, server)
    while time.time() < deadline and status < 200:
        try:
            data, _ = sip.recvfrom(65535)
        except socket.timeout:
            sip.sendto(invite, server)
            continue
        text = data.decode(errors="replace")
        m = re.match(r"SIP/2.0 (\d+)", text)
        if m and "CSeq: 1 INVITE" in text:
            status, response = int(m.group(1)), text
    result = {"status": status, "sent": 0, "received": 0, "authentic": 0}
    warning = re.search(r"^Warning: (.*)$", response, re.M)
    if warning:
        result["warning"] = warning.group(1).strip()
    if status != 200:
        if status >= 300:
            sip.sendto(request("ACK", 1), server)  # for the error response
        print(json.dumps(result))
        return
    to_tag = re.search(r"^To:.*;tag=([^;\s]+)", response, re.M).group(1)
    sip.sendto(request("ACK", 1, to_tag), server)
    answer_port = int(re.search(r"^m=audio (\d+) (\S+)", response, re.M).group(1))
    result["answer_profile"] = re.search(r"^m=audio \d+ (\S+)", response, re.M).group(1)
    crypto = re.search(r"^a=crypto:\d+ AES_CM_128_HMAC_SHA1_80 inline:([A-Za-z0-9+/=]+)",
                       response, re.M)
    theirs = SrtpKeys(base64.b64decode(crypto.group(1))) if crypto else None
    ours = SrtpKeys(os.urandom(30) if args.wrong_key else offered)

    with wave.open(args.wav) as w:
        pcm = w.readframes(w.getnframes())
    ulaw = audioop.lin2ulaw(pcm, 2)
    ssrc, seq, ts = random.getrandbits(32), random.randrange(1000), random.getrandbits(32)
    rtp.setblocking(False)
    start = time.time()
    frames = [ulaw[i:i + 160] for i in range(0, len(ulaw) - 159, 160)]
    end_at = start + len(frames) * 0.02 + args.listen_after
    k = 0
    while time.time() < end_at:
        if k < len(frames) and time.time() >= start + k * 0.02:
            header = struct.pack(">BBHII", 0x80, 0x80 if k == 0 else 0, seq, ts, ssrc)
            rtp.sendto(ours.protect(header, frames[k], ssrc, seq), ("127.0.0.1", answer_port))
            seq, ts, k = (seq + 1) & 0xFFFF, (ts + 160) & 0xFFFFFFFF, k + 1
            result["sent"] += 1
        try:
            while True:
                packet, _ = rtp.recvfrom(2048)
                result["received"] += 1
                if theirs and theirs.authentic(packet):
                    result["authentic"] += 1
        except BlockingIOError:
            pass
        time.sleep(0.004)

    bye = request("BYE", 2, to_tag)
    sip.sendto(bye, server)
    try:
        sip.recvfrom(65535)
    except socket.timeout:
        sip.sendto(bye, server)
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
