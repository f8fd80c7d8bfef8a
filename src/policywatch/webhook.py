"""The opt-out webhook: POST each new objection to the site's own systems, signed, until taken.

::

    [optouts]
    webhook = "https://crm.example.com/hooks/policywatch"

Each entry of the ledger is POSTed once, in ledger order, as
``{"schema": "policywatch.optout/1", "optout": {...}}`` (the fields of ``policywatch optouts
--format json``) with these headers:

- ``X-Policywatch-Signature: sha256=<hex>``: HMAC-SHA256 of the exact body bytes, keyed with
  the webhook secret (``policywatch optouts --webhook-secret`` prints it). The secret is derived
  from the site's signing secret rather than being it: whoever receives the webhook must not
  be able to forge unsubscribe or opt-out links.
- ``X-Policywatch-Delivery: <ledger id>``: delivery is at least once (a crash after the POST
  and before the cursor moved repeats it), so the receiver deduplicates on this id.

A 2xx answer is success; anything else (a redirect included) is a failure. How far delivery has
got is a cursor in the database, shared by every process, so an entry recorded while the
receiver was down is delivered when it comes back, and a new webhook first catches up with
the whole ledger: the site's systems must honour every objection, not only the newest. One
process delivers at a time (a database lock), in the sender's cycle; a failure is retried a few
times at once, then on later cycles with a growing back-off, and logged each time. The reader's
request never waits for any of this.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiohttp

    from .store import OptOut
    from .tracker import Tracker

__all__ = ["CURSOR", "OptoutWebhook", "WebhookReport", "sign_body", "webhook_secret"]

log = logging.getLogger(__name__)

#: the cursor and the lock every process shares
CURSOR = "optouts-webhook"
LOCK_TTL = timedelta(minutes=5)
#: back-off between failed cycles: doubles per failure, capped
BACKOFF_BASE = 30.0
BACKOFF_MAX = 3600.0
PAGE = 100


def webhook_secret(tracker: Tracker) -> str:
    """The key the webhook is signed with: 64 hex characters, derived from the signing secret
    (rotating that secret changes it)."""
    from .tokens import load_secrets

    secret = load_secrets(tracker.config.site.secret_file)[0]
    return hmac.new(secret, b"policywatch optouts webhook", hashlib.sha256).hexdigest()


def sign_body(secret: str, body: bytes) -> str:
    """The ``X-Policywatch-Signature`` value of ``body``: what a receiver recomputes."""
    digest = hmac.new(secret.encode("ascii"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclass(frozen=True, slots=True)
class WebhookReport:
    delivered: int = 0
    #: the last failure of this cycle (None: nothing failed)
    error: str | None = None
    #: another process holds the delivery lock, or the back-off is running
    skipped: bool = False


class OptoutWebhook:
    """Delivers the ledger to ``[optouts] webhook``; one object per process, reused per cycle.

    ``retries`` are the pauses (seconds) between the immediate attempts at one entry; after
    them the cycle ends and :meth:`due` says False until the back-off has passed.
    """

    def __init__(
        self,
        tracker: Tracker,
        *,
        owner: str,
        timeout: float = 10.0,
        retries: Sequence[float] = (1.0, 4.0),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tracker = tracker
        self.url = tracker.config.optouts.webhook
        self.owner = owner
        self.timeout = timeout
        self.retries = tuple(retries)
        self.clock = clock
        self.failures = 0
        self._not_before = 0.0
        self._secret: str | None = None

    @property
    def enabled(self) -> bool:
        return self.url is not None

    def due(self) -> bool:
        """Whether a cycle should try now: configured, and not backing off after failures."""
        return self.url is not None and self.clock() >= self._not_before

    async def deliver(self, session: aiohttp.ClientSession) -> WebhookReport:
        """POST every entry past the cursor, in order; stop at the first that fails.

        Blocks on the database between POSTs (run it where that is fine: the sender's thread).
        """
        if self.url is None:
            return WebhookReport()
        store = self.tracker.store
        if not store.acquire_lock(CURSOR, self.owner, LOCK_TTL):
            return WebhookReport(skipped=True)
        delivered = 0
        try:
            if self._secret is None:
                self._secret = webhook_secret(self.tracker)
            while True:
                position = store.cursor(CURSOR)
                entries = store.optouts(after=position, limit=PAGE)
                if not entries:
                    break
                for entry in entries:
                    error = await self._post(session, entry)
                    if error is not None:
                        self._failed(error)
                        return WebhookReport(delivered=delivered, error=error)
                    if not store.advance_cursor(CURSOR, position, entry.id):
                        # another process moved it (its lock expired under us): let it go on
                        return WebhookReport(delivered=delivered, skipped=True)
                    position = entry.id
                    delivered += 1
                    if not store.renew_lock(CURSOR, self.owner, LOCK_TTL):
                        return WebhookReport(delivered=delivered, skipped=True)
        finally:
            store.release_lock(CURSOR, self.owner)
        self.failures = 0
        self._not_before = 0.0
        return WebhookReport(delivered=delivered)

    def _failed(self, error: str) -> None:
        self.failures += 1
        pause = min(BACKOFF_BASE * 2 ** (self.failures - 1), BACKOFF_MAX)
        self._not_before = self.clock() + pause
        log.warning(
            "opt-out webhook failed (%d in a row): %s; next try in %.0fs",
            self.failures,
            error,
            pause,
        )

    async def _post(self, session: aiohttp.ClientSession, entry: OptOut) -> str | None:
        """POST one entry, retrying at once a few times; None on success, else the error."""
        import aiohttp

        from .subscriptions import optout_dict

        assert self.url is not None and self._secret is not None
        document = {"schema": "policywatch.optout/1", "optout": optout_dict(entry)}
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self.tracker.config.fetch.user_agent,
            "X-Policywatch-Signature": sign_body(self._secret, body),
            "X-Policywatch-Delivery": str(entry.id),
        }
        error = ""
        for pause in (0.0, *self.retries):
            if pause:
                await asyncio.sleep(pause)
            try:
                async with session.post(
                    self.url,
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=self.timeout),
                ) as response:
                    await response.read()
                    if 200 <= response.status < 300:
                        log.info("opt-out %d delivered to the webhook", entry.id)
                        return None
                    error = f"HTTP {response.status} for opt-out {entry.id}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"{type(exc).__name__} for opt-out {entry.id}: {exc}"
        return error
