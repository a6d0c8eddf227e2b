"""``sipguard bans list|add|remove``: a round trip through the entry point, on a temp config."""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from datetime import datetime
from pathlib import Path

import pytest

from sipguard.bans_cli import add_parser, main_bans
from sipguard.guard import BanOrder
from sipguard.store.bans import SqliteBanStore

LINE = re.compile(r"^(\S+) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (\S+)$")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(f'[server]\nstate_dir = "{tmp_path / "state"}"\n', encoding="utf-8")
    return path


def bans(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main_bans(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_list_add_remove_round_trip(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bans(capsys, "list", "--config", str(config)) == (0, "", "")
    before = time.time()
    status, out, err = bans(capsys, "add", "203.0.113.5", "--for", "3600", "--config", str(config))
    assert (status, err) == (0, "")
    assert out.startswith("banned 203.0.113.5 until ")
    status, out, _ = bans(capsys, "add", "2001:DB8::9/64", "--config", str(config))
    assert status == 0
    assert "2001:db8::/64" in out

    status, out, err = bans(capsys, "list", "--config", str(config))
    assert (status, err) == (0, "")
    lines = [LINE.match(line) for line in out.splitlines()]
    assert all(lines), out
    rows = {m.group(1): (m.group(2), m.group(3)) for m in lines if m}
    assert set(rows) == {"203.0.113.5", "2001:db8::/64"}
    until = datetime.fromisoformat(rows["203.0.113.5"][0]).timestamp()
    assert before + 3599 <= until <= time.time() + 3601
    v6_until = datetime.fromisoformat(rows["2001:db8::/64"][0]).timestamp()
    assert before + 86_399 <= v6_until <= time.time() + 86_401  # the default: one day
    assert {jail for _, jail in rows.values()} == {"manual"}
    assert (config.parent / "state" / "bans.sqlite").is_file()

    assert bans(capsys, "remove", "203.0.113.5", "--config", str(config)) == (
        0, "removed 203.0.113.5\n", ""
    )  # fmt: skip
    status, out, _ = bans(capsys, "list", "--config", str(config))
    assert [line.split()[0] for line in out.splitlines()] == ["2001:db8::/64"]


def test_bans_written_here_are_what_the_server_loads(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bans(capsys, "add", "198.51.100.0/24", "--for", "60", "--config", str(config))

    async def load() -> list[BanOrder]:
        store = await SqliteBanStore.open(config.parent / "state" / "bans.sqlite")
        try:
            return await store.load(time.time())
        finally:
            await store.close()

    loaded = asyncio.run(load())
    assert [(o.network, o.jail) for o in loaded] == [("198.51.100.0/24", "manual")]


def test_errors_are_one_line(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = bans(capsys, "remove", "203.0.113.5", "--config", str(config))
    assert (status, out) == (1, "")
    assert err == "sipguard bans remove: 203.0.113.5 is not banned (see `sipguard bans list`)\n"
    status, _, err = bans(capsys, "add", "example.com", "--config", str(config))
    assert status == 2
    assert err == "sipguard bans add: 'example.com' is not an IP address or network\n"
    bad = config.parent / "bad.toml"
    bad.write_text("[server]\nstate_dri = 'x'\n", encoding="utf-8")
    status, _, err = bans(capsys, "list", "--config", str(bad))
    assert status == 2
    assert err.count("\n") == 1
    assert "server.state_dri: unknown key" in err


def test_a_broken_store_is_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "bans.sqlite").write_bytes(b"not a database at all, not even close" * 4)
    config = tmp_path / "policy.toml"
    config.write_text(f'[server]\nstate_dir = "{state}"\n', encoding="utf-8")
    status, _, err = bans(capsys, "list", "--config", str(config))
    assert status == 1
    assert "not a usable ban store" in err
    assert err.count("\n") == 1


def test_usage_errors_exit_2(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bans(capsys, "list")[0] == 2  # --config is required
    assert bans(capsys, "add", "203.0.113.5", "--for", "-5", "--config", str(config))[0] == 2
    assert bans(capsys, "add", "203.0.113.5", "--for", "soon", "--config", str(config))[0] == 2
    status, _, err = bans(capsys)
    assert status == 2
    assert "usage: sipguard bans" in err


def test_add_parser_wires_into_a_parent_parser(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="sipguard")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bans", "add", "203.0.113.7", "--config", str(config)])
    assert args.handler(args) == 0
    args = parser.parse_args(["bans", "list", "--config", str(config)])
    assert args.handler(args) == 0
    assert "203.0.113.7 " in capsys.readouterr().out
