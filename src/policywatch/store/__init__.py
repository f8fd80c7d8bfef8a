"""The database layer: SQLAlchemy Core (no ORM) + Alembic; SQLite by default, PostgreSQL to scale.

::

    store = Store.open("sqlite:///policywatch.db")      # migrates to the newest schema
    change_id = store.record_change(revision, previous=previous_id)
    store.fan_out(change_id)                            # one INSERT ... SELECT into the outbox
    for item in store.claim("sender-1", 50, timedelta(minutes=5)):
        ...                                             # send, then mark_sent / mark_retry

Why SQLAlchemy Core and these tables: docs/decisions/0003-database.md.
"""

from __future__ import annotations

from .core import Store
from .database import database_url
from .records import (
    CHANNELS,
    ChangeRecord,
    Channel,
    OptOut,
    OutboxItem,
    OutboxStatus,
    Scope,
    Subscriber,
    SubscriberStatus,
    Subscription,
    email_hash,
    normalise_email,
)

__all__ = [
    "CHANNELS",
    "ChangeRecord",
    "Channel",
    "OptOut",
    "OutboxItem",
    "OutboxStatus",
    "Scope",
    "Store",
    "Subscriber",
    "SubscriberStatus",
    "Subscription",
    "database_url",
    "email_hash",
    "normalise_email",
]
