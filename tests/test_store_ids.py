"""Row ids that links in emails carry are never handed to another row (migration 0003).

An unsubscribe or confirm link names a ``subscribers.id``, an opt-out link an ``outbox.id``.
If deleting the newest row let the next insert take its id, an old link would act on a
different person.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import storefixture
from policywatch.errors import StoreError
from policywatch.models import Revision
from policywatch.store import Store
from policywatch.store import database_url as parse_url
from policywatch.store.database import create_engine
from policywatch.store.migrate import HEAD, alembic_config

database_url = storefixture.database_url
clock = storefixture.clock
store = storefixture.store

TABLES = ("changes", "subscribers", "subscriptions", "outbox", "suppressions", "optouts", "cursors")


def revision(rev: str) -> Revision:
    return Revision(
        policy="privacy",
        id=rev,
        date=datetime(2026, 4, 1, 9, 30, tzinfo=UTC),
        kind="change",
        material=True,
        summary=f"summary of {rev}",
        categories=("user-choice",),
        restores=None,
    )


@pytest.fixture
def raw(database_url: str) -> Iterator[sa.Engine]:
    """A plain engine (foreign keys not enforced on SQLite): what another program could do."""
    engine = sa.create_engine(parse_url(database_url))
    try:
        yield engine
    finally:
        engine.dispose()


def snapshot(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            table: [
                tuple(row)
                for row in conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1").all()
            ]
            for table in TABLES
        }


def migrate_to_0002(url: str) -> None:
    from alembic import command

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(connection=conn), "0002")
    finally:
        engine.dispose()


# -- new databases ------------------------------------------------------------------------------


def test_a_removed_newest_subscribers_id_is_not_reused(store: Store) -> None:
    a = store.subscribe("a@example.org", [], confirmed=True, source="admin")
    b = store.subscribe("b@example.org", [], confirmed=True, source="admin")
    assert store.remove("b@example.org")
    c = store.subscribe("c@example.org", [], confirmed=True, source="admin")
    assert c.id not in (a.id, b.id)
    assert store.subscriber(b.id) is None


def test_a_purged_newest_signups_id_is_not_reused(store: Store, clock: storefixture.Clock) -> None:
    store.subscribe("a@example.org", [], confirmed=True, source="admin")
    pending = store.subscribe("p@example.org", [], confirmed=False, source="web")
    clock.advance(timedelta(days=30))
    assert store.purge_unconfirmed(clock.now) == 1
    later = store.subscribe("q@example.org", [], confirmed=False, source="web")
    assert later.id != pending.id
    # the purged reader's confirm link now confirms nobody
    assert store.confirm(pending.id) is None


def test_a_forgotten_recipients_outbox_ids_are_not_reused(store: Store) -> None:
    store.subscribe("a@example.org", [], confirmed=True, source="admin")
    store.subscribe("b@example.org", [], confirmed=True, source="admin")
    assert store.fan_out(store.record_change(revision("r1"))) == 2
    items = store.claim("s1", 10, timedelta(minutes=5))
    old_ids = {item.id for item in items}
    newest = max(items, key=lambda item: item.id)
    assert newest.email is not None and store.forget(newest.email)
    assert store.outbox_item(newest.id) is None

    assert store.fan_out(store.record_change(revision("r2"))) == 1
    [fresh] = store.claim("s1", 10, timedelta(minutes=5))
    assert fresh.id not in old_ids
    assert store.outbox_item(newest.id) is None


def test_migrated_tables_and_schema_py_both_say_autoincrement(
    store: Store, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("AUTOINCREMENT is SQLite's; PostgreSQL sequences never reuse ids")
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateTable

    from policywatch.store.schema import outbox, subscribers

    engine = sa.create_engine(parse_url(database_url))
    try:
        with engine.connect() as conn:
            for table in (subscribers, outbox):
                sql = conn.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                    (table.name,),
                ).scalar_one()
                assert "AUTOINCREMENT" in sql
                assert "AUTOINCREMENT" in str(CreateTable(table).compile(dialect=sqlite.dialect()))
    finally:
        engine.dispose()


# -- existing databases -------------------------------------------------------------------------


def test_migrating_from_0002_keeps_every_row_id_and_ledger_entry(
    database_url: str, raw: sa.Engine, clock: storefixture.Clock
) -> None:
    migrate_to_0002(database_url)
    old = Store.open(database_url, migrate=False, clock=clock)
    try:
        assert old.current_revision() == "0002"
        a = old.subscribe("a@example.org", ["privacy"], confirmed=True, source="admin")
        b = old.subscribe("b@example.org", [], confirmed=True, source="admin")
        f = old.subscribe("f@example.org", [], confirmed=True, source="admin")
        old.subscribe("p@example.org", [], confirmed=False, source="web")
        change = old.record_change(revision("r1"))
        assert old.fan_out(change) == 3
        [first, *_] = old.claim("s1", 10, timedelta(minutes=5))
        assert old.mark_sent(first.id, "s1")
        kept_a = old.record_optout(a.id, change, channel="web")
        kept_b = old.record_optout(b.id, change)
        erased = old.record_optout(f.id, change, channel="admin")
        assert old.forget("f@example.org")
        old.advance_cursor("webhook", 0, kept_b.id)
        # the newest subscriber goes: before 0003, the next signup would have got its id
        gone = old.subscribe("gone@example.org", [], confirmed=True, source="admin")
        assert old.remove("gone@example.org")
    finally:
        old.close()
    before = snapshot(raw)
    assert [r for r in before["optouts"] if r[0] in (kept_a.id, kept_b.id)]

    store = Store.open(database_url, clock=clock)
    try:
        assert store.current_revision() == HEAD
        assert snapshot(raw) == before
        entries = {e.id: e for e in store.optouts()}
        assert entries[kept_a.id].subscriber_id == a.id
        assert entries[kept_b.id].subscriber_id == b.id
        assert entries[erased.id].subscriber_id is None
        assert store.cursor("webhook") == kept_b.id

        new = store.subscribe("new@example.org", [], confirmed=True, source="admin")
        assert new.id > gone.id
        # everything still works on the rebuilt tables, cascades included
        assert store.fan_out(store.record_change(revision("r2"))) == 3
        assert store.remove("b@example.org")
        assert store.optouts()[1].subscriber_id is None
        assert all(item.subscriber_id != b.id for item in store.claim("s2", 10, timedelta(1)))
    finally:
        store.close()
    with raw.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="append-only"):
        conn.exec_driver_sql(f"DELETE FROM optouts WHERE id = {kept_a.id}")


def test_a_migration_that_would_break_references_is_rolled_back(
    database_url: str, raw: sa.Engine
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL enforces foreign keys always; 0003 changes nothing there")
    migrate_to_0002(database_url)
    with raw.begin() as conn:  # another program, foreign keys not enforced
        conn.exec_driver_sql(
            "INSERT INTO subscriptions (id, subscriber_id, policy, scope, pending, created_at)"
            " VALUES (1, 99, 'privacy', 'all', 0, '2026-05-01 12:00:00')"
        )
    before = snapshot(raw)
    with pytest.raises(StoreError, match="1 rows of subscriptions refer to rows that do not"):
        Store.open(database_url)
    assert snapshot(raw) == before
    with raw.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0002"
        sql = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE name = 'subscribers'"
        ).scalar_one()
        assert "AUTOINCREMENT" not in sql


def test_0003_refuses_to_run_with_foreign_keys_enforced(database_url: str) -> None:
    """Run through plain Alembic with foreign keys on, the drop would cascade: refuse."""
    if not database_url.startswith("sqlite"):
        pytest.skip("0003 changes nothing on PostgreSQL")
    from alembic import command

    migrate_to_0002(database_url)
    engine = create_engine(database_url)  # foreign keys on, as the store runs
    try:
        with pytest.raises(RuntimeError, match="foreign keys on"), engine.begin() as conn:
            command.upgrade(alembic_config(connection=conn), "head")
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == (
                "0002"
            )
    finally:
        engine.dispose()
