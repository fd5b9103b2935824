#!/usr/bin/env bash
# Remote speech synthesis faults mid-call (issue 6): see faults_lib.sh. The apology itself comes
# from the prompt cache made at start-up, so it plays while synthesis fails.
source "$(dirname "$0")/faults_lib.sh"
# The other kinds are told apart in tests/component/llm_remote_speech_test.cc; a call here checks
# the path from the failure to the caller's ear.
run_fault_call speech 503:server_error:1 --
