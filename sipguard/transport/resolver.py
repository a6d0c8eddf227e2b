"""RFC 3263 client look-ups (NAPTR → SRV → A/AAAA) over dnspython's asyncio resolver.

Rules of this file:
- Never block the loop: only ``dns.asyncresolver`` queries, each bounded by
  ``DnsConfig.timeout``. Rounds run in sequence (NAPTR, SRV, addresses; one more SRV
  and address round per NAPTR order group that yields nothing, at most
  ``MAX_NAPTR_GROUPS``); the queries of one round run concurrently. At most
  ``MAX_SRV_TARGETS`` targets per SRV set are resolved, so a hostile zone cannot make
  one resolve fan out into hundreds of queries.
- Answers are cached per (name, type) for min(TTL, ``max_ttl``) against the injected
  clock; NXDOMAIN and NODATA for the SOA's negative TTL (RFC 2308 §5), else
  ``NEGATIVE_TTL`` seconds. The cache holds at most ``max_entries`` names, oldest
  dropped first, so look-ups of attacker-chosen names cannot grow it without bound.
- One query per (name, type) is in flight at a time: concurrent callers share it.
- A timeout or a server failure is never read as "no records": falling back from
  NAPTR to SRV to A on a lost answer would let an attacker who drops packets steer us
  to a weaker transport, so it ends the resolve with ``ResolveTimeoutError`` /
  ``ResolveError``. Only the address look-ups of SRV targets tolerate a failed
  target when another one resolves.
- Address order: a name's A records, then its AAAA records, each as the server sent
  them (sorted when ``deterministic``).

The ordering rules themselves are pure functions in ``srv.py``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rdata
import dns.rdatatype
import dns.resolver
import dns.rrset
from dns.rdtypes.ANY.SOA import SOA
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA
from dns.rdtypes.IN.NAPTR import NAPTR
from dns.rdtypes.IN.SRV import SRV

from sipguard.config import DnsConfig, TransportName
from sipguard.sip import SipUri
from sipguard.transport.srv import (
    DEFAULT_PORTS,
    NaptrRecord,
    ResolveError,
    ResolveTimeoutError,
    SrvQuery,
    SrvRecord,
    Target,
    default_transport,
    fixed_transport,
    naptr_groups,
    numeric_host,
    order_srv,
    order_srv_deterministic,
    srv_queries,
    srv_query,
    uri_target,
)

__all__ = ["MAX_NAPTR_GROUPS", "MAX_SRV_TARGETS", "NEGATIVE_TTL", "Resolver"]

NEGATIVE_TTL = 30.0
"""Seconds a NXDOMAIN/NODATA answer without an SOA record is cached."""
MAX_NAPTR_GROUPS = 4
"""NAPTR order groups tried before giving up on NAPTR (then plain SRV)."""
MAX_SRV_TARGETS = 16
"""SRV records of one set resolved and returned, in RFC 2782 order; the rest dropped."""

_RdType = dns.rdatatype.RdataType
_Key = tuple[dns.name.Name, _RdType]


@dataclass(frozen=True, slots=True)
class _Answer:
    """One DNS answer as cached: the records, A/AAAA glue, and how long it may live."""

    records: tuple[dns.rdata.Rdata, ...]
    glue: tuple[dns.rrset.RRset, ...]
    ttl: float


@dataclass(frozen=True, slots=True)
class _Entry:
    answer: _Answer
    expires: float


class Resolver:
    """Locates SIP servers (RFC 3263 §4) with a TTL cache and shared in-flight queries."""

    def __init__(
        self,
        config: DnsConfig,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] | None = None,
        max_entries: int = 4096,
    ) -> None:
        """Raises dns.resolver.NoResolverConfiguration when ``config.servers`` is empty
        and the system has no resolver configuration."""
        self._config = config
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 -- load spreading, not secrecy
        self._clock = clock if clock is not None else time.monotonic
        self._max_entries = max_entries
        self._cache: dict[_Key, _Entry] = {}
        self._inflight: dict[_Key, asyncio.Task[_Answer]] = {}
        self._dns = dns.asyncresolver.Resolver(configure=not config.servers)
        if config.servers:
            self._dns.nameservers = [
                dns.nameserver.Do53Nameserver(host, port) for host, port in config.servers
            ]
        self._dns.timeout = config.timeout
        self._dns.lifetime = config.timeout

    async def resolve(
        self,
        uri: SipUri,
        supported: frozenset[TransportName],
        *,
        deterministic: bool = False,
    ) -> list[Target]:
        """Targets for ``uri`` in the order to try them (RFC 3263 §4.3: on failure, the next).

        ``deterministic`` gives the fixed order a stateless proxy needs (RFC 3263 §4.4)
        instead of RFC 2782's weighted random order.

        Raises:
            ResolveTimeoutError: a name server did not answer within ``DnsConfig.timeout``.
            ResolveError: nothing usable (unknown name, no supported transport...).
        """
        name = uri_target(uri)
        try:
            targets = await self._locate(uri, name, supported, deterministic)
        except ResolveError as exc:
            if exc.name in ("", name):
                raise type(exc)(name, exc.reason) from None
            raise type(exc)(name, f"{exc.name}: {exc.reason}") from None
        if not targets:
            raise ResolveError(name, "no address found")
        return targets

    async def aclose(self) -> None:
        """Cancel the queries still in flight (at shutdown)."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _locate(
        self, uri: SipUri, name: str, supported: frozenset[TransportName], det: bool
    ) -> list[Target]:
        secure = uri.scheme == "sips"
        transport = fixed_transport(uri, supported)
        ip = numeric_host(name)
        if ip is not None and transport is not None:
            # RFC 3263 §4.2: a numeric TARGET is used as it is, no query.
            return [Target(transport, ip, uri.port or DEFAULT_PORTS[transport], ip)]
        if uri.port is not None and transport is not None:
            # RFC 3263 §4.2: an explicit port means A/AAAA only, no SRV.
            return await self._host_targets(name, transport, uri.port, det)
        targets: list[Target] | None = None
        if transport is None:
            targets = await self._naptr_targets(name, secure, supported, det)
            if targets is None:
                targets = await self._first_srv(
                    srv_queries(name, secure=secure, supported=supported), det
                )
        else:
            query = srv_query(name, transport)
            targets = await self._first_srv([query] if query else [], det)
        if targets is not None:
            return targets
        # RFC 3263 §4.2: no SRV records → A/AAAA of the name at the default port.
        transport = transport or default_transport(secure, supported)
        return await self._host_targets(name, transport, DEFAULT_PORTS[transport], det)

    async def _naptr_targets(
        self, name: str, secure: bool, supported: frozenset[TransportName], det: bool
    ) -> list[Target] | None:
        answer = await self._lookup(name, _RdType.NAPTR)
        records = [_naptr(rd) for rd in answer.records if isinstance(rd, NAPTR)]
        # RFC 3403 §4.1: the first order group that yields targets; others not considered.
        groups = naptr_groups(records, secure=secure, supported=supported)
        for group in groups[:MAX_NAPTR_GROUPS]:
            targets = await self._first_srv(group, det)
            if targets:
                return targets
        return None

    async def _first_srv(self, queries: Sequence[SrvQuery], det: bool) -> list[Target] | None:
        """Targets of the SRV queries (run concurrently), in query order; None when no
        query found SRV records at all."""
        results = await asyncio.gather(*(self._srv_targets(q, det) for q in queries))
        found = [r for r in results if r is not None]
        if not found:
            return None
        return [target for targets in found for target in targets]

    async def _srv_targets(self, query: SrvQuery, det: bool) -> list[Target] | None:
        answer = await self._lookup(query.name, _RdType.SRV)
        records = [_srv(rd) for rd in answer.records if isinstance(rd, SRV)]
        if not records:
            return None
        ordered = order_srv_deterministic(records) if det else order_srv(records, self._rng)
        ordered = ordered[:MAX_SRV_TARGETS]
        glue = _glue_addresses(answer.glue)
        names = [r.target for r in ordered]
        addresses = await self._addresses_of_targets(names, glue, det)
        return [
            Target(query.transport, host, record.port, record.target.rstrip("."))
            for record, hosts in zip(ordered, addresses, strict=True)
            for host in hosts
        ]

    async def _addresses_of_targets(
        self, names: list[str], glue: dict[str, list[str]], det: bool
    ) -> list[list[str]]:
        # One target that fails to resolve is skipped when another one resolves.
        unique = [n for n in dict.fromkeys(names) if n.lower() not in glue]
        results = await asyncio.gather(
            *(self._addresses(n, det) for n in unique), return_exceptions=True
        )
        resolved = {n: sorted(hosts) if det else hosts for n, hosts in glue.items()}
        errors: list[ResolveError] = []
        for target, result in zip(unique, results, strict=True):
            if isinstance(result, ResolveError):
                errors.append(result)
            elif isinstance(result, BaseException):
                raise result
            else:
                resolved[target.lower()] = result
        out = [resolved.get(n.lower(), []) for n in names]
        if errors and not any(out):
            raise errors[0]
        return out

    async def _host_targets(
        self, name: str, transport: TransportName, port: int, det: bool
    ) -> list[Target]:
        return [Target(transport, host, port, name) for host in await self._addresses(name, det)]

    async def _addresses(self, name: str, det: bool) -> list[str]:
        results = await asyncio.gather(
            self._lookup(name, _RdType.A), self._lookup(name, _RdType.AAAA), return_exceptions=True
        )
        hosts: list[str] = []
        errors: list[ResolveError] = []
        for result in results:
            if isinstance(result, _Answer):
                hosts += [rd.address for rd in result.records if isinstance(rd, A | AAAA)]
            elif isinstance(result, ResolveError):
                errors.append(result)
            else:
                raise result
        # One family failing is tolerated when the other answered: fewer addresses to
        # try, not a different transport.
        if errors and not hosts:
            raise errors[0]
        return sorted(hosts) if det else hosts

    async def _lookup(self, text: str, rdtype: _RdType) -> _Answer:
        """The cached answer, the in-flight query's, or a new query's."""
        try:
            qname = dns.name.from_text(text)
        except dns.exception.DNSException:
            raise ResolveError(text, "not a valid domain name") from None
        key = (qname, rdtype)
        entry = self._cache.get(key)
        if entry is not None:
            if self._clock() < entry.expires:
                return entry.answer
            del self._cache[key]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._query(qname, rdtype))
            self._inflight[key] = task
            task.add_done_callback(partial(self._settle, key))
        # shield: one caller giving up must not cancel the query the others wait for.
        return await asyncio.shield(task)

    def _settle(self, key: _Key, task: asyncio.Task[_Answer]) -> None:
        del self._inflight[key]
        if task.cancelled() or task.exception() is not None:
            return  # failures are not cached: the next resolve asks again
        answer = task.result()
        ttl = min(answer.ttl, self._config.max_ttl)
        if ttl <= 0:
            return
        while len(self._cache) >= self._max_entries:
            del self._cache[next(iter(self._cache))]
        self._cache[key] = _Entry(answer, self._clock() + ttl)

    async def _query(self, qname: dns.name.Name, rdtype: _RdType) -> _Answer:
        text = qname.to_text(omit_final_dot=True)
        try:
            answer = await self._dns.resolve(
                qname,
                rdtype,
                raise_on_no_answer=False,
                search=False,
                lifetime=self._config.timeout,
            )
        except dns.resolver.NXDOMAIN as exc:
            # exc.responses() is untyped; it returns this same mapping of name → Message.
            responses = exc.kwargs.get("responses", {}).values()
            message = next((m for m in responses if isinstance(m, dns.message.Message)), None)
            return _Answer((), (), _negative_ttl(message))
        except dns.exception.Timeout:
            raise ResolveTimeoutError(text, f"no answer to {rdtype.name} query") from None
        except dns.exception.DNSException as exc:
            raise ResolveError(text, f"{rdtype.name} query failed: {exc}") from None
        if answer.rrset is None:
            return _Answer((), (), _negative_ttl(answer.response))
        glue = (
            tuple(
                rrset
                for rrset in answer.response.additional
                if rrset.rdtype in (_RdType.A, _RdType.AAAA)
            )
            if rdtype == _RdType.SRV
            else ()
        )
        ttl = min([answer.chaining_result.minimum_ttl, *(r.ttl for r in glue)])
        return _Answer(tuple(answer.rrset), glue, float(ttl))


