#!/usr/bin/env bash
# Without an LLM endpoint the server stops at once and says what to set; secrets never print.
source "$(dirname "$0")/lib.sh"
unset OPENAI_API_KEY CHALKBOT_LLM_BASE_URL CHALKBOT_LLM_API_KEY
cd "$work"

start=$(date +%s%N)
set +e; timeout 10 "$CHALKBOT" serve 2>"$work/err"; rc=$?; set -e
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
cat "$work/err"
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "serve without an LLM: exit code $rc"
[ $elapsed_ms -lt 2000 ] || fail "serve took ${elapsed_ms} ms to give up"
grep -q OPENAI_API_KEY "$work/err" && grep -q llm.base_url "$work/err" || fail "message does not name what to set"
pass "serve without an LLM exits $rc in ${elapsed_ms} ms naming OPENAI_API_KEY and llm.base_url"

set +e; timeout 10 "$CHALKBOT" ask "hello" 2>"$work/err2"; rc=$?; set -e
[ $rc -ne 0 ] && grep -q OPENAI_API_KEY "$work/err2" || fail "ask without an LLM: exit $rc"
pass "ask without an LLM exits $rc"

OPENAI_API_KEY=sk-test-very-secret-0123 "$CHALKBOT" config --print >"$work/config.txt"
grep -q "sk-test-very-secret" "$work/config.txt" && fail "config --print shows the API key"
grep -q 'api_key: "\*\*\*"' "$work/config.txt" || fail "config --print does not mask the key"
pass "config --print masks the API key"

# The README's `make run` itself (deps already installed, build up to date).
if [ -n "${SOURCE_DIR:-}" ] && [ -n "${BUILD_DIR:-}" ]; then
  set +e; timeout 120 make -s -C "$SOURCE_DIR" run BUILD_DIR="$BUILD_DIR" CONFIG=/nonexistent \
    >"$work/make.out" 2>&1; rc=$?; set -e
  tail -3 "$work/make.out"
  [ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "make run without an LLM: exit $rc"
  grep -q OPENAI_API_KEY "$work/make.out" || fail "make run does not name OPENAI_API_KEY"
  pass "make run without an LLM exits non-zero naming OPENAI_API_KEY"
fi
