"""The caller's side of the proxy core: a new request's server transaction (RFC 3261
§16.2-16.4), the ACK it may absorb (§17.2.1), and every response sent back through it.

Rules of this file: a response to the caller goes out only through ``ServerSide.send``,
which keeps RFC 4320's rule (no 408 to a non-INVITE); the machine's actions are turned
into events only in ``ServerSide.actions``, which re-arms the request's timer.
"""

from __future__ import annotations

from sipguard.proxy.context import ResponseContext
from sipguard.proxy.errors import ProxyError
from sipguard.proxy.events import CoreEvent, Hop, RouteRequest, Send
from sipguard.proxy.replies import local_reply
from sipguard.proxy.route import preprocess_routes
from sipguard.proxy.state import ServerRecord, Settings, Tables, call_machine
from sipguard.proxy.stateless import route_ack
from sipguard.proxy.validate import validate_request
from sipguard.sip import (
    DeliverRequest,
    Request,
    Response,
    SipParseError,
    TransactionKey,
    Transmit,
    new_server_transaction,
)
from sipguard.sip.events import Action, Terminated

__all__ = ["ServerSide"]


class ServerSide:
    """Server transactions: opened for new requests, fed, answered, dropped."""

    def __init__(self, settings: Settings, tables: Tables) -> None:
        self._settings = settings
        self._tables = tables

    def new(
        self, request: Request, key: TransactionKey, source: Hop, now: float
    ) -> list[CoreEvent]:
        """A new request: its transaction, then a ``RouteRequest`` or our refusal."""
        txn = new_server_transaction(request, source.reliable, self._settings.timers, now)
        ident = self._tables.next_ident()
        server = ServerRecord(ident, key, txn, source, request, ResponseContext(request))
        self._tables.add_server(server)
        # RFC 4320 §4.1: a non-INVITE server transaction owes a 100 (Trying) at 3.5 s
        # if nothing answered by then: its timer runs from the start.
        self._tables.deadlines.arm(server)
        out: list[CoreEvent] = []
        if request.method == "INVITE":
            # §16.2: a stateful proxy answers an INVITE with 100 (Trying) at once, which
            # stops the caller's retransmissions (§17.1.1.2).
            out += self.send(server, local_reply(request, 100), now)
        try:
            validate_request(request, identity=self._settings.identity)
            routed = preprocess_routes(request, self._settings.identity)
        except (ProxyError, SipParseError) as exc:
            server.routed = True
            headers = exc.headers if isinstance(exc, ProxyError) else ()
            reply = local_reply(request, exc.status, exc.reason, headers=headers)
            return out + self.send(server, reply, now)
        server.request = routed
        server.context.request = routed
        return [*out, RouteRequest(server.ident, routed, source, routed is not request)]

    def receive(self, server: ServerRecord, request: Request, now: float) -> list[CoreEvent]:
        """A retransmission, or the ACK for our non-2xx final: the machine answers it."""
        return self.actions(server, call_machine(server.txn.receive_request, request, now))

    def receive_ack(
        self, request: Request, key: TransactionKey, source: Hop, now: float
    ) -> list[CoreEvent]:
        """An ACK: absorbed by the INVITE transaction it ends, else routed statelessly."""
        server = self._tables.servers.get(key)
        if server is not None:
            # An ACK for our non-2xx final: the INVITE server transaction absorbs it
            # (§17.2.1); it never goes further (§16.7 non-2xx are hop by hop).
            return self.receive(server, request, now)
        return route_ack(self._settings, request, source)

    def reply(self, server: ServerRecord, response: Response, now: float) -> list[CoreEvent]:
        """Our own answer to ``server``'s request (no branch was tried)."""
        server.context.final_sent = response.status >= 200
        return self.send(server, response, now)

    def send(self, server: ServerRecord, response: Response, now: float) -> list[CoreEvent]:
        """``response`` back to the caller through the server transaction."""
        if response.status == 408 and server.request.method != "INVITE":
            # RFC 4320 §4.2: never a 408 to a non-INVITE (the client gave up already);
            # the request stays unanswered and its transaction is dropped, not leaked.
            self._tables.drop_server(server)
            return []
        return self.actions(server, call_machine(server.txn.send_response, response, now))

    def actions(self, server: ServerRecord, actions: list[Action]) -> list[CoreEvent]:
        """What the server transaction asked for, as events; its timer re-armed."""
        out: list[CoreEvent] = []
        for action in actions:
            if isinstance(action, Transmit):
                out.append(Send(server.hop, action.message))
            elif isinstance(action, DeliverRequest) and action.request.method == "ACK":
                # RFC 6026 §8.7: an ACK reaching an Accepted INVITE transaction goes on,
                # checked and route-preprocessed like any ACK for a 2xx (§16.3, §16.4).
                out += route_ack(self._settings, action.request, server.hop)
            elif isinstance(action, Terminated):
                self._tables.drop_server(server)
        if server.key in self._tables.servers:
            self._tables.deadlines.arm(server)
        return out
