"""A real SMTP server (aiosmtpd) on 127.0.0.1 that misbehaves on demand, for testing the mailer.

Import the fixtures into a test module (``from smtpfixture import smtp_server, smtp_auth_server``).
The server runs in its own thread with its own event loop, records every message it accepts
(envelope, raw bytes, which connection carried it) and counts the connections it sees, so tests
assert on what crossed the wire rather than on a mocked client.

Misbehaviour, set on the :class:`SmtpServer` before sending:

=========================  =====================================================================
``rcpt_replies[addr]``     the reply to ``RCPT TO:<addr>`` (e.g. ``"451 4.3.0 Try later"``,
                           ``"550 5.1.1 User unknown"``)
``data_replies[addr]``     the reply to the DATA of a message for ``addr`` (``"554 5.7.1 Spam"``)
``mail_reply``             the reply to every ``MAIL FROM`` (``"554 5.7.1 Rejected"``: reject
                           everything)
``drop_after``             close the connection when a connection that already carried this
                           many messages starts another: silently, or after ``drop_reply``
                           (``"421 4.7.0 Closing"``)
``max_connections``        greet connections beyond this many open ones with ``421`` and close
``delay``                  seconds between taking each message and saying so (a slow relay: a
                           sender killed then leaves a message the server has but the sender
                           does not know it has: the one in flight)
``USERNAME``/``PASSWORD``  the only login :func:`smtp_auth_server` accepts (AUTH required)
=========================  =====================================================================
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

USERNAME = "sender"
PASSWORD = "correct horse"


@dataclass(frozen=True)
class Arrived:
    """One message as the server accepted it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    connection: int

    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class SmtpServer:
    """The running server, what it observed and how it should misbehave."""

    host: str = "127.0.0.1"
    port: int = 0
    arrived: list[Arrived] = field(default_factory=list)
    connections: int = 0
    mail_commands: int = 0
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_replies: dict[str, str] = field(default_factory=dict)
    mail_reply: str | None = None
    drop_after: int | None = None
    drop_reply: str | None = None
    max_connections: int | None = None
    delay: float = 0.0
    live: int = 0
    peak: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def recipients(self) -> list[str]:
        return [r for a in self.arrived for r in a.rcpt_tos]


class _Handler:
    def __init__(self, box: SmtpServer) -> None:
        self.box = box

    async def handle_MAIL(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        box = self.box
        with box.lock:
            box.mail_commands += 1
        if box.drop_after is not None and server.pw_accepted >= box.drop_after:
            if box.drop_reply is not None:
                await server.push(box.drop_reply)
            server.transport.close()
            return "421 4.4.2 Connection dropped"  # never reaches the client
        if box.mail_reply is not None:
            return box.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.box.rcpt_replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        box = self.box
        for rcpt in envelope.rcpt_tos:
            if rcpt in box.data_replies:
                return box.data_replies[rcpt]
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        with box.lock:
            box.arrived.append(
                Arrived(
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    data=content,
                    connection=server.pw_conn,
                )
            )
            n = len(box.arrived)
        server.pw_accepted += 1
        if box.delay:
            await asyncio.sleep(box.delay)
        return f"250 2.0.0 Ok: queued as Q{n:05d}"


class _SMTP(SMTP):
    """Counts connections and the messages each one carried."""

    _numbers = itertools.count(1)

    def __init__(
        self, box: SmtpServer, *args: Any, plain_auth: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if plain_auth:
            # AUTH without TLS: fine on loopback. Set after construction, because aiosmtpd warns
            # (UserWarning, an error under our pytest settings) when it is asked for directly.
            self._auth_require_tls = False
        self.box = box
        self.pw_conn = 0
        self.pw_accepted = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None:  # not the STARTTLS re-entry
            with self.box.lock:
                self.box.connections += 1
                self.box.live += 1
                self.pw_conn = self.box.connections
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        with self.box.lock:
            self.box.live -= 1
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        box = self.box
        with box.lock:
            refuse = box.max_connections is not None and box.live > box.max_connections
            if not refuse:
                box.peak = max(box.peak, box.live)
        if refuse:
            await self.push("421 4.7.0 Too many connections from your host")
            assert self.transport is not None
            self.transport.close()
            return
        await super()._handle_client()


class _Controller(Controller):
    def __init__(self, box: SmtpServer, **kwargs: Any) -> None:
        super().__init__(_Handler(box), hostname=box.host, port=box.port, **kwargs)
        self.box = box

    def factory(self) -> SMTP:
        return _SMTP(self.box, self.handler, **self.SMTP_kwargs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _authenticator(
    server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login == USERNAME.encode() and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


def _run(**kwargs: Any) -> Iterator[SmtpServer]:
    box = SmtpServer(port=_free_port())
    controller = _Controller(box, **kwargs)
    controller.start()
    # start() opens one connection of its own to check the server is up: not ours to count
    with box.lock:
        box.connections = box.peak = 0
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """An open relay on 127.0.0.1 accepting everything (until told otherwise)."""
    yield from _run()


@pytest.fixture
def smtp_auth_server() -> Iterator[SmtpServer]:
    """A relay that requires AUTH (PLAIN/LOGIN, over plain TCP: it is loopback only)."""
    yield from _run(auth_required=True, plain_auth=True, authenticator=_authenticator)
