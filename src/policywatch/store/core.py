"""The Store: every row policywatch keeps outside git, behind plain-value methods.

One class for callers, assembled from one part per idea (outbox, subscribers, ledger) so no
module grows past a few hundred lines; this module adds opening and migrating, the recorded
changes, the named locks and the rate limiter.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa

from ..errors import InputError
from ..models import Revision
from . import migrate as migrations
from .base import Clock, StoreBase, change_record
from .database import create_engine, store_errors
from .ledger import LedgerMixin
from .outbox import OutboxMixin
from .records import ChangeRecord, check_categories, check_policy_id
from .schema import UTCDateTime, changes, cursors, encode_categories, locks, rate_limits
from .subscribers import SubscribersMixin

__all__ = ["Store"]


class Store(OutboxMixin, SubscribersMixin, LedgerMixin, StoreBase):
    """The database of one site: changes, subscribers, the outbox and the opt-out ledger.

    Thread-safe: each call takes its own pooled connection. Several processes may share one
    database (``serve`` and a cron'd ``check``); the outbox lease and the named locks are what
    keeps them from doing the same work twice.
    """

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

    # -- changes -------------------------------------------------------------------------------

    def _change_values(self, revision: Revision, previous: str | None) -> dict[str, object]:
        check_policy_id(revision.policy)
        categories = check_categories(list(revision.categories))
        return {
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

    def record_changes(self, items: Sequence[tuple[Revision, str | None]]) -> list[int]:
        """:meth:`record_change` for many (revision, previous revision id) at once, in one
        transaction; returns their ids in order. One ``executemany`` and one ``SELECT`` per
        few hundred rows instead of two statements each: a check's chunk of revisions."""
        return self._record_changes(items, "recording changes")

    def _record_changes(self, items: Sequence[tuple[Revision, str | None]], what: str) -> list[int]:
        if not items:
            return []
        rows = [self._change_values(revision, previous) for revision, previous in items]
        stmt = self._insert(changes).on_conflict_do_nothing(index_elements=["policy", "revision"])
        found: dict[tuple[str, str], int] = {}
        with self._write(what) as conn:
            conn.execute(stmt, rows)
            ids = [revision.id for revision, _ in items]
            for start in range(0, len(ids), 500):  # bound the IN list (SQLite's variable cap)
                query = sa.select(changes.c.id, changes.c.policy, changes.c.revision).where(
                    changes.c.revision.in_(ids[start : start + 500])
                )
                for row in conn.execute(query):
                    found[(row.policy, row.revision)] = int(row.id)
        return [found[(revision.policy, revision.id)] for revision, _ in items]

    def record_change(self, revision: Revision, *, previous: str | None = None) -> int:
        """Record an archived revision as a change; returns its id.

        Idempotent on (policy, revision): recording the same revision again (a re-run after a
        crash) returns the first row's id and changes nothing.
        """
        return self._record_changes([(revision, previous)], "recording a change")[0]

    def change(self, change_id: int) -> ChangeRecord | None:
        with self._read("reading a change") as conn:
            row = conn.execute(sa.select(changes).where(changes.c.id == change_id)).first()
        return change_record(row) if row else None

    def find_change(self, policy: str, revision: str) -> ChangeRecord | None:
        with self._read("reading a change") as conn:
            row = conn.execute(
                sa.select(changes).where(changes.c.policy == policy, changes.c.revision == revision)
            ).first()
        return change_record(row) if row else None

    def changes(self, policy: str | None = None) -> list[ChangeRecord]:
        """Recorded changes, newest first."""
        query = sa.select(changes).order_by(changes.c.date.desc(), changes.c.id.desc())
        if policy is not None:
            query = query.where(changes.c.policy == policy)
        with self._read("listing changes") as conn:
            return [change_record(row) for row in conn.execute(query)]

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

    # -- cursors ---------------------------------------------------------------------------------

    def cursor(self, name: str) -> int:
        """How far the consumer ``name`` has got (an id of the table it reads); 0 when new."""
        with self._read("reading a cursor") as conn:
            found = conn.execute(
                sa.select(cursors.c.position).where(cursors.c.name == name)
            ).scalar_one_or_none()
        return int(found) if found is not None else 0

    def advance_cursor(self, name: str, expected: int, position: int) -> bool:
        """Move ``name`` from ``expected`` to ``position``; False when it is not at ``expected``.

        Compare-and-set, so two consumers that raced past the same rows notice it instead of
        moving the cursor back; a cursor only moves forward.
        """
        if position < expected:
            raise InputError(f"cursor {name!r} cannot move back from {expected} to {position}")
        with self._write("advancing a cursor") as conn:
            now = self._now()
            if expected != 0:
                result = conn.execute(
                    cursors.update()
                    .where(cursors.c.name == name, cursors.c.position == expected)
                    .values(position=position, updated_at=now)
                )
                return bool(result.rowcount)
            # a cursor with no row is at 0: create it, or move one that was stored at 0
            stmt = self._insert(cursors).values(name=name, position=position, updated_at=now)
            stmt = stmt.on_conflict_do_update(
                index_elements=["name"],
                set_={"position": position, "updated_at": now},
                where=cursors.c.position == 0,
            )
            return conn.execute(stmt.returning(cursors.c.name)).first() is not None

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
