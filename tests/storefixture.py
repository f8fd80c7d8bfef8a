"""Real databases for tests: a SQLite file in tmp_path, and PostgreSQL when configured.

Set ``POLICYWATCH_TEST_DATABASE_URL`` (e.g. ``postgresql://postgres@127.0.0.1:5432/test``) to
run every store test on PostgreSQL too; without it those variants are skipped. Each test gets
a schema of its own (``search_path`` set through the URL), dropped afterwards, so parallel runs
and leftovers of a crashed run never meet.

Import the fixtures into a test module (``store = storefixture.store``, as with sitefixture):

- ``database_url``: a fresh, empty database URL (parametrised: ``sqlite``, ``postgresql``)
- ``store``: a migrated :class:`~policywatch.store.Store` on it, with a settable clock
- ``clock``: that clock (``clock.advance(timedelta(...))``)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from policywatch.store import Store
from policywatch.store import database_url as parse_url

ENV = "POLICYWATCH_TEST_DATABASE_URL"

__all__ = ["ENV", "Clock", "clock", "database_url", "postgres_url", "store"]


class Clock:
    """A clock the test moves: leases, lock ttls and rate windows expire without sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def postgres_url() -> str | None:
    return os.environ.get(ENV) or None


@pytest.fixture(
    params=[
        pytest.param("sqlite"),
        pytest.param(
            "postgresql",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(not postgres_url(), reason=f"{ENV} is not set"),
            ],
        ),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'policywatch.db'}"
        return
    base = postgres_url()
    assert base is not None
    schema = f"pw_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(parse_url(base))
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        separator = "&" if "?" in base else "?"
        yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(database_url: str, clock: Clock) -> Iterator[Store]:
    opened = Store.open(database_url, clock=clock)
    try:
        yield opened
    finally:
        opened.close()
