#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up .venv, then lint, type-check and test.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy sipguard tests fuzz bench
.venv/bin/python -m pytest "$@"
