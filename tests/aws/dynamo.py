#!/usr/bin/env python3
"""One raw DynamoDB JSON call for tests (stdlib only): dynamo.py URL OPERATION JSON.

Signs nothing real: the Authorization header only has SigV4's shape, which is all a local
DynamoDB (dynalite) checks. Prints the answer; exits 1 on a DynamoDB error."""
import json
import sys
import time
import urllib.error
import urllib.request

url, operation, body = sys.argv[1], sys.argv[2], sys.argv[3]
date = time.strftime("%Y%m%d", time.gmtime())
request = urllib.request.Request(url + "/", data=body.encode(), method="POST", headers={
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "DynamoDB_20120810." + operation,
    "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDTEST/%s/us-east-1/dynamodb/aws4_request, "
                     "SignedHeaders=host;x-amz-date;x-amz-target, Signature=%s" % (date, "0" * 64),
})
try:
    with urllib.request.urlopen(request, timeout=10) as response:
        print(response.read().decode())
except urllib.error.HTTPError as e:
    print(e.read().decode(), file=sys.stderr)
    sys.exit(1)
