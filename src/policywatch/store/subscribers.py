"""Subscribers: consent, double opt-in, unsubscription, suppression and erasure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..errors import InputError, StoreError
from .base import StoreBase, cancel_queued, is_suppressed_hash
from .records import (
    SCOPES,
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
    decode_categories,
    encode_categories,
    optouts,
    outbox,
    subscribers,
    subscriptions,
)

__all__ = ["SubscribersMixin"]


class SubscribersMixin(StoreBase):
    """Part of :class:`~policywatch.store.Store`: who receives what, and who must not."""

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
            suppressed = is_suppressed_hash(conn, digest)
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
            cancel_queued(conn, subscriber_id)
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
                cancel_queued(conn, subscriber_id)

    def is_suppressed(self, email: str) -> bool:
        digest = email_hash(email)
        with self._read("reading suppressions") as conn:
            return is_suppressed_hash(conn, digest)


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
