"""The Store: every row policywatch keeps outside git, behind plain-value methods.

Each public method is one transaction. Methods that write run as ``BEGIN IMMEDIATE`` on SQLite
(see :mod:`.database`) so a read-then-write never fails half way with "database is locked".
Every SQLAlchemy error leaves as :class:`~policywatch.errors.StoreError`; bad arguments (an
address that is not one, an unknown category) as :class:`~policywatch.errors.InputError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, Row

from ..errors import InputError, StoreError
from ..models import Revision
from . import migrate as migrations
from .database import create_engine, store_errors
from .records import (
    CHANNELS,
    SCOPES,
    ChangeRecord,
    Channel,
    OptOut,
    OutboxItem,
    Scope,
    Subscriber,
    SubscriberStatus,
    Subscription,
    check_categories,
    check_policy_id,
    email_hash,
    normalise_email,
)
from .schema import (
    UTCDateTime,
    changes,
    decode_categories,
    encode_categories,
    locks,
    optouts,
    outbox,
    rate_limits,
    subscribers,
    subscriptions,
    suppressions,
)

__all__ = ["Store"]

Clock = Callable[[], datetime]

#: outbox rows a sender may hold; the rest are still "queued"
_LIVE = ("queued", "sending")
_MAX_ERROR = 2000
_MESSAGE_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Store:
    """The database of one site: changes, subscribers, the outbox and the opt-out ledger.

    Thread-safe: each call takes its own pooled connection. Several processes may share one
    database (``serve`` and a cron'd ``check``); the outbox lease and the named locks are what
    keeps them from doing the same work twice.
    """

    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        self._engine = engine
        self._now = clock or _utcnow
        dialect = engine.dialect.name
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self.dialect = dialect

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, migrate: bool = True, clock: Clock | None = None) -> Store:
        """Open the database at ``url``, migrating it to the newest schema unless told not to.

        A database whose schema is newer than this code always raises :class:`StoreError`, with
        or without ``migrate``: running old code on it could corrupt it silently.
        ``clock`` replaces "now" (aware UTC) for leases, expiries and timestamps.
        """
        engine = create_engine(url)
        store = cls(engine, clock=clock)
        try:
            if migrate:
                store.upgrade()
            else:
                migrations.check_known(store.current_revision())
        except BaseException:
            engine.dispose()
            raise
        return store

    def upgrade(self) -> str:
        """Apply pending migrations (``policywatch db upgrade``); returns the revision in force."""
        return migrations.upgrade(self._engine)

    def current_revision(self) -> str | None:
        """The schema revision of the database (None when empty)."""
        with store_errors("reading the schema revision"), self._engine.connect() as conn:
            return migrations.current_revision(conn)

    @staticmethod
    def head_revision() -> str:
        """The newest schema revision this code knows."""
        return migrations.HEAD

    def ping(self) -> None:
        """Raise :class:`StoreError` unless the database answers (``/healthz``)."""
        with self._read("checking the database") as conn:
            conn.execute(sa.text("SELECT 1"))

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self, what: str) -> Iterator[Connection]:
        with store_errors(what), self._engine.connect() as conn:
            conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self, what: str) -> Iterator[Connection]:
        with store_errors(what), self._engine.connect() as conn, conn.begin():
            yield conn

    # -- changes -------------------------------------------------------------------------------

    def record_change(self, revision: Revision, *, previous: str | None = None) -> int:
        """Record an archived revision as a change; returns its id.

        Idempotent on (policy, revision): recording the same revision again (a re-run after a
        crash) returns the first row's id and changes nothing.
        """
        check_policy_id(revision.policy)
        categories = check_categories(list(revision.categories))
        values = {
            "policy": revision.policy,
            "revision": revision.id,
            "previous_revision": previous,
            "date": revision.date,
            "kind": revision.kind,
            "material": revision.material,
            "categories": encode_categories(categories),
            "summary": revision.summary,
            "restores": revision.restores,
            "created_at": self._now(),
        }
        with self._write("recording a change") as conn:
            stmt = self._insert(changes).values(**values)
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["policy", "revision"]))
            found = conn.execute(
                sa.select(changes.c.id).where(
                    changes.c.policy == revision.policy, changes.c.revision == revision.id
                )
            ).scalar_one()
            return int(found)

    def change(self, change_id: int) -> ChangeRecord | None:
        with self._read("reading a change") as conn:
            row = conn.execute(sa.select(changes).where(changes.c.id == change_id)).first()
        return _change(row) if row else None

    def find_change(self, policy: str, revision: str) -> ChangeRecord | None:
        with self._read("reading a change") as conn:
            row = conn.execute(
                sa.select(changes).where(changes.c.policy == policy, changes.c.revision == revision)
            ).first()
        return _change(row) if row else None

    def changes(self, policy: str | None = None) -> list[ChangeRecord]:
        """Recorded changes, newest first."""
        query = sa.select(changes).order_by(changes.c.date.desc(), changes.c.id.desc())
        if policy is not None:
            query = query.where(changes.c.policy == policy)
        with self._read("listing changes") as conn:
            return [_change(row) for row in conn.execute(query)]

    def fan_out(self, change_id: int) -> int:
        """Queue the change for every confirmed subscriber in scope; returns rows queued now.

        One ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``: 100,000 subscribers take well under
        a second (bench/fanout.md), and running it twice (a crash between recording and
        fanning out, then a re-run) queues nobody twice. Nothing is queued for a first record,
        an editorial-only change or a flip-flop back to an earlier text (``restores``). A
        ``material`` scope only receives material changes; a categories filter only changes
        touching one of its categories. Suppressed addresses are skipped.
        """
        with self._write("fanning out a change") as conn:
            row = conn.execute(sa.select(changes).where(changes.c.id == change_id)).first()
            if row is None:
                raise InputError(f"no change with id {change_id}")
            change = _change(row)
            if not change.notifies:
                return 0
            now = self._now()
            sub = subscriptions
            in_scope = [
                sub.c.subscriber_id == subscribers.c.id,
                sa.not_(sub.c.pending),
                sub.c.policy.in_([change.policy, "*"]),
                sa.or_(
                    sub.c.categories.is_(None),
                    *(sub.c.categories.contains(f",{c},") for c in change.categories),
                ),
            ]
            if not change.material:
                in_scope.append(sub.c.scope == "all")
            prefix = _MESSAGE_ID_UNSAFE.sub(
                "-", f"policywatch.{change.policy}.{change.revision[:16]}"
            )
            source = sa.select(
                sa.literal(change_id, sa.Integer),
                subscribers.c.id,
                sa.literal("queued", sa.String),
                sa.literal(0, sa.Integer),
                sa.literal(now, UTCDateTime),
                sa.literal(prefix + ".", sa.String) + sa.cast(subscribers.c.id, sa.String),
                sa.literal(now, UTCDateTime),
            ).where(
                subscribers.c.status == "confirmed",
                sa.exists().where(*in_scope),
                ~sa.exists().where(suppressions.c.email_hash == subscribers.c.email_hash),
            )
            stmt = self._insert(outbox).from_select(
                [
                    "change_id",
                    "subscriber_id",
                    "status",
                    "attempts",
                    "next_attempt_at",
                    "message_id",
                    "created_at",
                ],
                source,
            )
            stmt = stmt.on_conflict_do_nothing(index_elements=["change_id", "subscriber_id"])
            # SQLAlchemy drops the rowcount of INSERT ... SELECT unless asked to keep it
            result = conn.execute(stmt.execution_options(preserve_rowcount=True))
            return int(result.rowcount)

    # -- outbox --------------------------------------------------------------------------------

    def claim(self, owner: str, limit: int, lease: timedelta) -> list[OutboxItem]:
        """Lease up to ``limit`` due outbox rows to ``owner`` until now + ``lease``.

        Due means queued with ``next_attempt_at`` reached, or leased to a sender whose lease ran
        out (it crashed, or hangs: its rows are handed out again, and its late ``mark_sent``
        then fails). PostgreSQL picks rows with ``FOR UPDATE SKIP LOCKED`` so concurrent senders
        never wait for nor share a row; SQLite serialises claims with ``BEGIN IMMEDIATE``.

        Whether the subscriber may still be mailed is checked here, at the last moment: rows of
        an address unsubscribed, suppressed or forgotten since the fan-out are cancelled and
        never handed out.
        """
        if limit <= 0:
            return []
        if lease <= timedelta(0):
            raise InputError(f"lease must be positive, got {lease}")
        while True:
            with self._write("claiming outbox rows") as conn:
                now = self._now()
                ids = self._due(conn, now, limit)
                if not ids:
                    return []
                cancelled = self._cancel_undeliverable(conn, ids)
                ids = [i for i in ids if i not in cancelled]
                if ids:
                    conn.execute(
                        outbox.update()
                        .where(outbox.c.id.in_(ids))
                        .values(
                            status="sending",
                            lease_owner=owner,
                            lease_expires_at=now + lease,
                            next_attempt_at=now + lease,
                            attempts=outbox.c.attempts + 1,
                        )
                    )
                    return self._items(conn, outbox.c.id.in_(ids))
            # every candidate was cancelled: look again, more may be due behind them

    def _due(self, conn: Connection, now: datetime, limit: int) -> list[int]:
        """Ids of due rows, expired leases first (oldest work), then queued rows by due time.

        A leased row's ``next_attempt_at`` is its lease expiry, so both lookups are range scans
        of the one (status, next_attempt_at, id) index, however many rows are in flight.
        """
        ids: list[int] = []
        for status in ("sending", "queued"):
            query = (
                sa.select(outbox.c.id)
                .where(outbox.c.status == status, outbox.c.next_attempt_at <= now)
                .order_by(outbox.c.next_attempt_at, outbox.c.id)
                .limit(limit - len(ids))
            )
            if self.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids.extend(int(i) for i in conn.execute(query).scalars())
            if len(ids) >= limit:
                break
        return ids

    def _cancel_undeliverable(self, conn: Connection, ids: list[int]) -> set[int]:
        blocked = (
            sa.select(outbox.c.id)
            .join(subscribers, subscribers.c.id == outbox.c.subscriber_id)
            .where(
                outbox.c.id.in_(ids),
                sa.or_(
                    subscribers.c.status != "confirmed",
                    sa.exists().where(suppressions.c.email_hash == subscribers.c.email_hash),
                ),
            )
        )
        cancelled = {int(i) for i in conn.execute(blocked).scalars()}
        if cancelled:
            conn.execute(
                outbox.update()
                .where(outbox.c.id.in_(cancelled))
                .values(status="cancelled", lease_owner=None, lease_expires_at=None)
            )
        return cancelled

    def _items(self, conn: Connection, where: sa.ColumnElement[bool]) -> list[OutboxItem]:
        query = (
            sa.select(
                outbox,
                subscribers.c.email,
                changes.c.policy,
                changes.c.revision,
                changes.c.material,
            )
            .join(subscribers, subscribers.c.id == outbox.c.subscriber_id)
            .join(changes, changes.c.id == outbox.c.change_id)
            .where(where)
            .order_by(outbox.c.id)
        )
        return [_outbox_item(row) for row in conn.execute(query)]

    def outbox_item(self, item_id: int) -> OutboxItem | None:
        """One outbox row, whatever its status (an opt-out token may name it)."""
        with self._read("reading the outbox") as conn:
            items = self._items(conn, outbox.c.id == item_id)
        return items[0] if items else None

    def outbox_counts(self) -> dict[str, int]:
        """Rows per status, every status present (zero when none)."""
        with self._read("counting the outbox") as conn:
            rows = conn.execute(
                sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)
            ).all()
        counts = dict.fromkeys(("queued", "sending", "sent", "failed", "cancelled"), 0)
        counts.update({str(status): int(n) for status, n in rows})
        return counts

    def _finish(self, what: str, item_id: int, owner: str, **values: Any) -> bool:
        with self._write(what) as conn:
            result = conn.execute(
                outbox.update()
                .where(
                    outbox.c.id == item_id,
                    outbox.c.lease_owner == owner,
                    outbox.c.status == "sending",
                )
                .values(lease_owner=None, lease_expires_at=None, **values)
            )
            return bool(result.rowcount)

    def mark_sent(self, item_id: int, owner: str) -> bool:
        """Record a delivery. False when ``owner`` no longer holds the lease (it expired and the
        row went to another sender): the caller should log it, not retry."""
        return self._finish(
            "marking an email sent", item_id, owner, status="sent", sent_at=self._now()
        )

    def mark_retry(self, item_id: int, owner: str, error: str, next_at: datetime) -> bool:
        """A transient failure: back to the queue, due again at ``next_at``."""
        return self._finish(
            "scheduling a retry",
            item_id,
            owner,
            status="queued",
            next_attempt_at=next_at,
            last_error=error[:_MAX_ERROR],
        )

    def mark_failed_permanent(self, item_id: int, owner: str, error: str) -> bool:
        """A permanent failure (hard bounce): give up and suppress the address for good.

        Suppressing at once keeps the site from hammering a dead mailbox with every later
        change, which is what gets a sender's IP blocklisted. The subscriber's other queued
        rows are cancelled in the same transaction.
        """
        with self._write("marking an email failed") as conn:
            result = conn.execute(
                outbox.update()
                .where(
                    outbox.c.id == item_id,
                    outbox.c.lease_owner == owner,
                    outbox.c.status == "sending",
                )
                .values(
                    status="failed",
                    lease_owner=None,
                    lease_expires_at=None,
                    last_error=error[:_MAX_ERROR],
                )
                .returning(outbox.c.subscriber_id)
            )
            subscriber_id = result.scalar_one_or_none()
            if subscriber_id is None:
                return False
            digest = conn.execute(
                sa.select(subscribers.c.email_hash).where(subscribers.c.id == subscriber_id)
            ).scalar_one()
            self._suppress(conn, digest, "bounce")
            conn.execute(
                subscribers.update()
                .where(
                    subscribers.c.id == subscriber_id,
                    subscribers.c.status.in_(("pending", "confirmed", "unsubscribed")),
                )
                .values(status="suppressed")
            )
            _cancel_queued(conn, subscriber_id)
            return True

    def release(self, owner: str) -> int:
        """Give back every row ``owner`` holds (a sender shutting down cleanly); returns how many.

        Their claim did not lead to an attempt, so it is not counted as one.
        """
        with self._write("releasing outbox rows") as conn:
            result = conn.execute(
                outbox.update()
                .where(outbox.c.lease_owner == owner, outbox.c.status == "sending")
                .values(
                    status="queued",
                    lease_owner=None,
                    lease_expires_at=None,
                    next_attempt_at=self._now(),
                    attempts=sa.case((outbox.c.attempts > 0, outbox.c.attempts - 1), else_=0),
                )
            )
            return int(result.rowcount)

    # -- subscribers ---------------------------------------------------------------------------

    def subscribe(
        self,
        email: str,
        policies: Sequence[str] = (),
        scope: Scope = "all",
        categories: Sequence[str] | None = None,
        *,
        confirmed: bool,
        source: str,
    ) -> Subscriber:
        """Subscribe an address to ``policies`` (none means every policy, ``*``).

        ``confirmed=True`` is for addresses the site already holds consent for (``subscribers
        add``/``import``): they take effect at once, but never bring back someone who
        unsubscribed, was suppressed or forgotten: re-running an old import must not undo a
        reader's choice. ``confirmed=False`` is the web form: the subscriptions wait as pending
        until :meth:`confirm`, whatever the address's state, so typing someone else's address
        changes nothing they receive. A forgotten or suppressed address is not stored again.
        ``source`` records where consent came from ("web", "admin", "import:list.csv").
        """
        address = normalise_email(email)
        digest = email_hash(address)
        wanted = tuple(dict.fromkeys(check_policy_id(p) for p in policies)) or ("*",)
        if scope not in SCOPES:
            raise InputError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
        cats = None if categories is None else check_categories(list(categories))
        if cats == ():
            raise InputError("an empty categories filter would match nothing; pass None for all")
        if not source or len(source) > 200:
            raise InputError("source must name where consent came from (1-200 characters)")
        with self._write("subscribing") as conn:
            now = self._now()
            row = conn.execute(
                sa.select(subscribers).where(subscribers.c.email_hash == digest)
            ).first()
            suppressed = _is_suppressed(conn, digest)
            if row is None:
                status: SubscriberStatus = (
                    "suppressed" if suppressed else "confirmed" if confirmed else "pending"
                )
                subscriber_id = conn.execute(
                    subscribers.insert()
                    .values(
                        email=None if suppressed else address,
                        email_hash=digest,
                        status=status,
                        source=source,
                        created_at=now,
                        confirmed_at=now if status == "confirmed" else None,
                    )
                    .returning(subscribers.c.id)
                ).scalar_one()
            else:
                subscriber_id, status = row.id, row.status
            if status in ("suppressed", "forgotten") or (confirmed and status == "unsubscribed"):
                return self._subscriber(conn, subscriber_id)
            if confirmed and status == "pending":
                conn.execute(
                    subscribers.update()
                    .where(subscribers.c.id == subscriber_id)
                    .values(status="confirmed", confirmed_at=now, source=source)
                )
            pending = not confirmed
            for policy in wanted:
                conn.execute(
                    subscriptions.delete().where(
                        subscriptions.c.subscriber_id == subscriber_id,
                        subscriptions.c.policy == policy,
                        subscriptions.c.pending == pending,
                    )
                )
            conn.execute(
                subscriptions.insert(),
                [
                    {
                        "subscriber_id": subscriber_id,
                        "policy": policy,
                        "scope": scope,
                        "categories": encode_categories(cats),
                        "pending": pending,
                        "created_at": now,
                    }
                    for policy in wanted
                ],
            )
            if confirmed:
                # an admin's explicit choice supersedes a stale request for the same policy
                conn.execute(
                    subscriptions.delete().where(
                        subscriptions.c.subscriber_id == subscriber_id,
                        subscriptions.c.policy.in_(wanted),
                        subscriptions.c.pending,
                    )
                )
            return self._subscriber(conn, subscriber_id)

    def confirm(self, subscriber_id: int) -> Subscriber | None:
        """Double opt-in: the owner of the address proved it; pending subscriptions take effect.

        Nothing pending (an old confirmation link used again after unsubscribing) changes
        nothing. Suppressed and forgotten addresses stay so. None for an unknown id.
        """
        with self._write("confirming a subscription") as conn:
            row = conn.execute(
                sa.select(subscribers).where(subscribers.c.id == subscriber_id)
            ).first()
            if row is None:
                return None
            pending = (
                conn.execute(
                    sa.select(subscriptions.c.policy).where(
                        subscriptions.c.subscriber_id == subscriber_id, subscriptions.c.pending
                    )
                )
                .scalars()
                .all()
            )
            if row.status in ("suppressed", "forgotten") or not pending:
                return self._subscriber(conn, subscriber_id)
            conn.execute(
                subscriptions.delete().where(
                    subscriptions.c.subscriber_id == subscriber_id,
                    subscriptions.c.policy.in_(pending),
                    sa.not_(subscriptions.c.pending),
                )
            )
            conn.execute(
                subscriptions.update()
                .where(subscriptions.c.subscriber_id == subscriber_id)
                .values(pending=False)
            )
            if row.status != "confirmed":
                conn.execute(
                    subscribers.update()
                    .where(subscribers.c.id == subscriber_id)
                    .values(status="confirmed", confirmed_at=self._now(), unsubscribed_at=None)
                )
            return self._subscriber(conn, subscriber_id)

    def unsubscribe(self, subscriber_id: int) -> Subscriber | None:
        """Stop all mail to this subscriber, now: queued rows are cancelled in the same
        transaction. Idempotent; the first unsubscription's time is kept. None for an unknown id.

        The subscriptions are kept (so the record shows what was followed); pending requests
        are dropped so an old confirmation link cannot resubscribe.
        """
        with self._write("unsubscribing") as conn:
            status = conn.execute(
                sa.select(subscribers.c.status).where(subscribers.c.id == subscriber_id)
            ).scalar_one_or_none()
            if status is None:
                return None
            if status in ("pending", "confirmed"):
                conn.execute(
                    subscribers.update()
                    .where(subscribers.c.id == subscriber_id)
                    .values(status="unsubscribed", unsubscribed_at=self._now())
                )
            conn.execute(
                subscriptions.delete().where(
                    subscriptions.c.subscriber_id == subscriber_id, subscriptions.c.pending
                )
            )
            _cancel_queued(conn, subscriber_id)
            return self._subscriber(conn, subscriber_id)

    def remove(self, email: str) -> bool:
        """Delete an address an admin should never have added (``subscribers remove``).

        The row, its subscriptions and its outbox rows go; opt-outs it made stay in the ledger
        under its hash. To stop mail to someone who asked, prefer :meth:`unsubscribe`, which
        keeps the record of the choice. False when the address is unknown.
        """
        digest = email_hash(email)
        with self._write("removing a subscriber") as conn:
            result = conn.execute(subscribers.delete().where(subscribers.c.email_hash == digest))
            return bool(result.rowcount)

    def forget(self, email: str) -> bool:
        """Erasure (``subscribers forget``): no personal data left, but never mailed again.

        The address is replaced by nothing; its SHA-256 stays in the subscriber row, in the
        suppression list and in the opt-out ledger, whose rows lose their link to the
        subscriber. Subscriptions and outbox rows (whose errors may quote the address) are
        deleted. The hash is suppressed even for an unknown address: a request to be forgotten
        is also a request not to be contacted. False when the address was unknown.
        """
        digest = email_hash(email)
        with self._write("forgetting a subscriber") as conn:
            self._suppress(conn, digest, "forgotten")
            subscriber_id = conn.execute(
                sa.select(subscribers.c.id).where(subscribers.c.email_hash == digest)
            ).scalar_one_or_none()
            if subscriber_id is None:
                return False
            conn.execute(
                optouts.update()
                .where(optouts.c.subscriber_id == subscriber_id)
                .values(subscriber_id=None)
            )
            conn.execute(outbox.delete().where(outbox.c.subscriber_id == subscriber_id))
            conn.execute(
                subscriptions.delete().where(subscriptions.c.subscriber_id == subscriber_id)
            )
            conn.execute(
                subscribers.update()
                .where(subscribers.c.id == subscriber_id)
                .values(email=None, status="forgotten")
            )
            return True

    def purge_unconfirmed(self, before: datetime) -> int:
        """Delete pending subscribers created before ``before`` that never confirmed.

        An unconfirmed web signup is an address someone typed, possibly not its owner's;
        keeping it forever is keeping personal data without consent.
        """
        with self._write("purging unconfirmed subscribers") as conn:
            result = conn.execute(
                subscribers.delete().where(
                    subscribers.c.status == "pending", subscribers.c.created_at < before
                )
            )
            return int(result.rowcount)

    def subscriber(self, subscriber_id: int) -> Subscriber | None:
        with self._read("reading a subscriber") as conn:
            return self._load_subscriber(conn, subscriber_id)

    def find_subscriber(self, email: str) -> Subscriber | None:
        digest = email_hash(email)
        with self._read("reading a subscriber") as conn:
            found = conn.execute(
                sa.select(subscribers.c.id).where(subscribers.c.email_hash == digest)
            ).scalar_one_or_none()
            return None if found is None else self._subscriber(conn, found)

    def list_subscribers(self, status: SubscriberStatus | None = None) -> list[Subscriber]:
        """Subscribers by id, with their subscriptions (forgotten ones show only their hash)."""
        query = sa.select(subscribers).order_by(subscribers.c.id)
        if status is not None:
            query = query.where(subscribers.c.status == status)
        with self._read("listing subscribers") as conn:
            rows = conn.execute(query).all()
            subs: dict[int, list[Subscription]] = {}
            for s in conn.execute(
                sa.select(subscriptions).order_by(
                    subscriptions.c.subscriber_id, subscriptions.c.policy, subscriptions.c.id
                )
            ):
                subs.setdefault(s.subscriber_id, []).append(_subscription(s))
        return [_subscriber(row, subs.get(row.id, ())) for row in rows]

    def _subscriber(self, conn: Connection, subscriber_id: int) -> Subscriber:
        found = self._load_subscriber(conn, subscriber_id)
        if found is None:
            raise StoreError(f"subscriber {subscriber_id} vanished during the transaction")
        return found

    def _load_subscriber(self, conn: Connection, subscriber_id: int) -> Subscriber | None:
        row = conn.execute(sa.select(subscribers).where(subscribers.c.id == subscriber_id)).first()
        if row is None:
            return None
        subs = conn.execute(
            sa.select(subscriptions)
            .where(subscriptions.c.subscriber_id == subscriber_id)
            .order_by(subscriptions.c.policy, subscriptions.c.id)
        )
        return _subscriber(row, [_subscription(s) for s in subs])

    # -- suppressions --------------------------------------------------------------------------

    def suppress(self, email: str, reason: str) -> None:
        """Never mail this address again (a complaint, a bounce reported out of band)."""
        digest = email_hash(email)
        with self._write("suppressing an address") as conn:
            self._suppress(conn, digest, reason)
            subscriber_id = conn.execute(
                sa.update(subscribers)
                .where(
                    subscribers.c.email_hash == digest,
                    subscribers.c.status.in_(("pending", "confirmed", "unsubscribed")),
                )
                .values(status="suppressed")
                .returning(subscribers.c.id)
            ).scalar_one_or_none()
            if subscriber_id is not None:
                _cancel_queued(conn, subscriber_id)

    def is_suppressed(self, email: str) -> bool:
        digest = email_hash(email)
        with self._read("reading suppressions") as conn:
            return _is_suppressed(conn, digest)

    def _suppress(self, conn: Connection, digest: str, reason: str) -> None:
        conn.execute(
            self._insert(suppressions)
            .values(email_hash=digest, reason=reason[:32], created_at=self._now())
            .on_conflict_do_nothing(index_elements=["email_hash"])
        )

    # -- opt-out ledger --------------------------------------------------------------------------

    def record_optout(
        self,
        subscriber_id: int,
        change_id: int,
        categories: Sequence[str] | None = None,
        channel: Channel = "email-link",
    ) -> OptOut:
        """Append the reader's objection to the new uses announced by one change.

        ``categories`` None means every category the change touched. The ledger has no update
        or delete method, and the database refuses both (triggers). Objecting twice the same
        way returns the first entry: a double click is one objection.
        """
        if channel not in CHANNELS:
            raise InputError(f"channel must be one of {', '.join(CHANNELS)}, got {channel!r}")
        with self._write("recording an opt-out") as conn:
            who = conn.execute(
                sa.select(subscribers.c.email_hash, subscribers.c.status).where(
                    subscribers.c.id == subscriber_id
                )
            ).first()
            if who is None:
                raise InputError(f"no subscriber with id {subscriber_id}")
            row = conn.execute(sa.select(changes).where(changes.c.id == change_id)).first()
            if row is None:
                raise InputError(f"no change with id {change_id}")
            change = _change(row)
            cats = change.categories if categories is None else check_categories(list(categories))
            encoded = encode_categories(cats)
            conn.execute(
                self._insert(optouts)
                .values(
                    subscriber_id=None if who.status == "forgotten" else subscriber_id,
                    email_hash=who.email_hash,
                    policy=change.policy,
                    revision=change.revision,
                    change_id=change_id,
                    categories=encoded,
                    channel=channel,
                    created_at=self._now(),
                )
                .on_conflict_do_nothing(index_elements=["email_hash", "change_id", "categories"])
            )
            entries = self._optouts(
                conn,
                sa.and_(
                    optouts.c.email_hash == who.email_hash,
                    optouts.c.change_id == change_id,
                    optouts.c.categories == encoded,
                ),
            )
            return entries[0]

    def optouts(self, *, after: int = 0, policy: str | None = None) -> list[OptOut]:
        """The ledger in the order it was written; ``after`` an id for incremental exports."""
        where = optouts.c.id > after
        if policy is not None:
            where = sa.and_(where, optouts.c.policy == policy)
        with self._read("reading the opt-out ledger") as conn:
            return self._optouts(conn, where)

    def _optouts(self, conn: Connection, where: sa.ColumnElement[bool]) -> list[OptOut]:
        query = (
            sa.select(optouts, subscribers.c.email)
            .outerjoin(subscribers, subscribers.c.id == optouts.c.subscriber_id)
            .where(where)
            .order_by(optouts.c.id)
        )
        return [
            OptOut(
                id=row.id,
                subscriber_id=row.subscriber_id,
                email=row.email,
                email_hash=row.email_hash,
                policy=row.policy,
                revision=row.revision,
                change_id=row.change_id,
                categories=decode_categories(row.categories) or (),
                channel=row.channel,
                created_at=row.created_at,
            )
            for row in conn.execute(query)
        ]

    # -- locks -----------------------------------------------------------------------------------

    def acquire_lock(self, name: str, owner: str, ttl: timedelta) -> bool:
        """Take the named lease lock, or extend it if ``owner`` already holds it.

        For "exactly one scheduler per archive": a holder renews well within ``ttl``; if it
        dies, another process takes over once ``ttl`` has passed. True when ``owner`` holds it.
        """
        if ttl <= timedelta(0):
            raise InputError(f"ttl must be positive, got {ttl}")
        with self._write("acquiring a lock") as conn:
            now = self._now()
            stmt = self._insert(locks).values(
                name=name, owner=owner, acquired_at=now, expires_at=now + ttl
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["name"],
                set_={
                    "owner": owner,
                    "expires_at": now + ttl,
                    "acquired_at": sa.case(
                        (locks.c.owner == owner, locks.c.acquired_at),
                        else_=sa.literal(now, UTCDateTime),
                    ),
                },
                where=sa.or_(locks.c.owner == owner, locks.c.expires_at <= now),
            )
            return conn.execute(stmt.returning(locks.c.name)).first() is not None

    def renew_lock(self, name: str, owner: str, ttl: timedelta) -> bool:
        """Extend a lock ``owner`` still holds; False means it was lost: stop the work now."""
        with self._write("renewing a lock") as conn:
            result = conn.execute(
                locks.update()
                .where(locks.c.name == name, locks.c.owner == owner)
                .values(expires_at=self._now() + ttl)
            )
            return bool(result.rowcount)

    def release_lock(self, name: str, owner: str) -> bool:
        with self._write("releasing a lock") as conn:
            result = conn.execute(
                locks.delete().where(locks.c.name == name, locks.c.owner == owner)
            )
            return bool(result.rowcount)

    # -- rate limiting ---------------------------------------------------------------------------

    def hit(self, key: str, window: timedelta, limit: int) -> bool:
        """Count one event for ``key`` in a fixed window; False once ``limit`` is exceeded.

        Keys are stored as given: pass a hash, not an address (``"subscribe:" + email_hash``).
        Expired windows are deleted on the way, so the table holds only live keys.
        """
        if window <= timedelta(0):
            raise InputError(f"window must be positive, got {window}")
        with self._write("rate limiting") as conn:
            now = self._now()
            conn.execute(rate_limits.delete().where(rate_limits.c.expires_at <= now))
            stmt = self._insert(rate_limits).values(key=key, count=1, expires_at=now + window)
            stmt = stmt.on_conflict_do_update(
                index_elements=["key"], set_={"count": rate_limits.c.count + 1}
            )
            count = conn.execute(stmt.returning(rate_limits.c.count)).scalar_one()
            return int(count) <= limit


def _is_suppressed(conn: Connection, digest: str) -> bool:
    found = conn.execute(
        sa.select(suppressions.c.email_hash).where(suppressions.c.email_hash == digest)
    ).first()
    return found is not None


def _cancel_queued(conn: Connection, subscriber_id: int) -> None:
    """Cancel what is waiting; rows a sender holds right now are left to the claim re-check."""
    conn.execute(
        outbox.update()
        .where(outbox.c.subscriber_id == subscriber_id, outbox.c.status == "queued")
        .values(status="cancelled")
    )


def _change(row: Row[Any]) -> ChangeRecord:
    return ChangeRecord(
        id=row.id,
        policy=row.policy,
        revision=row.revision,
        previous_revision=row.previous_revision,
        date=row.date,
        kind=row.kind,
        material=bool(row.material),
        categories=decode_categories(row.categories) or (),
        summary=row.summary,
        restores=row.restores,
        created_at=row.created_at,
    )


def _subscription(row: Row[Any]) -> Subscription:
    return Subscription(
        policy=row.policy,
        scope=cast(Scope, row.scope),
        categories=decode_categories(row.categories),
        pending=bool(row.pending),
    )


def _subscriber(row: Row[Any], subs: Sequence[Subscription]) -> Subscriber:
    return Subscriber(
        id=row.id,
        email=row.email,
        email_hash=row.email_hash,
        status=row.status,
        source=row.source,
        created_at=row.created_at,
        confirmed_at=row.confirmed_at,
        unsubscribed_at=row.unsubscribed_at,
        subscriptions=tuple(subs),
    )


def _outbox_item(row: Row[Any]) -> OutboxItem:
    return OutboxItem(
        id=row.id,
        change_id=row.change_id,
        subscriber_id=row.subscriber_id,
        email=row.email,
        policy=row.policy,
        revision=row.revision,
        material=bool(row.material),
        message_id=row.message_id,
        status=row.status,
        attempts=row.attempts,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        last_error=row.last_error,
        sent_at=row.sent_at,
    )
