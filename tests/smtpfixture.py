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

TLS: :func:`tls_files` makes a throwaway CA and a certificate for 127.0.0.1 it signed (with the
``openssl`` command; skipped without it). :func:`smtp_starttls_server` offers STARTTLS and refuses
everything before it; :func:`smtp_tls_server` speaks TLS from the first byte (port-465 style).
Both require AUTH. Every AUTH command any server sees is recorded in ``auth_commands`` (True if it
came over TLS), and every message records whether it arrived encrypted (``Arrived.tls``).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
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
    tls: bool = False

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
    #: one entry per AUTH command received: whether the session was encrypted at the time
    auth_commands: list[bool] = field(default_factory=list)
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
                    tls=server.pw_encrypted(),
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
        self,
        box: SmtpServer,
        *args: Any,
        plain_auth: bool = False,
        implicit_tls: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if plain_auth or implicit_tls:
            # plain_auth: AUTH without TLS, fine on loopback. implicit_tls: the whole session is
            # TLS, but aiosmtpd only counts a STARTTLS as encryption. Set after construction,
            # because aiosmtpd warns (UserWarning, an error under our pytest settings) when it
            # is asked for directly.
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

    def pw_encrypted(self) -> bool:
        return self.transport is not None and (
            self.transport.get_extra_info("sslcontext") is not None
        )

    async def smtp_AUTH(self, arg: str) -> None:
        with self.box.lock:
            self.box.auth_commands.append(self.pw_encrypted())
        await super().smtp_AUTH(arg)

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


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a server certificate and the CAs a client may be told to trust."""

    #: the CA that signed the server's certificate
    ca: Path
    #: a CA that signed nothing the server presents (trusting only it must fail)
    other_ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


# our own openssl config, so the system's openssl.cnf (or its absence) changes nothing
_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""
_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(openssl: str, cwd: Path, *args: str) -> None:
    done = subprocess.run(
        [openssl, *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {done.stderr.strip()}")


def _make_ca(openssl: str, d: Path, name: str) -> None:
    _openssl(
        openssl, d, "req", "-x509", "-config", "openssl.cnf", "-extensions", "ca", *_EC,
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
        "-subj", f"/CN=policywatch test {name}",
    )  # fmt: skip


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA, a second unrelated CA, and a certificate for 127.0.0.1 signed by the first."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a throwaway test certificate")
    d = tmp_path_factory.mktemp("tls")
    (d / "openssl.cnf").write_text(_OPENSSL_CNF)
    _make_ca(openssl, d, "ca")
    _make_ca(openssl, d, "other-ca")
    _openssl(
        openssl, d, "req", "-new", "-config", "openssl.cnf", *_EC,
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
    )  # fmt: skip
    _openssl(
        openssl, d, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-set_serial", "2", "-days", "2", "-extfile", "openssl.cnf", "-extensions", "server",
        "-out", "server.pem",
    )  # fmt: skip
    return TlsFiles(
        ca=d / "ca.pem", other_ca=d / "other-ca.pem", cert=d / "server.pem", key=d / "server.key"
    )


@pytest.fixture
def smtp_starttls_server(tls_files: TlsFiles) -> Iterator[SmtpServer]:
    """A submission relay (port-587 style): STARTTLS first, then AUTH, then mail."""
    yield from _run(
        tls_context=tls_files.server_context(),
        require_starttls=True,
        auth_required=True,
        authenticator=_authenticator,
    )


@pytest.fixture
def smtp_tls_server(tls_files: TlsFiles) -> Iterator[SmtpServer]:
    """An implicit-TLS relay (port-465 style) requiring AUTH."""
    yield from _run(
        ssl_context=tls_files.server_context(),
        implicit_tls=True,
        auth_required=True,
        authenticator=_authenticator,
    )
