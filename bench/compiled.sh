#!/usr/bin/env bash
# An experiment, not the shipped package: compile the parser modules of this checkout
# with mypyc (it comes with mypy, a test dependency) into a scratch folder, then run
# bench/parse.py against that compiled copy. Arguments go to bench/parse.py.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r sipguard "$work/"
files=""
for m in grammar uri headers names fields views message parser; do
    files="$files sipguard/sip/$m.py"
done
# shellcheck disable=SC2086 # one argument per file
(cd "$work" && "$repo/.venv/bin/mypyc" $files > build.log 2>&1) || { cat "$work/build.log"; exit 1; }
(cd "$work" && "$repo/.venv/bin/python" -c "import sipguard.sip.parser as p; print(\"parser:\", p.__file__)")
PYTHONPATH="$work" .venv/bin/python bench/parse.py "$@"
