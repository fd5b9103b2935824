#!/usr/bin/env bash
# Remote speech synthesis faults mid-call (issue 6): see faults_lib.sh. The apology itself comes
# from the prompt cache made at start-up, so it plays while synthesis fails. (A stream that stalls
# after its first audio meets the same stall timer as "hang".)
source "$(dirname "$0")/faults_lib.sh"
run_fault_call speech 429:rate_limited:1 500:server_error:1 503:server_error:1 hang:timeout:1 \
  reset:reset:1 malformed:malformed:1 401:auth:1 --
