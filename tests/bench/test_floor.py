"""bench/floor.py bounds pure-Python speed only if it does the same reads as the benchmark."""

from __future__ import annotations

from tests.helpers.scripts import ROOT, load_script


def test_floor_and_sipguard_read_the_expected_values() -> None:
    floor = load_script("bench/floor.py")
    for name in ("invite", "register"):
        data = (ROOT / "bench" / "messages" / f"{name}.sip").read_bytes()
        assert floor.floor_reads(data) == floor.EXPECTED[name]
        assert floor.read_sipguard(floor.parse_sipguard(data)) == floor.EXPECTED[name]


def test_floor_reads_the_message_it_is_given() -> None:
    floor = load_script("bench/floor.py")
    data = (ROOT / "bench" / "messages" / "invite.sip").read_bytes()
    changed = data.replace(b"CSeq: 102 INVITE", b"CSeq: 7 INVITE")
    assert floor.floor_reads(changed).cseq == (7, "INVITE")
    assert floor.floor_reads(changed) != floor.EXPECTED["invite"]
