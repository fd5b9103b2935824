#!/usr/bin/env python3
"""Prints Lex V2 code-hook events shaped as AWS documents them (tests/data/aws/lex_v2_event.json),
one {"event": ...} line per SESSION_ID TRANSCRIPT pair: lex_event.py SESSION_ID TRANSCRIPT ..."""
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "..", "data", "aws", "lex_v2_event.json")) as f:
    template = f.read()
for session, transcript in zip(sys.argv[1::2], sys.argv[2::2]):
    event = json.loads(template)
    event["sessionId"] = session
    event["inputTranscript"] = transcript
    event["rawInputTranscript"] = transcript
    event["transcriptions"][0]["transcription"] = transcript
    print(json.dumps({"event": event}))
