"""``sipguard certs init|client|show``: make a private CA, server and client certificates.

Rules of this file: argument handling and output only; ``sipguard.certs`` does the work.
Errors are one line on stderr, with ``sipguard.cli``'s exit statuses: 0 success, 1 the
command could not be done (a file exists, the CA is missing, a file cannot be read or
written), 2 bad usage (a bad policy file, host name, address or client name).

``init`` and ``client`` work in ``--dir``, by default ``<state_dir>/certs`` of the policy.
``init`` names the policy's ``[server] domain`` and the addresses of its ``[[listen]]``
tables, plus any ``--host`` and ``--ip``.

Wiring: ``add_parser(subparsers)`` adds the ``certs`` command to ``sipguard``'s
subparsers; each subcommand sets ``handler`` (``Namespace -> int``), as ``cli.py``'s
commands do. ``main_certs(argv)`` runs ``argv`` (without the leading ``certs``) alone.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from sipguard import certs
from sipguard.cli_support import EXIT_FAILED, EXIT_OK, EXIT_USAGE, run_alone
from sipguard.config import Config, ConfigError, load_config

__all__ = ["CERTS_DIR", "add_parser", "main_certs"]

CERTS_DIR = "certs"
"""The default directory, under the policy's ``state_dir``."""
_Handler = Callable[[argparse.Namespace], int]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``certs init|client|show`` to ``subparsers`` (each sets ``handler``)."""
    parser = subparsers.add_parser("certs", help="create a CA, server and client certificates")
    parser.set_defaults(handler=lambda _args: _usage(parser))
    commands = parser.add_subparsers(dest="certs_command", metavar="SUBCOMMAND")

    init = commands.add_parser("init", help="create a private CA and a server certificate")
    _place_options(init)
    init.add_argument(
        "--host", action="append", default=[], metavar="NAME", help="another DNS name (repeat)"
    )
    init.add_argument(
        "--ip", action="append", default=[], type=_address, metavar="ADDR",
        help="another IP address (repeat)",
    )  # fmt: skip
    init.add_argument("--force", action="store_true", help="replace existing CA and server files")
    init.set_defaults(handler=_guarded(_init))

    client = commands.add_parser("client", help="issue a client certificate from the CA")
    client.add_argument("name", metavar="NAME", help="the client's name (CN and DNS SAN)")
    _place_options(client)
    client.add_argument("--force", action="store_true", help="replace this client's files")
    client.set_defaults(handler=_guarded(_client))

    show = commands.add_parser("show", help="print a certificate's names, validity, fingerprint")
    show.add_argument("file", type=Path, metavar="FILE", help="a PEM (chain) or DER file")
    show.set_defaults(handler=_guarded(_show))


def main_certs(argv: Sequence[str]) -> int:
    """Run ``certs`` with ``argv`` (``["init", "--config", "f.toml"]``); the exit status."""
    return run_alone("certs", add_parser, argv)


def _place_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE", help="policy overlaying the default")
    parser.add_argument(
        "--dir",
        type=Path,
        metavar="DIR",
        help=f"where the files go (default: state_dir/{CERTS_DIR})",
    )


def _address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r}") from None


def _guarded(handler: _Handler) -> _Handler:
    """``handler`` with the library's errors turned into one line and an exit status."""

    def run(args: argparse.Namespace) -> int:
        prog = f"sipguard certs {args.certs_command}"
        try:
            return handler(args)
        except ConfigError as exc:
            _err(str(exc))
            return EXIT_USAGE
        except FileExistsError as exc:
            _err(f"{prog}: {exc.filename} exists (use --force to replace it)")
            return EXIT_FAILED
        except (OSError, certs.CertFileError) as exc:
            _err(f"{prog}: {_os_problem(exc)}")
            return EXIT_FAILED
        except ValueError as exc:  # a bad host name, address or client name
            _err(f"{prog}: {exc}")
            return EXIT_USAGE

    return run


def _init(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    directory = _directory(args, config)
    hostnames, addresses = _server_names(config, args.host, args.ip)
    ca = certs.ca_paths(directory)
    server = certs.server_paths(directory)
    certs.check_server_names(hostnames, addresses)
    if not args.force:  # all checks before writing: no CA without its server cert
        certs.check_absent(ca, server)
    certs.create_ca(directory, f"sipguard CA {config.server.domain}"[:64], force=args.force)
    certs.issue_server(directory, ca, hostnames=hostnames, addresses=addresses, force=args.force)
    _out(f"CA certificate:     {ca.cert}")
    _out(f"CA key:             {ca.key}")
    _out(f"server certificate: {server.cert}")
    _out(f"server key:         {server.key}")
    info = certs.summary(certs.read_certificates(server.cert)[0])
    _out(f"server names:       {', '.join([*info.dns_names, *info.addresses])}")
    _out(f"server fingerprint: {info.fingerprint}")
    return EXIT_OK


def _client(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    directory = _directory(args, config)
    ca = certs.ca_paths(directory)
    paths = certs.client_paths(directory, args.name)  # a bad name is a usage error first
    if not ca.key.is_file() or not ca.cert.is_file():
        _err(f"sipguard certs client: no CA in {directory} (run `sipguard certs init` first)")
        return EXIT_FAILED
    certs.issue_client(directory, ca, args.name, force=args.force)
    _out(f"client certificate: {paths.cert}")
    _out(f"client key:         {paths.key}")
    _out(f"client fingerprint: {_fingerprint(paths.cert)}")
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    for i, cert in enumerate(certs.read_certificates(args.file)):
        if i:
            _out("")
        info = certs.summary(cert)
        _out(f"subject:     {info.subject or '(empty)'}")
        _out(f"issuer:      {info.issuer or '(empty)'}")
        if info.is_ca:
            _out("CA:          yes")
        sans = (("DNS:", info.dns_names), ("IP:", info.addresses), ("URI:", info.uris))
        for label, values in sans:
            if values:
                _out(f"{label:<13}{', '.join(values)}")
        _out(f"not before:  {_iso(info.not_before)}")
        _out(f"not after:   {_iso(info.not_after)}")
        _out(f"fingerprint: {info.fingerprint}")
    return EXIT_OK


def _directory(args: argparse.Namespace, config: Config) -> Path:
    directory: Path | None = args.dir
    return directory if directory is not None else config.server.state_dir / CERTS_DIR


def _server_names(
    config: Config, hosts: Sequence[str], ips: Sequence[str]
) -> tuple[list[str], list[str]]:
    """DNS names and IP addresses for the server certificate, the policy's first."""
    domain = config.server.domain
    domain_ip = _ip_or_none(domain)
    hostnames = [domain] if domain_ip is None else []
    addresses = [] if domain_ip is None else [domain_ip]
    addresses += [
        item.host for item in config.listen if not ipaddress.ip_address(item.host).is_unspecified
    ]
    return [*hostnames, *hosts], [*addresses, *ips]


def _ip_or_none(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _fingerprint(path: Path) -> str:
    return certs.fingerprint(certs.read_certificates(path)[0])


def _os_problem(exc: OSError | certs.CertFileError) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc)


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_usage(sys.stderr)
    return EXIT_USAGE


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")
