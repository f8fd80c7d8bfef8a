"""The database layer on real databases: a SQLite file, and PostgreSQL when configured."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

import storefixture
from policywatch.errors import InputError, StoreError
from policywatch.models import Revision
from policywatch.store import Store
from policywatch.store import database_url as parse_url
from policywatch.store.migrate import HEAD, MIGRATIONS, alembic_config
from policywatch.store.schema import metadata
from storefixture import Clock

database_url = storefixture.database_url
clock = storefixture.clock
store = storefixture.store

LEASE = timedelta(minutes=5)


def revision(
    rev: str,
    policy: str = "privacy",
    *,
    kind: str = "change",
    material: bool = False,
    categories: tuple[str, ...] = (),
    restores: str | None = None,
) -> Revision:
    return Revision(
        policy=policy,
        id=rev,
        date=datetime(2026, 4, 1, 9, 30, tzinfo=UTC),
        kind=kind,  # type: ignore[arg-type]
        material=material,
        summary=f"summary of {rev}",
        categories=categories,
        restores=restores,
    )


def queued_emails(raw: sa.Engine, change_id: int) -> set[str]:
    with raw.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT s.email FROM outbox o JOIN subscribers s ON s.id = o.subscriber_id"
                " WHERE o.change_id = :c AND o.status = 'queued'"
            ),
            {"c": change_id},
        )
        return {r[0] for r in rows}


@pytest.fixture
def raw(database_url: str) -> Iterator[sa.Engine]:
    """A plain SQLAlchemy engine on the test database: what another program could do."""
    engine = sa.create_engine(parse_url(database_url))
    try:
        yield engine
    finally:
        engine.dispose()


# -- opening and migrating -------------------------------------------------------------------


def test_migrates_an_empty_database_to_the_newest_revision(store: Store) -> None:
    assert store.current_revision() == HEAD == Store.head_revision()
    store.ping()


def test_head_constant_is_the_newest_migration() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [HEAD]
    assert (MIGRATIONS / "versions").is_dir()


def test_migrated_schema_matches_the_table_definitions(store: Store, raw: sa.Engine) -> None:
    """The hand-written migration and store/schema.py describe the same tables."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with raw.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_open_without_migrate_leaves_an_empty_database_alone(database_url: str) -> None:
    store = Store.open(database_url, migrate=False)
    try:
        assert store.current_revision() is None
        with pytest.raises(StoreError, match="recording a change"):
            store.record_change(revision("a1"))
        assert store.upgrade() == HEAD
        assert store.current_revision() == HEAD
        assert store.record_change(revision("a1")) > 0
    finally:
        store.close()


def test_a_newer_schema_is_refused_and_left_untouched(database_url: str, raw: sa.Engine) -> None:
    Store.open(database_url).close()
    with raw.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    for migrate in (True, False):
        with pytest.raises(StoreError, match=r"'9999'.*newer policywatch"):
            Store.open(database_url, migrate=migrate)
    with raw.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "9999"


