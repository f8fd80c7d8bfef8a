"""Schema migrations with Alembic, configured in code (no alembic.ini at run time).

``serve`` and ``check`` both migrate on start, possibly at the same moment: the check and the
upgrade run in one transaction that holds the database's write lock (``BEGIN IMMEDIATE`` on
SQLite, a transaction-scoped advisory lock on PostgreSQL, whose DDL is transactional), so the
second process waits and then finds nothing to do.

A schema revision this code does not know means a newer policywatch has upgraded the database.
Running on would write rows the newer schema may not expect, so we stop with a clear error.

To write the next migration (developers only)::

    from alembic import command
    from policywatch.store.migrate import alembic_config
    command.revision(alembic_config("sqlite:///dev.db"), message="add x", rev_id="0002")

then set ``HEAD`` below to the new id (a test checks it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import StoreError
from .database import describe_error

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD", "MIGRATIONS", "alembic_config", "current_revision", "upgrade"]

#: the newest revision in migrations/versions; lets a current database open without Alembic
HEAD = "0003"
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
VERSION_TABLE = "alembic_version"
#: arbitrary constant shared by every policywatch process migrating a PostgreSQL database
_PG_LOCK_KEY = 0x706F6C6963790001


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def current_revision(conn: Connection) -> str | None:
    """The schema revision recorded in the database, None for an empty database."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    rows = conn.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalars().all()
    if len(rows) > 1:
        raise StoreError(
            f"the database records several schema heads ({', '.join(map(str, rows))});"
            " it was not migrated by policywatch"
        )
    return str(rows[0]) if rows else None


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


def check_known(revision: str | None) -> None:
    """Refuse a database upgraded by a newer policywatch (or used by another program)."""
    if revision is None or revision == HEAD or revision in known_revisions():
        return
    raise StoreError(
        f"the database schema is at revision {revision!r}, which this version of policywatch"
        f" does not know (newest known: {HEAD!r}): it was probably upgraded by a newer"
        " policywatch. Upgrade policywatch, or point [database] url at another database."
        " Nothing was changed."
    )


def upgrade(engine: Engine) -> str:
    """Bring the schema to HEAD and return the revision it is at afterwards.

    On SQLite, foreign keys are off for the migration transaction: rebuilding a table that
    others refer to (the only way SQLite changes most things) drops it, and with foreign keys
    on that drop cascades into every referring row, the append-only opt-out ledger included.
    The pragma is a no-op inside a transaction, so it is set before ``BEGIN``, and
    ``PRAGMA foreign_key_check`` must come back empty before the migration commits.
    """
    try:
        with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                _sqlite_foreign_keys(conn, on=False)
            try:
                return _upgrade(conn.execution_options(sqlite_begin="BEGIN IMMEDIATE"))
            finally:
                if sqlite and not conn.invalidated:
                    _sqlite_foreign_keys(conn, on=True)
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"migrating the database failed: {describe_error(exc)}") from exc


def _upgrade(conn: Connection) -> str:
    with conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        revision = current_revision(conn)
        check_known(revision)
        if revision != HEAD:
            from alembic import command
            from alembic.util import CommandError

            try:
                command.upgrade(alembic_config(connection=conn), "head")
            except CommandError as exc:
                raise StoreError(f"migrating the database failed: {exc}") from exc
            if conn.dialect.name == "sqlite":
                _check_foreign_keys(conn)
            revision = current_revision(conn)
    return revision or ""


def _sqlite_foreign_keys(conn: Connection, *, on: bool) -> None:
    """Set the pragma on the driver connection: through SQLAlchemy it would autobegin first."""
    conn.connection.driver_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")  # type: ignore[union-attr]


def _check_foreign_keys(conn: Connection) -> None:
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        tables = sorted({str(row[0]) for row in broken})
        raise StoreError(
            f"migrating the database failed: {len(broken)} rows of {', '.join(tables)} refer to"
            " rows that do not exist; nothing was changed"
        )
