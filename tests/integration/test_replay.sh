#!/usr/bin/env bash
# `chalkbot replay`: a real call to `chalkbot serve` (the stand-in model, recording on) replayed
# from the store and its recording gives the same turns; `--dir` saves expected results, finds
# nothing changed on a second run, and reports (exit 1) when an end-of-turn setting changes;
# bad arguments exit 2 naming what is wrong.
source "$(dirname "$0")/lib.sh"
start_standin --script "$TESTS_DIR/data/standin_script.json" --tokens-per-sec 40
cd "$work"
export CHALKBOT_LLM_BASE_URL="$STANDIN_URL" CHALKBOT_STORE_PATH="$work/calls.db"
recordings=(--set recording.enabled=true --set "recording.dir=$work/recordings")
start_serve "${recordings[@]}"
bot="sip:bot@127.0.0.1:$SIP_PORT"
speak() { CHALKBOT_STORE_PATH="$work/say.db" "$CHALKBOT" say "$1" -o "$work/$2" --rate 8000 2>/dev/null; }
speak "What is the capital of France?" capital.wav
# (A second question with a short answer: a long one only lengthens the call and each replay.)
speak "And how far away is it?" far.wav
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

# 1. A recorded call, replayed: the same caller turns, heard the same.
"$CHALKBOT" call "$bot" --say capital.wav --say far.wav >call.json || { cat call.json; fail "call failed"; }
stop_serve
id=$(sqlite3 calls.db "select id from calls order by started_ms desc limit 1")
[ -f "recordings/$id.wav" ] || fail "call $id was not recorded"
stored_before=$(sqlite3 calls.db "select count(*) from turns")
"$CHALKBOT" "${recordings[@]}" replay "$id" --json >replay.json 2>replay.err ||
  { cat replay.err; fail "replay of call $id failed"; }
read -r turns stored_turns speed < <(json "' '.join(map(str, [len(d['turns']), len(d['stored']['turns']), d['speed']]))" <replay.json)
echo "replayed call $id: $turns turns (stored $stored_turns), ${speed}x real time"
[ "$turns" = "$stored_turns" ] && [ "$turns" -ge 2 ] || fail "replay found $turns turns, the call had $stored_turns"
python3 - replay.json <<'PY' || fail "replayed turns differ from the stored call"
import json, sys
d = json.load(open(sys.argv[1]))
for got, had in zip(d["turns"], d["stored"]["turns"]):
    words = lambda t: set(t.lower().replace("?", "").replace(".", "").split())
    common = len(words(got["heard"]) & words(had["heard"])) / max(1, len(words(had["heard"])))
    print(f"  heard '{got['heard']}' (stored '{had['heard']}'), ended {got['endpoint_ms']} ms "
          f"(stored {had['endpoint_ms']} ms), answer '{got['answer'][:40]}'")
    assert common >= 0.75, (got["heard"], had["heard"])
    assert abs(got["endpoint_ms"] - had["endpoint_ms"]) < 1500, (got, had)
    assert got["answered"] and got["answer"] == had["answer"], (got["answer"], had["answer"])
PY
[ "$(sqlite3 calls.db "select count(*) from turns")" = "$stored_before" ] ||
  fail "the replay wrote turns to the production store"
"$CHALKBOT" "${recordings[@]}" replay "$id" >replay.txt 2>/dev/null || fail "text replay failed"
grep -q "the stored call had $stored_turns" replay.txt && grep -q "stored: heard" replay.txt &&
  grep -q "end-of-turn wait" replay.txt || { cat replay.txt; fail "text output lacks the comparison"; }
pass "call $id replayed: $turns turns as stored, store untouched, ${speed}x real time"

# 2. --dir as a regression suite: the recording and a caller WAV.
mkdir suite
cp "recordings/$id.wav" suite/call.wav
sox capital.wav capital_pause.wav pad 1 3
sox capital_pause.wav far.wav suite/two_questions.wav
set +e
"$CHALKBOT" replay --dir suite >dir0.txt 2>&1; rc_missing=$?
"$CHALKBOT" replay --dir suite --save >save.txt 2>&1; rc_save=$?
"$CHALKBOT" replay --dir suite >same.txt 2>&1; rc_same=$?
"$CHALKBOT" --set vad.end_silence_ms=1500 --set vad.finished_silence_ms=0 \
  --set vad.unfinished_silence_ms=1500 replay --dir suite >changed.txt 2>&1; rc_changed=$?
set -e
cat same.txt changed.txt
[ "$rc_missing" = 1 ] && grep -q MISSING dir0.txt || fail "no expected results: exit $rc_missing"
[ "$rc_save" = 0 ] && [ -f suite/call.expected.json ] || { cat save.txt; fail "--save: exit $rc_save"; }
[ "$rc_same" = 0 ] && ! grep -q CHANGED same.txt || fail "unchanged settings: exit $rc_same"
[ "$rc_changed" = 1 ] && grep -q "CHANGED call.wav" changed.txt && grep -q "expected .* ms (+" changed.txt ||
  fail "a longer end-of-turn silence went unreported (exit $rc_changed)"
pass "--dir: same settings exit 0; a longer end-of-turn silence reported, exit 1"

# 3. Bad input: exit 2 with the culprit named, never a crash.
expect_usage() {
  local what=$1 name=$2; shift 2
  set +e; "$CHALKBOT" "$@" >out.txt 2>err.txt; local rc=$?; set -e
  [ "$rc" = 2 ] && grep -q -- "$name" err.txt || fail "$what: exit $rc: $(cat err.txt)"
}
expect_usage "unknown call" no-such-call replay no-such-call
expect_usage "missing WAV" /nowhere/q.wav replay /nowhere/q.wav
expect_usage "missing dir" /nowhere/dir replay --dir /nowhere/dir
expect_usage "not a WAV" call.json replay call.json
expect_usage "call id and --dir" "one of them" replay x --dir suite
expect_usage "unknown flag" --bogus replay --bogus x
echo "not audio" >bad.wav
expect_usage "broken WAV" bad.wav replay bad.wav
pass "bad arguments and files: exit 2 naming them"
