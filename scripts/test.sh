#!/usr/bin/env bash
# The whole test suite, from a fresh checkout: install into .venv, then lint, type-check,
# check the import layers, and run pytest. CI runs exactly this (.ci/run).
#
#   scripts/test.sh              everything (what CI runs)
#   scripts/test.sh --fast       the same checks, but pytest skips the docker and slow tests
#                                (-m "not docker and not slow"): the development lane
# Any other argument goes to pytest, e.g. scripts/test.sh --fast tests/contract -x
set -euo pipefail
cd "$(dirname "$0")/.."

fast=0
args=()
for arg in "$@"; do
    if [ "$arg" = "--fast" ]; then fast=1; else args+=("$arg"); fi
done

# Debian packages the tests drive: mmdebstrap (the docker tests bootstrap a base image
# offline with it), chromium and chromium-driver (the studio's browser tests).
missing=()
command -v mmdebstrap >/dev/null || [ "$fast" = 1 ] || missing+=(mmdebstrap)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'

echo "== ruff";    .venv/bin/ruff check serving tests bench loadtests
echo "== mypy";    .venv/bin/mypy
echo "== imports"; .venv/bin/lint-imports
if [ "$fast" = 1 ]; then
    echo "== pytest (fast: not docker and not slow)"
    .venv/bin/python -m pytest -m "not docker and not slow" ${args[@]+"${args[@]}"}
else
    echo "== pytest"  # the 25 slowest tests are listed at the end: where the suite's time goes
    .venv/bin/python -m pytest --durations=25 ${args[@]+"${args[@]}"}
fi
