"""The opt-out ledger: append-only, in the API and in the database."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import InputError
from .base import StoreBase, change_record
from .records import CHANNELS, Channel, OptOut, check_categories
from .schema import changes, decode_categories, encode_categories, optouts, subscribers

__all__ = ["LedgerMixin"]


class LedgerMixin(StoreBase):
    """Part of :class:`~policywatch.store.Store`: objections, written once and never changed."""

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
            change = change_record(row)
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

    def optouts(
        self, *, after: int = 0, policy: str | None = None, limit: int | None = None
    ) -> list[OptOut]:
        """The ledger in the order it was written; ``after`` an id for incremental exports,
        ``limit`` the most entries to return (pages for the API and the webhook)."""
        if limit is not None and limit <= 0:
            raise InputError(f"limit must be positive, got {limit}")
        where = optouts.c.id > after
        if policy is not None:
            where = sa.and_(where, optouts.c.policy == policy)
        with self._read("reading the opt-out ledger") as conn:
            return self._optouts(conn, where, limit)

    def _optouts(
        self, conn: Connection, where: sa.ColumnElement[bool], limit: int | None = None
    ) -> list[OptOut]:
        query = (
            sa.select(optouts, subscribers.c.email)
            .outerjoin(subscribers, subscribers.c.id == optouts.c.subscriber_id)
            .where(where)
            .order_by(optouts.c.id)
            .limit(limit)
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
