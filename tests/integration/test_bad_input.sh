#!/usr/bin/env bash
# Bad input gets a clear message and a non-zero exit, never a crash (exit codes >= 128).
source "$(dirname "$0")/lib.sh"
unset OPENAI_API_KEY
export CHALKBOT_LLM_BASE_URL="http://127.0.0.1:9/v1" CHALKBOT_STORE_PATH="$work/c.db"

# expect_error "what" "message fragment" command...
expect_error() {
  local what=$1 fragment=$2; shift 2
  set +e; "$@" >"$work/out" 2>"$work/err"; local rc=$?; set -e
  [ $rc -ne 0 ] || fail "$what: exit code 0"
  [ $rc -lt 128 ] || fail "$what: crashed (exit $rc)"
  grep -q -- "$fragment" "$work/err" || { cat "$work/err"; fail "$what: message lacks '$fragment'"; }
  pass "$what -> exit $rc: $(head -c 160 "$work/err")"
}

echo "this is plain text, not audio" >"$work/text.wav"
expect_error "non-WAV file" "text.wav" "$CHALKBOT" transcribe "$work/text.wav"
sox -n -r 8000 -c 1 -b 16 "$work/empty.wav" trim 0 0
expect_error "empty WAV" "no audio" "$CHALKBOT" transcribe "$work/empty.wav"
expect_error "missing WAV" "missing.wav" "$CHALKBOT" turn --in "$work/missing.wav" --out "$work/o.wav"
expect_error "empty WAV to turn" "no audio" "$CHALKBOT" turn --in "$work/empty.wav" --out "$work/o.wav"

printf 'llm:\n  modle: gpt-4o\n' >"$work/unknown.yaml"
expect_error "unknown config key" "unknown key 'llm.modle'" "$CHALKBOT" -c "$work/unknown.yaml" config --print
printf 'vad:\n  end_silence_ms: soon\n' >"$work/type.yaml"
expect_error "wrong config type" "vad.end_silence_ms: expected an integer" "$CHALKBOT" -c "$work/type.yaml" config --print
printf 'llm: [unclosed\n' >"$work/broken.yaml"
expect_error "broken YAML" "not valid YAML" "$CHALKBOT" -c "$work/broken.yaml" config --print
expect_error "bad --set" "expected key=value" "$CHALKBOT" --set nonsense config --print
expect_error "bad environment value" "CHALKBOT_VAD_MODE" env CHALKBOT_VAD_MODE=loud "$CHALKBOT" config --print
expect_error "unknown tts voice" "voice" "$CHALKBOT" say "hello" -o "$work/x.wav" --voice no-such-voice
mkdir -p "$work/ro" && expect_error "store in a missing directory" "no/such/dir" \
  env CHALKBOT_STORE_PATH=/no/such/dir/c.db "$CHALKBOT" calls
expect_error "missing Silero VAD model at start-up" "vad.model_file: '$work/none/silero_vad.onnx' not found (run scripts/install-deps" \
  "$CHALKBOT" --set vad.provider=silero --set "vad.model_file=$work/none/silero_vad.onnx" --set sip.port=0 serve
expect_error "missing Silero VAD model in turn" "vad.model_file" \
  "$CHALKBOT" --set vad.provider=silero --set "vad.model_file=$work/none/silero_vad.onnx" turn \
  --in /usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav --out "$work/o.wav"
expect_error "unknown vad.provider" "vad.provider: expected one of webrtc, silero" "$CHALKBOT" --set vad.provider=speex config --print

# SIP over TLS: files that are missing or do not belong together stop serve at start-up, naming the
# key and the file (sofia-sip alone would listen and fail every handshake).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/a.key" -out "$work/a.pem" -days 2 \
  -subj /CN=127.0.0.1 2>/dev/null
openssl genrsa -out "$work/b.key" 2048 2>/dev/null
tls=(--set sip.port=0 --set sip.tls_listen=127.0.0.1:0)
expect_error "missing TLS certificate" "sip.tls_certificate: cannot read '$work/none.pem'" \
  "$CHALKBOT" "${tls[@]}" --set "sip.tls_certificate=$work/none.pem" \
  --set "sip.tls_private_key=$work/a.key" serve
expect_error "TLS key of another certificate" \
  "sip.tls_private_key: '$work/b.key' is not the key of the certificate in '$work/a.pem'" \
  "$CHALKBOT" "${tls[@]}" --set "sip.tls_certificate=$work/a.pem" \
  --set "sip.tls_private_key=$work/b.key" serve
expect_error "bad sip.tls_listen" "sip.tls_listen: expected off or HOST:PORT" \
  "$CHALKBOT" --set sip.port=0 --set sip.tls_listen=localhost --set "sip.tls_certificate=$work/a.pem" \
  --set "sip.tls_private_key=$work/a.key" serve
expect_error "sips: registrar without TLS" "sip.register_uri: a sips: or transport=tls registrar" \
  "$CHALKBOT" --set sip.port=0 --set sip.register_uri=sips:trunk.example:5061 serve
expect_error "unknown media.srtp" "media.srtp: expected one of off, optional, required" \
  "$CHALKBOT" --set media.srtp=maybe config --print
