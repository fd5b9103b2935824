#!/usr/bin/env bash
# Twilio Media Streams: a scripted Twilio (twilio_client.py, written from Twilio's public
# documentation) calls `chalkbot serve` over real loopback sockets. The voice webhook answers a
# signed request with <Connect><Stream> and refuses unsigned or wrongly signed ones (and so does
# the stream's handshake); a question in gets the scripted answer out, paced in real time, with
# marks; DTMF acts; talking over the bot sends "clear"; a hang-up in each state and malformed
# messages end the call cleanly (stored with their reason, a clear log line, the stream closed).
source "$(dirname "$0")/lib.sh"
start_standin --script "$TESTS_DIR/data/standin_script.json"
cd "$work"
"$CHALKBOT" say "What is the capital of France?" -o q.wav --rate 8000 2>/dev/null
"$CHALKBOT" say "Please tell me a story." -o story.wav --rate 8000 2>/dev/null
json() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))$2)" "$1"; }
end_reason() { sqlite3 "$work/calls.db" "select end_reason from calls where id='$1'"; }

# The public URL must be known before serve starts (signatures are over it): a free port first.
port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
public_url="http://127.0.0.1:$port"
token="test-auth-token-$RANDOM"
client() { python3 "$TESTS_DIR/integration/twilio_client.py" "$port" "$public_url" "$token" "$@"; }

CHALKBOT_TWILIO_ENABLED=true CHALKBOT_TWILIO_LISTEN="127.0.0.1:$port" \
  CHALKBOT_TWILIO_PUBLIC_URL="$public_url" CHALKBOT_TWILIO_AUTH_TOKEN="$token" \
  start_serve --set flow.greeting="Hello." --set flow.farewell="Goodbye." \
  --set flow.dtmf_actions="0=repeat,9=hangup"
grep -q "^chalkbot: twilio on $port$" "$work/serve.out" || fail "serve did not take Twilio calls"
grep -q "$token" "$work/serve.err" "$work/serve.out" && fail "the auth token was logged"

# 0. The webhook and the stream's handshake check X-Twilio-Signature.
client webhook hook.json
cat hook.json
[ "$(json hook.json "['signed'][0]")" = 200 ] || fail "the signed webhook was not answered"
json hook.json "['signed'][1]" | grep -q "<Connect><Stream url=\"ws://127.0.0.1:$port/twilio/stream\">" ||
  fail "the TwiML does not connect a stream"
json hook.json "['signed'][1]" | grep -q '<Parameter name="from" value="+15551230000"/>' ||
  fail "the TwiML does not pass the caller on"
[ "$(json hook.json "['signed'][2]")" = text/xml ] || fail "the TwiML is not text/xml"
for refused in unsigned wrong tampered stream_unsigned stream_wrong; do
  [ "$(json hook.json "['$refused']")" = 403 ] || fail "$refused request not refused with 403"
done
grep -q "refused: no X-Twilio-Signature" serve.err || fail "no log line for an unsigned request"
pass "webhook: signed -> <Connect><Stream> TwiML; unsigned, wrong or tampered -> 403 (also the stream)"

# 1 and 2 at once: a conversation ended by DTMF, and a barge-in.
client conversation talk.json q.wav &
talk=$!
client barge_in barge.json story.wav q.wav
wait "$talk" || fail "the conversation client failed"
cat talk.json barge.json
sid=$(json talk.json "['call_sid']")
[ "$(json talk.json "['greeting']")" = True ] || fail "no greeting audio"
[ "$(json talk.json "['mark_after_greeting']")" = True ] || fail "no mark after the greeting"
[ "$(json talk.json "['answer']")" = True ] || fail "no answer audio"
[ "$(json talk.json "['stream_sid_echoed']")" = True ] || fail "media without the streamSid"
curl -sf "${STANDIN_URL%/v1}/requests" | grep -q "capital of France" ||
  fail "the model was not asked the question"
