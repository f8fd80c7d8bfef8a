"""Cursors (how far the opt-out webhook has got) and pages of the ledger."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import storefixture
from policywatch.errors import InputError
from policywatch.models import Revision
from policywatch.store import Store

database_url = storefixture.database_url
clock = storefixture.clock
store = storefixture.store


def test_a_cursor_starts_at_zero_and_only_moves_from_where_it_is(store: Store) -> None:
    assert store.cursor("webhook") == 0
    assert store.advance_cursor("webhook", 0, 3)
    assert store.cursor("webhook") == 3
    # a second consumer that read the same rows finds the cursor moved and does not move it back
    assert not store.advance_cursor("webhook", 0, 2)
    assert not store.advance_cursor("webhook", 2, 5)
    assert store.advance_cursor("webhook", 3, 5)
    assert store.cursor("webhook") == 5
    assert store.cursor("other") == 0
    with pytest.raises(InputError, match="cannot move back"):
        store.advance_cursor("webhook", 5, 4)


def test_the_ledger_reads_in_pages(store: Store) -> None:
    change = store.record_change(
        Revision(
            policy="privacy",
            id="b" * 40,
            date=datetime(2026, 5, 1, tzinfo=UTC),
            kind="change",
            material=True,
            summary="shares more",
            categories=("third-party-sharing",),
        ),
        previous="a" * 40,
    )
    for n in range(5):
        sub = store.subscribe(f"p{n}@example.org", confirmed=True, source="admin")
        store.record_optout(sub.id, change)
    ids = [o.id for o in store.optouts()]
    assert [o.id for o in store.optouts(limit=2)] == ids[:2]
    assert [o.id for o in store.optouts(after=ids[1], limit=2)] == ids[2:4]
    with pytest.raises(InputError, match="limit"):
        store.optouts(limit=0)
