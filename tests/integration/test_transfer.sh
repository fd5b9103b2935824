#!/usr/bin/env bash
# Blind transfer (REFER, RFC 3515), with sipp as the caller's phone: pressing 0 (RFC 4733) gets
# the transfer message, then a REFER to flow.transfer_to; when the phone reports the new call
# answered (NOTIFY, sipfrag 200) the bot hangs up and stores the call as transferred. When the
# phone refuses (603) or the new party is busy (NOTIFY 486) the bot says so and the call goes on.
# A caller asking for a person in words is transferred too: our own caller refuses REFER (the
# call goes on), baresip (a real softphone) carries it out with sipp as the desk. A transfer key
# without a destination is a configuration error naming the key.
source "$(dirname "$0")/lib.sh"
start_standin --script "$TESTS_DIR/data/standin_script.json"
cd "$work"
ln -s /usr/share/sip-tester pcap  # the scenarios play pcap/dtmf_2833_0.pcap
db="$work/calls.db"
desk="sip:desk@127.0.0.1:5099"
# phone SCENARIO: one call from sipp as the caller's phone (tests/sipp/SCENARIO.xml), logged in
# SCENARIO.log; fails when the scenario does.
phone() {
  timeout 60 sipp -i 127.0.0.1 -mi 127.0.0.1 -p 0 -mp 0 -sf "$TESTS_DIR/sipp/$1.xml" -m 1 \
    -timeout 50 127.0.0.1:"$SIP_PORT" >"$1.log" 2>&1 || { tail -20 "$1.log"; return 1; }
}
# transfer_fails SCENARIO CAUSE: the phone makes the transfer fail with CAUSE ("603 Declined"):
# the bot logs it, says so, and keeps the call until the caller hangs up (a BYE from the bot
# fails the scenario).
transfer_fails() {
  phone "$1" || fail "$1: the call did not go on until the caller hung up"
  local call
  call=$(newest_call)
  grep -q "call $call: transfer to $desk failed ($2); the call goes on" serve.err ||
    fail "$1: the failed transfer ($2) was not logged"
  [ "$(end_reason "$call")" = remote-bye ] || fail "call $call ended '$(end_reason "$call")', not by the caller"
}
newest_call() { sqlite3 "$db" "select id from calls order by started_ms desc limit 1"; }
end_reason() {  # CALL: its stored end reason, once the agent has ended it
  local reason=""
  for _ in $(seq 50); do
    reason=$(sqlite3 "$db" "select end_reason from calls where id='$1'")
    [ -n "$reason" ] && break
    sleep 0.2
  done
  echo "$reason"
}

rc=0
out=$(CHALKBOT_LLM_BASE_URL="$STANDIN_URL" CHALKBOT_SIP_PORT=0 CHALKBOT_ADMIN_LISTEN=off timeout 20 \
  "$CHALKBOT" --set "flow.dtmf_actions=0=transfer" serve 2>&1) || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "serve started (exit $rc) with a transfer key and nowhere to transfer to"
grep -q "flow.transfer_to" <<<"$out" || fail "the configuration error does not name flow.transfer_to: $out"
pass "a transfer key without flow.transfer_to is refused, naming the key"

# An HTTP tool on the stand-in (tools.http from the environment, as JSON): for the tools test below.
standin_host=${STANDIN_URL#http://}
standin_host=${standin_host%/v1}
export CHALKBOT_TOOLS_HTTP='[{"name": "order_status", "description": "Where an order is",
  "parameters": {"type": "object", "properties": {"order_id": {"type": "integer"}},
                 "required": ["order_id"]},
  "url": "http://'"$standin_host"'/tool/orders/{order_id}", "timeout_ms": 2000}]'
start_serve --set "flow.transfer_to=$desk" --set "flow.dtmf_actions=0=transfer,#=hangup" \
  --set "tools.builtin=transfer_to_person,end_call" --set "tools.allowed_hosts=$standin_host"
unset CHALKBOT_TOOLS_HTTP

phone uac_transfer || fail "sipp: the accepted transfer did not go REFER, 202, NOTIFY 200, BYE"
call=$(newest_call)
[ "$(end_reason "$call")" = transferred ] || fail "call $call ended '$(end_reason "$call")', not transferred"
grep -q "call $call: transferring to $desk (DTMF 0)" serve.err || fail "the transfer was not logged"
grep -q "call $call: transferred to $desk (200 OK)" serve.err || fail "the new call's answer was not logged"
pass "DTMF 0: REFER to $desk, accepted, NOTIFY 200, the bot hung up; stored as transferred"

