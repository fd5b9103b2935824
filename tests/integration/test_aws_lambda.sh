#!/usr/bin/env bash
# `chalkbot lambda` as AWS Lambda runs it: a custom runtime against a stand-in of the Runtime API,
# fed Lex V2 events shaped as AWS documents them, memory in a real local DynamoDB (dynalite), the
# LLM from the OpenAI stand-in. Each run is a fresh process (a cold start), so the second answer
# can only know the first turn through DynamoDB.
source "$(dirname "$0")/lib.sh"
source "$TESTS_DIR/aws/aws_lib.sh"

start_standin
start_dynalite
create_history_table SessionTable

python3 "$TESTS_DIR/standin/lambda_runtime_standin.py" --port 0 >"$work/runtime.out" \
  2>"$work/runtime.err" &
runtime_pid=$!
trap 'kill $runtime_pid 2>/dev/null || true; aws_cleanup' EXIT
for _ in $(seq 100); do grep -q '^LISTENING ' "$work/runtime.out" && break; sleep 0.1; done
runtime_api="127.0.0.1:$(awk '/^LISTENING/{print $2; exit}' "$work/runtime.out")"
[ "$runtime_api" != "127.0.0.1:" ] || fail "the Runtime API stand-in did not start"

export CHALKBOT_LLM_BASE_URL="$STANDIN_URL" CHALKBOT_LLM_MAX_RETRIES=0
export CHALKBOT_STORE_DYNAMODB_ENDPOINT="$DYNAMODB_URL" CHALKBOT_STORE_DYNAMODB_TABLE=SessionTable
export AWS_LAMBDA_RUNTIME_API="$runtime_api"

queue() { # queue EVENT_JSON...: hand events to the Runtime API stand-in
  local events
  events=$(printf '%s\n' "$@" | python3 -c 'import json,sys; print(json.dumps({"events": [json.loads(l) for l in sys.stdin]}))')
  curl -sf -X POST "http://$runtime_api/control" -d "$events" >/dev/null
}
event() { python3 "$TESTS_DIR/aws/lex_event.py" "$1" "$2"; }
run_lambda() { # run_lambda N: serve N events, then exit
  timeout 60 "$CHALKBOT" lambda --max-invocations "$1" >>"$work/lambda.out" 2>>"$work/lambda.err" \
    || { cat "$work/lambda.err"; fail "chalkbot lambda exited with $?"; }
}
result() { # result INDEX PYTHON_EXPR: evaluates EXPR on result r (0-based), prints it
  curl -sf "http://$runtime_api/results" | python3 -c "
import json, sys
results = json.load(sys.stdin)
r = results[$1]
print($2)"
}
expect() { # expect WHAT ACTUAL WANTED
  [ "$2" = "$3" ] || fail "$1: got '$2', wanted '$3'"
}

# Turn 1, then turn 2 in a new process: the answer counts the earlier turn only if it was loaded.
queue "$(event contact-0001 'what is the capital of france')"
run_lambda 1
queue "$(event contact-0001 'and what about spain')"
run_lambda 1
expect "turn 1 kind" "$(result 0 'r["kind"]')" response
expect "turn 1 dialog" "$(result 0 'r["body"]["sessionState"]["dialogAction"]["type"]')" ElicitIntent
expect "turn 1 content type" "$(result 0 'r["body"]["messages"][0]["contentType"]')" PlainText
expect "turn 1 answer" "$(result 0 'r["body"]["messages"][0]["content"]')" \
  "I heard you. You have told me 0 things before this."
expect "turn 1 session attributes" \
  "$(result 0 'r["body"]["sessionState"]["sessionAttributes"]["callerNumber"]')" "+15550100"
expect "turn 2 answer" "$(result 1 'r["body"]["messages"][0]["content"]')" \
  "I heard you. You have told me 1 things before this."
