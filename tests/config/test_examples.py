"""The example policies in docs/CONFIG.md and policies/README.md load as documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sipguard.config import ConfigError, Mode, load_config
from tests.config.helpers import write

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
