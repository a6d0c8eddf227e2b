"""What goes wrong in a policy file, and how keys and values are written in the message.

Rules of this file: converters and checks raise ``_KeyValueError`` (they know the key path,
not the file); only the loader turns it into a ``ConfigError`` naming the file. Every
message is one line: values are shown with ``repr`` (cut at 80 characters) and line breaks
in them are escaped. This module imports nothing from the rest of the package.
"""

from __future__ import annotations

import re

KeyPath = tuple[str | int, ...]
"""Where a value sits in the policy: ``("listen", 1, "address")`` is ``listen[1].address``."""


class ConfigError(Exception):
    """A policy file that cannot be used; ``str()`` is one line naming the file and the key."""

    def __init__(self, file: str, key: str | None, problem: str) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        where = f"{file}: {key}: " if key else f"{file}: "
        super().__init__(_one_line(where + problem))


class _KeyValueError(Exception):
    """Raised by converters, which know the key but not the file."""

    def __init__(self, path: KeyPath, problem: str) -> None:
        super().__init__(problem)
        self.path = path
        self.problem = problem


def _render(path: KeyPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else _quote(part)
            out += f".{key}" if out else key
    return out


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _quote(text: str) -> str:
    return '"' + text.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def _choices(values: list[str] | tuple[str, ...]) -> str:
    return ", ".join(f'"{v}"' for v in values)


def _num(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")
