"""From recorded revisions to emails: queue and send the outbox, losing and repeating nothing.

Ordering and crashes. A revision is committed to the git archive first, then recorded in the
database and fanned out to one outbox row per subscriber in scope. A crash between the two is
repaired by :meth:`Notifier.reconcile`, run at the start of every ``check`` and ``notify``: any
archived revision newer than the newest one the database knows is recorded and fanned out then
(both steps are idempotent). A policy the database has never seen (a fresh database, an imported
history) is recorded as a baseline without fan-out, so nobody is ever mailed old history.

Sending claims rows with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so several senders
never send one row twice; suppression and unsubscription are re-checked at claim time. A sender
killed mid-run leaves its rows leased; they are claimed again when the lease expires, and only
messages that were in flight may repeat, with the same Message-ID (the outbox row's).
Temporary failures are retried with back-off; a refused address is suppressed; a failure of the
sender itself (authentication, a relay refusing everything) stops the run and suppresses nobody.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InputError
from .files import write_atomic
from .models import Revision

if TYPE_CHECKING:
    import asyncio

    from .mail import ChangeNotice, Mailer, OutgoingMessage, RenderedChange
    from .store import Store
    from .store.records import OutboxItem
    from .tracker import Tracker

__all__ = ["Notifier", "SendReport"]

#: how long a claimed row stays with its sender before another may take it
LEASE = timedelta(minutes=10)
#: first retry delay of a temporary failure (doubles per attempt, capped at RETRY_MAX)
RETRY_BASE = timedelta(minutes=2)
RETRY_MAX = timedelta(hours=6)
BATCH = 200


@dataclass(frozen=True, slots=True)
class SendReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    #: set when the sender itself failed (the run stopped, nothing was suppressed)
    fatal: str | None = None


def retry_at(attempts: int, now: datetime) -> datetime:
    delay: timedelta = RETRY_BASE * (2 ** max(0, attempts - 1))
    return now + min(delay, RETRY_MAX)


class Notifier:
    """Queues the changes a tracker records and sends them to subscribers."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self._notices: dict[int, RenderedChange | None] = {}

    @property
    def store(self) -> Store:
        return self.tracker.store

    # -- queueing --------------------------------------------------------------------------------

    def enqueue(self, revision: Revision, previous: Revision | None) -> int:
        """Record ``revision`` and queue it for everyone in scope; returns rows queued."""
        change_id = self.store.record_change(
            revision, previous=previous.id if previous is not None else None
        )
        return self.store.fan_out(change_id)

    def enqueue_all(self, written: Sequence[tuple[Revision, Revision | None]]) -> int:
        """Record and queue revisions just committed together (a check's batch), in one
        transaction, then mark the archive reconciled up to the last of them."""
        if not written:
            return 0
        from .store.records import notifies

        store = self.store
        with store.write_together("queueing changes"):
            ids = store.record_changes(
                [(revision, previous.id if previous else None) for revision, previous in written]
            )
            # fan_out would read each row back only to find that a first record, an editorial
            # edit or a flip-flop notifies nobody: ask it only for the others
            queued = sum(
                store.fan_out(change_id)
                for change_id, (revision, _) in zip(ids, written, strict=True)
                if notifies(revision.kind, revision.restores)
            )
        self.mark_reconciled(written[-1][0].id)
        return queued

    def record_silently(self, policy: str) -> None:
        """Record every archived revision of ``policy`` without queueing mail (``import``: a
        backfilled history is news to nobody)."""
        history = list(reversed(self.tracker.archive.log(policy)))
        for i, revision in enumerate(history):
            previous = history[i - 1].id if i else None
            self.store.record_change(revision, previous=previous)

    def reconcile(self) -> int:
        """Queue archived revisions the database missed (a crash after the git commit)."""
        archive = self.tracker.archive
        tip = archive.tip()
        if tip is None or self._reconciled() == tip:
            return 0  # nothing was recorded since the last time every revision was accounted for
        queued = 0
        archive.log()  # read the whole history once; each policy's below is a slice of it
        known_all: dict[str, set[str]] = {}
        for change in self.store.changes():
            known_all.setdefault(change.policy, set()).add(change.revision)
        for policy in archive.policies():
            known = known_all.get(policy, set())
            history = archive.log(policy)  # newest first
            if not history:
                continue
            if not known:
                # never seen: a baseline, so an imported history or a new database mails nobody
                previous = history[1] if len(history) > 1 else None
                self.store.record_change(history[0], previous=previous.id if previous else None)
                continue
            missing: list[tuple[Revision, Revision | None]] = []
            for i, revision in enumerate(history):
                if revision.id in known:
                    break
                missing.append((revision, history[i + 1] if i + 1 < len(history) else None))
            for revision, previous in reversed(missing):
                queued += self.enqueue(revision, previous)
        self.mark_reconciled(tip)
        return queued

    # The archive tip up to which every revision is known to the database, kept in the archive's
    # git directory together with the database it holds for: a check that records nothing (the
    # common case) then skips reconciling entirely. A crash between a git commit and its
    # database write leaves the old tip here, so the next reconcile runs in full.

    def _marker(self) -> Path:
        return self.tracker.archive.git_dir / "policywatch" / "reconciled"

    def _database_key(self) -> str:
        return hashlib.sha256(self.tracker.config.database.url.encode()).hexdigest()[:16]

    def _reconciled(self) -> str | None:
        try:
            tip, key = self._marker().read_text(encoding="ascii").split()
        except (OSError, ValueError):
            return None
        return tip if key == self._database_key() else None

    def mark_reconciled(self, tip: str | None = None) -> None:
        """Record that every revision up to ``tip`` (default: the current one) is in the
        database."""
        tip = tip or self.tracker.archive.tip()
        if tip is None:
            return
        write_atomic(self._marker(), f"{tip} {self._database_key()}\n", encoding="ascii")

    # -- sending ---------------------------------------------------------------------------------

    def _rendered(self, item: OutboxItem) -> RenderedChange | None:
        """The change's email body, rendered once per change (None: nothing to send)."""
        if item.change_id in self._notices:
            return self._notices[item.change_id]
        from .mail import ChangeNotice, render_change, sender_domain

        change = self.store.change(item.change_id)
        rendered: RenderedChange | None = None
        if change is not None and change.previous_revision:
            tracker = self.tracker
            diff = tracker.diff(change.policy, change.previous_revision, change.revision)
            revision = tracker.archive.resolve(change.policy, change.revision)
            policy = tracker.config.policy(change.policy)
            notice: ChangeNotice = ChangeNotice.from_diff(
                diff,
                revision,
                site=tracker.config.site,
                title=policy.title if policy else change.policy,
                domain=sender_domain(tracker.config.mail.sender),
                previous=change.previous_revision,
            )
            rendered = render_change(notice)
        self._notices[item.change_id] = rendered
        return rendered

    def _message(self, item: OutboxItem, rendered: RenderedChange) -> bytes:
        from .mail import Recipient, build_message

        signer = self.tracker.signer
        base = self.tracker.config.site.base_url
        assert item.email is not None  # claim never hands out a forgotten address
        recipient = Recipient(
            email=item.email,
            unsubscribe_url=f"{base}/unsubscribe/{signer.sign('unsubscribe', item.subscriber_id)}",
            subscriber=item.subscriber_id,
            opt_out_url=(
                f"{base}/opt-out/{signer.sign('opt-out', item.id)}" if item.material else None
            ),
            message_id=item.message_id,
        )
        return build_message(
            rendered, recipient, sender=self.tracker.config.mail.sender, dkim=self.tracker.dkim
        )

    async def send(
        self,
        mailer: Mailer,
        *,
        owner: str,
        batch: int = BATCH,
        lease: timedelta = LEASE,
        chunk: int | None = None,
        stop: asyncio.Event | None = None,
    ) -> SendReport:
        """Send everything due, batch by batch, until the outbox has nothing due, the sender
        itself fails, or ``stop`` is set.

        A claimed batch goes to the mailer ``chunk`` messages at a time (default: the
        configured number of SMTP connections) and each chunk's outcome is recorded before the
        next is sent: what a crash can repeat is the chunk in flight, not the whole batch.
        ``stop`` is looked at between chunks; the rows not yet tried are given back at once.
        """
        sent = retried = failed = 0
        store = self.store
        size = max(1, chunk if chunk is not None else self.tracker.config.mail.connections)
        while True:
            if stop is not None and stop.is_set():
                return SendReport(sent=sent, retried=retried, failed=failed)
            items = store.claim(owner, batch, lease)
            if not items:
                return SendReport(sent=sent, retried=retried, failed=failed)
            outgoing: list[OutgoingMessage] = []
            by_key: dict[int, OutboxItem] = {}
            for item in items:
                message = self._outgoing(item, owner)
                if message is None:
                    failed += 1
                    continue
                outgoing.append(message)
                by_key[item.id] = item
            for start in range(0, len(outgoing), size):
                if stop is not None and stop.is_set():
                    store.release(owner)
                    return SendReport(sent=sent, retried=retried, failed=failed)
                results = await mailer.send(outgoing[start : start + size])
                now = datetime.now(UTC)
                for result in results:
                    item = by_key[int(result.key)]
                    if result.status == "ok":
                        store.mark_sent(item.id, owner)
                        sent += 1
                    elif result.status == "fatal":
                        store.release(owner)
                        return SendReport(
                            sent=sent,
                            retried=retried,
                            failed=failed,
                            fatal=f"{result.code or ''} {result.reply}".strip() or "sender failed",
                        )
                    elif result.status == "permanent" and result.suppress:
                        store.mark_failed_permanent(item.id, owner, f"{result.code} {result.reply}")
                        failed += 1
                    else:  # temporary, or a refusal of this message's content: try again later
                        store.mark_retry(
                            item.id,
                            owner,
                            f"{result.code} {result.reply}",
                            retry_at(item.attempts, now),
                        )
                        retried += 1

    def _outgoing(self, item: OutboxItem, owner: str) -> OutgoingMessage | None:
        """The message for one claimed row; None (and the row failed) when it cannot be built."""
        from .mail import OutgoingMessage

        rendered = self._rendered(item)
        if rendered is None or item.email is None:
            # our failure, not the address's: give up on this row, suppress nobody
            self.store.mark_failed_permanent(
                item.id, owner, "the change can no longer be built", suppress=False
            )
            return None
        try:
            data = self._message(item, rendered)
        except InputError as exc:
            self.store.mark_failed_permanent(item.id, owner, str(exc), suppress=False)
            return None
        return OutgoingMessage(key=item.id, recipient=item.email, data=data)


def notify_owner() -> str:
    """A sender's lease name: host and pid, so a leftover lease says whose it was."""
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"