transfer_fails uac_transfer_refused "603 Declined"
pass "REFER refused (603): the bot said so, the call went on until the caller hung up"
transfer_fails uac_transfer_busy "486 Busy Here"
pass "REFER accepted, new party busy (NOTIFY 486): the bot said so, the call went on"

# In words, spoken by flite through a phone line. (Not "I want to talk to an operator": through
# u-law Moonshine tiny hears flite say "talk to him, not for later" about half the time.)
CHALKBOT_STORE_PATH="$work/say.db" "$CHALKBOT" say "Let me talk to a representative." -o ask.wav \
  --rate 8000 2>/dev/null
"$CHALKBOT" call "sip:bot@127.0.0.1:$SIP_PORT" --say ask.wav --record heard.wav --quiet-ms 2000 \
  --timeout-s 60 >call.json 2>call.err || { cat call.json call.err; fail "the call failed"; }
call=$(newest_call)
said=$(sqlite3 "$db" "select text from turns where call_id='$call' and role='user'")
grep -q "call $call: transferring to $desk (the caller asked)" serve.err ||
  fail "'$said' did not ask for a transfer"
grep -q "call $call: transfer to $desk failed" serve.err || fail "our caller's refusal was not logged"
heard=$(transcribe heard.wav 2>/dev/null)
r=$(word_recall "sorry could not transfer" "$heard")  # flow.transfer_failed's own words
at_least "$r" 0.5 || fail "the caller did not hear that the transfer failed: '$heard'"
[ "$(sqlite3 "$db" "select count(*) from turns where call_id='$call' and role='assistant'")" = 0 ] ||
  fail "the transfer request was answered by the model"
pass "'$said' asked for a transfer; refused by the phone, the call went on"
metrics=$(curl -sf "$ADMIN_URL/metrics") || fail "no metrics"
grep -qx 'chalkbot_transfers_total{outcome="succeeded"} 1' <<<"$metrics" &&
  grep -qx 'chalkbot_transfers_total{outcome="failed"} 3' <<<"$metrics" &&
  grep -qx 'chalkbot_calls_ended_total{reason="transferred"} 1' <<<"$metrics" ||
  { grep "transfer" <<<"$metrics"; fail "the metrics do not count 1 transfer done and 3 failed"; }
pass "metrics: 1 transfer succeeded, 3 failed, 1 call ended as transferred"

# The model decides (tools.builtin): the stand-in's answer to a billing question says a sentence,
# then calls transfer_to_person (tool_calls streamed in pieces across SSE events); the bot says
# the sentence, then REFERs the call (our caller refuses, the call goes on). Another answer says
# goodbye and calls end_call: the bot hangs up once the goodbye has been heard.
tools_call() {  # NAME TEXT: one call saying TEXT; call.json, heard.wav; sets $call
  CHALKBOT_STORE_PATH="$work/say.db" "$CHALKBOT" say "$2" -o "$1.wav" --rate 8000 2>/dev/null
  "$CHALKBOT" call "sip:bot@127.0.0.1:$SIP_PORT" --say "$1.wav" --record "$1.heard.wav" \
    --quiet-ms 2000 --timeout-s 30 >"$1.json" 2>"$1.err" || { cat "$1.json" "$1.err"; fail "$1: the call failed"; }
  call=$(newest_call)
}
tools_call bill "I have a question about my invoice."
grep -q "call $call: transferring to $desk (the model: billing question)" serve.err ||
  { grep "call $call" serve.err | tail; fail "the model's transfer_to_person did not reach the transfer"; }
grep -q "call $call: transfer to $desk failed" serve.err || fail "no REFER went out for the model's transfer"
heard=$(transcribe bill.heard.wav 2>/dev/null)
r=$(word_recall "put you through to our billing team" "$heard")
at_least "$r" 0.5 || fail "the caller did not hear the model's words before the transfer: '$heard'"
pass "the model's transfer_to_person (reason stored: billing question): its words said, then REFER"
tools_call bye "No more questions, thank you."
grep -q '"hung_up_by": "bot"' bye.json || { cat bye.json; fail "the bot did not hang up after end_call"; }
[ "$(end_reason "$call")" = model_end_call ] || fail "call $call ended '$(end_reason "$call")', not model_end_call"
heard=$(transcribe bye.heard.wav 2>/dev/null)
r=$(word_recall "have a lovely day goodbye" "$heard")
at_least "$r" 0.5 || fail "the goodbye was not heard before the BYE: '$heard'"
pass "the model's end_call: the goodbye was heard, then the bot hung up (stored as model_end_call)"

