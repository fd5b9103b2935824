#!/usr/bin/env bash
# The dashboard in a real browser: headless Debian chromium driven by playwright-core
# (tests/browser/dashboard_test.js) watches a real `chalkbot call` appear live, opens it and checks
# the transcript, the latency waterfall and the recording's player; then calls the bot from the
# Talk page, chromium's fake microphone playing real human speech (pocketsphinx-testdata), and
# talks over the answer. Screenshots stay in the work dir (KEEP_WORK=1 keeps it).
source "$(dirname "$0")/lib.sh"

# playwright-core from npm, pinned by tests/browser/package-lock.json, installed once per build
# directory (never a browser download: the test uses /usr/bin/chromium).
deps="${BUILD_DIR:-$WORK_DIR}/browser-deps"
if [ ! -d "$deps/node_modules/playwright-core" ] ||
   ! cmp -s "$TESTS_DIR/browser/package-lock.json" "$deps/package-lock.json"; then
  mkdir -p "$deps"
  cp "$TESTS_DIR/browser/package.json" "$TESTS_DIR/browser/package-lock.json" "$deps/"
  (cd "$deps" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund \
    --loglevel=error) || fail "npm ci of playwright-core failed"
fi

# Its own script: the long answer to "young man" would change what other tests hear back.
start_standin --script "$TESTS_DIR/data/standin_talk_script.json" --tokens-per-sec 40
start_serve --set recording.enabled=true --set "recording.dir=$work/recordings" \
  --set flow.greeting="Hello."
# The Talk page's microphone, looped by chromium: a second of quiet (the greeting), a man saying
# "he was not an ill disposed young man" (the stand-in's script answers "young man" at length), three of quiet
# (the answer begins), and again over the answer: the barge-in.
sox "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav" \
  "$work/talk.wav" pad 1 3
CHALKBOT_STORE_PATH="$work/say.db" "$CHALKBOT" say "What is the capital of France?" \
  -o "$work/capital.wav" --rate 8000 2>/dev/null

ADMIN_URL="$ADMIN_URL" SIP_TARGET="sip:bot@127.0.0.1:$SIP_PORT" QUESTION="$work/capital.wav" \
  ANSWER_WORD="Paris" WORK_DIR="$work" NODE_PATH="$deps/node_modules" \
  TALK_WAV="$work/talk.wav" TALK_WORD="young man" STANDIN_URL="$STANDIN_URL" \
  timeout 120 node "$TESTS_DIR/browser/dashboard_test.js" || fail "dashboard test failed"
ls "$work"/dashboard-*.png >/dev/null || fail "no screenshot"
# Keep the screenshots as the test's artifacts, outside the scratch dir.
mkdir -p "$WORK_DIR/artifacts" && cp "$work"/dashboard-*.png "$WORK_DIR/artifacts/"
stop_serve
pass "dashboard: live call, list, transcript, waterfall, audio; screenshots in $WORK_DIR/artifacts"

# The Talk page's call ran wideband: its recording (both sides, as the call heard and said them)
# is 16 kHz; the SIP call beside it (G.711) is 8 kHz.
rate_of_call() {
  local id
  id=$(sqlite3 "$work/calls.db" "select id from calls where from_uri like '$1%' limit 1")
  [ -n "$id" ] || fail "no call from $1 stored"
  soxi -r "$work/recordings/$id.wav"
}
[ "$(rate_of_call browser:)" = 16000 ] || fail "the browser call was not recorded at 16 kHz"
[ "$(rate_of_call sip:)" = 8000 ] || fail "the SIP call was not recorded at 8 kHz"
pass "the browser call ran at 16 kHz (its recording), the G.711 call at 8 kHz"