# What the model saw on turn 2: the phone prompt, turn 1's question and answer, the new question.
seen=$(curl -sf "${STANDIN_URL%/v1}/requests" | python3 -c '
import json, sys
chats = [r for r in json.load(sys.stdin) if r.get("path", "").endswith("/chat/completions")]
print(json.dumps([m["role"] + ":" + m["content"][:30] for m in chats[-1]["body"]["messages"]]))')
echo "$seen" | grep -q '"system:You are Chalkbot, a friendly' || fail "no phone prompt: $seen"
echo "$seen" | grep -q '"user:what is the capital of france"' || fail "turn 1 not in memory: $seen"
echo "$seen" | grep -q '"assistant:I heard you. You have told me 0' || fail "answer 1 missing: $seen"
pass "two turns over two cold starts: the second answer was given with the first turn's memory"

# The item in LangChain's shape.
dynamo GetItem '{"TableName": "SessionTable", "Key": {"SessionId": {"S": "contact-0001"}}}' \
  >"$work/item.json"
python3 - "$work/item.json" <<'PY' || fail "DynamoDB item not in LangChain's shape"
import json, sys
item = json.load(open(sys.argv[1]))["Item"]
history = item["History"]["L"]
types = [m["M"]["type"]["S"] for m in history]
assert types == ["human", "ai", "human", "ai"], types
assert history[2]["M"]["data"]["M"]["content"]["S"] == "and what about spain"
assert item["Version"]["N"] == "4", item["Version"]
PY
pass "history stored as LangChain's DynamoDBChatMessageHistory item"

# A malformed event, an event without sessionId, an LLM failure, a goodbye: all answered, one run.
curl -sf -X POST "${STANDIN_URL%/v1}/control" -d '{"faults": ["500"]}' >/dev/null
queue '{"raw": "{\"sessionId\": \"contact-0002\", \"inputTranscript\": "}' \
      '{"event": {"inputTranscript": "hello", "sessionState": {}}}' \
      "$(event contact-0002 'tell me a joke')" \
      "$(event contact-0002 'goodbye')"
run_lambda 4
apology="Sorry, I could not get an answer just now. Please try again in a moment."
for i in 2 3; do
  expect "malformed event $i kind" "$(result $i 'r["kind"]')" response
  expect "malformed event $i dialog" \
    "$(result $i 'r["body"]["sessionState"]["dialogAction"]["type"]')" ElicitIntent
  expect "malformed event $i message" "$(result $i 'r["body"]["messages"][0]["content"]')" "$apology"
done
pass "malformed events get a spoken apology, the runtime goes on"
expect "LLM failure kind" "$(result 4 'r["kind"]')" response
expect "LLM failure message" "$(result 4 'r["body"]["messages"][0]["content"]')" "$apology"
expect "LLM failure dialog" "$(result 4 'r["body"]["sessionState"]["dialogAction"]["type"]')" \
  ElicitIntent
grep -q "model_failed" "$work/lambda.err" || fail "the model failure was not logged"
pass "LLM failure (HTTP 500) answered with the apology"
expect "goodbye dialog" "$(result 5 'r["body"]["sessionState"]["dialogAction"]["type"]')" Close
expect "goodbye intent state" "$(result 5 'r["body"]["sessionState"]["intent"]["state"]')" Fulfilled
expect "goodbye message" "$(result 5 'r["body"]["messages"][0]["content"]')" \
  "Thank you for calling. Goodbye."
pass "goodbye closes the conversation"

# A configuration that cannot work is reported as Lambda's init error, not a crash loop.
if CHALKBOT_STORE_DYNAMODB_TABLE="" timeout 20 "$CHALKBOT" lambda --max-invocations 1 \
  >/dev/null 2>"$work/init.err"; then
  fail "lambda started without a table"
fi
expect "init error kind" "$(result 6 'r["kind"]')" init_error
expect "init error type" "$(result 6 'r["error_type"]')" Runtime.ConfigError
result 6 'r["body"]["errorMessage"]' | grep -q "store.dynamodb_table" || fail "init error unclear"
if grep -rq "test-secret-not-real" "$work"/*.err "$work"/*.out 2>/dev/null; then
  fail "the AWS secret key appeared in a log"
fi
pass "init error reported through the Runtime API; no secret in logs"
