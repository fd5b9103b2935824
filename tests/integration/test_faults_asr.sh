#!/usr/bin/env bash
# Remote speech recognition faults mid-call (issue 6): see faults_lib.sh. A reset meets libcurl's
# own retry too (a reused keep-alive connection that dies before the reply is retried once on a
# fresh one), then ours: three requests.
source "$(dirname "$0")/faults_lib.sh"
run_fault_call transcriptions 429:rate_limited:2 500:server_error:2 503:server_error:2 \
  hang:timeout:1 reset:reset:3 malformed:malformed:1 401:auth:1 --
