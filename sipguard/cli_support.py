"""What every ``sipguard`` sub-command shares: the exit statuses and running one
sub-command's parser alone (``main_bans(["list", ...])`` and friends, for tests and
for embedding).

Rules of this file: argument plumbing only; no command logic.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "AddParser", "run_alone"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
"""Bad usage or a bad policy file (the status argparse also uses)."""

AddParser = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]
"""A sub-command module's ``add_parser``: adds its command, each handler set."""


def run_alone(command: str, add_parser: AddParser, argv: Sequence[str]) -> int:
    """Parse ``[command, *argv]`` with only ``add_parser``'s command and run its handler."""
    parser = argparse.ArgumentParser(prog="sipguard")
    add_parser(parser.add_subparsers(dest="command"))
    try:
        args = parser.parse_args([command, *argv])
    except SystemExit as exc:  # --help and usage errors: argparse already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    status: int = args.handler(args)
    return status
