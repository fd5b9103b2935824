#!/usr/bin/env bash
# A caller who greets, draws breath and then asks (issue 14: turns that don't split a sentence).
# Over a real SIP call, "Hello." and 1.1 s later "What is the capital of France?": whether the bot
# ended the turn after the greeting and began an answer or not, the model is asked once more with
# one user message holding the question, and the caller hears that answer. A pause longer than
# vad.continue_turn_ms makes two turns.
source "$(dirname "$0")/lib.sh"
start_standin --script "$TESTS_DIR/data/standin_script.json" --tokens-per-sec 40
cd "$work"
start_serve
bot="sip:bot@127.0.0.1:$SIP_PORT"
speak() { CHALKBOT_STORE_PATH="$work/say.db" "$CHALKBOT" say "$1" -o "$2" --rate 8000 2>/dev/null; }
speak "Hello." hello.wav
speak "What is the capital of France?" capital.wav
# hello, PAUSE seconds of silence, the question: one WAV, so the caller does not wait for the bot.
greet_then_ask() {
  sox -n -r 8000 -c 1 -b 16 pause.wav trim 0 "$1"
  sox hello.wav pause.wav capital.wav "$2"
}
# last_request_users: the user messages of the last chat request the model received, one a line.
last_request_users() {
  curl -s "${STANDIN_URL%/v1}/requests" | python3 -c "
import json, sys
chats = [r['body'] for r in json.load(sys.stdin) if r.get('body') and 'messages' in r['body']]
for m in chats[-1]['messages'] if chats else []:
    if m['role'] == 'user': print(m['content'])"
}
clear_requests() {
  curl -s -X POST -d '{"clear_requests": true}' "${STANDIN_URL%/v1}/control" >/dev/null
}

# 1. A breath of 1.1 s: one turn.
greet_then_ask 1.1 breath.wav
"$CHALKBOT" call "$bot" --say breath.wav --record heard.wav >breath.json ||
  { cat breath.json; fail "the call failed"; }
mapfile -t users < <(last_request_users)
[ "${#users[@]}" = 1 ] || fail "the model got ${#users[@]} user messages: $(printf "'%s' " "${users[@]}")"
[[ "${users[0],,}" == *capital* ]] || fail "the model's one user message is '${users[0]}'"
answer=$(sqlite3 calls.db "select text from turns where role='assistant' order by rowid desc limit 1")
[[ "$answer" == *Paris* ]] || fail "the last answer is '$answer'"
grep -q "the caller went on" serve.err ||
  echo "note: the greeting did not end a turn (the endpointer waited), so nothing was dropped"
pass "greeting, breath, question: one user message '${users[0]}' -> '$answer'"

# 2. A pause past vad.continue_turn_ms (1.5 s): two turns, the greeting answered on its own.
clear_requests
greet_then_ask 3.5 pause_long.wav
"$CHALKBOT" call "$bot" --say pause_long.wav >long.json || { cat long.json; fail "the call failed"; }
mapfile -t users < <(last_request_users)
[ "${#users[@]}" = 2 ] || fail "after a long pause the model got ${#users[@]} user messages, not 2"
pass "a 3.5 s pause makes two turns: $(printf "'%s' " "${users[@]}")"
stop_serve
