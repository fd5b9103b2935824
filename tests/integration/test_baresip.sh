#!/usr/bin/env bash
# baresip, a real softphone, calls `chalkbot serve`: it plays a spoken question after the greeting
# and records what it hears. The answer audio holds speech that says the scripted answer, and the
# call is stored with the recognised question and its timings.
source "$(dirname "$0")/lib.sh"
start_standin --script "$TESTS_DIR/data/standin_script.json"
cd "$work"

start_serve
port=$SIP_PORT

# The caller's audio: 5 s of silence (the greeting plays), the question, then 10 s to listen.
# baresip hangs up when the file ends.
"$CHALKBOT" say "What is the capital of France?" -o "$work/q.wav" --rate 8000
sox -n -r 8000 -c 1 -b 16 "$work/lead.wav" trim 0 5
sox -n -r 8000 -c 1 -b 16 "$work/tail.wav" trim 0 10
sox "$work/lead.wav" "$work/q.wav" "$work/tail.wav" "$work/caller.wav"

baresip_setup "$work/baresip" "$work/caller.wav"
baresip_call "$work/baresip" "sip:bot@127.0.0.1:$port" 30 "$work/baresip.log"
grep -q "Call established" "$work/baresip.log" || { tail "$work/baresip.log"; fail "baresip: call not established"; }
pass "baresip call established"

heard_file=$(ls "$work"/baresip/rec/*-dec.wav 2>/dev/null | head -1)
[ -n "$heard_file" ] || fail "baresip recorded nothing"
# What the caller heard after its question (greeting 0-5 s, then the question): the answer. It
# starts within a second of the question's end, so the cut is there, not at a round figure.
question_end=$(python3 -c "print(5 + $(soxi -D "$work/q.wav"))")
sox "$heard_file" "$work/answer.wav" trim "$question_end"
rms=$(sox "$work/answer.wav" -n stat 2>&1 | awk '/RMS +amplitude/ {print $3}')
at_least "$rms" 0.01 || fail "the answer audio is silent (RMS $rms)"
heard=$(transcribe "$work/answer.wav")
echo "caller heard: $heard"
recall=$(word_recall "The capital of France is Paris. It is a beautiful city." "$heard")
at_least "$recall" 0.5 || fail "the answer audio does not say the scripted answer (recall $recall)"
pass "the answer audio holds speech (RMS $rms) saying the scripted answer (recall $recall)"

stop_serve
question=$(sqlite3 "$work/calls.db" "select text from turns where role='user' limit 1")
echo "stored question: $question"
[[ "$question" == *capital* ]] || fail "the stored question is not the one asked: '$question'"
timed=$(sqlite3 "$work/calls.db" "select count(*) from turns where role='assistant' and
  first_rtp_out_ms >= tts_first_audio_ms and tts_first_audio_ms >= llm_first_token_ms and
  llm_first_token_ms >= asr_done_ms and asr_done_ms >= endpoint_ms and endpoint_ms >= speech_end_ms")
[ "$timed" = 1 ] || fail "the answer turn lacks ordered stage timings"
ended=$(sqlite3 "$work/calls.db" "select end_reason from calls")
[ -n "$ended" ] || fail "the call has no end reason"
pass "call stored: question '$question', ordered stage timings, ended ($ended)"

# A silent caller: the bot reprompts, then says goodbye and hangs up (1 reprompt allowed here).
CHALKBOT_STORE_PATH="$work/silent.db" start_serve --set flow.max_silent_prompts=1 \
  --set vad.no_input_timeout_ms=1500
port=$SIP_PORT
sox -n -r 8000 -c 1 -b 16 "$work/silence.wav" trim 0 40
sed -i "s|^audio_source .*|audio_source aufile,$work/silence.wav|" "$work/baresip/config"
rm -f "$work"/baresip/rec/*
baresip_call "$work/baresip" "sip:bot@127.0.0.1:$port" 25 "$work/baresip2.log"
# The call's own length is in baresip's log.
took=$(sed -n 's/.*terminated (duration: \([0-9]*\) secs).*/\1/p' "$work/baresip2.log" | head -1)
[ -n "$took" ] || fail "baresip's call did not end"
stop_serve
reason=$(sqlite3 "$work/silent.db" "select end_reason from calls")
[ "$reason" = silence ] || fail "a silent call ended with '$reason', not silence"
[ "$took" -lt 20 ] || fail "the bot did not hang up on the silent caller ($took s)"
heard=$(transcribe "$(ls "$work"/baresip/rec/*-dec.wav | head -1)")
echo "silent caller heard: $heard"
recall=$(word_recall "are you still there thank you for calling goodbye" "$heard")
at_least "$recall" 0.3 || fail "the reprompt and farewell were not heard (recall $recall)"
pass "silent caller: reprompted, then the bot said goodbye and hung up after $took s"
