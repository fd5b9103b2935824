#!/usr/bin/env bash
# The ways in other than SIP, against one `chalkbot serve` over real loopback sockets, each from a
# scripted peer written from the protocol's public description:
#   Asterisk AudioSocket (audiosocket_client.py) and Twilio Media Streams (twilio_client.py).
# Twilio's webhook answers a signed request with <Connect><Stream> and refuses unsigned or wrongly
# signed ones (so does the stream's handshake). Over each: a question in gets the scripted answer
# out, paced in real time; DTMF acts; talking over the bot stops its audio (Twilio: a "clear");
# a hang-up in each state of a call and malformed messages end the call cleanly: stored with
# the reason, a clear log line, the connection closed, the server still serving. The calls of a
# phase run at once, to keep the test short.
source "$(dirname "$0")/lib.sh"
start_standin --script "$TESTS_DIR/data/standin_script.json"
cd "$work"
STANDIN_ROOT=${STANDIN_URL%/v1}
"$CHALKBOT" say "What is the capital of France?" -o q.wav --rate 8000 2>/dev/null
"$CHALKBOT" say "Please tell me a story." -o story.wav --rate 8000 2>/dev/null
# json FILE "['key']...": a value a scripted client wrote (as Python prints it). Each file is read
# once into FILE.flat: a Python start per lookup would cost this test half its time.
json() {
  [ -f "$1.flat" ] || python3 - "$1" >"$1.flat" <<'PY'
import json, sys
def walk(value, path):
    if isinstance(value, dict):
        for key, item in value.items():
            walk(item, f"{path}['{key}']")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            walk(item, f"{path}[{i}]")
    else:
        print(path + "\t" + str(value).replace("\n", " "))
walk(json.load(open(sys.argv[1])), "")
PY
  awk -F'\t' -v key="$2" '$1 == key { print substr($0, length(key) + 2); exit }' "$1.flat"
}
end_reason() { sqlite3 "$work/calls.db" "select end_reason from calls where id='$1'"; }

# Twilio's public URL must be known before serve starts (signatures are over it): a free port.
twilio_port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
public_url="http://127.0.0.1:$twilio_port"
token="test-auth-token-$RANDOM"
CHALKBOT_AUDIOSOCKET_ENABLED=true CHALKBOT_AUDIOSOCKET_LISTEN=127.0.0.1:0 \
  CHALKBOT_TWILIO_ENABLED=true CHALKBOT_TWILIO_LISTEN="127.0.0.1:$twilio_port" \
  CHALKBOT_TWILIO_PUBLIC_URL="$public_url" CHALKBOT_TWILIO_AUTH_TOKEN="$token" \
  start_serve --set flow.greeting="Hello." --set flow.farewell="Goodbye." \
  --set flow.dtmf_actions="0=repeat,9=hangup" --set recording.enabled=true \
  --set recording.dir="$work/rec"
AUDIOSOCKET_PORT=$(sed -n 's/^chalkbot: audiosocket on \([0-9]*\)$/\1/p' "$work/serve.out")
[ -n "$AUDIOSOCKET_PORT" ] || fail "serve did not say its AudioSocket port"
grep -q "^chalkbot: twilio on $twilio_port$" "$work/serve.out" || fail "serve did not take Twilio calls"
grep -q "$token" "$work/serve.err" "$work/serve.out" && fail "the auth token was logged"
as_client() { python3 "$TESTS_DIR/integration/audiosocket_client.py" "$AUDIOSOCKET_PORT" "$@"; }
tw_client() {
  python3 "$TESTS_DIR/integration/twilio_client.py" "$twilio_port" "$public_url" "$token" "$@"
}
# run_all COMMAND...: each argument a command line, all at once; fails if any failed.
run_all() {
  local pids=() cmd
  for cmd in "$@"; do eval "$cmd" >/dev/null & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid" || fail "a scripted client failed: $*"; done
}

