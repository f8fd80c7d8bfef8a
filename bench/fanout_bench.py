"""Benchmark the outbox: fan one change out to 100,000 subscribers, then claim it back.

    PYTHONPATH=src python bench/fanout_bench.py [--subscribers 100000] [--claim-rows 20000]
        [--postgres postgresql://postgres@127.0.0.1:5432/test | --no-postgres]

For each database (a SQLite file in a temp folder; PostgreSQL in a throw-away schema when the
server answers): load N confirmed subscribers (bulk insert, not timed; 70% follow every policy,
20% follow the policy with scope ``material``, 10% filter on a category the change does not
touch), record one material change and time ``Store.fan_out`` (one INSERT ... SELECT), then
the same call again (idempotent: nothing inserted). Then claim throughput: senders claim
batches and mark each row sent in its own transaction, as a real sender does, first one sender,
then two concurrent senders (threads, each with its own Store and connection pool).
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

from policywatch.models import Revision
from policywatch.store import Store, database_url
from policywatch.store.schema import subscribers, subscriptions

LEASE = timedelta(minutes=5)


def populate(store_url: str, n: int) -> None:
    engine = sa.create_engine(database_url(store_url))
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            for start in range(0, n, 10_000):
                ids = range(start + 1, min(start + 10_000, n) + 1)
                conn.execute(
                    subscribers.insert(),
                    [
                        {
                            "id": i,
                            "email": f"reader{i}@example.org",
                            "email_hash": f"{i:064x}",
                            "status": "confirmed",
                            "source": "bench",
                            "created_at": now,
                            "confirmed_at": now,
                        }
                        for i in ids
                    ],
                )
                conn.execute(
                    subscriptions.insert(),
                    [
                        {
                            "subscriber_id": i,
                            "policy": "*" if i % 10 < 7 else "privacy",
                            "scope": "material" if i % 10 in (7, 8) else "all",
                            "categories": ",do-not-track," if i % 10 == 9 else None,
                            "pending": False,
                            "created_at": now,
                        }
                        for i in ids
                    ],
                )
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT setval('subscribers_id_seq', {n})")
                conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()


def claim_all(store_url: str, owner: str, batch: int, limit: int, counter: list[int]) -> None:
    store = Store.open(store_url, migrate=False)
    try:
        while sum(counter) < limit:
            items = store.claim(owner, batch, LEASE)
            if not items:
                return
            for item in items:
                store.mark_sent(item.id, owner)
            counter.append(len(items))
    finally:
        store.close()


def run(label: str, store_url: str, n: int, claim_rows: int, batch: int) -> list[str]:
    t0 = time.perf_counter()
    store = Store.open(store_url)
    migrate_s = time.perf_counter() - t0
    populate(store_url, n)
    change = store.record_change(
        Revision(
            policy="privacy",
            id="0" * 40,
            date=datetime.now(UTC),
            kind="change",
            material=True,
            summary="bench",
            categories=("third-party-sharing",),
        )
    )
    t0 = time.perf_counter()
    queued = store.fan_out(change)
    fan_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = store.fan_out(change)
    again_s = time.perf_counter() - t0
    rows = [
        f"| {label} | fan-out of {n:,} subscribers | {queued:,} rows | {fan_s:.2f} s"
        f" | {queued / fan_s:,.0f} rows/s |",
        f"| {label} | fan-out again (idempotent) | {again:,} rows | {again_s:.2f} s | - |",
    ]
    print(f"{label}: migrate {migrate_s:.2f} s")
    t0 = time.perf_counter()
    claimed = 0
    while claimed < claim_rows and (items := store.claim("bulk", 500, LEASE)):
        claimed += len(items)
    took = time.perf_counter() - t0
    rows.append(
        f"| {label} | claim 500 at a time, no mark_sent | {claimed:,} rows | {took:.2f} s"
        f" | {claimed / took:,.0f} rows/s |"
    )
    t0 = time.perf_counter()
    released = store.release("bulk")
    took = time.perf_counter() - t0
    rows.append(f"| {label} | release them | {released:,} rows | {took:.2f} s | - |")
    for senders in (1, 2):
        counters: list[list[int]] = [[] for _ in range(senders)]
        threads = [
            threading.Thread(
                target=claim_all, args=(store_url, f"s{i}", batch, claim_rows // senders, c)
            )
            for i, c in enumerate(counters)
        ]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.perf_counter() - t0
        done = sum(sum(c) for c in counters)
        rows.append(
            f"| {label} | claim {batch}, mark_sent each, {senders} sender{'s' * (senders > 1)}"
            f" | {done:,} rows"
            f" | {took:.2f} s | {done / took:,.0f} rows/s |"
        )
    counts = store.outbox_counts()
    print(f"{label}: outbox {counts}")
    store.close()
    for row in rows:
        print(row)
    return rows


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    admin = sa.create_engine(database_url(url))
    schema = f"pw_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        separator = "&" if "?" in url else "?"
        yield f"{url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def postgres_version(url: str) -> str | None:
    try:
        engine = sa.create_engine(database_url(url), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            version = str(conn.exec_driver_sql("SHOW server_version").scalar()).split()[0]
        engine.dispose()
        return version
    except sa.exc.SQLAlchemyError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--claim-rows", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("POLICYWATCH_TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/test",
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    print(
        f"machine: {platform.machine()} {os.cpu_count()} CPU, {platform.platform()},"
        f" Python {platform.python_version()}, SQLite {sqlite3.sqlite_version},"
        f" SQLAlchemy {sa.__version__}"
    )
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        rows += run("SQLite", url, args.subscribers, args.claim_rows, args.batch)
    version = None if args.no_postgres else postgres_version(args.postgres)
    if version is None:
        print("PostgreSQL: not reachable, skipped")
    else:
        print(f"PostgreSQL {version}")
        with postgres_schema(args.postgres) as url:
            rows += run(f"PostgreSQL {version}", url, args.subscribers, args.claim_rows, args.batch)
    print()
    print("| database | operation | rows | seconds | rate |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
