#!/usr/bin/env bash
# Memory across calls against a real `chalkbot serve`, real `chalkbot call`s (From
# sip:chalkbot@..., so the caller is "chalkbot") and the stand-in model: the second call's request
# to the model carries the first call's summary; after a forget - admin API, spoken "forget me",
# `chalkbot memory forget` - the next request does not, and the store holds nothing of it.
source "$(dirname "$0")/lib.sh"
script="$work/script.json"
cat >"$script" <<'EOF'
{"rules": [
  {"match": "Caller: ", "reply": "SUMMARY-{user_turns_before}-XQ the caller asked about France."},
  {"match": "capital", "reply": "Paris."}
 ], "default": "Noted."}
EOF
start_standin --script "$script"
cd "$work"
start_serve --set memory.across_calls=true --set "flow.greeting=Hi." \
  --set flow.max_silent_prompts=0
bot="sip:bot@127.0.0.1:$SIP_PORT"
say_to() { CHALKBOT_STORE_PATH="$work/say.db" "$CHALKBOT" say "$1" -o "$work/$2" --rate 8000 2>/dev/null; }
say_to "What is the capital of France?" capital.wav
say_to "Please forget me." forget.wav
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
control() { curl -s -X POST -d "$1" "${STANDIN_URL%/v1}/control" >/dev/null; }
summaries() { curl -s "$ADMIN_URL/api/memory/chalkbot" | json "len(d['summaries'])"; }
# wait_summaries N: until the store holds N summaries of the caller (they are written after the call).
wait_summaries() {
  for _ in $(seq 100); do [ "$(summaries)" = "$1" ] && return 0; sleep 0.1; done
  fail "the caller has $(summaries) summaries, expected $1"
}
# The system messages of the stand-in's answer requests (not the summary requests) since cleared.
answer_systems() {
  curl -s "${STANDIN_URL%/v1}/requests" | json "'|'.join(m['content'] for r in d
    if r.get('path', '').endswith('/chat/completions') and r['body']
    and not r['body']['messages'][-1]['content'].startswith(('Caller: ', 'Assistant: '))
    for m in r['body']['messages'] if m['role'] == 'system')"
}
call() { "$CHALKBOT" call "$bot" "$@" --timeout-s 30 >>calls.log 2>&1 || { cat calls.log; fail "call failed"; }; }
# call_after_forget HOW: a call whose request to the model carries no summary; it leaves one.
call_after_forget() {
  control '{"clear_requests": true}'
  call --say capital.wav
  [[ "$(answer_systems)" != *XQ* ]] || fail "a summary reached the model after the $1 forget"
  wait_summaries 1
}

# 1. Two calls: the second request to the model carries the first call's summary. Then the
# caller says "forget me": the bot erases them, and that call is not remembered either.
call --say capital.wav
wait_summaries 1
control '{"clear_requests": true}'
call --say capital.wav --say forget.wav
[[ "$(answer_systems)" == *SUMMARY-0-XQ* ]] || fail "the second call's request lacks the summary: $(answer_systems)"
pass "the second call's request carried the first call's summary (${SECONDS} s)"
wait_summaries 0
grep -q "forgot caller chalkbot" serve.err || fail "serve did not log the forget"
sleep 1  # (a summary would be written within this: the stand-in answers at once)
[ "$(summaries)" = 0 ] || fail "the call that said 'forget me' was remembered"
pass "spoken 'forget me': store empty, that call not remembered"

# 2. The next call starts without; forgotten through the admin API, nothing is left.
call_after_forget spoken
[ "$(curl -s -X DELETE "$ADMIN_URL/api/memory/sip:chalkbot@127.0.0.1" | json "d['erased']")" = 1 ] ||
  fail "DELETE /api/memory did not erase the summary"
[ "$(summaries)" = 0 ] || fail "summaries left after the admin forget"
pass "admin API forget: store empty (${SECONDS} s)"

# 3. The next call starts without; the CLI, on the store the server writes (SQLite), leaves
# nothing of it, even in the database files.
call_after_forget admin
CHALKBOT_STORE_PATH="$work/calls.db" "$CHALKBOT" memory forget chalkbot >forget.out ||
  fail "memory forget: $(cat forget.out)"
grep -q "1 call summaries erased" forget.out || fail "memory forget: $(cat forget.out)"
[ "$(summaries)" = 0 ] || fail "summaries left after the CLI forget"
! grep -qa "asked about France" calls.db calls.db-wal 2>/dev/null ||
  fail "the summary text is still in the database files"
pass "CLI forget: store empty, the text gone from the SQLite files (${SECONDS} s)"
