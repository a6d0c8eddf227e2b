# Sourced by run.sh and test.sh: create .venv on first use and install sipguard into it.
# EXTRAS names the optional dependencies to add (e.g. "[test]").
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".${EXTRAS:-}"