def test_concurrent_first_opens_migrate_once(database_url: str) -> None:
    """serve and check both migrate on start; starting together must not break either."""
    errors: list[BaseException] = []
    stores: list[Store] = []

    def open_store() -> None:
        try:
            stores.append(Store.open(database_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [s.current_revision() for s in stores] == [HEAD] * 3
    for s in stores:
        s.close()


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u@db.example/pw", "postgresql+psycopg"),
        ("postgres://u@db.example/pw", "postgresql+psycopg"),
        ("postgresql+psycopg://u@db.example/pw", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_database_urls_pick_the_shipped_driver(url: str, driver: str) -> None:
    assert parse_url(url).drivername == driver


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url"])
def test_unsupported_urls_are_store_errors(url: str) -> None:
    with pytest.raises(StoreError):
        Store.open(url)


def test_an_unopenable_database_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="unable to open"):
        Store.open("sqlite:////nonexistent-dir/for/sure/policywatch.db")


# -- changes and fan-out ---------------------------------------------------------------------


def test_record_change_is_idempotent_and_keeps_utc(store: Store) -> None:
    paris = timezone(timedelta(hours=2))
    rev = Revision(
        policy="privacy",
        id="c0ffee" * 6,
        date=datetime(2026, 4, 1, 11, 30, tzinfo=paris),
        kind="change",
        material=True,
        summary="1 added; material: adds recipient",
        categories=("third-party-sharing", "first-party-collection"),
    )
    first = store.record_change(rev, previous="abc")
    assert store.record_change(rev, previous="abc") == first
    change = store.change(first)
    assert change is not None
    assert change.date == datetime(2026, 4, 1, 9, 30, tzinfo=UTC)
    assert change.date.tzinfo is UTC
    # categories come back in the contract's order
    assert change.categories == ("first-party-collection", "third-party-sharing")
    assert change.previous_revision == "abc"
    assert store.find_change("privacy", rev.id) == change
    assert [c.id for c in store.changes("privacy")] == [first]
    assert store.change(first + 1000) is None


def test_record_changes_is_record_change_for_many(store: Store) -> None:
    """Ids in the order asked, the same ids as one by one, idempotent over rows already there."""
    one = store.record_change(revision("b" * 40, "terms"), previous=None)
    items = [
        (revision("a" * 40), None),
        (revision("b" * 40, "terms"), None),  # already recorded: its first id
        (revision("c" * 40, categories=("data-retention",)), "a" * 40),
    ]
    ids = store.record_changes(items)
    assert ids[1] == one and len(set(ids)) == 3
    assert store.record_changes(items) == ids
    assert [store.record_change(r, previous=p) for r, p in items] == ids
    third = store.change(ids[2])
    assert third is not None and third.previous_revision == "a" * 40
    assert third.categories == ("data-retention",)
    assert store.record_changes([]) == []
    many = [(revision(f"{n:040x}"), None) for n in range(1, 1201)]  # past one IN list
    assert len(set(store.record_changes(many))) == 1200


def test_writes_together_are_one_transaction_all_or_none(store: Store, raw: sa.Engine) -> None:
    """A chunk of changes is queued in one transaction: a failure part way leaves none of them,
    and another thread's writes meanwhile are their own."""
    store.subscribe("reader@example.org", [], confirmed=True, source="admin")
    with pytest.raises(RuntimeError, match="boom"), store.write_together("test"):
        first = store.record_change(revision("a" * 40), previous="0" * 40)
        assert store.fan_out(first) == 1  # sees its own change inside the transaction
        raise RuntimeError("boom")
    assert store.changes() == []
    with raw.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one() == 0

    with store.write_together("test"):
        ids = [store.record_change(revision(c * 40), previous="0" * 40) for c in "bcd"]
        assert [store.fan_out(i) for i in ids] == [1, 1, 1]
        with pytest.raises(RuntimeError, match="does not nest"), store.write_together("again"):
            pass
    assert sorted(c.revision for c in store.changes()) == [c * 40 for c in "bcd"]
    assert all(queued_emails(raw, i) == {"reader@example.org"} for i in ids)


def test_fan_out_follows_scope_rules(store: Store, raw: sa.Engine) -> None:
    def add(email: str, policies: list[str], **kw: object) -> int:
        return store.subscribe(email, policies, confirmed=True, source="admin", **kw).id  # type: ignore[arg-type]

    add("all@example.org", [])
    add("material@example.org", ["privacy"], scope="material")
    add("terms@example.org", ["terms"])
    add("choices@example.org", ["privacy"], categories=["user-choice"])
    store.subscribe("pending@example.org", ["privacy"], confirmed=False, source="web")
    gone = add("gone@example.org", ["privacy"])
    store.unsubscribe(gone)
    add("bounced@example.org", ["privacy"])
    store.suppress("bounced@example.org", "complaint")

    plain = store.record_change(revision("r1", categories=("data-retention",)))
    material = store.record_change(
        revision("r2", material=True, categories=("third-party-sharing", "user-choice"))
    )
    editorial = store.record_change(revision("r3", kind="editorial"))
    first = store.record_change(revision("r0", "cookies", kind="first"))
    flip = store.record_change(revision("r4", material=True, restores="r1"))

    assert store.fan_out(plain) == 1
    assert queued_emails(raw, plain) == {"all@example.org"}
    assert store.fan_out(material) == 3
    assert queued_emails(raw, material) == {
        "all@example.org",
        "material@example.org",
        "choices@example.org",
    }
    for nothing in (editorial, first, flip):
        assert store.fan_out(nothing) == 0
        assert queued_emails(raw, nothing) == set()


def test_fan_out_is_idempotent_and_picks_up_new_subscribers(store: Store) -> None:
    store.subscribe("a@example.org", [], confirmed=True, source="admin")
    store.subscribe("b@example.org", ["privacy", "*"], confirmed=True, source="admin")
    change = store.record_change(revision("r1"))
    assert store.fan_out(change) == 2
    assert store.fan_out(change) == 0
    store.subscribe("c@example.org", [], confirmed=True, source="admin")
    assert store.fan_out(change) == 1
    assert store.outbox_counts()["queued"] == 3


def test_fan_out_of_an_unknown_change_is_an_input_error(store: Store) -> None:
    with pytest.raises(InputError, match="no change with id 42"):
        store.fan_out(42)


def test_message_ids_are_derived_from_change_and_subscriber(store: Store) -> None:
    sid = store.subscribe("a@example.org", [], confirmed=True, source="admin").id
    change = store.record_change(revision("0123456789abcdef0123"))
    store.fan_out(change)
    [item] = store.claim("s1", 10, LEASE)
    assert item.message_id == f"policywatch.privacy.0123456789abcdef.{sid}"
    assert item.email == "a@example.org"
    assert (item.policy, item.revision, item.change_id) == (
        "privacy",
        "0123456789abcdef0123",
        change,
    )


# -- claiming ----------------------------------------------------------------------------------


def queue(store: Store, n: int, rev: str = "r1") -> int:
    for i in range(n):
        store.subscribe(f"reader{i}@example.org", [], confirmed=True, source="admin")
    change = store.record_change(revision(rev))
    assert store.fan_out(change) == n
    return change


def test_claim_leases_rows_once(store: Store, clock: Clock) -> None:
    queue(store, 5)
    first = store.claim("s1", 3, LEASE)
    second = store.claim("s2", 3, LEASE)
    assert len(first) == 3 and len(second) == 2
    assert not {i.id for i in first} & {i.id for i in second}
    assert all(i.status == "sending" and i.attempts == 1 for i in first)
    assert all(i.lease_owner == "s1" and i.lease_expires_at == clock.now + LEASE for i in first)
    assert store.claim("s3", 3, LEASE) == []
    assert store.mark_sent(first[0].id, "s1")
    assert not store.mark_sent(first[0].id, "s1"), "a row is sent once"
    assert not store.mark_sent(first[1].id, "s2"), "only the lease holder finishes a row"
    sent = store.outbox_item(first[0].id)
    assert sent is not None and sent.status == "sent" and sent.sent_at == clock.now
    assert store.outbox_counts() == {
        "queued": 0,
        "sending": 4,
        "sent": 1,
        "failed": 0,
        "cancelled": 0,
    }


def test_concurrent_claimers_never_share_a_row(database_url: str, store: Store) -> None:
    """Two senders, each with its own connection pool, race over the same queue."""
    queue(store, 120)
    results: dict[str, list[int]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def sender(owner: str) -> None:
        other = Store.open(database_url, migrate=False)
        try:
            while batch := other.claim(owner, 7, LEASE):
                results[owner].extend(i.id for i in batch)
                for item in batch:
                    assert other.mark_sent(item.id, owner)
        except BaseException as exc:
            errors.append(exc)
        finally:
            other.close()

    threads = [threading.Thread(target=sender, args=(o,)) for o in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    a, b = set(results["a"]), set(results["b"])
    assert not a & b
    assert len(a) + len(b) == len(results["a"]) + len(results["b"]) == 120
    assert store.outbox_counts()["sent"] == 120


def test_postgresql_skips_rows_another_sender_has_locked(store: Store, raw: sa.Engine) -> None:
    if store.dialect != "postgresql":
        pytest.skip("FOR UPDATE SKIP LOCKED is PostgreSQL's; SQLite serialises claims")
    queue(store, 6)
    with raw.connect() as other, other.begin():
        locked = (
            other.execute(sa.text("SELECT id FROM outbox ORDER BY id LIMIT 2 FOR UPDATE"))
            .scalars()
            .all()
        )
        started = time.monotonic()
        items = store.claim("s1", 10, LEASE)
        assert time.monotonic() - started < 5, "claim waited for the other transaction"
        assert {i.id for i in items}.isdisjoint(locked)
        assert len(items) == 4


def test_an_expired_lease_is_claimed_again(store: Store, clock: Clock) -> None:
    queue(store, 2)
    crashed = store.claim("crashed", 10, LEASE)
    assert store.claim("s2", 10, LEASE) == []
    clock.advance(LEASE + timedelta(seconds=1))
    again = store.claim("s2", 10, LEASE)
    assert sorted(i.id for i in again) == sorted(i.id for i in crashed)
    assert all(i.attempts == 2 and i.lease_owner == "s2" for i in again)
    assert not store.mark_sent(crashed[0].id, "crashed"), "a late sender cannot finish it"
    assert store.mark_sent(again[0].id, "s2")


def test_retry_waits_until_its_time(store: Store, clock: Clock) -> None:
    queue(store, 1)
    [item] = store.claim("s1", 1, LEASE)
    assert store.mark_retry(item.id, "s1", "421 try later", clock.now + timedelta(minutes=10))
    assert store.claim("s1", 1, LEASE) == []
    clock.advance(timedelta(minutes=10))
    [again] = store.claim("s1", 1, LEASE)
    assert again.id == item.id and again.attempts == 2 and again.last_error == "421 try later"


def test_permanent_failure_suppresses_the_address(store: Store) -> None:
    queue(store, 1, "r1")
    other_change = store.record_change(revision("r2"))
    store.fan_out(other_change)
    [item] = store.claim("s1", 1, LEASE)
    assert store.mark_failed_permanent(item.id, "s1", "550 no such user")
    assert store.is_suppressed("Reader0@example.org ")
    sub = store.find_subscriber("reader0@example.org")
    assert sub is not None and sub.status == "suppressed"
    assert store.outbox_counts() == {
        "queued": 0,
        "sending": 0,
        "sent": 0,
        "failed": 1,
        "cancelled": 1,
    }
    assert store.fan_out(store.record_change(revision("r3"))) == 0


def test_release_gives_rows_back_without_counting_an_attempt(store: Store) -> None:
    queue(store, 3)
    store.claim("s1", 2, LEASE)
    assert store.release("s1") == 2
    items = store.claim("s2", 3, LEASE)
    assert len(items) == 3 and all(i.attempts == 1 for i in items)


def test_claim_rechecks_unsubscribe_and_suppression(store: Store, clock: Clock) -> None:
    """A row fanned out before the reader left is cancelled at claim time, never handed out."""
    change = queue(store, 3)
    held = store.claim("crashed", 3, LEASE)
    by_email = {i.email: i for i in held}
    # while the sender holds the rows, one reader unsubscribes and another is suppressed
    store.unsubscribe(by_email["reader0@example.org"].subscriber_id)
    store.suppress("reader1@example.org", "complaint")
    clock.advance(LEASE * 2)
    items = store.claim("s2", 10, LEASE)
    assert [i.email for i in items] == ["reader2@example.org"]
    for email in ("reader0@example.org", "reader1@example.org"):
        item = store.outbox_item(by_email[email].id)
        assert item is not None and item.status == "cancelled"
    assert store.fan_out(change) == 0


def test_a_suppression_written_by_another_program_is_honoured(store: Store, raw: sa.Engine) -> None:
    queue(store, 2)
    digest = store.find_subscriber("reader0@example.org").email_hash  # type: ignore[union-attr]
    with raw.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO suppressions (email_hash, reason, created_at)"
                " VALUES (:h, 'complaint', '2026-01-01 00:00:00')"
            ),
            {"h": digest},
        )
    assert [i.email for i in store.claim("s1", 10, LEASE)] == ["reader1@example.org"]


def test_claim_arguments_are_checked(store: Store) -> None:
    assert store.claim("s1", 0, LEASE) == []
    with pytest.raises(InputError, match="lease"):
        store.claim("s1", 1, timedelta(0))


# -- subscribers -------------------------------------------------------------------------------


def test_admin_subscribe_confirms_at_once_and_normalises(store: Store, clock: Clock) -> None:
    sub = store.subscribe(
        "  Ada@Example.ORG ", ["privacy", "terms"], "material", confirmed=True, source="admin"
    )
    assert sub.email == "ada@example.org"
    assert sub.status == "confirmed" and sub.confirmed_at == clock.now
    assert {(s.policy, s.scope, s.pending) for s in sub.subscriptions} == {
        ("privacy", "material", False),
        ("terms", "material", False),
    }
    again = store.subscribe("ada@example.org", ["privacy"], confirmed=True, source="import:x.csv")
    assert again.id == sub.id
    assert {(s.policy, s.scope) for s in again.subscriptions} == {
        ("privacy", "all"),
        ("terms", "material"),
    }
    assert [s.email for s in store.list_subscribers()] == ["ada@example.org"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"email": "not-an-address"}, "not an email address"),
        ({"email": "a@b@example.org"}, "not an email address"),
        ({"policies": ["Privacy!"]}, "not a policy id"),
        ({"categories": ["tracking"]}, "unknown category 'tracking'"),
        ({"categories": []}, "empty categories"),
        ({"scope": "some"}, "scope must be one of"),
    ],
)
def test_subscribe_rejects_bad_input(store: Store, kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"email": "a@example.org", "policies": []} | kwargs
    with pytest.raises(InputError, match=message):
        store.subscribe(confirmed=True, source="admin", **args)  # type: ignore[arg-type]
    assert store.list_subscribers() == []


