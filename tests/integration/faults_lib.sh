# Provider-fault calls (issue 6), shared by test_faults_{llm,asr,tts}.sh. One serve with remote
# ASR and TTS on the stand-in, one call; for every fault mode two questions: the first meets the
# fault and must get the spoken apology within 3 s of the caller's last word, the second must get
# the real answer. Each mode is logged exactly once with its cause, and no log line holds the key.
# What was heard is told apart by its length (apology and answer differ by over a second) and by
# its sound: the heard slice is matched against
# `chalkbot say`'s rendering of the apology and of the answer (audio_match.py). A recogniser is not
# used: what it hears of flite through a phone line changes with the machine's load.
source "$(dirname "$0")/lib.sh"
key="sk-chalkbot-faulttest-4f9a2c71"  # recognisable: no log line may contain it
export OPENAI_API_KEY="$key"
start_standin --script "$TESTS_DIR/data/faults_script.json" --say-with "$CHALKBOT"
cd "$work"
apology="Sorry, something went wrong there. Please ask again."
answer="The capital of France is Paris."

control() {
  python3 - "${STANDIN_URL%/v1}/control" "$1" <<'PY'
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1], sys.argv[2].encode(), method="POST"))
PY
}
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
# heard_in FILE.json TURN OUT.wav: what the caller heard during that turn's answer, with 300 ms
# either side.
heard_in() {
  local start len
  start=$(json "$1" "d['turns'][$2].get('answer_start_ms') or 0")
  len=$(json "$1" "d['turns'][$2].get('answer_ms') or 0")
  sox heard.wav "$3" trim "$(python3 -c "print(max($start - 300, 0)/1000)")" \
    "$(python3 -c "print(($len + 600)/1000)")"
}
# voiced_ms WAV: first to last voiced 20 ms frame, as `chalkbot call` measures an answer.
voiced_ms() {
  python3 - "$1" <<'PY'
import array, sys, wave
w = wave.open(sys.argv[1]); step = w.getframerate() // 50
pcm = array.array("h", w.readframes(w.getnframes()))
voiced = [i for i in range(0, len(pcm) - step + 1, step)
          if sum(x * x for x in pcm[i:i + step]) / step > 300 ** 2]
print((voiced[-1] - voiced[0]) // step * 20 + 20 if voiced else 0)
PY
}
# lasts_like MS EXPECTED: within 300 ms of EXPECTED (a TTS reset adds its first 80 ms of audio).
lasts_like() { [ "$1" != None ] && python3 -c "import sys; sys.exit(0 if abs($1 - $2) <= 300 else 1)"; }

# run_fault_call ENDPOINT MODE:KIND:REQUESTS... -- [serve flags]: REQUESTS is how many requests
# the fault must fail (the client's retries included) before the question is given up.
run_fault_call() {
  local endpoint=$1; shift
  local specs=()
  while [ "$1" != "--" ]; do specs+=("$1"); shift; done
  shift
  # Every text the bot will say, spoken by the stand-in once now: on a loaded machine starting
  # `chalkbot say` can take longer than the stall timeout, which would look like a fault.
  "$CHALKBOT" config --print 2>/dev/null | sed -n 's/^  \(greeting\|reprompt\|farewell\): "\(.*\)"$/\2/p' \
    >prompts.txt
  printf '%s\n' "$apology" "$answer" >>prompts.txt
  python3 - "$STANDIN_URL/audio/speech" prompts.txt <<'PY'
import json, sys, urllib.request
for text in open(sys.argv[2]).read().splitlines():
    body = json.dumps({"model": "tts-1", "input": text, "voice": "alloy"}).encode()
    urllib.request.urlopen(urllib.request.Request(sys.argv[1], body, method="POST")).read()
PY
  [ "$(wc -l <prompts.txt)" = 5 ] || fail "the prompts were not found in config --print"
  start_serve --set asr.provider=openai --set tts.provider=openai "$@"
  local text
  for text in "A question." "$apology" "$answer"; do
    CHALKBOT_STORE_PATH="$work/say.db" "$CHALKBOT" say "$text" -o "$(echo "$text" | cut -c1-5).wav" \
      --rate 8000 2>/dev/null
  done
  mv "A que.wav" question.wav
  local apology_ms answer_ms
  apology_ms=$(voiced_ms "Sorry.wav"); answer_ms=$(voiced_ms "The c.wav")
  local queue="" says=() spec mode count
  for spec in "${specs[@]}"; do
    IFS=: read -r mode _ count <<<"$spec"
    for _ in $(seq "$count"); do queue+="\"$mode\","; done
    queue+='"ok",'
    says+=(--say question.wav --say question.wav)
  done
  control "{\"endpoint\": \"$endpoint\", \"faults\": [${queue%,}]}"
  "$CHALKBOT" call "sip:bot@127.0.0.1:$SIP_PORT" "${says[@]}" --record heard.wav --quiet-ms 900 \
    --timeout-s 240 >call.json || { cat call.json; fail "the call failed"; }
  stop_serve

  grep -q -- "$key" "$work/serve.err" "$work/serve.out" && fail "a log line contains the API key"
  mapfile -t failures < <(grep -E "call [^:]*: (llm|asr|tts) failed \(" "$work/serve.err")
  [ "${#failures[@]}" = "${#specs[@]}" ] ||
    { printf '%s\n' "${failures[@]}"; fail "${#failures[@]} failures logged for ${#specs[@]} faults"; }
  local i=0 kind latency heard length
  for spec in "${specs[@]}"; do
    IFS=: read -r mode kind _ <<<"$spec"
    local fault_turn=$((2 * i)) next_turn=$((2 * i + 1))
    [[ "${failures[$i]}" == *"failed ($kind)"* ]] ||
      fail "$endpoint $mode: logged as '${failures[$i]}', expected kind $kind"
    latency=$(json call.json "d['turns'][$fault_turn].get('response_latency_ms')")
    [ "$latency" != None ] && [ "$latency" -le 3000 ] ||
      fail "$endpoint $mode: the apology began $latency ms after the question (limit 3000)"
    length=$(json call.json "d['turns'][$fault_turn].get('answer_ms')")
    lasts_like "$length" "$apology_ms" ||
      fail "$endpoint $mode: heard $length ms, not the apology ($apology_ms ms)"
    length=$(json call.json "d['turns'][$next_turn].get('answer_ms')")
    lasts_like "$length" "$answer_ms" ||
      fail "$endpoint $mode: the next question got $length ms, not the answer ($answer_ms ms)"
    heard_in call.json "$fault_turn" apology_heard.wav
    heard=$(python3 "$TESTS_DIR/integration/audio_match.py" apology_heard.wav Sorry.wav "The c.wav") ||
      fail "$endpoint $mode: what was heard does not sound like the apology ($heard)"
    heard_in call.json "$next_turn" answer_heard.wav
    heard=$(python3 "$TESTS_DIR/integration/audio_match.py" answer_heard.wav "The c.wav" Sorry.wav) ||
      fail "$endpoint $mode: the next question got something else than the answer ($heard)"
    pass "$endpoint $mode: apology heard ${latency} ms after the question, logged once as" \
      "$kind, the next question answered"
    i=$((i + 1))
  done
}
