# Helpers for the AWS integration tests (bash; source after integration/lib.sh): a local DynamoDB
# (dynalite, in memory, loopback) and raw DynamoDB calls through tests/aws/dynamo.py.
dynalite_pid=""
aws_cleanup() {
  [ -n "$dynalite_pid" ] && kill "$dynalite_pid" 2>/dev/null || true
  cleanup
}
trap aws_cleanup EXIT

# Fake credentials: dynalite checks that requests are signed, not by whom.
export AWS_ACCESS_KEY_ID=AKIDTESTCHALKBOT AWS_SECRET_ACCESS_KEY=test-secret-not-real
export AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_DEFAULT_REGION

# start_dynalite: sets DYNAMODB_URL (http://127.0.0.1:PORT).
start_dynalite() {
  bash "$TESTS_DIR/aws/ensure_node_modules.sh"
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  node "$TESTS_DIR/aws/node_modules/dynalite/cli.js" --host 127.0.0.1 --port "$port" \
    --createTableMs 0 >"$work/dynalite.out" 2>&1 &
  dynalite_pid=$!
  DYNAMODB_URL="http://127.0.0.1:$port"
  for _ in $(seq "$STARTUP_POLLS"); do
    if python3 "$TESTS_DIR/aws/dynamo.py" "$DYNAMODB_URL" ListTables '{}' >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  cat "$work/dynalite.out" >&2
  fail "dynalite did not start"
}

# create_history_table NAME: LangChain's table shape (partition key SessionId, string).
create_history_table() {
  python3 "$TESTS_DIR/aws/dynamo.py" "$DYNAMODB_URL" CreateTable "$(printf '%s' \
    '{"TableName": "'"$1"'", "KeySchema": [{"AttributeName": "SessionId", "KeyType": "HASH"}],
      "AttributeDefinitions": [{"AttributeName": "SessionId", "AttributeType": "S"}],
      "BillingMode": "PAY_PER_REQUEST"}')" >/dev/null
  # A new table is CREATING at first (for dynalite, until its next timer tick).
  for _ in $(seq 100); do
    dynamo DescribeTable '{"TableName": "'"$1"'"}' | grep -q '"TableStatus":"ACTIVE"' && return 0
    sleep 0.1
  done
  fail "table $1 never became ACTIVE"
}

# dynamo OPERATION JSON: one raw call; prints the answer's JSON.
dynamo() { python3 "$TESTS_DIR/aws/dynamo.py" "$DYNAMODB_URL" "$@"; }
