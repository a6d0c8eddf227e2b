"""bench/micro.py reaches into the parser's stages: keep it in step with them."""

from __future__ import annotations

from tests.helpers.scripts import ROOT, load_script


def test_every_stage_runs_on_both_bench_messages() -> None:
    micro = load_script("bench/micro.py")
    for name in ("invite.sip", "register.sip"):
        stages = micro.stage_timings((ROOT / "bench" / "messages" / name).read_bytes())
        names = [stage for stage, _ in stages]
        assert "parse_message (whole)" in names
        assert "request line + URI" in names
        for _, call in stages:
            call()
        assert micro.best_us(stages[0][1], 10, 2) > 0
