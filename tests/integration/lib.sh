# Shared helpers for the integration tests (bash). Each test sources this file.
# Environment from CTest: CHALKBOT (the binary), TESTS_DIR (tests/ sources), WORK_DIR (scratch).
set -euo pipefail

: "${CHALKBOT:?path of the chalkbot binary}"
: "${TESTS_DIR:?path of tests/}"
mkdir -p "${WORK_DIR:-/tmp}"
work=$(mktemp -d "${WORK_DIR:-/tmp}/$(basename "$0" .sh).XXXXXX")
standin_pid=""
serve_pids=()  # every serve started: a test that fails must not leave one running

cleanup() {
  [ -n "$standin_pid" ] && kill "$standin_pid" 2>/dev/null || true
  for pid in "${serve_pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# How many 0.1 s polls a server gets to start. Generous on purpose: on a loaded 2-core runner
# `serve` (loading Moonshine and Silero) has taken over 10 s; a server that exits fails at once.
STARTUP_POLLS=600
pass() { echo "ok: $*"; }

# start_standin [stand-in args...]: starts the OpenAI-compatible stand-in on a free loopback port
# and sets STANDIN_URL (http://127.0.0.1:PORT/v1).
start_standin() {
  local fifo="$work/standin.out"
  python3 "$TESTS_DIR/standin/openai_standin.py" --port 0 "$@" >"$fifo" 2>"$work/standin.err" &
  standin_pid=$!
  for _ in $(seq "$STARTUP_POLLS"); do
    if grep -q '^LISTENING ' "$fifo" 2>/dev/null; then
      STANDIN_URL="http://127.0.0.1:$(awk '/^LISTENING/{print $2; exit}' "$fifo")/v1"
      return 0
    fi
    sleep 0.1
  done
  cat "$work/standin.err" >&2
  fail "the stand-in did not start"
}

# start_serve [global flags...]: starts `chalkbot serve` against the stand-in on a free SIP port,
# with its store at $work/calls.db (override with CHALKBOT_STORE_PATH) and its admin API on a free
# loopback port; sets SIP_PORT, ADMIN_URL, serve_pid. Its output goes to $work/$SERVE_NAME.out/.err
# (default serve), so several can run at once.
start_serve() {
  local name=${SERVE_NAME:-serve}
  CHALKBOT_LLM_BASE_URL="$STANDIN_URL" CHALKBOT_STORE_PATH="${CHALKBOT_STORE_PATH:-$work/calls.db}" \
    CHALKBOT_SIP_PORT=0 CHALKBOT_ADMIN_LISTEN="${CHALKBOT_ADMIN_LISTEN:-127.0.0.1:0}" \
    "$CHALKBOT" "$@" serve >"$work/$name.out" 2>>"$work/$name.err" &
  serve_pid=$!
  serve_pids+=("$serve_pid")
  SIP_PORT=""
  for _ in $(seq "$STARTUP_POLLS"); do
    SIP_PORT=$(sed -n 's/^chalkbot: listening on .*:\([0-9]*\)$/\1/p' "$work/$name.out")
    ADMIN_URL=$(sed -n 's|^chalkbot: admin on \(.*\)$|http://\1|p' "$work/$name.out")
    [ -n "$SIP_PORT" ] && { [ -n "$ADMIN_URL" ] || [ "${CHALKBOT_ADMIN_LISTEN:-}" = off ]; } && return 0
    kill -0 "$serve_pid" 2>/dev/null || { cat "$work/$name.err"; fail "serve exited"; }
    sleep 0.1
  done
  fail "serve did not start"
}

# start_malformed_sip_target MAX_CALLS: the stand-in and a serve that lets every malformed message
# reach its handlers (no rate limit, room for MAX_CALLS answered INVITEs, T1 100 ms so an answered
# INVITE never ACKed ends within 6.4 s); $work/q.wav is a question for the real call that ends
# each malformed-SIP test. Changes into $work.
start_malformed_sip_target() {
  start_standin --script "$TESTS_DIR/data/standin_script.json" --tokens-per-sec 40
  cd "$work"
  start_serve --set sip.timer_t1_ms=100 --set sip.rate_limit_per_s=0 --set sip.max_calls="$1"
  CHALKBOT_STORE_PATH="$work/say.db" "$CHALKBOT" say "What is the capital of France?" \
    -o "$work/q.wav" --rate 8000 2>/dev/null
}

# stop_serve: SIGTERM, and the server must exit cleanly.
stop_serve() {
  kill -TERM "$serve_pid"
  wait "$serve_pid" || fail "serve exited with $? on SIGTERM"
}

# sipp_counts NAME: successful and failed call counts from the last line of $work/NAME.csv
# (sipp -trace_stat -stf).
sipp_counts() {
  python3 - "$work/$1.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
head, last = rows[0], rows[-1]
print(last[head.index("SuccessfulCall(C)")], last[head.index("FailedCall(C)")])
PY
}

# to_phone IN OUT: what a caller's speech sounds like after a phone line: 8 kHz G.711 u-law.
to_phone() {
  # -D: no dither. SoX dithers with fresh random noise on each run, and a recogniser on the edge
  # ("France is" / "France's") then hears the same sentence differently from run to run.
  sox -D "$1" -r 8000 -c 1 -e u-law "$work/phone.$$.wav"
  sox -D "$work/phone.$$.wav" -e signed-integer -b 16 "$2"
  rm -f "$work/phone.$$.wav"
}

# transcribe WAV: what the tests' ear heard, with the default ASR (Moonshine). When
# CHALKBOT_ASR_PROVIDER=pocketsphinx, the two-pass decode is a little kinder to flite's voice
# through a phone line than the one-pass decode calls use for speed.
transcribe() { CHALKBOT_ASR_SECOND_PASS=true "$CHALKBOT" transcribe "$@"; }

# word_recall EXPECTED HEARD: share of EXPECTED's words (lower case, no punctuation) found in HEARD.
word_recall() {
  python3 - "$1" "$2" <<'PY'
import re, sys
norm = lambda s: re.findall(r"[a-z']+", s.lower())
want, heard = norm(sys.argv[1]), set(norm(sys.argv[2]))
print(f"{sum(w in heard for w in want) / max(len(want), 1):.2f}")
PY
}

# metric NAME: an unlabelled metric's value from the admin server of the last start_serve.
metric() { curl -s "$ADMIN_URL/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

# calls_active_drops_to_0 [SECONDS]: waits (default 10 s) for chalkbot_calls_active to read 0;
# false if it does not. A call's end (its store write, its metrics) follows the hang-up on the
# call's own thread, so right after a hang-up the gauge may still count it: poll, don't sample.
calls_active_drops_to_0() {
  local polls=$(( ${1:-10} * 10 ))
  for _ in $(seq "$polls"); do [ "$(metric chalkbot_calls_active)" = 0 ] && return 0; sleep 0.1; done
  return 1
}

# at_least VALUE MIN: true when VALUE >= MIN (decimals).
at_least() { python3 -c "import sys; sys.exit(0 if float('$1') >= float('$2') else 1)"; }

# baresip_call DIR TARGET MAX_S LOG: baresip (set up by baresip_setup in DIR) dials TARGET and
# is stopped once that call has ended, whoever ended it; MAX_S (its -t) bounds it. baresip itself
# stays up until -t, so waiting for it would add the rest of MAX_S to every call. SIGTERM lets it
# close its recordings.
baresip_call() {
  local dir=$1 target=$2 max_s=$3 log=$4 pid
  timeout $((max_s + 30)) baresip -f "$dir" -e "/dial $target" -t "$max_s" </dev/null >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if grep -q "terminated (duration" "$log"; then
      sleep 0.5  # its BYE's answer, and the recorder's last frames
      kill -TERM "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  wait "$pid" || true
}

# baresip_setup DIR CALLER_WAV: configures a scripted baresip in DIR (no sound card): it plays
# CALLER_WAV (8 kHz mono) as the caller's voice and records both directions in DIR/rec. baresip
# listens on UDP and TCP at its SIP port and on TLS at port + 1. A port the kernel picks for UDP
# can be some outgoing connection's TCP port (a clean-clone run failed so), so it is picked below
# the ephemeral range, free for all three. Run it with
# `baresip -f DIR -e "/dial sip:..." -t SECONDS </dev/null` (-t ends it, with BYE).
baresip_setup() {
  local dir=$1 audio=$2 sip_port
  sip_port=$(python3 - <<'PY'
import random, socket
def free(kind, port):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()
for port in random.sample(range(20000, 32000, 2), 200):
    if free(socket.SOCK_DGRAM, port) and free(socket.SOCK_STREAM, port) and \
            free(socket.SOCK_STREAM, port + 1):
        print(port)
        break
PY
)
  [ -n "$sip_port" ] || fail "no free port for baresip"
  mkdir -p "$dir/rec"
  cat >"$dir/config" <<CFG
sip_listen 127.0.0.1:$sip_port
net_interface 127.0.0.1
audio_source aufile,$audio
audio_player aubridge,nil
ausrc_srate 8000
auplay_srate 8000
ausrc_channels 1
auplay_channels 1
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module aubridge.so
module sndfile.so
snd_path $dir/rec
module_tmp account.so
module_app menu.so
CFG
  echo "<sip:caller@127.0.0.1>;regint=0;audio_codecs=PCMU,PCMA" >"$dir/accounts"
}
