"""``sipguard users add|remove|list``: manage the digest users of the server's realm.

Rules of this file: argument handling only. The realm is the policy's ``[server] domain``
and the database is ``state_dir / "users.sqlite"``. A password is read from stdin only
(one line, its line end stripped; without echo when stdin is a terminal), never from the
command line, where ``ps`` and shell history would show it. Errors are one line on
stderr; exit statuses as ``sipguard.cli``: 0 success, 1 the operation failed (no such
user, user exists, database error), 2 bad usage (a bad policy file, name or password).

The lead wires it into ``sipguard.cli`` with ``add_user_parser(commands)``; until then
``python -m sipguard.users_cli add NAME --config FILE`` runs it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path

from sipguard.cli_support import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from sipguard.config import ConfigError, load_config
from sipguard.store.base import StoreError
from sipguard.store.users import (
    NoSuchUserError,
    SqliteUserStore,
    UserExistsError,
    UserValueError,
    validate_name,
)

__all__ = ["USERS_FILE", "add_user_parser", "main", "main_users"]

USERS_FILE = "users.sqlite"


def add_user_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``users`` command (and its actions) to ``commands``; its handler is
    ``main_users``, set as ``handler`` like the other commands of ``sipguard.cli``."""
    users = commands.add_parser("users", help="add, remove or list digest users")
    _add_actions(users)
    users.set_defaults(handler=main_users)


def _add_actions(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add a user; the password is read from stdin")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--replace", action="store_true", help="change an existing password")
    remove = actions.add_parser("remove", help="remove a user")
    remove.add_argument("name", metavar="NAME")
    listing = actions.add_parser("list", help="list the users of the realm")
    for action in (add, remove, listing):
        action.add_argument(
            "--config", type=Path, metavar="FILE", help="policy overlaying the default"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """``sipguard users ...`` on its own: ``argv`` without the word "users"."""
    parser = argparse.ArgumentParser(
        prog="sipguard users", description="Manage the digest users of the realm."
    )
    _add_actions(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help and usage errors: argparse already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    return main_users(args)


def main_users(args: argparse.Namespace) -> int:
    """Run the parsed ``users`` action; returns the exit status."""
    try:
        config = load_config(args.config)
        realm = config.server.domain
        path = config.server.state_dir / USERS_FILE
        if args.users_command == "list":
            return asyncio.run(_list(path, realm))
        name = validate_name(args.name)
        if args.users_command == "remove":
            return asyncio.run(_remove(path, name, realm))
        password = _read_password(name)
        return asyncio.run(_add(path, name, realm, password, replace=args.replace))
    except (ConfigError, UserValueError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    except (StoreError, UserExistsError, NoSuchUserError) as exc:
        _err(str(exc))
        return EXIT_FAILED


async def _add(path: Path, name: str, realm: str, password: str, *, replace: bool) -> int:
    store = await SqliteUserStore.open(path)
    try:
        await store.add(name, realm, password, replace=replace)
    finally:
        await store.close()
    _out(f"{'set the password of' if replace else 'added'} {name} in realm {realm}")
    return EXIT_OK


async def _remove(path: Path, name: str, realm: str) -> int:
    store = await SqliteUserStore.open(path)
    try:
        await store.remove(name, realm)
    finally:
        await store.close()
    _out(f"removed {name} from realm {realm}")
    return EXIT_OK


async def _list(path: Path, realm: str) -> int:
    store = await SqliteUserStore.open(path)
    try:
        names = await store.list(realm)
    finally:
        await store.close()
    for name in names:
        _out(name)
    return EXIT_OK


def _read_password(name: str) -> str:
    stdin = sys.stdin
    if stdin is None:
        raise UserValueError("no password: stdin is closed")
    # A terminal gets a prompt without echo; a pipe gives its first line.
    line = getpass.getpass(f"Password for {name}: ") if stdin.isatty() else stdin.readline()
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise UserValueError("empty password (give it on stdin, one line)")
    return password


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