def test_double_opt_in(store: Store) -> None:
    sub = store.subscribe("a@example.org", ["privacy"], confirmed=False, source="web")
    assert sub.status == "pending" and sub.subscriptions[0].pending
    change = store.record_change(revision("r1"))
    assert store.fan_out(change) == 0
    confirmed = store.confirm(sub.id)
    assert confirmed is not None and confirmed.status == "confirmed"
    assert [s.pending for s in confirmed.subscriptions] == [False]
    assert store.confirm(sub.id) == confirmed, "confirming twice changes nothing"
    assert store.fan_out(change) == 1
    assert store.confirm(9999) is None


def test_typing_someone_elses_address_changes_nothing_until_they_confirm(store: Store) -> None:
    sub = store.subscribe("a@example.org", ["privacy"], "material", confirmed=True, source="admin")
    store.subscribe("a@example.org", ["terms"], confirmed=False, source="web")
    change = store.record_change(revision("t1", "terms"))
    assert store.fan_out(change) == 0
    confirmed = store.confirm(sub.id)
    assert confirmed is not None
    assert {(s.policy, s.scope, s.pending) for s in confirmed.subscriptions} == {
        ("privacy", "material", False),
        ("terms", "all", False),
    }
    assert store.fan_out(change) == 1


def test_unsubscribe_is_final_for_imports_but_not_for_the_reader(
    store: Store, clock: Clock
) -> None:
    sub = store.subscribe("a@example.org", [], confirmed=True, source="admin")
    change = store.record_change(revision("r1"))
    store.fan_out(change)
    first = store.unsubscribe(sub.id)
    assert first is not None and first.status == "unsubscribed"
    assert first.unsubscribed_at == clock.now
    assert store.outbox_counts()["cancelled"] == 1
    clock.advance(timedelta(hours=1))
    second = store.unsubscribe(sub.id)
    assert second is not None and second.unsubscribed_at == first.unsubscribed_at
    # re-running an import does not bring the reader back
    again = store.subscribe("a@example.org", [], confirmed=True, source="import:old.csv")
    assert again.status == "unsubscribed"
    assert store.fan_out(store.record_change(revision("r2"))) == 0
    # an old confirmation link does not either
    assert store.confirm(sub.id) == again
    # the reader asking again through the form, and confirming, does
    store.subscribe("a@example.org", ["privacy"], confirmed=False, source="web")
    back = store.confirm(sub.id)
    assert back is not None and back.status == "confirmed"
    assert store.fan_out(store.record_change(revision("r3"))) == 1
    assert store.unsubscribe(9999) is None


