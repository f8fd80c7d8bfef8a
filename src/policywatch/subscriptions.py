"""Subscribe, confirm, unsubscribe, object: what the web forms and the links in emails do.

No HTTP here: the web handlers parse a request, call one of these functions in a worker thread
(they block on the database) and render what comes back. Every link carries a signed token
(:mod:`policywatch.tokens`) naming a subscriber or an outbox row, never an address:

============  ===================  =================================================
purpose       subject              lifetime
============  ===================  =================================================
confirm       subscriber id        7 days (:data:`CONFIRM_TTL`)
unsubscribe   subscriber id        forever: an old email's link must keep working
opt-out       outbox row id        forever: the row names the change and the reader
============  ===================  =================================================

Address enumeration. :func:`subscribe_request` answers the same way for an address it has
never seen, a pending, confirmed or unsubscribed one, and a suppressed or forgotten one (which
is never written to): the form's answer says nothing about who subscribes. What it does differ
on is the shape of the input (a malformed address, an unknown policy), which reveals nothing
about anyone. The per-address rate limit is silent for the same reason (the answer is the same,
the email is simply not sent again); the per-client limit is not (:class:`TooManyRequests`),
since it says nothing about an address.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from .errors import InputError, TokenError

if TYPE_CHECKING:
    from .mail import Mailer, OutgoingMessage
    from .models import Diff
    from .store import ChangeRecord, OptOut, Subscriber
    from .store.records import Channel, Scope
    from .tracker import Tracker

__all__ = [
    "CONFIRM_TTL",
    "LIMITS",
    "ConfirmationSender",
    "Limits",
    "NewUse",
    "OptoutDetails",
    "TooManyRequests",
    "client_key",
    "confirm",
    "optout_details",
    "optout_dict",
    "record_optout",
    "subscribe_request",
    "subscriber_for",
    "unsubscribe",
]

log = logging.getLogger(__name__)

CONFIRM_TTL = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Limits:
    """How many subscription requests the form takes: per address, and per client (an IP
    address, or an IPv6 /64, which is what one host or household is handed)."""

    per_address: int = 3
    address_window: timedelta = timedelta(hours=24)
    per_client: int = 10
    client_window: timedelta = timedelta(hours=1)


LIMITS = Limits()


class TooManyRequests(InputError):
    """One client asked for too many subscriptions; ``retry_after`` is in seconds (HTTP 429)."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


# -- subscribing -------------------------------------------------------------------------------


def client_key(client: str | None) -> str:
    """A rate-limit key for a client address: hashed (the table holds no IP addresses) and
    widened to the /64 for IPv6, where one host can pick a new address per request."""
    text = (client or "unknown").strip()
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
            text = str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
        elif isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            text = str(ip.ipv4_mapped)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _policies(tracker: Tracker, policies: Sequence[str]) -> tuple[str, ...]:
    known = [p.id for p in tracker.config.policies]
    wanted = tuple(dict.fromkeys(p.strip() for p in policies if p.strip()))
    unknown = [p for p in wanted if p not in known]
    if unknown:
        raise InputError(
            f"unknown policy {', '.join(map(repr, unknown))} (expected some of: {', '.join(known)})"
        )
    return wanted


def subscribe_request(
    tracker: Tracker,
    email: str,
    policies: Sequence[str] = (),
    scope: str = "all",
    categories: Sequence[str] | None = None,
    *,
    client: str | None,
    limits: Limits = LIMITS,
) -> OutgoingMessage | None:
    """Record a web subscription request and return the confirmation email to send.

    The request waits as *pending* until the owner of the address presses the button the
    email links to. None means nothing is to be sent, for a reason the requester must not learn
    (the address is suppressed or forgotten, or was asked for too often). Raises
    :class:`InputError` for malformed input and :class:`TooManyRequests` when ``client`` (the
    requester's IP address) has asked too often. ``policies`` empty means every policy.
    """
    from .addresses import valid_email
    from .mail import OutgoingMessage, build_confirmation
    from .store import email_hash
    from .store.records import SCOPES, check_categories

    if not email.strip():
        raise InputError("an email address is required")
    address = valid_email(email)
    wanted = _policies(tracker, policies)
    if scope not in SCOPES:
        raise InputError(f"scope must be 'all' or 'material', got {scope!r}")
    cats = check_categories(list(categories)) if categories else None
    store = tracker.store
    if not store.hit(
        f"subscribe:client:{client_key(client)}", limits.client_window, limits.per_client
    ):
        raise TooManyRequests(
            "too many subscription requests from your network; try again later",
            retry_after=int(limits.client_window.total_seconds()),
        )
    if not store.hit(
        f"subscribe:address:{email_hash(address)}", limits.address_window, limits.per_address
    ):
        log.info("subscription request not mailed: the address was asked for too often")
        return None
    subscriber = store.subscribe(
        address, wanted, cast("Scope", scope), cats, confirmed=False, source="web"
    )
    if subscriber.status in ("suppressed", "forgotten") or subscriber.email is None:
        return None
    address = subscriber.email  # the stored form, as every later email is addressed
    config = tracker.config
    token = tracker.signer.sign("confirm", subscriber.id, expires=datetime.now(UTC) + CONFIRM_TTL)
    titles = [p.title for p in config.policies if not wanted or p.id in wanted]
    data = build_confirmation(
        config.site,
        address,
        f"{config.site.base_url.rstrip('/')}/confirm/{token}",
        titles,
        sender=config.mail.sender,
        scope=scope,
        dkim=tracker.dkim,
    )
    return OutgoingMessage(key=f"confirm:{subscriber.id}", recipient=address, data=data)


