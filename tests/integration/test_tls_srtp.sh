#!/usr/bin/env bash
# SIP over TLS with SDES-SRTP required (issue 15 item 4). baresip calls over TLS with SRTP
# (libre's own SRTP, not libsrtp) and has a real conversation, ended by the bot's BYE over the
# caller's TLS connection, while a raw-socket sniffer watches the RTP ports on loopback: no packet may carry the caller's audio as plain G.711, and the
# payload bytes must look random. Then, over UDP, a plain RTP offer is refused 488, and a caller
# that sends SRTP under a key other than the one it offered gets nothing through: every packet
# is counted as rejected, no turn is heard, and the server stays up.
source "$(dirname "$0")/lib.sh"
start_standin --script "$TESTS_DIR/data/standin_script.json"
cd "$work"

# A CA and a server certificate for 127.0.0.1 signed by it, made for this run.
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
  -subj "/CN=Chalkbot test CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=127.0.0.1" \
  2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
  -days 2 -extfile server.ext 2>/dev/null

# RTP ports of this server only, for the sniffer (other tests use the default 20000-29999).
rtp_ports=33200-33299
start_serve --set sip.tls_listen=127.0.0.1:0 --set "sip.tls_certificate=$work/server.pem" \
  --set "sip.tls_private_key=$work/server.key" --set media.srtp=required \
  --set media.rtp_port_min=${rtp_ports%-*} --set media.rtp_port_max=${rtp_ports#*-}
tls_port=$(sed -n 's/.* sip: TLS listening on sips:127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/serve.err")
[ -n "$tls_port" ] || fail "no 'sip: TLS listening' line"
echo Q | timeout 5 openssl s_client -connect "127.0.0.1:$tls_port" -CAfile ca.pem \
  -verify_return_error >s_client.out 2>&1 || { tail -5 s_client.out; fail "TLS handshake failed"; }
pass "TLS listener on $tls_port: the handshake verifies against the test CA"

"$CHALKBOT" say "What is the capital of France?" -o q.wav --rate 8000
"$CHALKBOT" say "Goodbye." -o bye.wav --rate 8000
sox -n -r 8000 -c 1 -b 16 lead.wav trim 0 4
sox -n -r 8000 -c 1 -b 16 gap.wav trim 0 5
sox -n -r 8000 -c 1 -b 16 tail.wav trim 0 8
sox lead.wav q.wav gap.wav bye.wav tail.wav caller.wav
baresip_setup "$work/baresip" "$work/caller.wav"
cat >>"$work/baresip/config" <<CFG
sip_cafile $work/ca.pem
module srtp.so
CFG
echo "<sip:caller@127.0.0.1;transport=tls>;regint=0;audio_codecs=PCMU;mediaenc=srtp-mand" \
  >"$work/baresip/accounts"

python3 "$TESTS_DIR/integration/rtp_sniff.py" --ports "$rtp_ports" --plain-wav caller.wav \
  --seconds 40 --ready sniff.ready >sniff.json 2>sniff.err &
sniff_pid=$!
for _ in $(seq 50); do [ -f sniff.ready ] && break; sleep 0.1; done
[ -f sniff.ready ] || { cat sniff.err; fail "the sniffer did not start (needs root or CAP_NET_RAW)"; }
baresip_call "$work/baresip" "sip:bot@127.0.0.1:$tls_port;transport=tls" 24 baresip.log
kill -TERM "$sniff_pid"
wait "$sniff_pid" || true
grep -q "Call established" baresip.log || { tail baresip.log; fail "baresip: no call over TLS"; }
grep -q "SRTP is Enabled (cryptosuite=AES_CM_128_HMAC_SHA1_80)" baresip.log ||
  fail "baresip did not run SRTP"
pass "baresip called over TLS with SRTP (AES_CM_128_HMAC_SHA1_80)"
# The caller said goodbye: the bot's BYE reached it over its own TLS connection (baresip accepts
# none) before baresip would have hung up itself, at the end of its audio file.
took=$(sed -n 's/.*terminated (duration: \([0-9]*\) secs).*/\1/p' baresip.log | head -1)
audio_s=$(soxi -D caller.wav | cut -d. -f1)
[ -n "$took" ] && [ "$took" -lt "$audio_s" ] ||
  fail "the bot's BYE did not end the call (took '$took' s, the caller's audio lasts $audio_s s)"
pass "the bot hung up after the goodbye: the call ended at $took s"

# Both ways the conversation got through the encryption: the bot heard the question and the
# caller heard the scripted answer.
heard=$(transcribe "$(ls "$work"/baresip/rec/*-dec.wav | head -1)")
echo "caller heard: $heard"
recall=$(word_recall "The capital of France is Paris. It is a beautiful city." "$heard")
at_least "$recall" 0.5 || fail "the caller did not hear the answer (recall $recall)"
pass "conversation over SRTP: the caller heard the answer (recall $recall)"

cat sniff.json
python3 - sniff.json <<'PY' || fail "the RTP on the wire is not SRTP"
import json, sys
s = json.load(open(sys.argv[1]))
for direction in ("to_server", "from_server"):
    d = s[direction]
    assert d["packets"] > 300, f"{direction}: only {d['packets']} RTP packets seen"
    # A 12-byte header, 160 bytes of G.711, the 80-bit tag: 182 bytes.
    assert d["sizes"].get("182", 0) >= d["packets"] - 2, f"{direction}: sizes {d['sizes']}"
    # Plain G.711 speech measured here at 2.1-4.4 bits per byte; encrypted is near 8.
    assert d["entropy"] > 7.9, f"{direction}: payload entropy {d['entropy']} bits/byte"
assert s["to_server"]["plain_frames"] == 0, "the caller's audio went out as plain G.711"
PY
pass "on the wire: 182-byte packets, payload entropy near 8 bits/byte, none holds the caller's G.711"

# Over UDP: plain RTP refused while SRTP is required.
plain=$(python3 -W ignore "$TESTS_DIR/integration/srtp_caller.py" --target "127.0.0.1:$SIP_PORT" \
  --wav q.wav --plain)
echo "plain offer: $plain"
[[ "$plain" == *'"status": 488'* && "$plain" == *'"warning": "302 '* ]] ||
  fail "a plain RTP offer was not refused 488 with Warning 302"
grep -q "sip: 488 Not Acceptable Here (plain RTP refused: media.srtp is required" serve.err ||
  fail "no log line for the refused plain offer"
pass "plain RTP offer refused: 488 with Warning 302, logged"

# A wrong key: the caller offers one key and encrypts with another.
received_before=$(metric chalkbot_rtp_packets_received_total)
sox -n -r 8000 -c 1 -b 16 lead1.wav trim 0 1
sox lead1.wav q.wav wrong.wav
wrong=$(python3 -W ignore "$TESTS_DIR/integration/srtp_caller.py" --target "127.0.0.1:$SIP_PORT" \
  --wav wrong.wav --wrong-key --listen-after 2)
echo "wrong key: $wrong"
rejected=""
for _ in $(seq 50); do  # the call's count is added when it ends
  rejected=$(metric chalkbot_srtp_packets_rejected_total)
  python3 -c "import json,sys; sys.exit(0 if int('${rejected:-0}') >= json.loads('$wrong')['sent'] - 3 else 1)" && break
  sleep 0.1
done
received_after=$(metric chalkbot_rtp_packets_received_total)
python3 - "$wrong" "${rejected:-0}" "$received_before" "$received_after" <<'PY' || fail "the wrong-key call"
import json, sys
r, rejected = json.loads(sys.argv[1]), int(sys.argv[2])
received_before, received_after = int(sys.argv[3]), int(sys.argv[4])
assert r["status"] == 200, r
assert r["sent"] > 100, r
# The caller's SRTP implementation is right: it authenticates what the server sends under the
# answer's key; so the packets it sends under the wrong key fail only because of the key.
assert r["authentic"] > 100 and r["authentic"] == r["received"], r
# Not one packet was taken as RTP; all but the few that can arrive before the media session
# starts (those are dropped as plain RTP, uncounted here) failed authentication.
assert received_after == received_before, f"{received_after - received_before} packets accepted"
assert rejected >= r["sent"] - 3, f"{rejected} rejected of {r['sent']} sent"
PY
[ "$(metric chalkbot_sip_srtp_refused_total)" = 1 ] || fail "chalkbot_sip_srtp_refused_total is not 1"
stop_serve
[ "$(sqlite3 calls.db "select count(*) from calls where from_uri like '%srtp-caller%'")" = 1 ] ||
  fail "the wrong-key call is not in the store"
turns=$(sqlite3 calls.db "select count(*) from turns t join calls c on c.id = t.call_id
  where c.from_uri like '%srtp-caller%' and t.role = 'user'")
[ "$turns" = 0 ] || fail "the bot heard $turns turns under the wrong key"
pass "wrong key: no packet accepted, $rejected counted as unauthentic, no turn heard, server exited cleanly"
reason=$(sqlite3 calls.db "select end_reason from calls where from_uri = 'sip:caller@127.0.0.1'")
[ "$reason" = caller_goodbye ] || fail "the TLS call ended with '$reason', not caller_goodbye"
pass "the TLS call is stored as ended by the caller's goodbye"