def test_remove_deletes_the_subscriber_but_not_the_ledger(store: Store) -> None:
    sub = store.subscribe("a@example.org", [], confirmed=True, source="admin")
    change = store.record_change(revision("r1", material=True, categories=("user-choice",)))
    store.fan_out(change)
    store.record_optout(sub.id, change, channel="web")
    assert store.remove("A@example.org")
    assert not store.remove("a@example.org")
    assert store.list_subscribers() == []
    assert store.outbox_counts()["queued"] == 0
    [entry] = store.optouts()
    assert entry.subscriber_id is None and entry.email is None
    assert entry.email_hash == sub.email_hash


def test_forget_erases_the_address_but_keeps_the_hash(store: Store, raw: sa.Engine) -> None:
    sub = store.subscribe("a@example.org", ["privacy"], confirmed=True, source="admin")
    change = store.record_change(revision("r1", material=True, categories=("user-choice",)))
    store.fan_out(change)
    [item] = store.claim("s1", 1, LEASE)
    store.mark_retry(item.id, "s1", "452 mailbox of a@example.org full", item.lease_expires_at)  # type: ignore[arg-type]
    optout = store.record_optout(sub.id, change)
    assert optout.email == "a@example.org"

    assert store.forget(" A@example.org")
    [forgotten] = store.list_subscribers()
    assert forgotten.email is None and forgotten.status == "forgotten"
    assert forgotten.email_hash == sub.email_hash and forgotten.subscriptions == ()
    assert store.is_suppressed("a@example.org")
    [entry] = store.optouts()
    assert (entry.id, entry.subscriber_id, entry.email) == (optout.id, None, None)
    assert entry.email_hash == sub.email_hash and entry.categories == ("user-choice",)
    assert sum(store.outbox_counts().values()) == 0
    with raw.connect() as conn:
        for table, column in (("subscribers", "email"), ("outbox", "last_error")):
            values = conn.execute(sa.text(f"SELECT {column} FROM {table}")).scalars().all()
            assert not any("a@example.org" in (v or "") for v in values)

    # subscribing again stores nothing and sends nothing
    again = store.subscribe("a@example.org", [], confirmed=True, source="admin")
    assert again.id == sub.id and again.email is None and again.status == "forgotten"
    assert store.fan_out(store.record_change(revision("r2"))) == 0
    # an unknown address is still suppressed: forgetting means "never contact me"
    assert not store.forget("never@example.org")
    assert store.is_suppressed("never@example.org")
    fresh = store.subscribe("never@example.org", [], confirmed=True, source="admin")
    assert fresh.status == "suppressed" and fresh.email is None


