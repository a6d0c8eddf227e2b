"""Properties of the registrar over random REGISTER sequences (hypothesis).

Invariants, checked after every step: an AOR never holds more than max_contacts live
bindings; a non-200 answer changes nothing; a 200 lists exactly the live bindings; after
``expire(now)`` nothing expired is left; and a store fed the same changes holds what the
index holds.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from sipguard.proxy import Location, RegisterOutcome
from sipguard.sip import Request, parse_uri
from sipguard.store import Binding, MemoryLocationStore
from tests.proxy.registers import CONFIG, NOW, contact_values, request, run

AOR = "sip:alice@example.com"
POOL = [f"<sip:alice@198.51.100.{i}:5060>" for i in range(6)]
CALL_IDS = ["one@198.51.100.1", "two@198.51.100.2"]
EXPIRES = st.sampled_from([None, 0, 30, 60, 600, 5000])


@dataclass(frozen=True)
class Register:
    contacts: tuple[tuple[int, int | None], ...]  # (pool index, expires param)
    expires: int | None
    call_id: int
    cseq_step: int


@dataclass(frozen=True)
class Wildcard:
    call_id: int
    cseq_step: int


@dataclass(frozen=True)
class Wait:
    seconds: float


@dataclass(frozen=True)
class Expire:
    pass


STEPS = st.one_of(
    st.builds(
        Register,
        st.lists(st.tuples(st.integers(0, len(POOL) - 1), EXPIRES), min_size=0, max_size=4).map(
            tuple
        ),
        EXPIRES,
        st.integers(0, 1),
        st.integers(-1, 2),
    ),
    st.builds(Wildcard, st.integers(0, 1), st.integers(-1, 2)),
    st.builds(Wait, st.floats(0, 700, allow_nan=False)),
    st.just(Expire()),
)


def everything(location: Location) -> tuple[Binding, ...]:
    return location.bindings(AOR, -math.inf)


def _contact(index: int, expires: int | None) -> str:
    return POOL[index] if expires is None else f"{POOL[index]};expires={expires}"


@settings(max_examples=100, deadline=None)
@given(st.lists(STEPS, max_size=25))
def test_random_register_sequences_keep_the_invariants(steps: list[object]) -> None:
    async def main() -> None:
        async with asyncio.timeout(30):
            store = MemoryLocationStore()
            try:
                await _drive(steps, store)
            finally:
                await store.close()

    asyncio.run(main())


async def _drive(steps: list[object], store: MemoryLocationStore) -> None:
    location = Location()
    now = NOW
    cseqs = [100, 100]
    for step in steps:
        match step:
            case Wait(seconds):
                now += seconds
                continue
            case Expire():
                await store.apply(location.expire(now))
                assert all(b.expires_at > now for b in everything(location))
                assert location.count() == len(everything(location))
            case Register() | Wildcard():
                cseqs[step.call_id] += step.cseq_step
                before = everything(location)
                outcome = run(location, _request(step, cseqs[step.call_id]), now=now)
                await store.apply(outcome.changes)
                _check_outcome(outcome, before, location, now)
        live = location.bindings(AOR, now)
        assert len(live) <= CONFIG.max_contacts
        assert set(await store.load(now)) == set(live)


def _request(step: Register | Wildcard, cseq: int) -> Request:
    if isinstance(step, Wildcard):
        return request("*", call_id=CALL_IDS[step.call_id], cseq=cseq, expires=0)
    values = [_contact(*c) for c in step.contacts]
    return request(*values, call_id=CALL_IDS[step.call_id], cseq=cseq, expires=step.expires)


def _check_outcome(
    outcome: RegisterOutcome, before: tuple[Binding, ...], location: Location, now: float
) -> None:
    if outcome.response.status != 200:
        assert outcome.changes == ()
        assert everything(location) == before
        return
    listed = [parse_uri(v.split(">")[0][1:]) for v in contact_values(outcome.response)]
    assert sorted(map(str, listed)) == sorted(b.contact for b in location.bindings(AOR, now))
