"""``sipguard bans list|add|remove --config FILE``: manage the persisted ban list.

Rules of this file: argument handling and output only; the store does the work. Errors
are one line on stderr, with ``sipguard.cli``'s exit statuses: 0 success, 1 the command
could not be done (the store failed, or ``remove`` found no such ban), 2 bad usage, a bad
policy file or a bad network.

The command edits ``state_dir / "bans.sqlite"``; a running server reads that file when
it starts and on SIGHUP (``kill -HUP``), which lifts the bans removed here and enforces
the ones added.

Wiring: ``add_parser(subparsers)`` adds the ``bans`` command to ``sipguard``'s
subparsers; each subcommand sets ``handler`` (``Namespace -> int``), as ``cli.py``'s
commands do. ``main_bans(argv)`` runs ``argv`` (without the leading ``bans``) alone.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sipguard.cli_support import EXIT_FAILED, EXIT_OK, EXIT_USAGE, run_alone
from sipguard.config import ConfigError, load_config
from sipguard.guard.banlist import InvalidNetworkError, canonical_network
from sipguard.guard.state import BanOrder
from sipguard.store.bans import SqliteBanStore
from sipguard.store.base import StoreError

__all__ = ["BANS_FILE", "DEFAULT_BAN_SECONDS", "MANUAL_JAIL", "add_parser", "main_bans"]

BANS_FILE = "bans.sqlite"
MANUAL_JAIL = "manual"
DEFAULT_BAN_SECONDS = 86_400
_Work = Callable[[SqliteBanStore], Awaitable[int]]
"""What a subcommand does with the open store; returns the exit status."""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``bans list|add|remove`` to ``subparsers`` (each sets ``handler``)."""
    bans = subparsers.add_parser("bans", help="list, add or remove bans")
    bans.set_defaults(handler=lambda _args: _usage(bans))
    commands = bans.add_subparsers(dest="bans_command", metavar="SUBCOMMAND")

    listing = commands.add_parser("list", help="print the bans in force, one per line")
    _config_option(listing)
    listing.set_defaults(handler=_list)

    add = commands.add_parser("add", help="ban an address or network (a running node: at SIGHUP)")
    add.add_argument("network", metavar="NETWORK", help="an IP address or a CIDR")
    add.add_argument(
        "--for", dest="seconds", type=_seconds, default=DEFAULT_BAN_SECONDS, metavar="SECONDS",
        help=f"how long the ban lasts (default {DEFAULT_BAN_SECONDS})",
    )  # fmt: skip
    _config_option(add)
    add.set_defaults(handler=_add)

    remove = commands.add_parser("remove", help="lift the ban on exactly NETWORK")
    remove.add_argument("network", metavar="NETWORK", help="as `bans list` shows it")
    _config_option(remove)
    remove.set_defaults(handler=_remove)


def main_bans(argv: Sequence[str]) -> int:
    """Run ``bans`` with ``argv`` (``["list", "--config", "f.toml"]``); the exit status."""
    return run_alone("bans", add_parser, argv)


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, required=True, metavar="FILE", help="the policy naming state_dir"
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < 10**10:  # beyond ~300 years a timestamp stops being useful
        raise argparse.ArgumentTypeError(f"seconds must be > 0: {text!r}")
    return value


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_usage(sys.stderr)
    return EXIT_USAGE


def _list(args: argparse.Namespace) -> int:
    wall = time.time()
    return _with_store(args, lambda store: _print_bans(store, wall))


async def _print_bans(store: SqliteBanStore, wall: float) -> int:
    for order in await store.load(wall):
        sys.stdout.write(f"{order.network} {_iso(order.until)} {order.jail}\n")
    return EXIT_OK


def _add(args: argparse.Namespace) -> int:
    try:
        network = canonical_network(args.network)
    except InvalidNetworkError as exc:
        _err(f"sipguard bans add: {exc}")
        return EXIT_USAGE
    order = BanOrder(network, time.time() + args.seconds, MANUAL_JAIL, 0)
    return _with_store(args, lambda store: _save(store, order))


async def _save(store: SqliteBanStore, order: BanOrder) -> int:
    await store.save(order)
    sys.stdout.write(f"banned {order.network} until {_iso(order.until)}\n")
    return EXIT_OK


def _remove(args: argparse.Namespace) -> int:
    try:
        network = canonical_network(args.network)
    except InvalidNetworkError as exc:
        _err(f"sipguard bans remove: {exc}")
        return EXIT_USAGE
    return _with_store(args, lambda store: _delete(store, network))


async def _delete(store: SqliteBanStore, network: str) -> int:
    if await store.remove(network):
        sys.stdout.write(f"removed {network}\n")
        return EXIT_OK
    _err(f"sipguard bans remove: {network} is not banned (see `sipguard bans list`)")
    return EXIT_FAILED


def _with_store(args: argparse.Namespace, work: _Work) -> int:
    """Load the config, open the store, run ``work`` on it, close it."""
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_USAGE
    path = config.server.state_dir / BANS_FILE
    try:
        return asyncio.run(_run(path, work))
    except StoreError as exc:
        _err(str(exc))
        return EXIT_FAILED


async def _run(path: Path, work: _Work) -> int:
    store = await SqliteBanStore.open(path)
    try:
        return await work(store)
    finally:
        await store.close()


def _iso(wall: float) -> str:
    """ISO 8601 in UTC, to the second: ``2025-01-31T12:00:00Z``."""
    stamp = datetime.fromtimestamp(wall, tz=UTC).isoformat(timespec="seconds")
    return stamp.replace("+00:00", "Z")


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")
