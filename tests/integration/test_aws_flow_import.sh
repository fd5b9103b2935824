#!/usr/bin/env bash
# `chalkbot flow import`: an Amazon Connect flow export becomes a configuration file that
# `chalkbot` itself loads; blocks it cannot map are named.
source "$(dirname "$0")/lib.sh"
data="$TESTS_DIR/data/aws"

# Greeting, Lex loop with a reprompt, goodbye message, disconnect, Polly voice.
"$CHALKBOT" flow import "$data/connect_flow_lex_loop.json" --strict >"$work/flow.yaml" \
  2>"$work/import.err" || { cat "$work/import.err"; fail "import of the sample flow failed"; }
grep -q "0 unmapped blocks" "$work/import.err" || fail "unexpected: $(cat "$work/import.err")"
"$CHALKBOT" --config "$work/flow.yaml" config --print >"$work/effective.yaml" 2>&1 ||
  { cat "$work/effective.yaml"; fail "chalkbot cannot load the imported configuration"; }
for want in 'greeting: "Thanks for calling Chalk and Cheese. How can I help you today?"' \
            'reprompt: "Sorry, I did not catch that. What can I do for you?"' \
            'farewell: "Goodbye, and thanks for calling."' \
            'voice: "en-us+f3"'; do
  grep -qF "$want" "$work/effective.yaml" || fail "effective configuration lacks $want"
done
pass "sample flow imported and loaded: greeting, reprompt, farewell, voice"

# With a transfer and an hours check: both named, the rest still mapped, --strict fails.
status=0
"$CHALKBOT" flow import "$data/connect_flow_unsupported.json" -o "$work/partial.yaml" --strict \
  2>"$work/partial.err" || status=$?
[ "$status" = 3 ] || fail "--strict with unmapped blocks exited $status, wanted 3"
grep -q "unmapped: CheckHoursOfOperation b2000000-0000-4000-8000-000000000001" "$work/partial.err" ||
  fail "hours check not named: $(cat "$work/partial.err")"
grep -q "unmapped: TransferParticipantToThirdParty b2000000-0000-4000-8000-000000000002: .*+15550199" \
  "$work/partial.err" || fail "transfer not named: $(cat "$work/partial.err")"
grep -q "# unmapped: TransferParticipantToThirdParty" "$work/partial.yaml" ||
  fail "the unmapped blocks are not noted in the file"
"$CHALKBOT" --config "$work/partial.yaml" config --print >/dev/null || fail "partial import does not load"
pass "unsupported blocks named (stderr and file), exit 3 under --strict"

# Given the trunk that reaches phone numbers, the transfer block becomes flow.transfer_to.
"$CHALKBOT" flow import "$data/connect_flow_unsupported.json" --transfer-via sip.provider.example \
  -o "$work/transfer.yaml" 2>"$work/transfer.err" || true
want='transfer_to: "sip:+15550199@sip.provider.example;user=phone"'
grep -qF "$want" "$work/transfer.yaml" || fail "no flow.transfer_to: $(cat "$work/transfer.yaml")"
grep -q "unmapped: TransferParticipantToThirdParty" "$work/transfer.err" &&
  fail "the transfer is still unmapped: $(cat "$work/transfer.err")"
# Not grep -q: it stops reading at the match, and under pipefail the SIGPIPE of the rest of the
# output would fail the check now and then.
"$CHALKBOT" --config "$work/transfer.yaml" config --print | grep -F "$want" >/dev/null ||
  fail "the imported transfer target does not load"
grep -qF 'builtin: "transfer_to_person"' "$work/transfer.yaml" ||
  fail "the transfer block is not the model's transfer_to_person tool: $(cat "$work/transfer.yaml")"
pass "--transfer-via: the transfer block's number becomes flow.transfer_to through the trunk"

echo '{"Actions": "none"}' >"$work/bad.json"
if "$CHALKBOT" flow import "$work/bad.json" >/dev/null 2>"$work/bad.err"; then
  fail "a non-flow was imported"
fi
grep -q "not an Amazon Connect flow export" "$work/bad.err" || fail "unclear: $(cat "$work/bad.err")"
pass "a file that is not a flow export is refused with a clear error"
