# Scale-out helpers (bash), sourced after lib.sh by test_scaleout.sh and bench/kamailio_bench.sh:
# a throwaway PostgreSQL, Chalkbot nodes sharing it, and Kamailio in front running the shipped
# deploy/kamailio/kamailio.cfg. Everything on 127.0.0.1, stopped on exit.
: "${SOURCE_DIR:=$(cd "$TESTS_DIR/.." && pwd)}"
declare -A node_pid node_port
front_pid=""
pg_dir=""

scaleout_cleanup() {
  set +e  # everything below must run, whatever fails
  local pid
  for pid in "${node_pid[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  [ -n "$front_pid" ] && kill -TERM "$front_pid" 2>/dev/null && wait "$front_pid" 2>/dev/null
  [ -n "$pg_dir" ] && "$TESTS_DIR/support/pg_test_server.sh" stop "$pg_dir"
  cleanup
}
trap scaleout_cleanup EXIT

# start_postgres: sets PG_URL.
start_postgres() {
  pg_dir="$work/pg"
  PG_URL=$("$TESTS_DIR/support/pg_test_server.sh" start "$pg_dir") || true
  [ -n "$PG_URL" ] || fail "PostgreSQL did not start (scripts/install-deps installs it)"
}

# sql QUERY: one query on the shared store, unaligned output.
sql() { psql "$PG_URL" -XAtq -c "$1"; }

# start_node NAME [global flags...]: a `chalkbot serve` node on the shared store, its own RTP
# port range (nodes share the host), no per-source rate limit (every request comes from the
# front, which limits per caller itself). Sets node_pid[NAME], node_port[NAME].
node_count=0
start_node() {
  local name=$1; shift
  local rtp_min=$((30000 + node_count * 4000))
  node_count=$((node_count + 1))
  SERVE_NAME=$name CHALKBOT_STORE_BACKEND=postgres CHALKBOT_STORE_POSTGRES_URL="$PG_URL" \
    CHALKBOT_CLUSTER_NODE_ID=$name CHALKBOT_SIP_RATE_LIMIT_PER_S=0 \
    start_serve --set "media.rtp_port_min=$rtp_min" \
    --set "media.rtp_port_max=$((rtp_min + 3999))" "$@"
  node_pid[$name]=$serve_pid
  node_port[$name]=$SIP_PORT
}

free_udp_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_front NAME...: Kamailio on a free port dispatching to the named nodes; sets FRONT_PORT.
# Probes every second and gives a silent node 1.5 s, so a test sees failover quickly.
start_front() {
  local name
  : >"$work/dispatcher.list"
  for name in "$@"; do echo "1 sip:127.0.0.1:${node_port[$name]}" >>"$work/dispatcher.list"; done
  FRONT_PORT=$(free_udp_port)
  mkdir -p "$work/kamailio"
  kamailio -f "$SOURCE_DIR/deploy/kamailio/kamailio.cfg" -DD -E -Y "$work/kamailio" \
    -P "$work/kamailio/kamailio.pid" -l "udp:127.0.0.1:$FRONT_PORT" \
    -A "DISPATCHER_LIST=\"$work/dispatcher.list\"" -A PROBE_INTERVAL_S=1 -A NODE_TIMEOUT_MS=1500 \
    -A WITH_STDERR_LOG >"$work/kamailio.out" 2>"$work/kamailio.err" &
  front_pid=$!
  for _ in $(seq "$STARTUP_POLLS"); do
    ss -lun "sport = :$FRONT_PORT" | grep -q ":$FRONT_PORT" && return 0
    kill -0 "$front_pid" 2>/dev/null || { tail -20 "$work/kamailio.err"; fail "kamailio exited"; }
    sleep 0.1
  done
  fail "kamailio did not start"
}

# sipp_via_front NAME CALLS RATE [sipp args...]: short calls (1 s) through the front with the
# Record-Route-aware scenario; stats in $work/NAME.csv, returns sipp's exit status.
sipp_via_front() {
  local name=$1 calls=$2 rate=$3; shift 3
  timeout 120 sipp -i 127.0.0.1 -mi 127.0.0.1 -p 0 -mp 0 -sf "$TESTS_DIR/sipp/uac_via_proxy.xml" \
    -m "$calls" -r "$rate" -d 1000 -timeout 100 -trace_stat -fd 1 -stf "$work/$name.csv" "$@" \
    "127.0.0.1:$FRONT_PORT" >"$work/$name.log" 2>&1
}

# wait_for_ended N: until N calls in the store have ended (agents wind down after BYE).
wait_for_ended() {
  local ended=0
  for _ in $(seq 100); do
    ended=$(sql "select count(*) from calls where end_reason <> ''")
    [ "$ended" -ge "$1" ] && return 0
    sleep 0.2
  done
  echo "only $ended of $1 calls ended in the store" >&2
  return 1
}
