#!/usr/bin/env bash
# Scale-out: two `chalkbot serve` nodes sharing one PostgreSQL store behind Kamailio running the
# shipped deploy/kamailio/kamailio.cfg. sipp and `chalkbot call` place calls through the front;
# one node is killed mid-run and new calls must keep succeeding through the other.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/scaleout_lib.sh"
command -v kamailio >/dev/null || fail "kamailio is not installed (scripts/install-deps)"
start_standin --script "$TESTS_DIR/data/standin_script.json" --tokens-per-sec 40
cd "$work"
start_postgres
# Key 0 transfers to a desk (step 2b); nothing else in this test presses it.
transfer=(--set "flow.transfer_to=sip:desk@127.0.0.1:5099" --set "flow.dtmf_actions=0=transfer,#=hangup")
start_node node1 --set sip.max_calls=200 "${transfer[@]}"
start_node node2 --set sip.max_calls=200 "${transfer[@]}"
start_front node1 node2
pass "PostgreSQL, two nodes (SIP ${node_port[node1]}, ${node_port[node2]}), Kamailio on $FRONT_PORT"

# 1. 200 calls spread over both nodes; in-dialog requests reach the node that answered (a BYE to
#    the wrong node would get 481 and fail the call).
sipp_via_front spread 200 20 || fail "sipp through Kamailio: failures (exit $?; see $work/spread.log)"
read -r ok failed < <(sipp_counts spread)
[ "$ok" = 200 ] && [ "$failed" = 0 ] || fail "sipp through Kamailio: $ok ok, $failed failed"
wait_for_ended 200 || fail "calls did not all end in the store"
per_node=$(sql "select node || '=' || count(*) from calls group by node order by node" | tr '\n' ' ')
on1=$(sql "select count(*) from calls where node = 'node1'")
on2=$(sql "select count(*) from calls where node = 'node2'")
[ "$on1" -ge 60 ] && [ "$on2" -ge 60 ] || fail "round robin: calls per node $per_node"
pass "sipp through Kamailio: 200 calls, 0 failed; both nodes used ($per_node)"

# 2. A two-question call through the front: the second answer proves per-call memory, and both
#    turns of both questions are in PostgreSQL.
CHALKBOT_STORE_PATH="$work/say.db" "$CHALKBOT" say "What is the capital of France?" \
  -o capital.wav --rate 8000 2>/dev/null
CHALKBOT_STORE_PATH="$work/say.db" "$CHALKBOT" say "And what did I just ask you?" \
  -o followup.wav --rate 8000 2>/dev/null
"$CHALKBOT" call "sip:bot@127.0.0.1:$FRONT_PORT" --say capital.wav --say followup.wav >two.json 2>call.err &
caller=$!
# Cluster view: any node's `chalkbot calls` on the shared store shows the live call and its node.
cluster_calls() {
  CHALKBOT_STORE_BACKEND=postgres CHALKBOT_STORE_POSTGRES_URL="$PG_URL" "$CHALKBOT" calls "$@"
}
live=""
for _ in $(seq 100); do
  live=$(cluster_calls -n 5 | grep -E " node[12] +live$" || true)
  [ -n "$live" ] && break
  sleep 0.2
done
wait "$caller" || { cat two.json; fail "two-question call through Kamailio failed"; }
[ -n "$live" ] || fail "chalkbot calls never showed the call live with its node"
call=$(sql "select id from calls where from_uri not like 'sip:sipp@%' order by started_ms desc limit 1")
[ -n "$call" ] || fail "the call is not in PostgreSQL"
turns=$(sql "select count(*) from turns where call_id = '$call'")
[ "$turns" = 4 ] || fail "expected 4 turns of call $call in PostgreSQL, found $turns"
answer2=$(sql "select text from turns where call_id = '$call' and role = 'assistant' and idx = 3")
[[ "$answer2" == *"told me 1 things"* ]] || fail "memory: the second answer was '$answer2'"
held_by=$(sql "select node from calls where id = '$call'")
[[ "$live" == "$call "*" $held_by "* ]] || fail "the live call listed was not this call on $held_by: $live"
cluster_calls -n 1000 >listed.txt
listed=""
for name in node1 node2; do
  want=$(sql "select count(*) from calls where node = '$name'")
  got=$(grep -cE " $name +" listed.txt || true)
  [ "$got" = "$want" ] || fail "chalkbot calls lists $got calls of $name, the store has $want"
  listed+="$name=$got "
