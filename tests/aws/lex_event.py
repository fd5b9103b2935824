#!/usr/bin/env python3
"""Prints a Lex V2 code-hook event shaped as AWS documents it (tests/data/aws/lex_v2_event.json)
with the given session and transcript: lex_event.py SESSION_ID TRANSCRIPT."""
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "..", "data", "aws", "lex_v2_event.json")) as f:
    event = json.load(f)
event["sessionId"] = sys.argv[1]
event["inputTranscript"] = sys.argv[2]
event["rawInputTranscript"] = sys.argv[2]
event["transcriptions"][0]["transcription"] = sys.argv[2]
print(json.dumps({"event": event}))
