"""Sending finished messages over SMTP: a small pool of reused connections and a global rate.

What a caller (the outbox) needs from a send is a decision per message, so every SMTP outcome
becomes one of four statuses:

=============  ===========================================================================
``ok``         accepted by the server (its reply, often a queue id, is kept)
``temporary``  try again later: a 4xx reply, a dropped connection, a timeout
``permanent``  this message to this address will never be accepted: a 5xx to RCPT ("550 user
               unknown"; :attr:`SendResult.suppress` is set) or to DATA (content refused;
               ``suppress`` is not set: the address may be fine)
``fatal``      the sender itself is broken: refused connection, failed login, a 5xx to MAIL
               FROM, relaying denied. The run stops; the messages not yet tried are reported
               ``fatal`` too, and nobody is suppressed, because the addresses are not at fault
=============  ===========================================================================

A dropped connection or a ``421`` (the server closing) is retried once on a fresh connection.
That retry may repeat a message the server had in fact accepted just before dropping; it carries
the same Message-ID, which is the most an SMTP client can promise.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import aiosmtplib

from ..errors import ConfigError, DeliveryError, InputError
from ..tls import verifying_context
from .message import envelope_address

if TYPE_CHECKING:
    from ..config import MailConfig

__all__ = [
    "Mailer",
    "OutgoingMessage",
    "RateLimiter",
    "SendResult",
    "SendStatus",
    "SmtpMailer",
]

SendStatus = Literal["ok", "temporary", "permanent", "fatal"]
Stage = Literal["connect", "mail", "rcpt", "data", "connection"]

# a recipient refusal that is really about us: the relay wants a login or will not relay
_NOT_THE_ADDRESS = re.compile(
    r"relay(?:ing)?\s+(?:access\s+)?(?:denied|not\s+(?:permitted|allowed)|prohibited)"
    r"|authentication\s+required|must\s+authenticate",
    re.IGNORECASE,
)
_AUTH_CODES = frozenset({530, 534, 535, 538})


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One finished message for one recipient.

    ``key`` is the caller's handle (the outbox row) and comes back in the result. ``sender`` is
    the envelope sender (MAIL FROM, where bounces go); None uses the configured sender's address.
    """

    key: str | int
    recipient: str
    data: bytes
    sender: str | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """What became of one message; ``code`` and ``reply`` are the server's words, if any."""

    key: str | int
    recipient: str
    status: SendStatus
    code: int | None = None
    reply: str = ""
    stage: Stage | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def suppress(self) -> bool:
        """The server refused the address itself: stop mailing it (a 5xx to RCPT)."""
        return self.status == "permanent" and self.stage == "rcpt"

    @property
    def error(self) -> DeliveryError | None:
        if self.status == "ok":
            return None
        code = f"{self.code} " if self.code is not None else ""
        where = self.stage or "send"
        return DeliveryError(
            f"{self.recipient}: {self.status} failure at {where}: {code}{self.reply}",
            permanent=self.status == "permanent",
            fatal=self.status == "fatal",
        )


class Mailer(Protocol):
    """Sends finished messages. Results come back in the order of ``messages``, one each."""

    async def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]: ...

    async def close(self) -> None: ...


class RateLimiter:
    """A token bucket of ``burst`` tokens refilled at ``rate`` per second, shared by all
    connections (written as its equivalent, a virtual schedule of send slots).

    Relays throttle per sending host, not per connection: four connections at the configured
    rate each would be four times too fast. Slots are taken without awaiting, so concurrent
    callers on one event loop need no lock.
    """

    def __init__(self, rate: float, burst: int = 1) -> None:
        if rate <= 0:
            raise InputError(f"rate must be positive, got {rate}")
        self._interval = 1.0 / rate
        self._slack = max(0, burst - 1) * self._interval
        self._next = 0.0

    async def acquire(self) -> None:
        now = time.monotonic()
        slot = max(self._next, now - self._slack)
        self._next = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)


class _Retire(Exception):
    """A connection could not be (re)opened while others are working: leave it to them."""


