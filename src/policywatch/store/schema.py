"""Table definitions the queries are written against (SQLAlchemy Core, no ORM).

The migrations in ``policywatch/migrations/versions`` create these tables; they are written out
by hand, frozen in time, and ``tests/test_store.py`` compares the migrated database with this
module so the two cannot drift apart. Constraint names are fixed by the naming convention so a
later migration can address them on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = [
    "NAMING_CONVENTION",
    "UTCDateTime",
    "changes",
    "cursors",
    "decode_categories",
    "encode_categories",
    "locks",
    "metadata",
    "optouts",
    "outbox",
    "rate_limits",
    "subscribers",
    "subscriptions",
    "suppressions",
]

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on both dialects.

    PostgreSQL keeps ``timestamptz``. SQLite has no time zones: values are stored as naive UTC
    text, which sorts correctly, so comparisons such as ``lease_expires_at < now`` work in SQL.
    A naive datetime is refused rather than guessed at: it is always a bug upstream.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store only takes aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def encode_categories(categories: tuple[str, ...] | None) -> str | None:
    """``(a, b)`` -> ``",a,b,"``: a plain text column both dialects can filter with LIKE.

    The surrounding commas make ``LIKE '%,user-choice,%'`` match whole ids only. A JSON or
    array column would need a different query on each dialect for the same one-line filter.
    """
    if categories is None:
        return None
    return "," + ",".join(categories) + "," if categories else ""


def decode_categories(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(c for c in value.split(",") if c)


# An outbox grows by (changes x subscribers): 64-bit ids on PostgreSQL. On SQLite only a column
# declared exactly INTEGER PRIMARY KEY is the (already 64-bit) rowid; it reuses the id of a
# deleted newest row unless the table says AUTOINCREMENT (migration 0003).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

changes = sa.Table(
    "changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("policy", sa.String(64), nullable=False),
    sa.Column("revision", sa.String(64), nullable=False),
    sa.Column("previous_revision", sa.String(64), nullable=True),
    sa.Column("date", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("material", sa.Boolean(create_constraint=False), nullable=False),
    sa.Column("categories", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("restores", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("policy", "revision"),
)

subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(254), nullable=True, unique=True),
    sa.Column("email_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("confirmed_at", UTCDateTime, nullable=True),
    sa.Column("unsubscribed_at", UTCDateTime, nullable=True),
    sa.CheckConstraint(
        "status IN ('pending', 'confirmed', 'unsubscribed', 'suppressed', 'forgotten')",
        name="status",
    ),
    # ids go into unsubscribe/confirm links: never hand a deleted row's id to someone else
    sqlite_autoincrement=True,
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "subscriber_id",
        sa.Integer,
        sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("policy", sa.String(64), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("categories", sa.Text, nullable=True),
    sa.Column("pending", sa.Boolean(create_constraint=False), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("subscriber_id", "policy", "pending"),
    sa.CheckConstraint("scope IN ('all', 'material')", name="scope"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("change_id", sa.Integer, sa.ForeignKey("changes.id"), nullable=False),
    sa.Column(
        "subscriber_id",
        sa.Integer,
        sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    # when the row may next be claimed: for a leased ("sending") row, when its lease expires
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("lease_owner", sa.String(200), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("message_id", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("change_id", "subscriber_id"),
    sa.CheckConstraint(
        "status IN ('queued', 'sending', 'sent', 'failed', 'cancelled')", name="status"
    ),
    sa.Index(None, "status", "next_attempt_at", "id"),
    sa.Index(None, "subscriber_id"),
    # ids go into opt-out links: never hand a deleted row's id to someone else
    sqlite_autoincrement=True,
)

suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("email_hash", sa.String(64), primary_key=True),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

optouts = sa.Table(
    "optouts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "subscriber_id",
        sa.Integer,
        sa.ForeignKey("subscribers.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("email_hash", sa.String(64), nullable=False),
    sa.Column("policy", sa.String(64), nullable=False),
    sa.Column("revision", sa.String(64), nullable=False),
    sa.Column("change_id", sa.Integer, sa.ForeignKey("changes.id"), nullable=False),
    sa.Column("categories", sa.Text, nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("email_hash", "change_id", "categories"),
    sa.CheckConstraint("channel IN ('email-link', 'web', 'api', 'admin')", name="channel"),
    sa.Index(None, "subscriber_id"),
)

locks = sa.Table(
    "locks",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("acquired_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

rate_limits = sa.Table(
    "rate_limits",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Index(None, "expires_at"),
)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
