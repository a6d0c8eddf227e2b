"""The in-process fuzzer runs, stays bounded, and finds nothing in a short run."""

from __future__ import annotations

import random
import time
from pathlib import Path

from tests.helpers.scripts import load_script


def test_short_fuzz_run_finds_nothing(tmp_path: Path) -> None:
    fuzzer = load_script("fuzz/inprocess.py")
    start = time.monotonic()
    status = fuzzer.run(seed=7, count=300, seconds=20.0, budget_ms=50.0, crash_dir=tmp_path)
    assert status == 0
    assert not list(tmp_path.iterdir())
    assert time.monotonic() - start < 30


def test_mutations_change_the_input() -> None:
    fuzzer = load_script("fuzz/inprocess.py")
    rng = random.Random(1)
    seeds = fuzzer.load_seeds()
    assert any(fuzzer.mutate(rng, seeds[0], seeds) != seeds[0] for _ in range(10))
