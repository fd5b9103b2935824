#!/usr/bin/env bash
# `chalkbot serve` against sipp: many calls without and with media, CANCEL before answer, a codec
# mismatch (488) and OPTIONS. The LLM is the local stand-in.
source "$(dirname "$0")/lib.sh"
start_standin --script "$TESTS_DIR/data/standin_script.json"
cd "$work"
ln -s /usr/share/sip-tester pcap   # sipp's uac_pcap looks for pcap/g711a.pcap here

start_serve --set sip.max_calls=400 --set media.inactivity_timeout_s=30
timeout 20 sipp -i 127.0.0.1 -mi 127.0.0.1 -p 0 -sf "$TESTS_DIR/sipp/options.xml" -m 1 \
  127.0.0.1:"$SIP_PORT" >"$work/options.log" 2>&1 || fail "OPTIONS not answered 200"
pass "OPTIONS answered"

timeout 60 sipp -i 127.0.0.1 -mi 127.0.0.1 -p 0 -sf "$TESTS_DIR/sipp/uac_g729_only_488.xml" -m 1 \
  127.0.0.1:"$SIP_PORT" >"$work/488.log" 2>&1 || fail "G.729-only offer did not get 488"
pass "codec mismatch gets 488"

timeout 60 sipp -i 127.0.0.1 -mi 127.0.0.1 -p 0 -sn uac -m 200 -r 20 -timeout 60 \
  -trace_stat -stf "$work/uac.csv" 127.0.0.1:"$SIP_PORT" >"$work/uac.log" 2>&1 ||
  fail "sipp uac: failures (exit $?)"
read -r ok failed < <(sipp_counts uac)
[ "$ok" = 200 ] && [ "$failed" = 0 ] || fail "sipp uac: $ok ok, $failed failed"
pass "sipp uac: 200 calls at 20/s, 0 failed"

timeout 120 sipp -i 127.0.0.1 -mi 127.0.0.1 -p 0 -mp 0 -sn uac_pcap -m 200 -r 20 -timeout 110 \
  -trace_stat -stf "$work/pcap.csv" 127.0.0.1:"$SIP_PORT" >"$work/pcap.log" 2>&1 ||
  fail "sipp uac_pcap: failures (exit $?)"
read -r ok failed < <(sipp_counts pcap)
[ "$ok" = 200 ] && [ "$failed" = 0 ] || fail "sipp uac_pcap: $ok ok, $failed failed"
# Every call was run by an agent that stored it. Agents may still be finishing (200 callers
# talking at once queue for the ASR decoders), so give them time to wind down.
for _ in $(seq 120); do
  stored=$(sqlite3 "$work/calls.db" "select count(*) from calls where end_reason != ''")
  [ "$stored" -ge 400 ] && break
  sleep 0.5
done
[ "$stored" = 400 ] || fail "expected 400 ended calls in the store, found $stored"
heard=$(sqlite3 "$work/calls.db" "select count(distinct call_id) from turns where role = 'user'")
echo "calls in which the bot recognised caller speech from the pcap: $heard"
pass "sipp uac_pcap (RTP): 200 calls at 20/s, 0 failed; calls stored"
stop_serve

# CANCEL before answer: the server rings for 3 s first.
start_serve --set sip.answer_delay_ms=3000
timeout 30 sipp -i 127.0.0.1 -mi 127.0.0.1 -p 0 -sf "$TESTS_DIR/sipp/uac_cancel.xml" -m 3 \
  127.0.0.1:"$SIP_PORT" >"$work/cancel.log" 2>&1 || fail "CANCEL while ringing did not get 200 + 487"
pass "CANCEL before answer: 487"
stop_serve
grep -qi "error\|crash" "$work/serve.err" && { grep -i "error" "$work/serve.err" | head; } || true