class _Connection:
    """One SMTP session, opened on first use and kept for the following messages."""

    def __init__(self, mailer: SmtpMailer) -> None:
        self._mailer = mailer
        self._smtp: aiosmtplib.SMTP | None = None

    @property
    def live(self) -> bool:
        return self._smtp is not None and self._smtp.is_connected

    def drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
        self._smtp = None

    async def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None and smtp.is_connected:
            try:
                await smtp.quit(timeout=5)
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()

    async def _open(self, msg: OutgoingMessage) -> SendResult | None:
        """Connect and log in; a failure result, or None when connected."""
        m = self._mailer
        cfg = m.config
        smtp = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            username=cfg.username,
            password=cfg.password,
            timeout=m.timeout,
            use_tls=cfg.security == "tls",
            # True, not None: None would fall back to a clear session (and a clear login) when
            # the server does not offer STARTTLS; True makes that a failed connect instead
            start_tls=cfg.security == "starttls",
            tls_context=m.tls_context,
            local_hostname=m.local_hostname,
        )
        code: int | None = None
        auth = False
        try:
            await smtp.connect()
            if smtp.is_ehlo_or_helo_needed:
                await smtp.ehlo()
        except aiosmtplib.SMTPResponseException as exc:
            code, reply = exc.code, exc.message
            auth = isinstance(exc, aiosmtplib.SMTPAuthenticationError)
        except (aiosmtplib.SMTPException, OSError) as exc:
            reply = _untrusted(exc, cfg) or str(exc) or type(exc).__name__
        else:
            self._smtp = smtp
            m.connections_opened += 1
            return None
        smtp.close()
        if auth or code in _AUTH_CODES:
            return _result(msg, "fatal", code, f"login failed: {reply}", "connect")
        if m.live_connections() > 0:
            # e.g. "421 too many connections from your host": the others carry on
            raise _Retire(reply)
        return _result(msg, "fatal", code, reply, "connect")

    async def deliver(self, msg: OutgoingMessage) -> SendResult:
        try:
            sender = envelope_address(msg.sender) if msg.sender else self._mailer.envelope_from
        except InputError as exc:
            return _result(msg, "fatal", None, str(exc), "mail")
        try:
            recipient = envelope_address(msg.recipient)
        except InputError as exc:
            return _result(msg, "permanent", None, str(exc), "rcpt")
        for retry in (True, False):
            if not self.live:
                failed = await self._open(msg)
                if failed is not None:
                    return failed
            assert self._smtp is not None
            try:
                result = await self._transaction(self._smtp, sender, recipient, msg)
            except (aiosmtplib.SMTPException, OSError) as exc:
                # dropped connection or timeout: the session is unusable either way
                self.drop()
                if retry:
                    continue
                return _result(msg, "temporary", None, str(exc) or type(exc).__name__, "connection")
            if result.code == 421 and retry:
                # the server is closing this session ("too many messages", shutting down)
                self.drop()
                continue
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def _transaction(
        self, smtp: aiosmtplib.SMTP, sender: str, recipient: str, msg: OutgoingMessage
    ) -> SendResult:
        """MAIL, RCPT, DATA for one message, the stage of any refusal known exactly.

        Driven command by command rather than through ``sendmail``, which parses both addresses
        twice with :func:`email.utils.parseaddr` and normalises the whole message twice per copy:
        that was a third of the client's time. Here the addresses are checked once
        (:func:`envelope_address`) and ``data`` normalises once.
        """
        reply = await smtp.execute_command(b"MAIL", b"FROM:<" + sender.encode("ascii") + b">")
        if reply.code != 250:
            await self._reset(smtp)
            status: SendStatus = "temporary" if reply.code < 500 else "fatal"
            return _result(msg, status, reply.code, reply.message, "mail")
        reply = await smtp.execute_command(b"RCPT", b"TO:<" + recipient.encode("ascii") + b">")
        if reply.code not in (250, 251):
            await self._reset(smtp)
            return _rcpt_result(msg, reply.code, reply.message)
        try:
            reply = await smtp.data(msg.data)
        except aiosmtplib.SMTPDataError as exc:
            await self._reset(smtp)
            if exc.code in _AUTH_CODES:
                return _result(msg, "fatal", exc.code, exc.message, "data")
            status = "temporary" if exc.code < 500 else "permanent"
            return _result(msg, status, exc.code, exc.message, "data")
        return _result(msg, "ok", reply.code, reply.message, "data")

    @staticmethod
    async def _reset(smtp: aiosmtplib.SMTP) -> None:
        """RSET after a refusal, so the next MAIL starts a clean envelope."""
        if not smtp.is_connected:
            return
        try:
            await smtp.rset()
        except (aiosmtplib.SMTPException, OSError):
            smtp.close()


