"""bench/sipp_edge.py keeps working: a tiny run of both elements over both scenarios."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.e2e.harness import needs_sipp
from tests.helpers.scripts import ROOT

pytestmark = [needs_sipp, pytest.mark.network, pytest.mark.slow]


def test_a_short_run_measures_both_elements_without_failures() -> None:
    result = subprocess.run(  # noqa: S603 - our interpreter and script
        [sys.executable, str(ROOT / "bench" / "sipp_edge.py"), "--calls", "40", "--rate", "40",
         "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads(result.stdout)
    seen = {(r["element"], r["scenario"]) for r in rows}
    assert seen == {(e, s) for e in ("relay", "sipguard") for s in ("options", "invite")}
    assert all(r["failed"] == 0 and r["calls"] == 40 for r in rows)
    assert all(r["cpu_us_per_call"] > 0 for r in rows if r["element"] == "sipguard")