def test_purge_unconfirmed_drops_old_pending_signups(store: Store, clock: Clock) -> None:
    store.subscribe("old@example.org", [], confirmed=False, source="web")
    store.subscribe("kept@example.org", [], confirmed=True, source="admin")
    clock.advance(timedelta(days=8))
    store.subscribe("new@example.org", [], confirmed=False, source="web")
    assert store.purge_unconfirmed(clock.now - timedelta(days=7)) == 1
    assert [s.email for s in store.list_subscribers()] == ["kept@example.org", "new@example.org"]
    assert [s.email for s in store.list_subscribers("pending")] == ["new@example.org"]


# -- the opt-out ledger --------------------------------------------------------------------------


def test_optouts_are_recorded_once_per_objection(store: Store, clock: Clock) -> None:
    sub = store.subscribe("a@example.org", [], confirmed=True, source="admin")
    change = store.record_change(
        revision("r1", material=True, categories=("third-party-sharing", "user-choice"))
    )
    first = store.record_optout(sub.id, change, channel="email-link")
    assert first.categories == ("third-party-sharing", "user-choice")
    assert (first.policy, first.revision, first.change_id) == ("privacy", "r1", change)
    assert first.created_at == clock.now
    assert store.record_optout(sub.id, change, channel="web") == first
    narrower = store.record_optout(sub.id, change, ["third-party-sharing"], "api")
    assert narrower.id != first.id
    assert [o.id for o in store.optouts()] == [first.id, narrower.id]
    assert [o.id for o in store.optouts(after=first.id)] == [narrower.id]
    assert store.optouts(policy="terms") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"subscriber_id": 999}, "no subscriber with id 999"),
        ({"change_id": 999}, "no change with id 999"),
        ({"channel": "fax"}, "channel must be one of"),
        ({"categories": ["nonsense"]}, "unknown category"),
    ],
)
def test_optout_arguments_are_checked(store: Store, args: dict[str, object], message: str) -> None:
    sub = store.subscribe("a@example.org", [], confirmed=True, source="admin")
    change = store.record_change(revision("r1", material=True))
    values: dict[str, object] = {"subscriber_id": sub.id, "change_id": change} | args
    with pytest.raises(InputError, match=message):
        store.record_optout(**values)  # type: ignore[arg-type]


