#!/usr/bin/env bash
# The main job end to end on the embedded default (local compute and the local target,
# nothing but Python): create a workspace, submit the digits training script as a run,
# register the model from the run (its lineage: run and experiment), register the
# environment, deploy, and score with a JSON POST. Safe to run again (a new run, a new
# model version, a redeploy).
set -euo pipefail
cd "$(dirname "$0")/.."

serving workspace create . --name quickstart
echo "training as a run on local compute (its environment is built once, then reused)"
run_id=$(serving runs submit scoring_templates/sklearn/train.py --experiment quickstart \
    --env scoring_templates/sklearn/env.yml -o json \
    | python -c 'import json, sys; print(json.load(sys.stdin)["id"])')
serving runs metrics "$run_id"
serving runs register "$run_id" --name digits --path outputs/model.pkl --tag source=quickstart
serving models show digits
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
