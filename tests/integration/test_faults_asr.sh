#!/usr/bin/env bash
# Remote speech recognition faults mid-call (issue 6): see faults_lib.sh. A reset meets libcurl's
# own retry too (a reused keep-alive connection that dies before the reply is retried once on a
# fresh one), then ours: three requests.
source "$(dirname "$0")/faults_lib.sh"
# The other kinds (429, 5xx, a hang, malformed, 401) are told apart in tests/component
# llm_remote_speech_test.cc; a call here checks the path from the failure to the caller's ear.
run_fault_call transcriptions reset:reset:3 --
