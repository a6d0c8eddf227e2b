"""The ``sipguard`` command: parse arguments, call the library, return an exit code.

Rules of this file: no logic beyond argument handling; a ConfigError is printed as its
one line on stderr with exit status 2 (the usage-error status argparse also uses);
nothing else is caught, so a bug shows its traceback.

Exit statuses: 0 success, 1 the server could not run (or returned 1), 2 bad usage or a
bad policy file; ``run`` otherwise returns what ``sipguard.server.serve`` returns.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from sipguard import __version__, bans_cli, certs_cli, users_cli
from sipguard.cli_support import EXIT_OK, EXIT_USAGE
from sipguard.config import Config, ConfigError, LogConfig, load_config
from sipguard.logs import setup_logging

__all__ = ["main"]


_LOG_FORMATS = ("text", "json")
_LOG_LEVELS = ("debug", "info", "warning", "error")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_usage(sys.stderr)
        return EXIT_USAGE
    command: Callable[[argparse.Namespace], int] = args.handler
    return command(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sipguard", description="A security-focused SIP edge firewall and proxy."
    )
    parser.add_argument("--version", action="version", version=f"sipguard {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="run the proxy until SIGTERM or SIGINT")
    run.add_argument("--config", type=Path, metavar="FILE", help="policy overlaying the default")
    run.add_argument("--log-format", choices=_LOG_FORMATS, help="overrides [log] format")
    run.add_argument("--log-level", choices=_LOG_LEVELS, help="overrides [log] level")
    run.set_defaults(handler=_run)

    check = commands.add_parser("check-config", help="validate a policy file and exit")
    check.add_argument("file", type=Path, metavar="FILE")
    check.set_defaults(handler=_check_config)

    users_cli.add_user_parser(commands)  # users add|remove|list
    bans_cli.add_parser(commands)  # bans list|add|remove
    certs_cli.add_parser(commands)  # certs init|client|show
    return parser


def _run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_USAGE
    log = _log_overrides(config.log, args.log_format, args.log_level)
    config = dataclasses.replace(config, log=log)
    setup_logging(config.log)
    # Imported here: the server pulls in asyncio and the transports, which check-config
    # does not need.
    from sipguard.server import serve  # noqa: PLC0415

    return serve(config)


def _log_overrides(log: LogConfig, log_format: str | None, level: str | None) -> LogConfig:
    return dataclasses.replace(log, format=log_format or log.format, level=level or log.level)


def _check_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_USAGE
    sys.stdout.write(f"{args.file}: OK ({_summary(config)})\n")
    return EXIT_OK


def _summary(config: Config) -> str:
    listeners = _count(len(config.listen), "listener")
    upstreams = _count(len(config.upstream), "upstream")
    return f"mode {config.mode}, {listeners}, {upstreams}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")
