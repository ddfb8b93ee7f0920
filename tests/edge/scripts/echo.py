"""Echo run(): returns the decoded body; raises on {"boom": ...}; sleeps SLOW_MS per call."""

import json
import os
import time


def init():
    pass


def run(raw_data):
    data = json.loads(raw_data)
    if "boom" in data:
        raise ValueError("boom asked for")
    delay = float(os.environ.get("SLOW_MS", "0"))
    if delay:
        time.sleep(delay / 1000)
    return {"echo": data}
