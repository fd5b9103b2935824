#!/usr/bin/env bash
# The admin HTTP API against a real `chalkbot serve` and a real `chalkbot call`: health checks,
# the live call list while a call is up, an operator hang-up, the stored call with its turns and
# timings, its 2-channel recording, Prometheus metrics, JSON 4xx errors, and the bearer token.
source "$(dirname "$0")/lib.sh"
start_standin --script "$TESTS_DIR/data/standin_script.json" --tokens-per-sec 40
cd "$work"
start_serve --set recording.enabled=true --set "recording.dir=$work/recordings"
bot="sip:bot@127.0.0.1:$SIP_PORT"
speak() { CHALKBOT_STORE_PATH="$work/say.db" "$CHALKBOT" say "$1" -o "$work/$2" --rate 8000 2>/dev/null; }
speak "What is the capital of France?" capital.wav
speak "Please tell me a story." story.wav
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
# status METHOD PATH [curl args...]: prints the HTTP status; the body goes to $work/body.
status() {
  local method=$1 path=$2; shift 2
  curl -s -o "$work/body" -w '%{http_code}' -X "$method" "$@" "$ADMIN_URL$path"
}
# expect_error METHOD PATH CODE [curl args...]: that status, with a JSON {"error": "..."} body.
expect_error() {
  local method=$1 path=$2 code=$3; shift 3
  local got; got=$(status "$method" "$path" "$@")
  [ "$got" = "$code" ] || fail "$method $path: HTTP $got, expected $code ($(cat "$work/body"))"
  grep -q '^{"error":".\+"}$' "$work/body" || fail "$method $path: no JSON error: $(cat "$work/body")"
}

# 1. Health.
[ "$(status GET /healthz)" = 200 ] || fail "/healthz"
[ "$(status GET /readyz)" = 200 ] || fail "/readyz: $(cat "$work/body")"
pass "healthz and readyz"

# 2. A call shows in /api/live while it is up; the operator hangs it up during the greeting.
# (It would ask for a story, which keeps it up long enough.)
"$CHALKBOT" call "$bot" --say story.wav --timeout-s 60 >hungup.json 2>&1 &
caller=$!
live_id=""
for _ in $(seq 300); do
  curl -s "$ADMIN_URL/api/live" >live.json
  live_id=$(json "d['calls'][0]['id'] if d['calls'] and d['calls'][0]['state'] == 'talking' else ''" <live.json)
  [ -n "$live_id" ] && break
  sleep 0.1
done
[ -n "$live_id" ] || fail "the call never showed in /api/live"
json "d['calls'][0]['from']" <live.json | grep -q '^sip:' || fail "live call has no caller"
[ "$(status POST "/api/calls/$live_id/hangup")" = 202 ] || fail "hangup: $(cat "$work/body")"
wait "$caller" || true
for _ in $(seq 50); do
  [ "$(curl -s "$ADMIN_URL/api/calls/$live_id" | json "d['end_reason']")" = admin_hangup ] && break
  sleep 0.1
done
[ "$(curl -s "$ADMIN_URL/api/calls/$live_id" | json "d['end_reason']")" = admin_hangup ] ||
  fail "the call did not end by the operator's hang-up"
[ "$(curl -s "$ADMIN_URL/api/live" | json "len(d['calls'])")" = 0 ] || fail "the call is still live"
pass "live call $live_id listed, then hung up by POST /api/calls/$live_id/hangup"

# 3. A whole call, stored with its turns and stage timings, recorded in stereo. The model answers
# the first question and fails the second (HTTP 401 from the stand-in): the caller hears the
# apology, and the failure is counted.
curl -s -X POST -d '{"faults": ["none", "401"]}' "${STANDIN_URL%/v1}/control" >/dev/null
"$CHALKBOT" call "$bot" --say capital.wav --say story.wav >capital.json ||
  { cat capital.json; fail "call failed"; }
id=$(curl -s "$ADMIN_URL/api/calls?limit=1" | json "d['calls'][0]['id']")
[ "$id" != "$live_id" ] || fail "the newest call is not the new one"
curl -s "$ADMIN_URL/api/calls/$id" >call.json
# answer|apology|stages of the answer|its response latency, in one python run (the machine is busy).
IFS='|' read -r answer apology stages latency < <(json "(lambda a: '|'.join(str(x) for x in [
  a[0]['text'], a[1]['text'], ','.join(b['stage'] for b in a[0]['stages']),
  a[0]['response_latency_ms']]))([t for t in d['turns'] if t['role'] == 'assistant'])" <call.json)
