"""Never reuse subscriber or outbox ids on SQLite (AUTOINCREMENT).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

Links in emails carry signed tokens whose subject is a row id: unsubscribe and confirm name a
``subscribers.id``, opt-out an ``outbox.id``. SQLite's plain ``INTEGER PRIMARY KEY`` hands out
``max(id) + 1``, so once the newest row is deleted (``remove``, ``purge_unconfirmed``,
``forget``) the next insert gets its id, and an old link would act on somebody else. Only
``AUTOINCREMENT`` promises an id is never reused, and SQLite can add it only by rebuilding the
table. PostgreSQL sequences never go back: nothing to do there.

The rebuild must not touch the rows that point at these tables. Dropping ``subscribers`` with
foreign keys enforced runs an implicit ``DELETE``: subscriptions and outbox rows would cascade
away and the opt-out ledger would lose its ``subscriber_id`` values (its triggers allow exactly
that change). ``PRAGMA foreign_keys`` cannot change inside a transaction, so
:func:`policywatch.store.migrate.upgrade` turns it off around the migration transaction and
runs ``PRAGMA foreign_key_check`` before committing; this migration refuses to run with
foreign keys on rather than rely on that.

The ids of rows deleted before this migration are gone from the database: nothing records how
high they went. So that links sent before the upgrade cannot land on a row created after it,
a database that has been used starts new ids ``ID_GAP`` above the highest one left.

Written out by hand, like every migration: it must keep doing exactly this after schema.py
moves on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: how far above the highest surviving id new ids start in a database that has been used
ID_GAP = 1_000_000

_SUBSCRIBER_COLUMNS = (
    "id",
    "email",
    "email_hash",
    "status",
    "source",
    "created_at",
    "confirmed_at",
    "unsubscribed_at",
)
_OUTBOX_COLUMNS = (
    "id",
    "change_id",
    "subscriber_id",
    "status",
    "attempts",
    "next_attempt_at",
    "lease_owner",
    "lease_expires_at",
    "last_error",
    "message_id",
    "created_at",
    "sent_at",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "migration 0003 rebuilds tables other tables refer to: with foreign keys on, SQLite"
            " would cascade the drop into subscriptions, the outbox and the opt-out ledger."
            " Run it through policywatch (Store.open / policywatch.store.migrate.upgrade),"
            " which turns foreign keys off around the migration."
        )
    used = bool(
        bind.exec_driver_sql(
            "SELECT EXISTS (SELECT 1 FROM changes) OR EXISTS (SELECT 1 FROM subscribers)"
            " OR EXISTS (SELECT 1 FROM suppressions) OR EXISTS (SELECT 1 FROM optouts)"
        ).scalar()
    )
    _rebuild_subscribers()
    _rebuild_outbox()
    for table in ("subscribers", "outbox"):
        top = bind.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {table}").scalar() or 0
        seq = int(top) + (ID_GAP if used else 0)
        bind.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
        bind.exec_driver_sql("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, seq))


def _copy(table: str, columns: Sequence[str]) -> None:
    """Move every row, id included, into ``_new_<table>`` and put it in the old one's place."""
    names = ", ".join(columns)
    op.execute(f"INSERT INTO _new_{table} ({names}) SELECT {names} FROM {table}")
    op.execute(f"DROP TABLE {table}")
    op.execute(f"ALTER TABLE _new_{table} RENAME TO {table}")


def _rebuild_subscribers() -> None:
    op.create_table(
        "_new_subscribers",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("email_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("confirmed_at", _TS, nullable=True),
        sa.Column("unsubscribed_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_subscribers"),
        sa.UniqueConstraint("email", name="uq_subscribers_email"),
        sa.UniqueConstraint("email_hash", name="uq_subscribers_email_hash"),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'unsubscribed', 'suppressed', 'forgotten')",
            name="ck_subscribers_status",
        ),
        sqlite_autoincrement=True,
    )
    _copy("subscribers", _SUBSCRIBER_COLUMNS)


def _rebuild_outbox() -> None:
    op.create_table(
        "_new_outbox",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("change_id", sa.Integer, nullable=False),
        sa.Column("subscriber_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_expires_at", _TS, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.ForeignKeyConstraint(["change_id"], ["changes.id"], name="fk_outbox_change_id_changes"),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name="fk_outbox_subscriber_id_subscribers",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("change_id", "subscriber_id", name="uq_outbox_change_id_subscriber_id"),
        sa.CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'failed', 'cancelled')",
            name="ck_outbox_status",
        ),
        sqlite_autoincrement=True,
    )
    _copy("outbox", _OUTBOX_COLUMNS)
    # the old table's indexes went with it
    op.create_index(
        "ix_outbox_status_next_attempt_at_id", "outbox", ["status", "next_attempt_at", "id"]
    )
    op.create_index("ix_outbox_subscriber_id", "outbox", ["subscriber_id"])


def downgrade() -> None:
    """Nothing: 0002's code works on these tables, and undoing them would bring reuse back."""