def subscriber_for(tracker: Tracker, token: str, purpose: str) -> Subscriber:
    """The subscriber a ``confirm`` or ``unsubscribe`` token names (for the pages' GET).

    :class:`TokenError` for a forged or expired token, and for a subscriber who no longer
    exists (an unconfirmed request purged, an address removed).
    """
    if purpose not in ("confirm", "unsubscribe"):
        raise ValueError(f"not a subscriber token purpose: {purpose!r}")
    subscriber_id = tracker.signer.verify(token, purpose)
    found = tracker.store.subscriber(subscriber_id)
    if found is None:
        raise TokenError(f"{purpose} token names no subscriber")
    return found


def confirm(tracker: Tracker, token: str) -> Subscriber:
    """Double opt-in: the pending request takes effect (POST only: scanners follow links).

    Confirming twice, or after unsubscribing with nothing pending, changes nothing and returns
    the subscriber as they are.
    """
    subscriber_id = tracker.signer.verify(token, "confirm")
    found = tracker.store.confirm(subscriber_id)
    if found is None:
        raise TokenError("confirm token names no subscriber")
    return found


def unsubscribe(tracker: Tracker, token: str) -> Subscriber:
    """Stop all mail to the subscriber now, queued messages included. Idempotent."""
    subscriber_id = tracker.signer.verify(token, "unsubscribe")
    found = tracker.store.unsubscribe(subscriber_id)
    if found is None:
        raise TokenError("unsubscribe token names no subscriber")
    return found


# -- objecting -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewUse:
    """One material clause of a change, as the opt-out page states it."""

    kind: str
    text: str
    before: str | None
    section: tuple[str, ...]
    categories: tuple[str, ...]
    #: the classifier's reasons in plain words ("shares data with someone new: ...")
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OptoutDetails:
    """What an opt-out link objects to: one change, for one subscriber."""

    change: ChangeRecord
    title: str
    item_id: int
    subscriber_id: int
    #: what an objection covers: the categories the change touched
    categories: tuple[str, ...]
    uses: tuple[NewUse, ...]


DiffFn = Callable[[str, str, str], "Diff"]


def _item(tracker: Tracker, token: str) -> tuple[int, int, ChangeRecord]:
    item_id = tracker.signer.verify(token, "opt-out")
    store = tracker.store
    item = store.outbox_item(item_id)
    change = store.change(item.change_id) if item is not None else None
    if item is None or change is None:
        raise TokenError("opt-out token names no email")
    return item_id, item.subscriber_id, change


def optout_details(tracker: Tracker, token: str, *, diff: DiffFn | None = None) -> OptoutDetails:
    """The change an opt-out link is about, with its material clauses in plain words.

    ``diff(policy, from, to)`` defaults to :meth:`Tracker.diff`; the web app passes its cached
    one, since the diff of a long policy is the expensive part.
    """
    from .mail import plain_reason

    item_id, subscriber_id, change = _item(tracker, token)
    uses: list[NewUse] = []
    if change.previous_revision is not None:
        compared = (diff or tracker.diff)(change.policy, change.previous_revision, change.revision)
        for c in compared.changes:
            if not c.material:
                continue
            clause = c.new if c.new is not None else c.old
            uses.append(
                NewUse(
                    kind=c.kind,
                    text=clause.text if clause is not None else "",
                    before=c.old.text if c.old is not None and c.new is not None else None,
                    section=clause.section if clause is not None else (),
                    categories=c.categories,
                    reasons=tuple(plain_reason(r) for r in c.reasons),
                )
            )
    policy = tracker.config.policy(change.policy)
    return OptoutDetails(
        change=change,
        title=policy.title if policy is not None else change.policy,
        item_id=item_id,
        subscriber_id=subscriber_id,
        categories=change.categories,
        uses=tuple(uses),
    )


