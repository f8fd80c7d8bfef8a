"""What serve needs of the store: cursors (how far the opt-out webhook has got), pages of the
ledger, and giving up on an email without blaming the address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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


def test_giving_up_on_our_own_failure_suppresses_nobody(store: Store) -> None:
    store.subscribe("ann@example.org", confirmed=True, source="admin")
    store.subscribe("bob@example.org", confirmed=True, source="admin")
    change = store.record_change(
        Revision(
            policy="privacy",
            id="c" * 40,
            date=datetime(2026, 5, 2, tzinfo=UTC),
            kind="change",
            summary="edited",
        ),
        previous="a" * 40,
    )
    assert store.fan_out(change) == 2
    first, second = store.claim("sender", 10, timedelta(minutes=1))
    # a message we cannot build is our fault: the address stays welcome
    assert store.mark_failed_permanent(first.id, "sender", "cannot build", suppress=False)
    assert store.mark_failed_permanent(second.id, "sender", "550 no such user")
    assert not store.is_suppressed(first.email or "")
    assert store.is_suppressed(second.email or "")
    assert store.outbox_counts()["failed"] == 2
