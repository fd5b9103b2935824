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
for _ in $(seq "$STARTUP_POLLS"); do grep -q '^LISTENING ' "$work/runtime.out" && break; sleep 0.1; done
runtime_api="127.0.0.1:$(awk '/^LISTENING/{print $2; exit}' "$work/runtime.out")"
[ "$runtime_api" != "127.0.0.1:" ] || fail "the Runtime API stand-in did not start"

export CHALKBOT_LLM_BASE_URL="$STANDIN_URL" CHALKBOT_LLM_MAX_RETRIES=0
export CHALKBOT_STORE_DYNAMODB_ENDPOINT="$DYNAMODB_URL" CHALKBOT_STORE_DYNAMODB_TABLE=SessionTable
export AWS_LAMBDA_RUNTIME_API="$runtime_api"

queue() { # queue: hand the {"event"|"raw": ...} lines on stdin to the Runtime API stand-in
  python3 -c 'import json,sys; print(json.dumps({"events": [json.loads(l) for l in sys.stdin if l.strip()]}))' |
    curl -sf -X POST "http://$runtime_api/control" -d @- >/dev/null
}
run_lambda() { # run_lambda N: serve N events, then exit
  timeout 60 "$CHALKBOT" lambda --max-invocations "$1" >>"$work/lambda.out" 2>>"$work/lambda.err" ||
    { cat "$work/lambda.err"; fail "chalkbot lambda exited with $?"; }
}
events() { python3 "$TESTS_DIR/aws/lex_event.py" "$@"; }

# Turn 1, then turn 2 in a new process.
events contact-0001 'what is the capital of france' | queue
run_lambda 1
events contact-0001 'and what about spain' | queue
run_lambda 1
# A malformed event, an event without sessionId, an LLM failure, a goodbye: one run.
curl -sf -X POST "${STANDIN_URL%/v1}/control" -d '{"faults": ["500"]}' >/dev/null
{
  echo '{"raw": "{\"sessionId\": \"contact-0002\", \"inputTranscript\": "}'
  echo '{"event": {"inputTranscript": "hello", "sessionState": {}}}'
  events contact-0002 'tell me a joke' contact-0002 'goodbye'
} | queue
run_lambda 4
# A configuration that cannot work is Lambda's init error, not a crash loop.
if CHALKBOT_STORE_DYNAMODB_TABLE="" timeout 20 "$CHALKBOT" lambda --max-invocations 1 \
  >/dev/null 2>"$work/init.err"; then
  fail "lambda started without a table"
fi

# The same DynamoDB store serves the rest of Chalkbot: `ask` continues the Lambda's session.
CHALKBOT_STORE_BACKEND=dynamodb "$CHALKBOT" ask --session contact-0001 "one more thing" \
  >"$work/ask.out" 2>>"$work/ask.err" || { cat "$work/ask.err"; fail "ask on dynamodb failed"; }
grep -q "You have told me 2 things before this." "$work/ask.out" ||
  fail "ask did not see the Lambda's session: $(cat "$work/ask.out")"
pass "store.backend=dynamodb: the CLI continues the Lambda's session"

curl -sf "http://$runtime_api/results" >"$work/results.json"
curl -sf "${STANDIN_URL%/v1}/requests" >"$work/llm_requests.json"
dynamo GetItem '{"TableName": "SessionTable", "Key": {"SessionId": {"S": "contact-0001"}}}' \
  >"$work/item.json"
grep -q "model_failed" "$work/lambda.err" || fail "the model failure was not logged"
if grep -rq "test-secret-not-real" "$work"/*.err "$work"/*.out 2>/dev/null; then
  fail "the AWS secret key appeared in a log"
fi

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
results = json.load(open(work + "/results.json"))
def check(what, got, wanted):
    if got != wanted:
        sys.exit(f"FAIL: {what}: got {got!r}, wanted {wanted!r}")
def said(r):
    check("kind", r["kind"], "response")
    check("content type", r["body"]["messages"][0]["contentType"], "PlainText")
    return r["body"]["messages"][0]["content"]
def dialog(r):
    return r["body"]["sessionState"]["dialogAction"]["type"]
apology = "Sorry, something went wrong there. Please ask again."  # kApology in agent/conversation.h
check("results", len(results), 7)

turn1, turn2 = results[0], results[1]
check("turn 1 answer", said(turn1), "I heard you. You have told me 0 things before this.")
check("turn 1 dialog", dialog(turn1), "ElicitIntent")
check("turn 1 session attributes", turn1["body"]["sessionState"]["sessionAttributes"],
      {"callerNumber": "+15550100"})
check("turn 2 answer", said(turn2), "I heard you. You have told me 1 things before this.")
chats = [r for r in json.load(open(work + "/llm_requests.json"))
         if r.get("path", "").endswith("/chat/completions")]
seen = [(m["role"], m["content"]) for m in chats[1]["body"]["messages"]]
check("turn 2 prompt roles", [role for role, _ in seen], ["system", "user", "assistant", "user"])
check("turn 2 memory", seen[1:], [("user", "what is the capital of france"),
      ("assistant", "I heard you. You have told me 0 things before this."),
      ("user", "and what about spain")])
if not seen[0][1].startswith("You are Chalkbot, a friendly assistant on a telephone call"):
    sys.exit("FAIL: not the phone prompt: " + seen[0][1][:80])
print("ok: two turns over two cold starts: the second answer was given with the first turn's memory")

item = json.load(open(work + "/item.json"))["Item"]
history = item["History"]["L"]
check("history types", [m["M"]["type"]["S"] for m in history],
      ["human", "ai", "human", "ai", "human", "ai"])
check("history content", history[2]["M"]["data"]["M"]["content"]["S"], "and what about spain")
check("history data type", history[3]["M"]["data"]["M"]["type"]["S"], "ai")
check("version", item["Version"]["N"], "6")
print("ok: history stored as LangChain's DynamoDBChatMessageHistory item")

for i in (2, 3):
    check(f"malformed event {i}", said(results[i]), apology)
    check(f"malformed event {i} dialog", dialog(results[i]), "ElicitIntent")
print("ok: malformed events get a spoken apology, the runtime goes on")
check("LLM failure", said(results[4]), apology)
check("LLM failure dialog", dialog(results[4]), "ElicitIntent")
print("ok: LLM failure (HTTP 500) answered with the apology")
check("goodbye", said(results[5]), "Thank you for calling. Goodbye.")
check("goodbye dialog", dialog(results[5]), "Close")
check("goodbye intent", results[5]["body"]["sessionState"]["intent"],
      {"name": "FallbackIntent", "state": "Fulfilled"})
print("ok: goodbye closes the conversation")

init = results[6]
check("init error kind", init["kind"], "init_error")
check("init error type", init["error_type"], "Runtime.ConfigError")
if "store.dynamodb_table" not in init["body"]["errorMessage"]:
    sys.exit("FAIL: unclear init error: " + init["body"]["errorMessage"])
print("ok: init error reported through the Runtime API; no secret in logs")
PY