# Phase 1: conversations ended by DTMF, barge-ins, the webhook.
run_all "as_client conversation talk.json q.wav" "as_client barge_in barge.json story.wav q.wav" \
  "tw_client webhook hook.json" "tw_client conversation tw_talk.json q.wav" \
  "tw_client barge_in tw_barge.json story.wav q.wav"
cat talk.json barge.json hook.json tw_talk.json tw_barge.json

# AudioSocket
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
sys.exit(0 if d['answer_wall_s'] >= 0.9*d['answer_audio_s'] and d['most_frames_in_1s'] <= 60 else 1)" ||
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

# Twilio
[ "$(json hook.json "['signed'][0]")" = 200 ] || fail "the signed webhook was not answered"
json hook.json "['signed'][1]" | grep -q "<Connect><Stream url=\"ws://127.0.0.1:$twilio_port/twilio/stream\">" ||
  fail "the TwiML does not connect a stream"
json hook.json "['signed'][1]" | grep -q '<Parameter name="from" value="+15551230000"/>' ||
  fail "the TwiML does not pass the caller on"
[ "$(json hook.json "['signed'][2]")" = text/xml ] || fail "the TwiML is not text/xml"
for refused in unsigned wrong tampered stream_unsigned stream_wrong; do
  [ "$(json hook.json "['$refused']")" = 403 ] || fail "$refused request not refused with 403"
done
grep -q "refused: no X-Twilio-Signature" serve.err || fail "no log line for an unsigned request"
pass "webhook: signed -> <Connect><Stream> TwiML; unsigned, wrong or tampered -> 403 (also the stream)"

sid=$(json tw_talk.json "['call_sid']")
[ "$(json tw_talk.json "['greeting']")" = True ] || fail "no greeting audio"
[ "$(json tw_talk.json "['mark_after_greeting']")" = True ] || fail "no mark after the greeting"
[ "$(json tw_talk.json "['answer']")" = True ] || fail "no answer audio"
[ "$(json tw_talk.json "['stream_sid_echoed']")" = True ] || fail "media without the streamSid"
curl -sf "$STANDIN_ROOT/requests" | grep -q "capital of France" ||
  fail "the model was not asked the question"
heard=$("$CHALKBOT" transcribe tw_talk.json.answer.wav 2>/dev/null)
echo "answer heard: $heard"
recall=$(word_recall "The capital of France is Paris. It is a beautiful city." "$heard")
at_least "$recall" 0.8 || fail "the answer audio does not say the scripted answer ($recall)"
python3 -c "import json,sys; d=json.load(open('tw_talk.json'));
sys.exit(0 if d['answer_wall_s'] >= 0.9*d['answer_audio_s'] and d['most_frames_in_1s'] <= 60 else 1)" ||
  fail "the answer was not paced in real time"
pass "question in, scripted answer out over Media Streams, paced at 20 ms, marks (recall $recall)"

python3 -c "import json,sys; d=json.load(open('tw_talk.json')); sys.exit(0 if d['closed_after_dtmf_s'] is not None and d['closed_after_dtmf_s'] < 10 else 1)" ||
  fail "DTMF 9 did not end the stream"
[ "$(end_reason "$sid")" = dtmf_hangup ] || fail "the DTMF call ended as '$(end_reason "$sid")'"
[ "$(sqlite3 calls.db "select from_uri from calls where id='$sid'")" = "+15551230000" ] ||
  fail "the caller id is not stored"
sqlite3 calls.db "select role, text from turns where call_id='$sid'" | grep -q "user|.*capital" ||
  fail "the question is not stored under the call SID"
pass "DTMF 9 ends the stream; stored under the call SID with the caller id"

clear_after=$(json tw_barge.json "['clear_after_s']")
echo "clear sent ${clear_after} s after the caller began to talk over the bot"
[ "$clear_after" != None ] && python3 -c "import sys; sys.exit(0 if $clear_after < 1.0 else 1)" ||
  fail "barge-in sent no clear"
[ "$(json tw_barge.json "['media_within_300ms_of_clear']")" = False ] ||
  fail "the old answer's audio went on after the clear"
