"""Echo run(): returns the decoded body; raises on {"boom": ...}; sleeps "sleep_ms"."""

import json
import time


def init():
    pass


def run(raw_data):
    data = json.loads(raw_data)
    if "boom" in data:
        raise ValueError("boom asked for")
    if data.get("sleep_ms"):
        time.sleep(data["sleep_ms"] / 1000)
    return {"echo": data}
