#!/usr/bin/env bash
# deploy/aws without AWS: every .tf parses with HashiCorp's HCL parser and its references are
# consistent (tests/aws/check_terraform.js); the Lambda's CHALKBOT_* variables are real options;
# the Dockerfile's entrypoint is `chalkbot lambda`; the contact flow Terraform uploads imports
# cleanly with `chalkbot flow import`. Nothing here proves AWS accepts it (see README: AWS).
source "$(dirname "$0")/lib.sh"
deploy="${SOURCE_DIR:-$TESTS_DIR/..}/deploy/aws"

bash "$TESTS_DIR/aws/ensure_node_modules.sh"
node "$TESTS_DIR/aws/check_terraform.js" "$deploy" >"$work/terraform.json" ||
  { cat "$work/terraform.json"; fail "deploy/aws does not parse or is inconsistent"; }
pass "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["files"]), "files,", len(d["resources"]), "resources,", len(d["data"]), "data sources parse; all references declared")' "$work/terraform.json")"

"$CHALKBOT" config --options >"$work/options.txt"
for name in $(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["chalkbot_env"]))' "$work/terraform.json"); do
  grep -q "env $name)" "$work/options.txt" || fail "lambda.tf sets $name, which is no chalkbot option"
done
pass "every CHALKBOT_* variable the Lambda gets is a declared option"

grep -q 'ENTRYPOINT \["/opt/chalkbot/bin/chalkbot", "lambda"\]' "$deploy/Dockerfile" ||
  fail "the image's entrypoint is not chalkbot lambda"
grep -q 'hash_key *= "SessionId"' "$deploy/dynamodb.tf" || fail "table key is not LangChain's"
grep -q 'attribute_name = "expireAt"' "$deploy/dynamodb.tf" || fail "TTL attribute differs"
pass "image entrypoint, table key and TTL attribute match the code"

sed 's|\${lex_bot_alias_arn}|arn:aws:lex:us-east-1:123456789012:bot-alias/BOT/ALIAS|' \
  "$deploy/contact-flow.json.tftpl" >"$work/flow.json"
"$CHALKBOT" flow import --strict "$work/flow.json" >"$work/flow.yaml" 2>"$work/flow.err" ||
  { cat "$work/flow.err"; fail "the deployed contact flow does not import cleanly"; }
pass "the contact flow Terraform uploads imports with no unmapped block"
