"""The in-process fuzzer runs, stays bounded, and finds nothing in a short run."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

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


def test_short_accelerator_fuzz_run_finds_nothing(tmp_path: Path) -> None:
    fuzzer = load_script("fuzz/accel.py")
    if not fuzzer.accel.ACCELERATED:
        pytest.skip("the C accelerator is off or not built: nothing to compare")
    status = fuzzer.run(seed=11, count=1500, seconds=30.0, crash_dir=tmp_path)
    assert status == 0
    assert not list(tmp_path.iterdir())


def test_accelerator_fuzzer_sees_a_difference(monkeypatch: pytest.MonkeyPatch) -> None:
    # The comparison can fail: a fast path that answers wrongly is reported.
    fuzzer = load_script("fuzz/accel.py")
    if not fuzzer.accel.ACCELERATED:
        pytest.skip("the C accelerator is off or not built: nothing to compare")
    real_via = fuzzer.accel.via

    def wrong_via(text: str, via_type: type) -> object:
        via = real_via(text, via_type)
        return via._replace(host="203.0.113.9") if via is not None else None

    monkeypatch.setattr(fuzzer.accel, "via", wrong_via)
    data = Path("bench/messages/invite.sip").read_bytes()
    assert any("via(" in line for line in fuzzer.check(data))


def test_a_partial_message_keeps_the_placeholder_uri_on_both_paths() -> None:
    # fuzz/accel.py's first finding: an error raised before the Request-Line check (here
    # an invalid CSeq) left the accelerated path's partial with the real Request-URI.
    fuzzer = load_script("fuzz/accel.py")
    data = (
        b"REGISTER sip:192.0.2.1:5060;transport=udp SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1\r\n"
        b"From: <sip:1001@192.0.2.1>;tag=1\r\nTo: <sip:1001@192.0.2.1>\r\n"
        b"Call-ID: a@b\r\nCSeq: x REGISTER\r\nContent-Length: 0\r\n\r\n"
    )
    outcome = fuzzer.outcome(data)
    assert outcome[0] == "SipParseError(400, 'Invalid CSeq')"
    assert "host='invalid'" in outcome[6]  # the partial's URI: parser._PLACEHOLDER_URI
    with fuzzer.pure_python():
        assert fuzzer.outcome(data) == outcome
