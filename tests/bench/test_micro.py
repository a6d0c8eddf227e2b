"""bench/micro.py reaches into the parser's stages: keep it in step with them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_micro", ROOT / "bench" / "micro.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_stage_runs_on_both_bench_messages() -> None:
    micro = _load()
    for name in ("invite.sip", "register.sip"):
        stages = micro.stage_timings((ROOT / "bench" / "messages" / name).read_bytes())
        names = [stage for stage, _ in stages]
        assert "parse_message (whole)" in names
        assert "request line + URI" in names
        for _, call in stages:
            call()
        assert micro.best_us(stages[0][1], 10, 2) > 0
