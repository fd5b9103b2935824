#!/usr/bin/env bash
# Hostile SIP load: sipp floods `chalkbot serve` with INVITEs at 500/s from 127.0.0.1 while a real
# call from 127.0.0.2 (`chalkbot call`: greeting, a spoken question, the answer) runs. The flood is
# held to sip.rate_limit_per_s (503 + Retry-After); the real call is answered and completes
# normally; the flooding address is served again once its bucket refills.
source "$(dirname "$0")/lib.sh"
start_standin --script "$TESTS_DIR/data/standin_script.json" --tokens-per-sec 40
cd "$work"

start_serve --set sip.rate_limit_per_s=20 --set sip.rate_limit_burst=40
CHALKBOT_STORE_PATH="$work/say.db" "$CHALKBOT" say "What is the capital of France?" \
  -o "$work/q.wav" --rate 8000 2>/dev/null

"$CHALKBOT" call "sip:bot@127.0.0.1:$SIP_PORT" --bind 127.0.0.2 --say q.wav --timeout-s 60 \
  >call.json 2>call.err &
call_pid=$!
sleep 1  # the call is up (greeting playing) before the flood starts

flood_start=$(date +%s.%N)
timeout 90 sipp -i 127.0.0.1 -mi 127.0.0.1 -p 0 -nostdin -sn uac -m 3000 -r 500 -l 3000 \
  -timeout 60 -trace_stat -stf "$work/flood.csv" 127.0.0.1:"$SIP_PORT" >"$work/flood.log" 2>&1 || true
flood_s=$(python3 -c "import time; print(round(time.time() - $flood_start, 1))")
read -r ok failed < <(python3 - "$work/flood.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
head, last = rows[0], rows[-1]
print(last[head.index("SuccessfulCall(C)")], last[head.index("FailedCall(C)")])
PY
)
# What the limit lets through: the burst plus 20/s while the flood lasts (and a little slack).
allowed=$(python3 -c "print(int(40 + 20 * $flood_s + 20))")
[ $((ok + failed)) -eq 3000 ] || fail "flood: $ok ok + $failed failed is not 3000 calls"
[ "$ok" -le "$allowed" ] || fail "flood: $ok calls got through in ${flood_s}s (limit allows $allowed)"
[ "$failed" -ge 2000 ] || fail "flood: only $failed of 3000 refused"
pass "flood: 3000 INVITEs at 500/s over ${flood_s}s from one address: $ok admitted, $failed refused"

wait "$call_pid" || { cat call.json call.err; fail "the real call failed during the flood"; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
[ "$(json call.json "d['answered'] and d['turns'][0]['answered']")" = True ] ||
  { cat call.json; fail "the real call was not answered"; }
pass "real call from 127.0.0.2 during the flood: answered in" \
  "$(json call.json "d['turns'][0]['response_latency_ms']") ms, hung up by" \
  "$(json call.json "d['hung_up_by']")"

sleep 2  # the flooding address's bucket refills
timeout 20 sipp -i 127.0.0.1 -mi 127.0.0.1 -p 0 -nostdin -sf "$TESTS_DIR/sipp/options.xml" -m 1 \
  127.0.0.1:"$SIP_PORT" >"$work/options.log" 2>&1 || fail "OPTIONS after the flood not answered 200"
pass "the flooding address is served again after the flood"
stop_serve