# HTTP tools failing: the model asks for three calls in one answer (streamed, split across SSE
# events); one server answers 500, the other hangs past the tool's 2 s timeout, and the third
# call's arguments fail the schema (never sent). The caller hears the model's words, the apology,
# the filler while the slow one runs (1.2 s), then the model's answer to the errors: the call goes
# on. All three are rows in the store and in the admin API.
curl -sf -X POST "${STANDIN_URL%/v1}/control" \
  -d '{"endpoint": "tool", "faults": ["500", "hang"], "clear_requests": true}' >/dev/null
tools_call order "Where is my order?"
heard=$(transcribe order.heard.wav 2>/dev/null)
r=$(word_recall "sorry just now" "$heard")  # tools.apology (Moonshine: "sorry, I can't say it just now")
at_least "$r" 0.6 || fail "the caller did not hear the apology for the failing tools: '$heard'"
r=$(word_recall "one moment please" "$heard")
at_least "$r" 0.6 || fail "no filler while the slow tool ran: '$heard'"
r=$(word_recall "afraid cannot see your order right now" "$heard")
at_least "$r" 0.5 || fail "the model's answer after the tools' errors was not heard: '$heard'"
sent=$(curl -sf "${STANDIN_URL%/v1}/requests" | python3 -c "import json,sys; print(sum(1 for r in json.load(sys.stdin) if r.get('tool')))")
[ "$sent" = 2 ] || fail "$sent tool requests reached the server, not 2 (the invalid one must not)"
# (Stored as each finishes: the invalid one, answered at once, first.)
rows=$(sqlite3 "$db" "select ok || ':' || (result like '%HTTP 500%') || ':' || (result like '%within 2000 ms%' and duration_ms >= 1900) || ':' || (result like '%invalid arguments%') from tool_calls where call_id='$call'" | sort)
[ "$rows" = "$(printf '0:0:0:1\n0:0:1:0\n0:1:0:0')" ] || fail "tool rows: $rows"
detail=$(curl -sf "$ADMIN_URL/api/calls/$call") || fail "no call detail"
python3 -c "import json,sys; t=json.loads(sys.argv[1])['tool_calls']; sys.exit(0 if len(t)==3 and any(c['arguments']=={'order_id':42} and not c['ok'] for c in t) else 1)" "$detail" ||
  fail "the admin API does not show the tool calls: $detail"
pass "HTTP tools failing (500, 2 s timeout): apology and filler heard, the call went on; invalid arguments never sent; all stored and in the API"
stop_serve

# A real softphone as the phone: baresip asks for a person in words; the bot REFERs it to the
# desk (sipp answering as a UAS); baresip calls the desk, reports the call answered (NOTIFY) and
# the bot hangs up. baresip ends its call to the desk when it is stopped after that.
desk_port=$(python3 -c "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
desk="sip:desk@127.0.0.1:$desk_port"
start_serve --set "flow.transfer_to=$desk"
timeout 90 sipp -i 127.0.0.1 -mi 127.0.0.1 -p "$desk_port" -mp 0 -sn uas -m 1 -timeout 80 \
  >sipp_desk.log 2>&1 &
desk_pid=$!
sox -n -r 8000 -c 1 -b 16 lead.wav trim 0 4
sox -n -r 8000 -c 1 -b 16 tail.wav trim 0 20
sox lead.wav ask.wav tail.wav caller.wav
baresip_setup "$work/baresip" "$work/caller.wav"
baresip_call "$work/baresip" "sip:bot@127.0.0.1:$SIP_PORT" 30 baresip.log
wait "$desk_pid" || { tail -20 sipp_desk.log baresip.log; fail "the desk (sipp uas) did not get baresip's call"; }
call=$(newest_call)
[ "$(end_reason "$call")" = transferred ] ||
  { grep "call $call" serve.err | tail; fail "call $call ended '$(end_reason "$call")', not transferred"; }
grep -q "call $call: transferred to $desk (200 OK)" serve.err || fail "baresip's NOTIFY 200 was not logged"
pass "baresip asked for a person in words, called the desk on the bot's REFER and reported it answered; the bot hung up"
stop_serve