[[ "$answer" == *Paris* ]] || fail "the stored answer is '$answer'"
[[ "$apology" == Sorry* ]] || fail "the second answer is '$apology', not the apology"
[ "$stages" = "speech,endpoint,asr,llm_first_token,first_sentence,tts_first_audio,first_rtp_out" ] ||
  fail "stages of the answer: $stages"
[ "$(curl -s "$ADMIN_URL/api/calls?limit=1&offset=1" | json "d['total'], d['calls'][0]['id']")" = \
  "(2, '$live_id')" ] || fail "page 2 is not the older call of 2"
[ "$(status GET "/api/calls/$id/audio")" = 200 ] || fail "audio: $(cat "$work/body")"
cp "$work/body" call.wav
[ "$(soxi -c call.wav)" = 2 ] && [ "$(soxi -r call.wav)" = 8000 ] || fail "recording is not 8 kHz stereo"
duration=$(soxi -D call.wav)
at_least "$duration" 3 || fail "recording lasts $duration s"
# Both channels carry sound: the caller's question (left) and the bot's greeting/answer (right).
for ch in 1 2; do
  rms=$(sox call.wav -n remix "$ch" stat 2>&1 | awk '/RMS +amplitude/ {print $3}')
  awk -v r="$rms" 'BEGIN {exit !(r >= 0.005)}' || fail "channel $ch of the recording is silent (RMS $rms)"
done
pass "call $id: answer '$answer' with 7 stage bars, response latency ${latency} ms, ${duration} s stereo recording"

# 4. Metrics.
curl -s "$ADMIN_URL/metrics" >metrics.txt
grep -q '^# TYPE chalkbot_response_latency_seconds histogram' metrics.txt || fail "no latency histogram"
for m in chalkbot_turns_total chalkbot_response_latency_seconds_count chalkbot_asr_seconds_count \
         chalkbot_llm_first_token_seconds_count chalkbot_tts_first_audio_seconds_count \
         chalkbot_endpoint_seconds_count chalkbot_store_write_seconds_count \
         chalkbot_rtp_packets_received_total chalkbot_rtp_packets_sent_total \
         'chalkbot_sip_responses_total{code="200"}' 'chalkbot_calls_ended_total{reason="admin_hangup"}' \
         chalkbot_calls_started_total \
         'chalkbot_provider_errors_total{provider="llm",kind="auth"}'; do
  awk -v m="$m" '$1 == m && $2 >= 1 {found = 1} END {exit !found}' metrics.txt ||
    fail "metric $m is not counted: $(grep -F "$m" metrics.txt)"
done
# The gauge falls as the dialog ends; the BYE's 200 may reach the caller a moment before that.
calls_active_drops_to_0 || fail "calls_active is $(metric chalkbot_calls_active)"
pass "metrics: turns $(metric chalkbot_turns_total), RTP in $(metric chalkbot_rtp_packets_received_total)"

# 5. Bad requests: the right 4xx with a JSON error.
expect_error GET /api/calls/0123456789abcdef 404
expect_error GET /api/calls/0123456789abcdef/audio 404
expect_error POST /api/calls/0123456789abcdef/hangup 404
expect_error GET '/api/calls?limit=abc' 400
expect_error GET '/api/calls?offset=-5' 400
expect_error GET '/api/calls?limit=100000' 400
expect_error GET /api/nope 404
expect_error DELETE /api/calls 405
pass "bad requests: 404/400/405 with JSON errors"
stop_serve

# 6. The token: required when set; a non-loopback listen without one refuses to start.
CHALKBOT_ADMIN_TOKEN=t0ken-$$ start_serve
expect_error GET /api/calls 401
expect_error GET /metrics 401
expect_error GET /api/calls 403 -H "Authorization: Bearer wrong"
[ "$(status GET /api/calls -H "Authorization: Bearer t0ken-$$")" = 200 ] || fail "the right token"
[ "$(status GET /healthz)" = 200 ] || fail "/healthz needs no token"
stop_serve
set +e
CHALKBOT_LLM_BASE_URL="$STANDIN_URL" CHALKBOT_STORE_PATH="$work/calls.db" CHALKBOT_SIP_PORT=0 \
  CHALKBOT_ADMIN_LISTEN=0.0.0.0:0 timeout 20 "$CHALKBOT" serve >/dev/null 2>"$work/open.err"
rc=$?
set -e
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "serve on 0.0.0.0 without a token: exit $rc"
grep -q "admin.listen" "$work/open.err" && grep -q CHALKBOT_ADMIN_TOKEN "$work/open.err" ||
  fail "the refusal does not name the key: $(cat "$work/open.err")"
pass "token: 401 without, 403 wrong, 200 right; 0.0.0.0 without a token refused (exit $rc)"
