#!/usr/bin/env bash
# Chat model faults mid-call (issue 6): see faults_lib.sh.
source "$(dirname "$0")/faults_lib.sh"
run_fault_call chat 429:rate_limited:2 500:server_error:3 503:server_error:3 hang:timeout:1 \
  hang_after_first_token:timeout:1 reset:reset:1 malformed:malformed:1 401:auth:1 --
[ "$(sqlite3 "$work/calls.db" "select count(*) from turns where role='assistant'
      and text = '$apology'")" = 8 ] || fail "the apologies are not stored as the answers"
pass "every apology is stored as the answer the caller heard"
