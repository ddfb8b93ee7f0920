"""A score.py for the drift end-to-end test: collects its inputs with ModelDataCollector
as v1 scripts do and answers each row's sum. Model-free and standard library only, so the
runtime-only environment runs it.

POST {"data": [[age, income, score], ...], "id": "..."} -> {"sums": [...]}
"""

import json

from azureml.monitoring import ModelDataCollector

inputs_dc = None


def init():
    global inputs_dc
    inputs_dc = ModelDataCollector(
        "shop-model", designation="inputs", feature_names=["age", "income", "score"]
    )


def run(raw_data):
    body = json.loads(raw_data)
    inputs_dc.collect(body["data"], body.get("id", ""))
    return {"sums": [sum(row) for row in body["data"]]}
