#!/usr/bin/env bash
# Asterisk AudioSocket: a scripted Asterisk (audiosocket_client.py, written from the protocol's
# description) calls `chalkbot serve` over real loopback TCP. A question in gets the scripted
# answer out, paced in real time; DTMF acts; the caller talking over the bot stops its audio;
# a hang-up in every state of a call, and malformed messages, end the call cleanly: stored with
# its reason, a clear log line, the connection closed, the server still serving.
source "$(dirname "$0")/lib.sh"
start_standin --script "$TESTS_DIR/data/standin_script.json"
cd "$work"
STANDIN_ROOT=${STANDIN_URL%/v1}
"$CHALKBOT" say "What is the capital of France?" -o q.wav --rate 8000 2>/dev/null
"$CHALKBOT" say "Please tell me a story." -o story.wav --rate 8000 2>/dev/null
client() { python3 "$TESTS_DIR/integration/audiosocket_client.py" "$AUDIOSOCKET_PORT" "$@"; }
json() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))$2)" "$1"; }
end_reason() { sqlite3 "$work/calls.db" "select end_reason from calls where id='$1'"; }

CHALKBOT_AUDIOSOCKET_ENABLED=true CHALKBOT_AUDIOSOCKET_LISTEN=127.0.0.1:0 \
  start_serve --set flow.greeting="Hello." --set flow.farewell="Goodbye." \
  --set flow.dtmf_actions="0=repeat,9=hangup" --set recording.enabled=true \
  --set recording.dir="$work/rec"
AUDIOSOCKET_PORT=$(sed -n 's/^chalkbot: audiosocket on \([0-9]*\)$/\1/p' "$work/serve.out")
[ -n "$AUDIOSOCKET_PORT" ] || fail "serve did not say its AudioSocket port"

# 1 and 2 at once: a conversation ended by DTMF, and a barge-in.
client conversation talk.json q.wav >/dev/null &
talk=$!
client barge_in barge.json story.wav q.wav >/dev/null
wait "$talk" >/dev/null || fail "the conversation client failed"
cat talk.json barge.json

uuid=$(json talk.json "['uuid']")
[ "$(json talk.json "['greeting']")" = True ] || fail "no greeting audio"
[ "$(json talk.json "['answer']")" = True ] || fail "no answer audio"
curl -sf "$STANDIN_ROOT/requests" | grep -q "capital of France" ||
  fail "the model was not asked the question"
heard=$("$CHALKBOT" transcribe talk.json.answer.wav 2>/dev/null)
echo "answer heard: $heard"
recall=$(word_recall "The capital of France is Paris. It is a beautiful city." "$heard")
at_least "$recall" 0.8 || fail "the answer audio does not say the scripted answer ($recall)"
# Paced: the answer took as long to arrive as it lasts, never a burst.
python3 -c "import json,sys; d=json.load(open('talk.json'));
sys.exit(0 if d['answer_wall_s'] >= 0.9*d['answer_audio_s'] and d['most_frames_in_100ms'] <= 7 else 1)" ||
  fail "the answer was not paced in real time"
pass "question in, scripted answer out over AudioSocket, paced at 20 ms (recall $recall)"

at_least "$(json talk.json "['closed_after_dtmf_s']")" 0 &&
  python3 -c "import json,sys; sys.exit(0 if json.load(open('talk.json'))['closed_after_dtmf_s'] < 10 else 1)" ||
  fail "DTMF 9 did not hang up"
[ "$(json talk.json "['got_hangup_message']")" = True ] || fail "no hang-up message before the close"
[ "$(end_reason "$uuid")" = dtmf_hangup ] || fail "the DTMF call ended as '$(end_reason "$uuid")'"
[ -s "$work/rec/$uuid.wav" ] || fail "the call was not recorded"
sqlite3 calls.db "select role, text from turns where call_id='$uuid'" | grep -q "user|.*capital" ||
  fail "the question is not stored under the call's UUID"
pass "DTMF 9 hangs up (farewell, hang-up message, closed); stored under the UUID, recorded"

stopped=$(json barge.json "['audio_stopped_after_s']")
echo "bot audio stopped ${stopped} s after the caller began to talk over it"
[ "$stopped" != None ] && python3 -c "import sys; sys.exit(0 if $stopped < 1.0 else 1)" ||
  fail "barge-in did not stop the bot's audio at once"
buuid=$(json barge.json "['uuid']")
[ "$(sqlite3 calls.db "select count(*) from turns where call_id='$buuid' and role='assistant'
  and interrupted=1")" -ge 1 ] || fail "the answer talked over is not stored as interrupted"
pass "barge-in: the queued answer is dropped at once and stored as interrupted"

# 3. A hang-up in each state (the model slow now, so a call can be caught thinking).
curl -sf -X POST "$STANDIN_ROOT/control" -d '{"ttft_ms": 1200}' >/dev/null
client hang_ups hangups.json q.wav >/dev/null
cat hangups.json
for state in greeting listening thinking speaking socket_closed; do
  id=$(json hangups.json "['$state']")
  reason=$(end_reason "$id")
  [ "$reason" = caller_hangup ] || fail "hang-up while $state: ended as '$reason'"
done
[ "$(json hangups.json "['thinking_had_answer']")" = False ] || fail "the thinking call was answered"
[ "$(json hangups.json "['speaking_had_answer']")" = True ] || fail "the speaking call had no answer"
pass "a hang-up while greeting, listening, thinking, speaking, or a bare close: stored as caller_hangup"
curl -sf -X POST "$STANDIN_ROOT/control" -d '{"ttft_ms": 0}' >/dev/null

# 4. Malformed messages: a clear log line, a hang-up and the connection closed, the call stored.
client malformed malformed.json >/dev/null
cat malformed.json
for case in unknown_kind odd_audio uuid_too_short bad_dtmf audio_before_uuid second_uuid huge_audio; do
  [ "$(json malformed.json "['$case']['closed_s'] is not None")" = True ] || fail "$case: not closed"
  [ "$(json malformed.json "['$case']['hangup_sent']")" = True ] || fail "$case: no hang-up sent"
  id=$(json malformed.json "['$case']['uuid']")
  if [ "$id" != None ]; then
    [ "$(end_reason "$id")" = protocol_error ] || fail "$case: ended as '$(end_reason "$id")'"
  fi
done
for what in "kind 0x02" "audio is whole 16-bit samples" "a UUID is 16 bytes" "is not a key" \
  "audio before the UUID" "a second UUID" "more than a second of audio"; do
  grep -q "malformed message.*$what" serve.err || fail "no clear log line for: $what"
done
pass "malformed messages: logged, hung up, closed, stored as protocol_error"

# The server took all of that in its stride, and its books balance.
kill -0 "$serve_pid" || fail "serve died"
curl -sf "$ADMIN_URL/metrics" | grep -q '^chalkbot_calls_active 0' ||
  fail "calls_active is not back to 0: $(curl -sf "$ADMIN_URL/metrics" | grep calls_active)"
stop_serve
pass "serve still up, no call left active, clean shutdown"
