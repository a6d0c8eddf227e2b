"""The sipguard command: check-config and run, in-process via main() and as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sipguard import __version__
from sipguard.cli import main

EDGE = """
[[listen]]
transport = "udp"
address = "127.0.0.1:0"
[[listen]]
transport = "tcp"
address = "127.0.0.1:0"
[[upstream]]
uri = "sip:127.0.0.1:5070"
"""
BAD = '[dispatcher]\nalgoritm = "priority"\n'
BAD_LINE = (
    "bad.toml: dispatcher.algoritm: unknown key "
    "(known: algorithm, probe_interval, down_after, up_after, failover_statuses)"
)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in tmp_path with good.toml and bad.toml, so messages show relative names."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.toml").write_text(EDGE, encoding="utf-8")
    (tmp_path / "bad.toml").write_text(BAD, encoding="utf-8")
    return tmp_path


def _sipguard(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sipguard", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603


def test_check_config_good(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "good.toml"]) == 0
    out, err = capsys.readouterr()
    assert out == "good.toml: OK (mode edge, 2 listeners, 1 upstream)\n"
    assert err == ""


def test_check_config_default_summary(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (in_tmp / "empty.toml").write_text("", encoding="utf-8")
    assert main(["check-config", "empty.toml"]) == 0
    assert capsys.readouterr().out == "empty.toml: OK (mode registrar, 3 listeners, 0 upstreams)\n"


def test_check_config_bad(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "bad.toml"]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", BAD_LINE + "\n")


def test_check_config_missing_file(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "absent.toml"]) == 2
    assert capsys.readouterr().err == "absent.toml: cannot read (No such file or directory)\n"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"sipguard {__version__}\n"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["run", "--log-level", "loud"]) == 2
    assert "usage: sipguard" in capsys.readouterr().err


def test_run_with_a_bad_config_exits_2(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", "bad.toml"]) == 2
    assert capsys.readouterr().err == BAD_LINE + "\n"


def test_subprocess_check_config_good(in_tmp: Path) -> None:
    result = _sipguard("check-config", "good.toml", cwd=in_tmp)
    assert result.returncode == 0
    assert result.stdout == "good.toml: OK (mode edge, 2 listeners, 1 upstream)\n"
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (BAD, BAD_LINE),
        (
            "[server\n",
            "bad.toml: line 1: invalid TOML "
            "(Expected ']' at the end of a table declaration, column 8)",
        ),
        (
            '[server]\nmode = "edge"\n',
            "bad.toml: upstream: expected at least one [[upstream]] in edge mode, got []",
        ),
    ],
)
def test_subprocess_check_config_bad(in_tmp: Path, text: str, line: str) -> None:
    (in_tmp / "bad.toml").write_text(text, encoding="utf-8")
    result = _sipguard("check-config", "bad.toml", cwd=in_tmp)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == line + "\n"  # the one line, no traceback


def test_subprocess_missing_file(in_tmp: Path) -> None:
    result = _sipguard("check-config", "absent.toml", cwd=in_tmp)
    assert result.returncode == 2
    assert result.stderr == "absent.toml: cannot read (No such file or directory)\n"