heard=$("$CHALKBOT" transcribe talk.json.answer.wav 2>/dev/null)
echo "answer heard: $heard"
recall=$(word_recall "The capital of France is Paris. It is a beautiful city." "$heard")
at_least "$recall" 0.8 || fail "the answer audio does not say the scripted answer ($recall)"
python3 -c "import json,sys; d=json.load(open('talk.json'));
sys.exit(0 if d['answer_wall_s'] >= 0.9*d['answer_audio_s'] and d['most_frames_in_100ms'] <= 7 else 1)" ||
  fail "the answer was not paced in real time"
pass "question in, scripted answer out over Media Streams, paced at 20 ms, marks (recall $recall)"

python3 -c "import json,sys; d=json.load(open('talk.json')); sys.exit(0 if d['closed_after_dtmf_s'] is not None and d['closed_after_dtmf_s'] < 10 else 1)" ||
  fail "DTMF 9 did not end the stream"
[ "$(end_reason "$sid")" = dtmf_hangup ] || fail "the DTMF call ended as '$(end_reason "$sid")'"
[ "$(sqlite3 calls.db "select from_uri from calls where id='$sid'")" = "+15551230000" ] ||
  fail "the caller id is not stored"
sqlite3 calls.db "select role, text from turns where call_id='$sid'" | grep -q "user|.*capital" ||
  fail "the question is not stored under the call SID"
pass "DTMF 9 ends the stream; stored under the call SID with the caller id"

clear_after=$(json barge.json "['clear_after_s']")
echo "clear sent ${clear_after} s after the caller began to talk over the bot"
[ "$clear_after" != None ] && python3 -c "import sys; sys.exit(0 if $clear_after < 1.0 else 1)" ||
  fail "barge-in sent no clear"
[ "$(json barge.json "['media_within_300ms_of_clear']")" = False ] ||
  fail "the old answer's audio went on after the clear"
bsid=$(json barge.json "['call_sid']")
[ "$(sqlite3 calls.db "select count(*) from turns where call_id='$bsid' and role='assistant'
  and interrupted=1")" -ge 1 ] || fail "the answer talked over is not stored as interrupted"
pass "barge-in: clear sent at once, the old answer stopped, stored as interrupted"

# 3. A hang-up in each state.
client hang_ups hangups.json q.wav
cat hangups.json
for state in greeting listening speaking; do
  id=$(json hangups.json "['$state']")
  [ "$(end_reason "$id")" = caller_hangup ] || fail "hang-up while $state: ended as '$(end_reason "$id")'"
done
[ "$(json hangups.json "['speaking_had_answer']")" = True ] || fail "the speaking call had no answer"
dropped=$(json hangups.json "['dropped']")
[ "$(end_reason "$dropped")" = connection_lost ] ||
  fail "a dropped connection ended as '$(end_reason "$dropped")'"
pass "stop while greeting or speaking, a close while listening: caller_hangup; a dropped line: connection_lost"

# 4. Malformed messages: a clear log line, the stream closed (1008), the call stored.
client malformed malformed.json
cat malformed.json
for case in not_json no_event bad_base64 unknown_event binary_frame bad_digit media_before_start; do
  [ "$(json malformed.json "['$case']['close_code']")" = 1008 ] || fail "$case: not closed with 1008"
  id=$(json malformed.json "['$case']['call_sid']")
  if [ "$id" != None ]; then
    [ "$(end_reason "$id")" = protocol_error ] || fail "$case: ended as '$(end_reason "$id")'"
  fi
done
for what in 'not a JSON message' 'not base64' 'unknown event "dance"' 'a binary frame' \
  'without a key in dtmf.digit' '"media" before "start"'; do
  grep -qF "$what" serve.err || fail "no clear log line for: $what"
done
pass "malformed messages: logged, the stream closed with 1008, stored as protocol_error"

kill -0 "$serve_pid" || fail "serve died"
curl -sf "$ADMIN_URL/metrics" | grep -q '^chalkbot_calls_active 0' || fail "calls_active is not 0"
stop_serve
pass "serve still up, no call left active, clean shutdown"
