#!/usr/bin/env bash
# The C accelerator (sipguard/sip/accel_c/) under AddressSanitizer and UndefinedBehaviorSanitizer:
# builds it so into a scratch copy of the tree, then runs the parser's tests and the accelerator's
# fuzzer (fuzz/accel.py) against that copy. PYTHONMALLOC=malloc makes every Python allocation a
# malloc() the sanitizer watches. Arguments go to fuzz/accel.py (default: --count 20000).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
work="$scratch/main"
mkdir "$work"
cp -r sipguard tests fuzz bench pyproject.toml "$work/"
[ -d ../shared ] && ln -s "$repo/../shared" "$scratch/shared"
py="$repo/.venv/bin/python"
include=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
suffix=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
rm -f "$work"/sipguard/sip/_accel*.so
gcc -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined \
    -Wall -Wextra -Wno-unused-parameter -shared -fPIC -I"$include" \
    -fvisibility=hidden sipguard/sip/accel_c/*.c -o "$work/sipguard/sip/_accel$suffix"
preload="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
cd "$work"
export LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 PYTHONMALLOC=malloc SIPGUARD_REQUIRE_ACCEL=1
"$py" -c 'import sipguard.sip._accel as a, sys; sys.exit(0 if a.__file__.startswith(sys.argv[1]) else 1)' "$work" \
    || { echo "fuzz/asan.sh: the sanitized build was not the one imported" >&2; exit 1; }
"$py" -m pytest -q -p no:cacheprovider tests/sip
"$py" fuzz/accel.py "${@:---count=20000}"
