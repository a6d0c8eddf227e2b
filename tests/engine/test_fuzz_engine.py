"""The engine fuzzer (fuzz/engine.py) runs, stays bounded, and finds nothing."""

from __future__ import annotations

import time
from pathlib import Path

from tests.helpers.scripts import load_script


def test_a_short_engine_fuzz_run_finds_nothing(tmp_path: Path) -> None:
    fuzzer = load_script("fuzz/engine.py")
    start = time.monotonic()
    assert fuzzer.run(seed=11, count=1500, seconds=20.0, crash_dir=tmp_path) == 0
    assert not list(tmp_path.iterdir())
    assert time.monotonic() - start < 30
