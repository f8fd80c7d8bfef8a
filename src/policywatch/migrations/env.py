"""Alembic environment: run the migrations on the connection policywatch hands in.

:func:`policywatch.store.migrate.upgrade` passes an open connection inside a transaction that
already holds the write lock; Alembic then runs every step in that one transaction. Without a
connection (a developer running ``alembic`` by hand) an engine is built from ``sqlalchemy.url``
with the same SQLite settings policywatch uses.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from policywatch.store.database import create_engine
from policywatch.store.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: later migrations recreate the table instead
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("policywatch migrations: set sqlalchemy.url or pass a connection")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("policywatch migrations run online only (they install triggers)")
main()