bsid=$(json tw_barge.json "['call_sid']")
[ "$(sqlite3 calls.db "select count(*) from turns where call_id='$bsid' and role='assistant'
  and interrupted=1")" -ge 1 ] || fail "the answer talked over is not stored as interrupted"
pass "barge-in: clear sent at once, the old answer stopped, stored as interrupted"

# Phase 2: a hang-up in each state, malformed messages (the model slow now, so that a call can
# be caught thinking).
curl -sf -X POST "$STANDIN_ROOT/control" -d '{"ttft_ms": 1200}' >/dev/null
run_all "as_client hang_ups hangups.json q.wav" "as_client malformed malformed.json" \
  "tw_client hang_ups tw_hangups.json q.wav" "tw_client malformed tw_malformed.json"
cat hangups.json malformed.json tw_hangups.json tw_malformed.json

# AudioSocket
for state in greeting listening thinking speaking socket_closed; do
  id=$(json hangups.json "['$state']")
  reason=$(end_reason "$id")
  [ "$reason" = caller_hangup ] || fail "hang-up while $state: ended as '$reason'"
done
[ "$(json hangups.json "['thinking_had_answer']")" = False ] || fail "the thinking call was answered"
[ "$(json hangups.json "['speaking_had_answer']")" = True ] || fail "the speaking call had no answer"
pass "a hang-up while greeting, listening, thinking, speaking, or a bare close: stored as caller_hangup"
for case in unknown_kind odd_audio uuid_too_short bad_dtmf audio_before_uuid second_uuid huge_audio; do
  [ "$(json malformed.json "['$case']['closed_s']")" != None ] || fail "$case: not closed"
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

# Twilio
for state in greeting listening speaking; do
  id=$(json tw_hangups.json "['$state']")
  [ "$(end_reason "$id")" = caller_hangup ] || fail "hang-up while $state: ended as '$(end_reason "$id")'"
done
[ "$(json tw_hangups.json "['speaking_had_answer']")" = True ] || fail "the speaking call had no answer"
dropped=$(json tw_hangups.json "['dropped']")
[ "$(end_reason "$dropped")" = connection_lost ] ||
  fail "a dropped connection ended as '$(end_reason "$dropped")'"
pass "stop while greeting or speaking, a close while listening: caller_hangup; a dropped line: connection_lost"

for case in not_json no_event bad_base64 unknown_event binary_frame bad_digit media_before_start; do
  [ "$(json tw_malformed.json "['$case']['close_code']")" = 1008 ] || fail "$case: not closed with 1008"
  id=$(json tw_malformed.json "['$case']['call_sid']")
  if [ "$id" != None ]; then
    [ "$(end_reason "$id")" = protocol_error ] || fail "$case: ended as '$(end_reason "$id")'"
  fi
done
for what in 'not a JSON message' 'not base64' 'unknown event "dance"' 'a binary frame' \
  'without a key in dtmf.digit' '"media" before "start"'; do
  grep -qF "$what" serve.err || fail "no clear log line for: $what"
done
pass "malformed messages: logged, the stream closed with 1008, stored as protocol_error"

# Twilio's port faces the internet: idle connections beyond 2 * sip.max_calls + 16 (116 here)
# are closed at once.
tw_client connection_cap cap.json 130
# 14 beyond the cap (one or two more should a connection of the calls above still be closing).
closed=$(json cap.json "['closed_at_once']")
[ "$closed" -ge 14 ] && [ "$closed" -le 16 ] ||
  fail "not the 14 connections beyond the cap were closed: $(cat cap.json)"
grep -q "twilio: 116 connections open, one more refused" serve.err || fail "no log line for the cap"
pass "Twilio: connections beyond the cap are refused"

# The server took all of that in its stride, and its books balance.
kill -0 "$serve_pid" || fail "serve died"
calls_active_drops_to_0 || fail "calls_active is not back to 0: $(metric chalkbot_calls_active)"
stop_serve
pass "serve still up, no call left active, clean shutdown"
