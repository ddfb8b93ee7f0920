#!/usr/bin/env bash
# The whole test suite, from a fresh checkout: install into .venv, then lint, type-check,
# check the import layers, and run pytest. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# The docker tests bootstrap a base image offline with mmdebstrap (a Debian package).
if ! command -v mmdebstrap >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
fi

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'

echo "== ruff";    .venv/bin/ruff check serving tests bench loadtests
echo "== mypy";    .venv/bin/mypy
echo "== imports"; .venv/bin/lint-imports
echo "== pytest";  .venv/bin/python -m pytest "$@"
