"""``sipguard users``: add, list, remove; passwords on stdin; exit statuses 0/1/2."""

from __future__ import annotations

import argparse
import asyncio
import io
import subprocess
import sys
from pathlib import Path

import pytest

from sipguard.guard.digest import Algorithm, ha1
from sipguard.store.users import SqliteUserStore, UserTable
from sipguard.users_cli import add_user_parser, main

REALM = "voice.example.com"
PHRASE = "correct horse battery staple"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    state = (tmp_path / "state").as_posix()
    path.write_text(f'[server]\ndomain = "{REALM}"\nstate_dir = "{state}"\n', encoding="utf-8")
    return path


def stored(config: Path) -> UserTable:
    async def load() -> UserTable:
        async with asyncio.timeout(10):
            store = await SqliteUserStore.open(config.parent / "state" / "users.sqlite")
            try:
                return await store.load()
            finally:
                await store.close()

    return asyncio.run(load())


def users(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sipguard.users_cli", *args]
    return subprocess.run(  # noqa: S603 - our own module, fixed arguments
        command, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def test_add_as_a_process_reads_the_password_from_stdin(config: Path) -> None:
    done = users("add", "alice", "--config", str(config), stdin=PHRASE + "\n")
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"added alice in realm {REALM}\n",
        "",
    )
    table = stored(config)
    assert table.ha1("alice", REALM, Algorithm.SHA256) == ha1(
        "alice", REALM, PHRASE, Algorithm.SHA256
    )
    listed = users("list", "--config", str(config))
    assert (listed.returncode, listed.stdout) == (0, "alice\n")


def test_errors_are_one_line_with_status_1_or_2(config: Path) -> None:
    empty = users("add", "alice", "--config", str(config), stdin="\n")
    assert empty.returncode == 2
    assert empty.stderr == "empty password (give it on stdin, one line)\n"
    missing = users("remove", "nobody", "--config", str(config))
    assert missing.returncode == 1
    assert missing.stderr == f"no user nobody in realm {REALM}\n"


def test_in_process_lifecycle(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = ["--config", str(config)]
    monkeypatch.setattr(sys, "stdin", io.StringIO("first\r\nsecond line ignored\n"))
    assert main(["add", "bob", *conf]) == 0
    assert stored(config).ha1("bob", REALM, Algorithm.MD5) == ha1(
        "bob", REALM, "first", Algorithm.MD5
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO("again\n"))
    assert main(["add", "bob", *conf]) == 1  # exists
    assert capsys.readouterr().err == f"user bob already exists in realm {REALM}\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO("again\n"))
    assert main(["add", "bob", "--replace", *conf]) == 0
    assert stored(config).ha1("bob", REALM, Algorithm.MD5) == ha1(
        "bob", REALM, "again", Algorithm.MD5
    )
    assert main(["remove", "bob", *conf]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"removed bob from realm {REALM}"
    assert main(["list", *conf]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("name", ["bob@example.com", "anonymous", "two words"])
def test_bad_names_are_usage_errors(
    name: str, config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("pw\n"))
    assert main(["add", name, "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert name in err
    assert not (config.parent / "state" / "users.sqlite").exists()


def test_bad_config_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\ndomian = 'x'\n", encoding="utf-8")
    assert main(["list", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{bad}: server.domian: unknown key")
    assert err.count("\n") == 1


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["add"]) == 2
    assert "usage: sipguard users" in capsys.readouterr().err


def test_wired_as_a_subcommand(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # How sipguard.cli will use it: add_user_parser on its subparsers, then args.handler.
    parser = argparse.ArgumentParser(prog="sipguard")
    add_user_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["users", "list", "--config", str(config)])
    assert args.handler(args) == 0
    assert capsys.readouterr() == ("", "")
