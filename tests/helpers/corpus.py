"""Where the shared test data lives, and reading every typed view of a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipguard.sip import Message, Request, SipParseError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
REALWORLD = ROOT.parent / "shared" / "corpus" / "realworld"


def realworld_files(sub: str = "") -> list[Path]:
    """The corpus files of ../shared/corpus/realworld (or a subfolder), sorted."""
    folder = REALWORLD / sub if sub else REALWORLD
    return sorted(folder.glob("*.sip")) if folder.is_dir() else []


def realworld_params(sub: str = "") -> list[object]:
    """pytest parameters for the corpus files; one skipped parameter saying why when
    the shared corpus is not beside the checkout."""
    files = realworld_files(sub)
    if files:
        return list(files)
    reason = f"shared corpus not found at {REALWORLD} (clone ../shared beside the repo)"
    return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-corpus")]


def require_realworld() -> None:
    """Skip with a clear reason when the shared corpus is not beside the checkout."""
    if not REALWORLD.is_dir():
        pytest.skip(f"shared corpus not found at {REALWORLD} (clone ../shared beside the repo)")


def read_every_view(msg: Message) -> None:
    """Touch every typed accessor; only SipParseError may escape."""
    _ = (msg.via, msg.vias, msg.from_, msg.to, msg.call_id, msg.cseq, msg.max_forwards)
    _ = (msg.content_length, msg.content_type, msg.expires, msg.routes, msg.record_routes)
    _ = (msg.paths, msg.contacts, msg.authorization, msg.proxy_authorization)
    _ = (msg.www_authenticate, msg.proxy_authenticate, msg.tokens("Require"))
    _ = (msg.tokens("Supported"), msg.tokens("Proxy-Require"))
    if isinstance(msg, Request):
        _ = msg.uri


def read_status(msg: Message) -> int:
    """0 when every view reads cleanly, else the status of the first SipParseError."""
    try:
        read_every_view(msg)
    except SipParseError as exc:
        return exc.status
    return 0
