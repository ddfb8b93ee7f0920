"""Shared by the collection end-to-end tests: concurrent requests with unique correlation
ids (bounded in time), the collection counters on /metrics, and what reached the datastore."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from serving.scoring.collection import layout

FIXTURE_ROW = [1.5, 2, 3]


@dataclass
class Sent:
    ok: list[str] = field(default_factory=list)
    """Ids of the requests answered 200 with their own id back."""
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0


def send_many(
    uri: str, *, clients: int, per_client: int, limit_s: float, prefix: str = "r"
) -> Sent:
    """``clients`` threads, each on its own keep-alive session, send up to ``per_client``
    requests with ids ``<prefix><client>-<n>`` until ``limit_s`` has passed."""
    sent = Sent()
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + limit_s

    def client(number: int) -> None:
        with requests.Session() as session:
            for n in range(per_client):
                if time.monotonic() > deadline:
                    return
                rid = f"{prefix}{number}-{n}"
                body = json.dumps({"data": [FIXTURE_ROW, [n, number, 1]], "id": rid})
                try:
                    answer = session.post(uri, data=body, timeout=30,
                                          headers={"Content-Type": "application/json"})  # fmt: skip
                    good = answer.status_code == 200 and answer.json()["correlation"] == rid
                    detail = rid if good else f"{rid}: {answer.status_code} {answer.text[:200]}"
                except requests.RequestException as exc:
                    good, detail = False, f"{rid}: {exc}"
                with lock:
                    (sent.ok if good else sent.failed).append(detail)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    sent.seconds = time.monotonic() - started
    return sent


def counters(metrics_text: str) -> dict[str, float]:
    """``dropped`` (all reasons) and ``written`` from one server's /metrics."""
    found = {"dropped": 0.0, "written": 0.0}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "serving_model_data_dropped_total":
                found["dropped"] += sample.value
            elif sample.name == "serving_model_data_written_total":
                found["written"] += sample.value
    return found


def collected(root: Path, endpoint: str, designation: str) -> Counter[str]:
    """How many records of ``designation`` each correlation id has on the datastore."""
    return Counter(
        str(r["correlation_id"])
        for r in layout.iter_records(root, endpoint, designation=designation)
    )
