"""Writing policy files for the config tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipguard.config import ConfigError, load_config


def write(directory: Path, text: str, name: str = "site.toml") -> Path:
    """``text`` as the file ``name`` in ``directory``; returns its path."""
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(directory: Path, text: str) -> str:
    """The one-line ConfigError message for a policy holding ``text``."""
    path = write(directory, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ")
