#!/usr/bin/env bash
# Calls/s and concurrent calls through Kamailio (deploy/kamailio/kamailio.cfg) with one node and
# with two nodes sharing one PostgreSQL store. Prints a table and, last, one JSON line.
#
#   bench/kamailio_bench.sh [--smoke]      (after `make build`; uses build/src/chalkbot)
#
# Each node admits at most MAX_CALLS concurrent calls (sip.max_calls, the per-node capacity an
# operator sets from its CPU); the offered load is RATE calls/s of HOLD_MS each, i.e. about
# RATE * HOLD_MS / 1000 calls at once. With one node the calls over its limit are refused (503,
# no other node to fail over to); with two, the front spreads them. All processes share this
# machine's cores, so the figure shows the front's spreading and failover, not CPU scaling.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export SOURCE_DIR=$here TESTS_DIR=$here/tests
export CHALKBOT=${CHALKBOT:-$here/build/src/chalkbot}
export WORK_DIR=${WORK_DIR:-/tmp}
CALLS=400 RATE=40 HOLD_MS=3000 MAX_CALLS=80
if [ "${1:-}" = "--smoke" ]; then CALLS=60 RATE=20 HOLD_MS=2000 MAX_CALLS=25; fi
source "$TESTS_DIR/integration/lib.sh"
source "$TESTS_DIR/integration/scaleout_lib.sh"

start_standin --script "$TESTS_DIR/data/standin_script.json"
cd "$work"
start_postgres

# run_load NAME: offered load through the front; prints "ok failed seconds peak_concurrent".
run_load() {
  local name=$1 start end
  start=$(date +%s.%N)
  timeout 300 sipp -i 127.0.0.1 -mi 127.0.0.1 -p 0 -sf "$TESTS_DIR/sipp/uac_via_proxy.xml" \
    -m "$CALLS" -r "$RATE" -d "$HOLD_MS" -timeout 280 -trace_stat -fd 1 -stf "$work/$name.csv" \
    "127.0.0.1:$FRONT_PORT" >"$work/$name.log" 2>&1 || true
  end=$(date +%s.%N)
  python3 - "$work/$name.csv" "$start" "$end" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
head, body = rows[0], rows[1:]
col = lambda name: [int(r[head.index(name)]) for r in body]
print(col("SuccessfulCall(C)")[-1], col("FailedCall(C)")[-1],
      f"{float(sys.argv[3]) - float(sys.argv[2]):.1f}", max(col("CurrentCall")))
PY
}

results=()
for nodes in 1 2; do
  names=()
  for i in $(seq "$nodes"); do
    start_node "n${nodes}_$i" --set "sip.max_calls=$MAX_CALLS" --set media.inactivity_timeout_s=30
    names+=("n${nodes}_$i")
  done
  start_front "${names[@]}"
  read -r ok failed seconds peak < <(run_load "nodes$nodes")
  results+=("$nodes $ok $failed $seconds $peak")
  kill -TERM "$front_pid"; wait "$front_pid" 2>/dev/null || true; front_pid=""
  for name in "${names[@]}"; do
    kill -TERM "${node_pid[$name]}"; wait "${node_pid[$name]}" || true; unset "node_pid[$name]"
  done
done

printf '%-6s %-8s %-8s %-8s %-12s %-10s\n' nodes offered ok failed "ok calls/s" "peak conc."
json="["
for r in "${results[@]}"; do
  read -r nodes ok failed seconds peak <<<"$r"
  cps=$(python3 -c "print(f'{$ok / $seconds:.1f}')")
  printf '%-6s %-8s %-8s %-8s %-12s %-10s\n' "$nodes" "$CALLS" "$ok" "$failed" "$cps" "$peak"
  json+="{\"nodes\":$nodes,\"offered_calls\":$CALLS,\"offered_rate\":$RATE,\"hold_ms\":$HOLD_MS,"
  json+="\"max_calls_per_node\":$MAX_CALLS,\"ok\":$ok,\"failed\":$failed,"
  json+="\"ok_calls_per_s\":$cps,\"peak_concurrent\":$peak},"
done
echo "${json%,}]"
