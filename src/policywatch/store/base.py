"""What every part of the Store shares: the engine, the clock, transactions, row mappers.

Each public method is one transaction. Methods that write run as ``BEGIN IMMEDIATE`` on SQLite
(see :mod:`.database`) so a read-then-write never fails half way with "database is locked".
Every SQLAlchemy error leaves as :class:`~policywatch.errors.StoreError`; bad arguments (an
address that is not one, an unknown category) as :class:`~policywatch.errors.InputError`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, Row

from .database import store_errors
from .records import ChangeRecord
from .schema import decode_categories, outbox, suppressions

__all__ = ["Clock", "StoreBase", "cancel_queued", "change_record", "is_suppressed_hash"]

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class StoreBase:
    """The engine, the clock and the transaction helpers the Store's parts build on."""

    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        self._engine = engine
        self._now = clock or utcnow
        dialect = engine.dialect.name
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self.dialect = dialect
        self._local = threading.local()

    @contextmanager
    def _write(self, what: str) -> Iterator[Connection]:
        outer: Connection | None = getattr(self._local, "conn", None)
        if outer is not None:  # inside write_together(): part of its one transaction
            with store_errors(what):
                yield outer
            return
        with store_errors(what), self._engine.connect() as conn:
            conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def write_together(self, what: str) -> Iterator[None]:
        """Run the writes of this thread inside the block as one transaction: all or none.

        A check that records sixty revisions queues them with one commit instead of a hundred
        and twenty (each one an fsync on SQLite), and a failure part way leaves none of them
        behind (``Notifier.reconcile`` queues them again on the next run). Reads inside the block
        still use their own connections, so they do not see its writes until it ends.
        """
        if getattr(self._local, "conn", None) is not None:
            raise RuntimeError("write_together() does not nest")
        with store_errors(what), self._engine.connect() as conn:
            conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            with conn.begin():
                self._local.conn = conn
                try:
                    yield
                finally:
                    self._local.conn = None

    @contextmanager
    def _read(self, what: str) -> Iterator[Connection]:
        with store_errors(what), self._engine.connect() as conn, conn.begin():
            yield conn

    def _suppress(self, conn: Connection, digest: str, reason: str) -> None:
        conn.execute(
            self._insert(suppressions)
            .values(email_hash=digest, reason=reason[:32], created_at=self._now())
            .on_conflict_do_nothing(index_elements=["email_hash"])
        )


def is_suppressed_hash(conn: Connection, digest: str) -> bool:
    found = conn.execute(
        sa.select(suppressions.c.email_hash).where(suppressions.c.email_hash == digest)
    ).first()
    return found is not None


def cancel_queued(conn: Connection, subscriber_id: int) -> None:
    """Cancel what is waiting; rows a sender holds right now are left to the claim re-check."""
    conn.execute(
        outbox.update()
        .where(outbox.c.subscriber_id == subscriber_id, outbox.c.status == "queued")
        .values(status="cancelled")
    )


def change_record(row: Row[Any]) -> ChangeRecord:
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