def _untrusted(exc: BaseException, cfg: MailConfig) -> str | None:
    """Say which relay and which trust store, when the failure is the relay's certificate.

    aiosmtplib wraps it (implicit TLS) or lets the bare ``ssl`` error through (STARTTLS), whose
    text names neither the host nor what it was checked against: the two things to fix.
    """
    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, ssl.SSLCertVerificationError):
        seen = seen.__cause__ or seen.__context__
    if seen is None:
        return None
    trusted = f"ca_file {cfg.ca_file}" if cfg.ca_file is not None else "the system trust store"
    why = seen.verify_message or str(seen)
    return (
        f"TLS certificate of {cfg.host}:{cfg.port} not trusted: {why} (checked against {trusted})"
    )


def _result(
    msg: OutgoingMessage, status: SendStatus, code: int | None, reply: str, stage: Stage
) -> SendResult:
    return SendResult(msg.key, msg.recipient, status, code, reply.strip(), stage)


def _rcpt_result(msg: OutgoingMessage, code: int, reply: str) -> SendResult:
    if code < 500:
        return _result(msg, "temporary", code, reply, "rcpt")
    if code in _AUTH_CODES or _NOT_THE_ADDRESS.search(reply):
        # every address would get this answer: suppressing them all would be a disaster
        return _result(msg, "fatal", code, reply, "rcpt")
    return _result(msg, "permanent", code, reply, "rcpt")


class SmtpMailer:
    """Sends through one SMTP relay with up to ``config.connections`` reused connections.

    Connections open on first use and stay open across :meth:`send` calls (a dropped one is
    reopened); :meth:`close` ends them with QUIT. One :meth:`send` runs at a time. The rate
    limit (``config.rate`` messages/s) is shared by all connections and all calls.
    """

    def __init__(
        self,
        config: MailConfig,
        *,
        timeout: float = 30.0,
        local_hostname: str | None = None,
        burst: int = 1,
    ) -> None:
        self.config = config
        self.timeout = timeout
        self.local_hostname = local_hostname
        try:
            self.envelope_from = envelope_address(config.sender)
        except InputError as exc:
            raise ConfigError(
                f"got {config.sender!r}", key="mail.sender", expected="Name <user@domain>"
            ) from exc
        if config.security not in ("none", "starttls", "tls"):
            raise ConfigError(
                f"got {config.security!r}",
                key="mail.security",
                expected='"none", "starttls", "tls"',
            )
        #: built once, not per connection; verification is always on (hostname included)
        self.tls_context: ssl.SSLContext | None = None
        if config.security != "none":
            self.tls_context = verifying_context(
                config.ca_file, key="mail.ca_file", system_store=False
            )
        self._limiter = RateLimiter(config.rate, burst)
        self._conns = [_Connection(self) for _ in range(max(1, config.connections))]
        self._lock = asyncio.Lock()
        #: connections opened so far (a reconnect counts again)
        self.connections_opened = 0

    def live_connections(self) -> int:
        return sum(1 for c in self._conns if c.live)

    async def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        async with self._lock:
            return await self._send(messages)

    async def _send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        results: list[SendResult | None] = [None] * len(messages)
        pending = deque(range(len(messages)))
        fatal: list[SendResult] = []
        # the first connection opens alone: a relay that caps connections per host must not
        # make the others' refusals look like a broken sender before one has succeeded
        opened = asyncio.Event()

        async def work(conn: _Connection, first: bool) -> None:
            if not first:
                await opened.wait()
            try:
                while pending and not fatal:
                    i = pending.popleft()
                    await self._limiter.acquire()
                    if fatal:
                        pending.appendleft(i)
                        return
                    try:
                        result = await conn.deliver(messages[i])
                    except _Retire:
                        pending.appendleft(i)
                        return
                    results[i] = result
                    if result.status == "fatal":
                        fatal.append(result)
                    opened.set()
            finally:
                opened.set()

        count = min(len(self._conns), len(messages))
        await asyncio.gather(*(work(c, n == 0) for n, c in enumerate(self._conns[:count])))
        cause = fatal[0] if fatal else None
        out: list[SendResult] = []
        for msg, result in zip(messages, results, strict=True):
            if result is None:
                reason = cause.reply if cause is not None else "no connection could be opened"
                result = _result(msg, "fatal", None, f"not attempted: {reason}", "connect")
            out.append(result)
        return out

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._conns))

    async def __aenter__(self) -> SmtpMailer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