def _negative_ttl(response: dns.message.Message | None) -> float:
    # RFC 2308 §5: a negative answer lives min(SOA TTL, SOA MINIMUM).
    for rrset in response.authority if response is not None else ():
        if rrset.rdtype == _RdType.SOA:
            soa = rrset[0]
            if isinstance(soa, SOA):
                return float(min(rrset.ttl, soa.minimum))
    return NEGATIVE_TTL


def _glue_addresses(glue: tuple[dns.rrset.RRset, ...]) -> dict[str, list[str]]:
    # A, then AAAA, as for a queried name; keys lower-cased SRV target texts.
    out: dict[str, list[str]] = {}
    for rdtype in (_RdType.A, _RdType.AAAA):
        for rrset in glue:
            if rrset.rdtype == rdtype:
                hosts = out.setdefault(rrset.name.to_text().lower(), [])
                hosts += [rd.address for rd in rrset if isinstance(rd, A | AAAA)]
    return out


def _srv(rd: SRV) -> SrvRecord:
    return SrvRecord(rd.priority, rd.weight, rd.port, rd.target.to_text())


def _naptr(rd: NAPTR) -> NaptrRecord:
    return NaptrRecord(
        rd.order,
        rd.preference,
        rd.flags.decode("ascii", "replace"),
        rd.service.decode("ascii", "replace"),
        rd.regexp.decode("ascii", "replace"),
        rd.replacement.to_text(),
    )
