"""Engines: which URLs we accept, and the SQLite settings that make it safe under concurrency.

SQLite by default (one file next to config.toml), PostgreSQL for scale. Both are first class:
every query is written once in SQLAlchemy Core and the tests run on both.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from ..errors import StoreError

__all__ = ["create_engine", "database_url", "describe_error", "store_errors"]

#: seconds a SQLite writer waits for another writer before giving up with "database is locked"
SQLITE_BUSY_TIMEOUT = 30.0


def database_url(url: str) -> URL:
    """Parse a configured URL and pick the driver we ship with.

    ``postgresql://`` and ``postgres://`` (what hosting providers hand out) mean psycopg 3;
    SQLAlchemy would otherwise pick psycopg2, which policywatch does not depend on.
    """
    try:
        parsed = sa.engine.make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {url!r} ({exc})") from exc
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed
    if backend == "sqlite":
        return parsed
    raise StoreError(
        f"unsupported database {backend!r} in {parsed!r} (expected sqlite or postgresql)"
    )


def create_engine(url: str) -> Engine:
    parsed = database_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed)
        return sa.create_engine(parsed, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError) as exc:
        raise StoreError(f"cannot open {parsed!r}: {exc}") from exc


def _sqlite_engine(url: URL) -> Engine:
    """SQLite with transactions we control.

    Python's sqlite3 module opens transactions lazily and never with ``BEGIN IMMEDIATE``, so two
    processes that both read and then write can deadlock into "database is locked" without
    waiting. We switch the driver to autocommit and emit ``BEGIN`` ourselves: ``BEGIN
    IMMEDIATE`` for every transaction that writes (it takes the write lock up front and waits
    for it up to the busy timeout), plain ``BEGIN`` for reads. WAL lets those reads go on while
    one writer works. Foreign keys are off by default in SQLite; cascades need them.
    """
    memory = url.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {
        "connect_args": {"timeout": SQLITE_BUSY_TIMEOUT, "check_same_thread": False}
    }
    if memory:
        # every new connection to :memory: is a new empty database: share exactly one
        kwargs["poolclass"] = StaticPool
    engine = sa.create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                _enable_wal(cursor)
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "BEGIN")
        conn.exec_driver_sql(mode)

    return engine


def _enable_wal(cursor: Any) -> None:
    """Switch a database file to WAL once; the mode is then stored in the file.

    Switching needs an exclusive lock and SQLite does not wait for it (no busy handler), so two
    processes opening a fresh database at once would fail with "database is locked". Reading
    the mode first makes the usual case lock-free; the switch itself is retried.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def describe_error(exc: BaseException) -> str:
    """The driver's own message, without SQLAlchemy's SQL dump and documentation link."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        text = str(exc.orig).strip()
        return text.splitlines()[0] if text else type(exc.orig).__name__
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@contextmanager
def store_errors(what: str) -> Iterator[None]:
    """Re-raise any SQLAlchemy error as :class:`StoreError` naming the operation that failed."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise StoreError(f"{what}: {describe_error(exc)}") from exc
