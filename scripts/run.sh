#!/usr/bin/env bash
# Run sipguard on a fresh machine: set up .venv, then `sipguard run` with the arguments
# given (none: the embedded default policy, policies/default.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
exec .venv/bin/sipguard run "$@"
