#!/usr/bin/env bash
# `chalkbot call` offers SDES-SRTP when media.srtp says so (issue 15): against a serve with
# media.srtp=required, a plain-RTP caller is refused 488, and a caller with media.srtp=required
# has its question heard and its answer heard back. Both directions must decrypt for that: the
# server's recogniser hears only noise without the caller's key, and the caller drops every
# packet of the answer that fails authentication (silence: no answer).
source "$(dirname "$0")/lib.sh"
start_standin --script "$TESTS_DIR/data/standin_script.json" --tokens-per-sec 40
cd "$work"
start_serve --set media.srtp=required
"$CHALKBOT" say "What is the capital of France?" -o q.wav --rate 8000 2>/dev/null

"$CHALKBOT" call "sip:bot@127.0.0.1:$SIP_PORT" --say q.wav --timeout-s 60 >plain.json \
  2>plain.err || true
status=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['status'])" plain.json)
[ "$status" = 488 ] || { cat plain.json plain.err; fail "a plain RTP offer got $status, not 488"; }
pass "plain RTP offer refused 488"

"$CHALKBOT" --set media.srtp=required call "sip:bot@127.0.0.1:$SIP_PORT" --say q.wav \
  --timeout-s 60 >srtp.json 2>srtp.err || { cat srtp.json srtp.err; fail "the SRTP call failed"; }
read -r suite answered < <(python3 -c "import json,sys; d=json.load(open(sys.argv[1]));
print(d['srtp'] or '-', bool(d['answered'] and d['turns'] and d['turns'][0]['answered']))" \
  srtp.json)
[ "$suite" = AES_CM_128_HMAC_SHA1_80 ] || { cat srtp.json; fail "no SRTP suite in the report"; }
[ "$answered" = True ] || { cat srtp.json; tail -20 "$work/serve.err"; fail "no answer heard"; }
pass "SRTP call ($suite): question heard, answer heard back"
stop_serve