def test_the_ledger_is_append_only(store: Store, raw: sa.Engine) -> None:
    public = {name for name in dir(Store) if not name.startswith("_")}
    assert {n for n in public if "optout" in n} == {"record_optout", "optouts"}

    sub = store.subscribe("a@example.org", [], confirmed=True, source="admin")
    change = store.record_change(revision("r1", material=True, categories=("user-choice",)))
    entry = store.record_optout(sub.id, change)
    store.unsubscribe(sub.id)
    assert store.optouts() == [entry], "unsubscribing keeps the objection"

    for statement in (
        "UPDATE optouts SET categories = ''",
        "UPDATE optouts SET created_at = created_at, subscriber_id = subscriber_id",
        "DELETE FROM optouts",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), raw.begin() as conn:
            conn.execute(sa.text(statement))
    if store.dialect == "postgresql":
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), raw.begin() as conn:
            conn.execute(sa.text("TRUNCATE optouts"))
    assert store.optouts() == [entry]


# -- locks and rate limits -------------------------------------------------------------------------


def test_named_locks_have_one_owner_at_a_time(store: Store, clock: Clock) -> None:
    ttl = timedelta(minutes=1)
    assert store.acquire_lock("scheduler", "a", ttl)
    assert store.acquire_lock("scheduler", "a", ttl), "re-acquiring extends"
    assert not store.acquire_lock("scheduler", "b", ttl)
    assert store.acquire_lock("other", "b", ttl), "names are independent"
    clock.advance(timedelta(seconds=50))
    assert store.renew_lock("scheduler", "a", ttl)
    clock.advance(timedelta(seconds=50))
    assert not store.acquire_lock("scheduler", "b", ttl), "renewed, so still a's"
    clock.advance(timedelta(seconds=11))
    assert store.acquire_lock("scheduler", "b", ttl), "a stopped renewing: b takes over"
    assert not store.renew_lock("scheduler", "a", ttl)
    assert not store.release_lock("scheduler", "a")
    assert store.release_lock("scheduler", "b")
    assert store.acquire_lock("scheduler", "a", ttl)


def test_rate_limit_counts_in_fixed_windows(store: Store, clock: Clock) -> None:
    window = timedelta(minutes=10)
    assert [store.hit("ip:192.0.2.1", window, 2) for _ in range(3)] == [True, True, False]
    assert store.hit("ip:192.0.2.2", window, 2), "keys are independent"
    clock.advance(window)
    assert store.hit("ip:192.0.2.1", window, 2), "a new window starts afresh"
    with pytest.raises(InputError):
        store.hit("k", timedelta(0), 1)
