"""The example policies in docs/CONFIG.md and policies/README.md load as documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import cast

import pytest

from sipguard.config import ConfigError, Mode, default_policy_path, load_config
from sipguard.guard import AclStage, Drop, GuardContext, GuardState, Pass, Reason
from sipguard.sip import Peer, TransportName
from tests.config.helpers import write
from tests.helpers.sipmsg import parse_request, request

ROOT = Path(__file__).resolve().parents[2]


def _toml_blocks(doc: str) -> list[str]:
    text = (ROOT / doc).read_text(encoding="utf-8")
    return re.findall(r"```toml\n(.*?)```", text, re.DOTALL)


@pytest.mark.parametrize(
    ("doc", "index", "expected"),
    [
        ("docs/CONFIG.md", 0, (Mode.EDGE, 2, 2)),
        ("docs/CONFIG.md", 1, (Mode.REGISTRAR, 2, 0)),
        ("policies/README.md", 0, (Mode.EDGE, 2, 2)),
    ],
)
def test_documented_example_loads(
    tmp_path: Path, doc: str, index: int, expected: tuple[Mode, int, int]
) -> None:
    config = load_config(write(tmp_path, _toml_blocks(doc)[index]))
    assert (config.mode, len(config.listen), len(config.upstream)) == expected


def test_documented_error_lines_are_real(tmp_path: Path) -> None:
    text = (ROOT / "docs/CONFIG.md").read_text(encoding="utf-8")
    cases = {
        '[dispatcher]\nalgoritm = "x"\n': "dispatcher.algoritm: unknown key",
        '[server]\nshutdown_grace = "5"\n': "server.shutdown_grace:",
        '[server]\nmode = "proxy"\n': "server.mode:",
        '[[upstream]]\nuri = "sip:bob@192.0.2.1"\n': "upstream[0].uri:",
    }
    for policy, start in cases.items():
        path = write(tmp_path, policy)
        with pytest.raises(ConfigError) as info:
            load_config(path)
        line = str(info.value).replace(str(path), "site.toml")
        assert line.startswith(f"site.toml: {start}")
        assert f"`{line}`" in text


@pytest.mark.parametrize("name", ["pbx-shield.toml", "trunk-only.toml"])
def test_shipped_policy_files_load(name: str) -> None:
    path = default_policy_path().parent / name
    if not path.exists():  # an installed wheel carries only the default
        path = Path(__file__).resolve().parents[2] / "policies" / name
    config = load_config(path)
    assert config.mode.value == "edge"
    assert config.acl.trusted  # both trust their trunk


def test_trunk_only_lets_nobody_else_in() -> None:
    config = load_config(Path(__file__).resolve().parents[2] / "policies" / "trunk-only.toml")
    stage = AclStage(config.acl)
    listener = Peer(TransportName.UDP, "203.0.113.5", 5060)
    invite = parse_request(request("INVITE"))
    state = cast("GuardState", None)  # the ACL reads no table

    def verdict(host: str) -> object:
        ctx = GuardContext(Peer(TransportName.UDP, host, 5060), listener, now=0.0, wall=0.0)
        return stage.decide(invite, ctx, state).verdict

    assert isinstance(verdict("198.51.100.3"), Pass)
    assert verdict("203.0.113.99") == Drop(Reason.NOT_ALLOWED)
