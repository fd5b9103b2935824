#!/usr/bin/env bash
# Wideband SIP calls from a real softphone: baresip calls `chalkbot serve` once offering only G.722
# and once offering only Opus, and asks a question in a human voice (a LibriVox recording, 16 kHz).
# Each call must negotiate that codec, the bot must hear the question (stored), and the caller must
# hear an answer that the recogniser understands and that carries speech above 4 kHz, which a
# G.711 call cannot: the audio was 16 kHz from the TTS to the caller's ear.
source "$(dirname "$0")/lib.sh"
start_standin --script "$TESTS_DIR/data/standin_script.json"
cd "$work"

human=/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav
question_words="and mister john dashwood had then leisure to consider how much there might be
  prudently in his power to do for them"
answer_words="Thank you for calling. You have told me 0 things before this."

# The caller's audio at 16 kHz: 5 s of silence (the greeting plays), the question, 10 s to listen.
sox "$human" -r 16000 -c 1 -b 16 "$work/q.wav"
sox -n -r 16000 -c 1 -b 16 "$work/lead.wav" trim 0 5
sox -n -r 16000 -c 1 -b 16 "$work/tail.wav" trim 0 10
sox "$work/lead.wav" "$work/q.wav" "$work/tail.wav" "$work/caller.wav"
question_end=$(python3 -c "print(5 + $(soxi -D "$work/q.wav"))")

# wideband_call NAME CODEC BARESIP_MODULE [CONFIG_LINE...]: one call offering only CODEC.
# MIN_HIGH_SHARE (default 0.002) is the least share of the answer's energy above 4.5 kHz.
wideband_call() {
  local name=$1 codec=$2 module=$3
  shift 3
  local dir="$work/$name"
  baresip_setup "$dir" "$work/caller.wav"
  sed -i -e 's/^ausrc_srate .*/ausrc_srate 16000/' -e 's/^auplay_srate .*/auplay_srate 16000/' \
    -e "s/^module g711.so$/module $module/" "$dir/config"
  local line
  for line in "$@"; do echo "$line" >>"$dir/config"; done
  echo "<sip:caller@127.0.0.1>;regint=0;audio_codecs=$codec" >"$dir/accounts"

  CHALKBOT_STORE_PATH="$work/$name.db" start_serve  # the default media.codecs takes both
  baresip_call "$dir" "sip:bot@127.0.0.1:$SIP_PORT" 30 "$work/$name.log"
  stop_serve
  grep -q "Call established" "$work/$name.log" || { tail "$work/$name.log"; fail "$name: no call"; }
  # baresip names the codec it runs when the stream starts ("audio: Set audio encoder: G722 ...").
  grep -qi "encoder: $codec" "$work/$name.log" ||
    { grep -i 'codec\|encoder' "$work/$name.log"; fail "$name: $codec was not negotiated"; }
  pass "$name: baresip's call negotiated $codec"

  local question
  question=$(sqlite3 "$work/$name.db" "select text from turns where role='user' limit 1")
  echo "$name: stored question: $question"
  local recall
  recall=$(word_recall "$question_words" "$question")
  at_least "$recall" 0.6 || fail "$name: the bot did not hear the human question (recall $recall)"
  pass "$name: the bot heard the human question (word recall $recall)"

  local heard_file
  heard_file=$(ls "$dir"/rec/*-dec.wav 2>/dev/null | head -1)
  [ -n "$heard_file" ] || fail "$name: baresip recorded nothing"
  # baresip records at the decoder's rate (G.722: 16 kHz, Opus: 48 kHz).
  sox "$heard_file" -r 16000 "$work/$name-answer.wav" trim "$question_end"
  local heard
  heard=$(transcribe "$work/$name-answer.wav")
  echo "$name: caller heard: $heard"
  recall=$(word_recall "$answer_words" "$heard")
  at_least "$recall" 0.6 || fail "$name: the answer is not understood (recall $recall)"
  # Share of the answer's energy in 4.5-7.5 kHz: G.711's band ends at 4 kHz (an 8 kHz voice
  # resampled to 16 kHz has none there); flite's 16 kHz voice has a few percent.
  local total high share
  total=$(sox "$work/$name-answer.wav" -n stat 2>&1 | awk '/RMS +amplitude/ {print $3}')
  high=$(sox "$work/$name-answer.wav" -n sinc 4500-7500 stat 2>&1 | awk '/RMS +amplitude/ {print $3}')
  share=$(python3 -c "print(f'{($high / max($total, 1e-9)) ** 2:.4f}')")
  at_least "$share" "${MIN_HIGH_SHARE:-0.002}" || fail "$name: no speech above 4.5 kHz in the answer (share $share)"
  pass "$name: the caller heard the scripted answer (recall $recall), 16 kHz wide ($share of its energy above 4.5 kHz)"
}

wideband_call g722 G722 g722.so
wideband_call opus opus opus.so "opus_stereo no" "opus_sprop_stereo no" "opus_inbandfec yes"