done
# The same cluster view through one node's admin API (the dashboard's call list): every call of
# both nodes, each with the node that held it.
curl -sf "$ADMIN_URL/api/calls?limit=200" >api_calls.json || fail "GET /api/calls failed"
api_nodes=$(python3 -c "import json,collections,sys; d=json.load(open('api_calls.json'))
print(' '.join(f'{k}={v}' for k,v in sorted(collections.Counter(c['node'] for c in d['calls']).items())))")
for name in node1 node2; do
  [[ " $api_nodes " == *" $name="* ]] || fail "/api/calls shows no call of $name ($api_nodes)"
done
[ "$(python3 -c "import json; print(json.load(open('api_calls.json'))['total'])")" = \
  "$(sql "select count(*) from calls")" ] || fail "/api/calls total is not the shared store's count"
pass "chalkbot call through Kamailio: 2 questions, memory kept, 4 turns in PostgreSQL;" \
  "listed live on $held_by by chalkbot calls, which lists both nodes' calls ($listed);" \
  "one node's /api/calls shows both nodes' calls with their node ($api_nodes)"

# 2b. A transfer through the front: the node's REFER reaches the phone (sipp) through Kamailio,
#     and the phone's NOTIFY reaches the node that sent it (the scenario follows the route set).
ln -sfn /usr/share/sip-tester pcap  # the scenario plays pcap/dtmf_2833_0.pcap
before_ms=$(date +%s%3N)
timeout 60 sipp -i 127.0.0.1 -mi 127.0.0.1 -p 0 -mp 0 -sf "$TESTS_DIR/sipp/uac_transfer.xml" -m 1 \
  -timeout 50 -trace_msg -message_file msgs.log "127.0.0.1:$FRONT_PORT" >transfer.log 2>&1 ||
  { tail -20 transfer.log; tail -60 msgs.log 2>/dev/null; grep -E 'call|transfer' node*.err | tail -20
    fail "a transfer through Kamailio did not go REFER, 202, NOTIFY 200, BYE"; }
for _ in $(seq 50); do
  moved=$(sql "select node || ' ' || end_reason from calls where started_ms >= $before_ms")
  [[ "$moved" == *" "?* ]] && break
  sleep 0.2
done
[[ "$moved" == node[12]" transferred" ]] || fail "the call through the front ended '$moved', not transferred"
grep -A1 "^REFER " msgs.log | grep -q "^Via: SIP/2.0/UDP 127.0.0.1:$FRONT_PORT;" ||
  fail "the REFER did not come through the front"
grep -A2 "^NOTIFY " msgs.log | grep -q "^Route: <sip:127.0.0.1:$FRONT_PORT;lr" ||
  fail "the NOTIFY was not routed through the front"
pass "transfer through Kamailio: REFER out and NOTIFY back through the front; ${moved% *} stored it as transferred"

# 3. Kill node1 (SIGKILL: no goodbye, no 503) while calls are flowing. Calls it held die with it;
#    calls sent to it after its death fail over to node2 (no reply within NODE_TIMEOUT_MS).
# Every stored call with its turn count, to compare after the kill.
stored_query="select string_agg(id || ':' || (select count(*) from turns t where t.call_id = c.id), ',' order by id) from calls c"
stored_before=$(sql "$stored_query")
sipp_via_front during 100 10 &
sipp_during=$!
sleep 3
kill -KILL "${node_pid[node1]}"
wait "${node_pid[node1]}" 2>/dev/null || true
unset 'node_pid[node1]'
wait "$sipp_during" || true
read -r ok_during failed_during < <(sipp_counts during)
# At 10 calls/s of 1 s each about 5 calls are on node1 when it dies; they cannot succeed.
[ $((ok_during + failed_during)) = 100 ] && [ "$failed_during" -le 8 ] ||
  fail "calls during the kill: $ok_during ok, $failed_during failed"
pass "node1 killed mid-run: $ok_during of 100 calls succeeded ($failed_during were held by node1)"

sipp_via_front after 100 20 || fail "calls after the kill failed (exit $?; see $work/after.log)"
read -r ok failed < <(sipp_counts after)
[ "$ok" = 100 ] && [ "$failed" = 0 ] || fail "calls after the kill: $ok ok, $failed failed"
pass "after the kill: 100 new calls, 0 failed, all through node2"

stored_after=$(sql "$stored_query")
missing=$(comm -23 <(tr ',' '\n' <<<"$stored_before" | sort) <(tr ',' '\n' <<<"$stored_after" | sort))
[ -z "$missing" ] || fail "stored before the kill, changed or lost after it: $(head -3 <<<"$missing")"
pass "nothing stored before the kill was lost ($(tr ',' '\n' <<<"$stored_before" | wc -l) calls)"

# 4. node1 comes back on its port: the probes put it back in rotation.
old_port=${node_port[node1]}
restarted_ms=$(date +%s%3N)
start_node node1 --set sip.max_calls=200 --set "sip.port=$old_port" "${transfer[@]}"
sleep 3  # PROBE_INTERVAL_S is 1
before=$(sql "select count(*) from calls where node = 'node1'")
sipp_via_front back 40 20 || fail "calls after node1 came back failed (exit $?)"
read -r ok failed < <(sipp_counts back)
[ "$ok" = 40 ] && [ "$failed" = 0 ] || fail "calls after node1 came back: $ok ok, $failed failed"
# Calls of the killed process stay live in the store; the new ones must all end.
for _ in $(seq 100); do
  [ "$(sql "select count(*) from calls where ended_ms is null and started_ms >= $restarted_ms")" = 0 ] &&
    break
  sleep 0.2
done
[ "$(sql "select count(*) from calls where node = 'node1'")" -gt "$before" ] ||
  fail "node1 got no calls after it came back"
pass "node1 restarted: back in rotation, 40 calls, 0 failed"

# 5. Draining through the front: SIGTERM the node holding a live call. It answers OPTIONS and
#    INVITE 503 while that call ends with the farewell, so the front sends new calls to the other.
"$CHALKBOT" call "sip:bot@127.0.0.1:$FRONT_PORT" --say capital.wav --say followup.wav \
  >drain.json 2>drain_call.err &
caller=$!
held=""
for _ in $(seq 100); do
  held=$(cluster_calls -n 3 | grep -oE " node[12] +live$" | awk '{print $1; exit}' || true)
  [ -n "$held" ] && break
  sleep 0.2
done
[ -n "$held" ] || fail "the call to drain never showed up live"
other=node1
[ "$held" = node1 ] && other=node2
sleep 2  # into the call's first question
term_ms=$(date +%s%3N)
kill -TERM "${node_pid[$held]}"
sipp_via_front drain 20 10 || fail "calls while $held drained failed (exit $?)"
read -r ok failed < <(sipp_counts drain)
[ "$ok" = 20 ] && [ "$failed" = 0 ] || fail "calls while $held drained: $ok ok, $failed failed"
taken=$(sql "select count(*) from calls where node = '$held' and started_ms > $term_ms")
[ "$taken" = 0 ] || fail "the draining node $held took $taken new calls"
wait "${node_pid[$held]}" || fail "$held exited with $? on SIGTERM"
unset "node_pid[$held]"
wait "$caller" || true  # the drained call ends early, with the farewell
ended=$(sql "select end_reason from calls where node = '$held' and started_ms < $term_ms and ended_ms is not null order by started_ms desc limit 1")
pass "$held drained (its call ended: $ended): 20 new calls, 0 failed, all taken by $other"

kill -TERM "${node_pid[$other]}"
wait "${node_pid[$other]}" || fail "$other exited with $? on SIGTERM"
unset "node_pid[$other]"
pass "both nodes drained and exited cleanly"
