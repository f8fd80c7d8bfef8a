"""Cursors: how far a consumer of an append-only table has got (the opt-out webhook).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

The opt-out ledger refuses every UPDATE, so "delivered to the webhook" cannot be a column of it;
a named position in the ledger is all a consumer needs, and it is shared by every process on
the database (a file beside the archive would not be, across machines).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cursors",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cursors")),
    )


def downgrade() -> None:
    op.drop_table("cursors")
