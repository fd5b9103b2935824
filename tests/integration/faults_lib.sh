# Provider-fault calls (issue 6), shared by test_faults_{llm,asr,tts}.sh. One serve with remote
# ASR and TTS on the stand-in, one call; for every fault mode two questions: the first meets the
# fault and must get the spoken apology within 3 s of the caller's last word, the second must get
# the real answer. Each mode is logged exactly once with its cause, and no log line holds the key.
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
heard_in() {  # FILE.json TURN: what the caller heard during that turn's answer
  local start len
  start=$(json "$1" "d['turns'][$2].get('answer_start_ms') or 0")
  len=$(json "$1" "d['turns'][$2].get('answer_ms') or 0")
  sox heard.wav slice.wav trim "$(python3 -c "print(max($start - 300, 0)/1000)")" \
    "$(python3 -c "print(($len + 600)/1000)")"
  "$CHALKBOT" transcribe slice.wav 2>/dev/null
}
# sounds_like HEARD WANTED OTHER: HEARD has WANTED's words, clearly more than OTHER's.
sounds_like() {
  local r o
  r=$(word_recall "$2" "$1"); o=$(word_recall "$3" "$1")
  python3 -c "import sys; sys.exit(0 if $r >= 0.3 and $r > $o + 0.1 else 1)"
}

# run_fault_call ENDPOINT MODE:KIND:REQUESTS... -- [serve flags]: REQUESTS is how many requests
# the fault must fail (the client's retries included) before the question is given up.
run_fault_call() {
  local endpoint=$1; shift
  local specs=()
  while [ "$1" != "--" ]; do specs+=("$1"); shift; done
  shift
  start_serve --set asr.provider=openai --set tts.provider=openai "$@"
  CHALKBOT_STORE_PATH="$work/say.db" "$CHALKBOT" say "What is the capital of France?" \
    -o question.wav --rate 8000 2>/dev/null
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
  local i=0 kind latency heard
  for spec in "${specs[@]}"; do
    IFS=: read -r mode kind _ <<<"$spec"
    local fault_turn=$((2 * i)) next_turn=$((2 * i + 1))
    [[ "${failures[$i]}" == *"failed ($kind)"* ]] ||
      fail "$endpoint $mode: logged as '${failures[$i]}', expected kind $kind"
    latency=$(json call.json "d['turns'][$fault_turn].get('response_latency_ms')")
    [ "$latency" != None ] && [ "$latency" -le 3000 ] ||
      fail "$endpoint $mode: the apology began $latency ms after the question (limit 3000)"
    heard=$(heard_in call.json "$fault_turn")
    sounds_like "$heard" "$apology" "$answer" ||
      fail "$endpoint $mode: no apology heard (heard '$heard')"
    heard=$(heard_in call.json "$next_turn")
    [ "$(json call.json "d['turns'][$next_turn]['answered']")" = True ] &&
      sounds_like "$heard" "$answer" "$apology" ||
      fail "$endpoint $mode: the next question was not answered (heard '$heard')"
    pass "$endpoint $mode: apology heard ${latency} ms after the question, logged once" \
      "(${failures[$i]##*failed }), the next question answered"
    i=$((i + 1))
  done
}
