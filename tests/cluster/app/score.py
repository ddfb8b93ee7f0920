"""Digits scoring for the cluster tests: answers with the model version it serves.

POST {"data": [[64 floats]]} -> {"digits": [...], "model_version": N}. Test knobs:
``"sleep": S`` sleeps S seconds in run(); ``"hang": S`` blocks SIGALRM first, so the
server's own scoring timeout cannot fire (a replica that hangs).
"""

import json
import os
import signal
import time

import joblib

model = None
version = None


def init():
    global model, version
    model_dir = os.environ["AZUREML_MODEL_DIR"]
    model = joblib.load(os.path.join(model_dir, "model.pkl"))
    version = int(os.path.basename(model_dir.rstrip("/")))


def run(raw_data):
    body = json.loads(raw_data)
    if "sleep" in body:
        time.sleep(float(body["sleep"]))
    if "hang" in body:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        try:
            time.sleep(float(body["hang"]))
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
    return {"digits": model.predict(body["data"]).tolist(), "model_version": version}
