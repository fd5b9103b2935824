#!/usr/bin/env bash
# Chat model faults mid-call (issue 6): see faults_lib.sh.
source "$(dirname "$0")/faults_lib.sh"
# The other kinds (429, 503, reset, malformed, 401, hangs before and after the first token) are
# told apart in tests/component/llm_chat_test.cc; a call here checks the path from the failure to
# the caller's ear.
run_fault_call chat 500:server_error:3 --
[ "$(sqlite3 "$work/calls.db" "select count(*) from turns where role='assistant'
      and text = '$apology'")" = 1 ] || fail "the apologies are not stored as the answers"
pass "the apology is stored as the answer the caller heard"
