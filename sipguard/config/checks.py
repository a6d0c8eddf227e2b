"""Rules across fields and sections, run in order on a built ``Config`` (``_CHECKS``).

Rules of this file: each check reads the whole tree and raises ``_KeyValueError`` at the
key the operator should change; checks never change the tree. A rule about one value
alone belongs in its field's ``setting(...)`` or converter, not here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sipguard.config.errors import KeyPath, _address, _KeyValueError, _render
from sipguard.config.sections import Mode
from sipguard.config.values import _ip_or_none
from sipguard.guard.acl import ip_set
from sipguard.sip.transports import TransportName

if TYPE_CHECKING:  # load.py imports this module to run the checks: annotations only
    from sipguard.config.load import Config


def _check_listeners(config: Config) -> None:
    if not config.listen:
        raise _KeyValueError(("listen",), "expected at least one [[listen]] table, got []")
    seen: dict[tuple[TransportName, str, int], int] = {}
    for i, item in enumerate(config.listen):
        key = (item.transport, item.host, item.port)
        if item.port != 0 and key in seen:  # port 0: each gets its own free port
            what = f"{item.transport} {_address(item.host, item.port)}"
            raise _KeyValueError(
                ("listen", i), f"duplicate listener {what} (as listen[{seen[key]}])"
            )
        seen.setdefault(key, i)


def _check_upstream(config: Config) -> None:
    if config.mode is Mode.EDGE and not config.upstream:
        raise _KeyValueError(
            ("upstream",), "expected at least one [[upstream]] in edge mode, got []"
        )


def _check_expiries(config: Config) -> None:
    reg = config.registrar
    if reg.max_expires < reg.min_expires:
        problem = f"expected >= registrar.min_expires ({reg.min_expires}), got {reg.max_expires}"
        raise _KeyValueError(("registrar", "max_expires"), problem)
    if not reg.min_expires <= reg.default_expires <= reg.max_expires:
        span = f"{reg.min_expires}..{reg.max_expires}"
        problem = f"expected within min_expires..max_expires ({span}), got {reg.default_expires}"
        raise _KeyValueError(("registrar", "default_expires"), problem)


def _check_cidrs(config: Config) -> None:
    # Every CIDR list, checked where it is written: a typo there would open or shut a door.
    lists: list[tuple[KeyPath, tuple[str, ...]]] = [
        (("acl", name), getattr(config.acl, name)) for name in ("allow", "deny", "trusted")
    ]
    lists.append((("jail", "ignore"), config.jail.ignore))
    lists.append((("topology", "inside"), config.topology.inside))
    lists += [
        (("acl", "listeners", key, "allow"), item.allow)
        for key, item in config.acl.listeners.items()
        if item.allow is not None
    ]
    for path, entries in lists:
        for i, entry in enumerate(entries):
            try:
                ip_set([entry], _render(path))
            except ValueError:
                problem = f"expected an IP address or CIDR (no host bits set), got {entry!r}"
                raise _KeyValueError((*path, i), problem) from None


def _check_topology(config: Config) -> None:
    # Hiding needs us on the dialog's path (Record-Route) and something to hide.
    if not config.topology.hide:
        return
    if not config.server.record_route:
        raise _KeyValueError(("topology", "hide"), "needs server.record_route = true")
    if not config.topology.inside and not any(
        _ip_or_none(up.uri.host_bare) for up in config.upstream
    ):
        problem = "expected CIDRs of the hidden side (no [[upstream]] has an IP address), got []"
        raise _KeyValueError(("topology", "inside"), problem)


def _check_tls(config: Config) -> None:
    tls = config.tls
    if (tls.cert is None) != (tls.key is None):
        missing = "key" if tls.key is None else "cert"
        raise _KeyValueError(("tls", missing), "cert and key go together: set both or neither")
    if tls.verify_clients == "required" and tls.ca is None:
        raise _KeyValueError(("tls", "ca"), 'needed for verify_clients = "required"')


_CHECKS: tuple[Callable[[Config], None], ...] = (
    _check_listeners,
    _check_upstream,
    _check_expiries,
    _check_cidrs,
    _check_topology,
    _check_tls,
)
