#!/usr/bin/env bash
# Issue 15: the seeded malformed-SIP tier. sip_torture.py derives broken INVITE/ACK/BYE/CANCEL/
# OPTIONS/REGISTER requests from valid ones and sends them over UDP and TCP in batches; after each
# batch the server must still run and answer OPTIONS with 200, every answer must be a well-formed
# SIP response, every request with intact Via/From/To/Call-ID/CSeq and framing must be answered
# (UDP and TCP), and at the end it must log no "invalid URI" and complete a real call.
# SIP_TORTURE_SEED (3261) replays a run; SIP_TORTURE_MESSAGES (800) makes a longer one.
source "$(dirname "$0")/lib.sh"
start_malformed_sip_target 2000

seed=${SIP_TORTURE_SEED:-3261}
python3 "$TESTS_DIR/integration/sip_torture.py" --port "$SIP_PORT" --serve-pid "$serve_pid" \
  --seed "$seed" --messages "${SIP_TORTURE_MESSAGES:-800}" >torture.txt ||
  { cat torture.txt; tail -20 "$work/serve.err"; fail "sip_torture.py failed (seed $seed)"; }
cat torture.txt
pass "seed $seed: alive after every batch, every answer a SIP response, every answerable request answered"

# Past the 6.4 s ACK wait of the last answered INVITEs.
sleep 7
kill -0 "$serve_pid" 2>/dev/null || { tail -20 "$work/serve.err"; fail "serve died"; }
! grep -q "invalid URI" "$work/serve.err" || fail "the stack tried to send to an invalid URI"
pass "alive after the ACK timeouts, no request to an invalid URI"

"$CHALKBOT" call "sip:bot@127.0.0.1:$SIP_PORT" --say q.wav --timeout-s 60 >call.json 2>call.err ||
  { cat call.json call.err; fail "the real call failed"; }
answered=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1]));
print(d['answered'] and d['turns'][0]['answered'])" call.json)
[ "$answered" = True ] || { cat call.json; fail "the real call was not answered"; }
pass "a real call afterwards was answered"
stop_serve