def record_optout(tracker: Tracker, token: str, channel: Channel = "email-link") -> OptOut:
    """Append the reader's objection to the ledger: who, which change and revision, which
    categories (the change's), when, through which channel.

    Idempotent: the ledger keeps one entry per (address, change, categories), so a double
    click, or a second visit, returns the first entry. Works after unsubscribing too: an
    objection is not a subscription, and it survives one ending.
    """
    _, subscriber_id, change = _item(tracker, token)
    return tracker.store.record_optout(subscriber_id, change.id, None, channel)


def optout_dict(o: OptOut) -> dict[str, Any]:
    """One ledger entry as JSON (``policywatch optouts``, ``/api/optouts``, the webhook)."""
    return {
        "id": o.id,
        "created_at": o.created_at.isoformat(),
        "policy": o.policy,
        "revision": o.revision,
        "change_id": o.change_id,
        "categories": list(o.categories),
        "channel": o.channel,
        "email": o.email,
        "email_hash": o.email_hash,
    }


# -- sending confirmations -------------------------------------------------------------------------


class ConfirmationSender:
    """Sends confirmation emails off the request path, so the form's answer never waits for
    (nor reveals anything through) the mail server.

    A temporary failure is retried after each of ``retries`` seconds; after that, or after a
    permanent one, the request is dropped and logged (without the address): the requester
    sees no email and asks again. Nothing is kept across restarts, on purpose: a confirmation
    is worth sending only while someone waits for it.
    """

    def __init__(
        self, mailer: Mailer, *, retries: Sequence[float] = (5.0, 30.0, 120.0), size: int = 1000
    ) -> None:
        self.mailer = mailer
        self.retries = tuple(retries)
        self._queue: asyncio.Queue[tuple[OutgoingMessage, int]] = asyncio.Queue(size)
        self._task: asyncio.Task[None] | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        #: outcomes so far, for the log and the tests
        self.sent = 0
        self.dropped = 0

    def start(self) -> None:
        """Start the worker on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._work())

    def submit(self, message: OutgoingMessage) -> None:
        """Queue a confirmation (never blocks; a full queue drops it, logged)."""
        self._put(message, 0)

    def _put(self, message: OutgoingMessage, attempt: int) -> None:
        try:
            self._queue.put_nowait((message, attempt))
        except asyncio.QueueFull:
            log.warning("confirmation %s dropped: the queue is full", message.key)
            self.dropped += 1
            return
        self._busy += 1
        self._idle.clear()

    async def join(self) -> None:
        """Wait until every submitted confirmation was sent or given up (retries included)."""
        await self._idle.wait()

    async def _work(self) -> None:
        while True:
            message, attempt = await self._queue.get()
            try:
                await self._send(message, attempt)
            finally:
                self._queue.task_done()
                self._done()

    def _done(self) -> None:
        self._busy -= 1
        if self._busy == 0:
            self._idle.set()

    async def _send(self, message: OutgoingMessage, attempt: int) -> None:
        try:
            (result,) = await self.mailer.send([message])
        except Exception:  # a bug in the mailer must not stop every later confirmation
            log.exception("confirmation %s: the mailer failed", message.key)
            self.dropped += 1
            return
        if result.ok:
            self.sent += 1
            log.info("confirmation %s sent", message.key)
            return
        if result.status in ("temporary", "fatal") and attempt < len(self.retries):
            # "fatal" is the relay being down or refusing us: worth the same later try
            delay = self.retries[attempt]
            log.warning(
                "confirmation %s: %s (%s %s); retrying in %gs",
                message.key,
                result.status,
                result.code or "",
                result.reply,
                delay,
            )
            self._busy += 1
            loop = asyncio.get_running_loop()

            def again() -> None:
                self._timers.discard(handle)
                self._busy -= 1
                self._put(message, attempt + 1)
                if self._busy == 0:
                    self._idle.set()

            handle = loop.call_later(delay, again)
            self._timers.add(handle)
            return
        self.dropped += 1
        log.warning(
            "confirmation %s not sent: %s %s %s",
            message.key,
            result.status,
            result.code or "",
            result.reply,
        )

    async def close(self, *, grace: float = 5.0) -> None:
        """Give queued confirmations ``grace`` seconds, then stop and close the mailer (retries
        still waiting are dropped)."""
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), grace)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        await self.mailer.close()
