#!/usr/bin/env bash
# The main job end to end on the embedded default (the local target, nothing but Python):
# create a workspace, train the digits model, register it and its environment, deploy it,
# and score it with a JSON POST. Safe to run again (it adds a model version and redeploys).
set -euo pipefail
cd "$(dirname "$0")/.."

serving workspace create . --name quickstart
python scoring_templates/sklearn/train.py --output out/quickstart/model.pkl
serving models register out/quickstart/model.pkl --name digits --tag source=quickstart
serving envs register -f scoring_templates/sklearn/env.yml
serving deploy digits-svc --model digits --entry-script scoring_templates/sklearn/score.py \
    --env digits-env --overwrite

uri=$(serving endpoints show digits-svc -o json | python -c 'import json, sys; print(json.load(sys.stdin)["scoring_uri"])')
echo "POST $uri  (the first digit of the bundled data set, a 0)"
python - "$uri" <<'PY'
import json, sys, urllib.request
body = open("scoring_templates/sklearn/sample-request.json", "rb").read()
req = urllib.request.Request(sys.argv[1], data=body, headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=30) as resp:
    print("prediction:", json.loads(resp.read()))
PY
echo "the endpoint keeps running; stop it with: serving endpoints delete digits-svc"
