"""Initial schema: changes, subscribers, subscriptions, outbox, suppressions, opt-out ledger,
locks, rate limits.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Written out by hand rather than imported from ``policywatch.store.schema``: a migration must
keep creating exactly this schema after the module moves on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_BOOL = sa.Boolean(create_constraint=False)

#: every column of optouts except subscriber_id, which erasure may set to NULL
_LEDGER_FIXED = (
    "id",
    "email_hash",
    "policy",
    "revision",
    "change_id",
    "categories",
    "channel",
    "created_at",
)


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("previous_revision", sa.String(64), nullable=True),
        sa.Column("date", _TS, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("material", _BOOL, nullable=False),
        sa.Column("categories", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("restores", sa.String(64), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_changes")),
        sa.UniqueConstraint("policy", "revision", name=op.f("uq_changes_policy_revision")),
    )
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("email_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("confirmed_at", _TS, nullable=True),
        sa.Column("unsubscribed_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscribers")),
        sa.UniqueConstraint("email", name=op.f("uq_subscribers_email")),
        sa.UniqueConstraint("email_hash", name=op.f("uq_subscribers_email_hash")),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'unsubscribed', 'suppressed', 'forgotten')",
            name=op.f("ck_subscribers_status"),
        ),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("subscriber_id", sa.Integer, nullable=False),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("categories", sa.Text, nullable=True),
        sa.Column("pending", _BOOL, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_subscriptions_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "subscriber_id",
            "policy",
            "pending",
            name=op.f("uq_subscriptions_subscriber_id_policy_pending"),
        ),
        sa.CheckConstraint("scope IN ('all', 'material')", name=op.f("ck_subscriptions_scope")),
    )
    op.create_table(
        "outbox",
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.ForeignKeyConstraint(
            ["change_id"], ["changes.id"], name=op.f("fk_outbox_change_id_changes")
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_outbox_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "change_id", "subscriber_id", name=op.f("uq_outbox_change_id_subscriber_id")
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'failed', 'cancelled')",
            name=op.f("ck_outbox_status"),
        ),
    )
    op.create_index(
        "ix_outbox_status_next_attempt_at_id", "outbox", ["status", "next_attempt_at", "id"]
    )
    op.create_index("ix_outbox_subscriber_id", "outbox", ["subscriber_id"])
    op.create_table(
        "suppressions",
        sa.Column("email_hash", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("email_hash", name=op.f("pk_suppressions")),
    )
    op.create_table(
        "optouts",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("subscriber_id", sa.Integer, nullable=True),
        sa.Column("email_hash", sa.String(64), nullable=False),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("change_id", sa.Integer, nullable=False),
        sa.Column("categories", sa.Text, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_optouts")),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_optouts_subscriber_id_subscribers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["change_id"], ["changes.id"], name=op.f("fk_optouts_change_id_changes")
        ),
        sa.UniqueConstraint(
            "email_hash",
            "change_id",
            "categories",
            name=op.f("uq_optouts_email_hash_change_id_categories"),
        ),
        sa.CheckConstraint(
            "channel IN ('email-link', 'web', 'api', 'admin')", name=op.f("ck_optouts_channel")
        ),
    )
    op.create_index("ix_optouts_subscriber_id", "optouts", ["subscriber_id"])
    op.create_table(
        "locks",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("acquired_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_locks")),
    )
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limits")),
    )
    op.create_index("ix_rate_limits_expires_at", "rate_limits", ["expires_at"])
    _ledger_triggers()


def _ledger_triggers() -> None:
    """Make the opt-out ledger append-only in the database itself, not only in the API.

    The one change allowed is erasure setting ``subscriber_id`` to NULL (directly, or through
    the foreign key when a subscriber row is deleted); every other UPDATE, every DELETE (and on
    PostgreSQL, TRUNCATE) is refused, whatever program connects.
    """
    if op.get_bind().dialect.name == "sqlite":
        same = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _LEDGER_FIXED)
        op.execute(
            "CREATE TRIGGER optouts_append_only_update BEFORE UPDATE ON optouts"
            f" WHEN NOT (NEW.subscriber_id IS NULL AND {same})"
            " BEGIN SELECT RAISE(ABORT, 'optouts is an append-only ledger: UPDATE refused'); END"
        )
        op.execute(
            "CREATE TRIGGER optouts_append_only_delete BEFORE DELETE ON optouts"
            " BEGIN SELECT RAISE(ABORT, 'optouts is an append-only ledger: DELETE refused'); END"
        )
        return
    same = " AND ".join(f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}" for c in _LEDGER_FIXED)
    op.execute(
        "CREATE FUNCTION optouts_append_only() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        f"  IF TG_OP = 'UPDATE' AND NEW.subscriber_id IS NULL AND {same} THEN\n"
        "    RETURN NEW;\n"
        "  END IF;\n"
        "  RAISE EXCEPTION 'optouts is an append-only ledger: % refused', TG_OP;\n"
        "END\n"
        "$$"
    )
    op.execute(
        "CREATE TRIGGER optouts_append_only BEFORE UPDATE OR DELETE ON optouts"
        " FOR EACH ROW EXECUTE FUNCTION optouts_append_only()"
    )
    op.execute(
        "CREATE TRIGGER optouts_no_truncate BEFORE TRUNCATE ON optouts"
        " FOR EACH STATEMENT EXECUTE FUNCTION optouts_append_only()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS optouts_no_truncate ON optouts")
        op.execute("DROP TRIGGER IF EXISTS optouts_append_only ON optouts")
        op.execute("DROP FUNCTION IF EXISTS optouts_append_only()")
    for table in (
        "rate_limits",
        "locks",
        "optouts",
        "suppressions",
        "outbox",
        "subscriptions",
        "subscribers",
        "changes",
    ):
        op.drop_table(table)
