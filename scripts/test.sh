#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up .venv, then lint, type-check and test.
set -euo pipefail
cd "$(dirname "$0")/.."
# SIPp (Debian package sip-tester) drives the end-to-end tests; they skip without it.
if ! command -v sipp >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sip-tester
    else
        echo "scripts/test.sh: SIPp is missing (apt-get install -y sip-tester); e2e tests will skip" >&2
    fi
fi
# A C compiler builds the parser's accelerator (sipguard/sip/accel_c/) at install time.
if ! command -v cc >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc
fi
EXTRAS="[test]"
. scripts/venv.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy sipguard tests fuzz bench
# The suite runs with the accelerator (a missing one fails it: both paths must be tested);
# the SIP core's own tests run again on the pure-Python parser, the reference.
SIPGUARD_REQUIRE_ACCEL=1 .venv/bin/python -m pytest "$@"
SIPGUARD_PURE_PYTHON=1 .venv/bin/python -m pytest -q tests/sip
