"""The scheduler with real parts: APScheduler on short intervals, git archives, SQLite leases.

Nothing here sleeps to assert that something happened: tests poll with a timeout. The one
negative check (a deposed leader stops checking) waits a few lease ticks, then counts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

import pagesite as _pagesite
import storefixture
from pagesite import Page, PageSite
from policywatch.config import Config, load_config
from policywatch.errors import InputError
from policywatch.schedule import (
    EPOCH,
    PolicyScheduler,
    PolicyStatus,
    jitter_offset,
    lock_name,
    next_slot,
    schedule_status,
)
from policywatch.store import Store
from policywatch.tracker import CheckReport, Tracker

pagesite = _pagesite.pagesite
database_url = storefixture.database_url
store = storefixture.store
clock = storefixture.clock

LEASE = timedelta(seconds=0.6)

POLICY = """# Privacy

We collect your name and postal address when you place an order.

We keep invoices for seven years because the tax office asks us to.
"""

WEB_POLICY = (
    "<!doctype html><html><body><main><h1>Privacy</h1>"
    + "".join(
        f"<p>{p}</p>"
        for p in [
            "We record the name, postal address and telephone number you give us at checkout.",
            "We send your postal address to the carrier that delivers your order to your door.",
            "We keep invoices for seven years because the tax office requires us to keep them.",
            "You may ask us for a copy of what we hold about you, or ask us to correct it.",
        ]
    )
    + "</main></body></html>"
)


@dataclass(frozen=True)
class Call:
    ids: tuple[str, ...]
    start: float
    end: float


class RecordingTracker(Tracker):
    """The real tracker, timing each ``check`` call; ``delay`` (seconds) slows each one down."""

    def __init__(self, config: Config, *, delay: float = 0.0) -> None:
        super().__init__(config)
        self.delay = delay
        self.calls: list[Call] = []
        self._calls_lock = threading.Lock()

    def check(self, policy_ids: Sequence[str] = ()) -> CheckReport:
        start = time.monotonic()
        if self.delay:
            time.sleep(self.delay)
        try:
            return super().check(policy_ids)
        finally:
            with self._calls_lock:
                self.calls.append(Call(tuple(policy_ids), start, time.monotonic()))

    def checked(self, policy_id: str | None = None) -> int:
        with self._calls_lock:
            return sum(1 for c in self.calls if policy_id is None or policy_id in c.ids)


class OffsetClock:
    """Real time plus an offset the test moves: back-off deadlines pass without waiting."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def wait_for(predicate: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(0.01)


def write_config(
    root: Path,
    policies: Sequence[tuple[str, str]],
    *,
    every: str = "1s",
    policy_every: str | None = None,
) -> Config:
    """A site in ``root``: (id, source) pairs, each local source written from POLICY if missing."""
    root.mkdir(parents=True, exist_ok=True)
    tables = []
    for pid, source in policies:
        if not source.startswith("http"):
            path = root / source
            if not path.exists():
                path.write_text(POLICY)
        line = f'every = "{policy_every}"\n' if policy_every else ""
        tables.append(f'[[policy]]\nid = "{pid}"\nsource = "{source}"\n{line}')
    text = f'[schedule]\nevery = "{every}"\n\n[fetch]\ntimeout = "2s"\nretries = 0\n\n' + "\n".join(
        tables
    )
    (root / "config.toml").write_text(text)
    return load_config(root / "config.toml")


@pytest.fixture
def running() -> Iterator[list[PolicyScheduler]]:
    """Schedulers a test starts: shut down even when an assertion fails half way."""
    schedulers: list[PolicyScheduler] = []
    yield schedulers
    for s in schedulers:
        s.shutdown(wait=True)


def started(running: list[PolicyScheduler], scheduler: PolicyScheduler) -> PolicyScheduler:
    running.append(scheduler)
    scheduler.start()
    return scheduler


def by_policy(statuses: list[PolicyStatus]) -> dict[str, PolicyStatus]:
    return {s.policy: s for s in statuses}


def no_overlap(calls: Sequence[Call]) -> bool:
    ordered = sorted(calls, key=lambda c: c.start)
    return all(a.end <= b.start for a, b in pairwise(ordered))


# -- jitter ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("every", [timedelta(seconds=1), timedelta(hours=6), timedelta(days=7)])
def test_jitter_offsets_are_stable_spread_and_within_the_interval(every: timedelta) -> None:
    ids = [f"policy-{i}" for i in range(400)]
    offsets = [jitter_offset(pid, every) for pid in ids]
    assert offsets == [jitter_offset(pid, every) for pid in ids]  # a restart finds the same
    assert all(timedelta(0) <= o < every for o in offsets)
    quarters = [0, 0, 0, 0]
    for o in offsets:
        quarters[int(4 * (o / every))] += 1
    assert min(quarters) > 60, quarters  # spread over the whole interval, not bunched at 0
    # the same fraction of any interval: changing `every` does not reshuffle the policies
    assert jitter_offset("privacy", every) / every == pytest.approx(
        jitter_offset("privacy", timedelta(minutes=1)) / timedelta(minutes=1), abs=1e-6
    )


def test_next_slot_lies_on_the_policy_grid() -> None:
    every = timedelta(hours=6)
    now = datetime(2026, 5, 1, 12, 34, 56, tzinfo=UTC)
    slot = next_slot("privacy", every, now)
    assert now < slot <= now + every
    assert (slot - EPOCH - jitter_offset("privacy", every)) % every == timedelta(0)
    assert next_slot("privacy", every, slot) == slot + every
    with pytest.raises(InputError, match="every must be positive"):
        jitter_offset("privacy", timedelta(0))


# -- running checks -------------------------------------------------------------------------------


def test_jobs_run_and_record_revisions(tmp_path: Path, running: list[PolicyScheduler]) -> None:
    config = write_config(tmp_path, [("privacy", "privacy.md")], every="0.2s")
    tracker = RecordingTracker(config)
    reports: list[CheckReport] = []
    s = started(running, PolicyScheduler(tracker, store=None, on_report=reports.append))
    assert s.leader
    # never checked: checked at once rather than up to an interval later
    wait_for(lambda: len(tracker.archive.log("privacy")) == 1)
    wait_for(lambda: by_policy(s.status())["privacy"].last_status is not None)
    st = by_policy(s.status())["privacy"]
    assert st.last_status in ("first", "unchanged") and st.failures == 0 and st.last_run
    assert st.every == timedelta(seconds=0.2)

    (tmp_path / "privacy.md").write_text(POLICY + "\nWe now share your address with advertisers.\n")
    wait_for(lambda: len(tracker.archive.log("privacy")) == 2)
    latest = tracker.archive.log("privacy")[0]
    assert latest.kind == "change" and latest.material
    wait_for(lambda: any(r.results[0].status == "changed" for r in reports))
    st = by_policy(s.status())["privacy"]
    now = datetime.now(UTC)
    assert st.next_run is not None and now - timedelta(seconds=1) < st.next_run
    assert st.next_run <= now + timedelta(seconds=0.3)


def test_a_restart_keeps_each_policy_on_its_grid(
    tmp_path: Path, running: list[PolicyScheduler]
) -> None:
    ids = ["privacy", "cookies", "terms"]
    config = write_config(tmp_path, [(pid, f"{pid}.md") for pid in ids], every="1h")
    Tracker(config).check()  # checked before: nothing is due at start

    def next_runs() -> dict[str, datetime | None]:
        tracker = RecordingTracker(config)
        s = started(running, PolicyScheduler(tracker, store=None))
        before = datetime.now(UTC)
        runs = {st.policy: st.next_run for st in s.status()}
        s.shutdown()
        assert tracker.calls == []  # no burst at start
        for pid, run in runs.items():
            assert run is not None and before < run <= before + timedelta(hours=1)
            assert abs(run - next_slot(pid, timedelta(hours=1), before)) < timedelta(milliseconds=5)
        return runs

    first = next_runs()
    assert len(set(first.values())) == 3  # spread, not one bucket
    assert next_runs() == first


def test_checks_never_overlap_and_due_policies_are_batched(
    tmp_path: Path, running: list[PolicyScheduler]
) -> None:
    ids = ["a", "b", "c"]
    config = write_config(tmp_path, [(pid, f"{pid}.md") for pid in ids], every="0.1s")
    tracker = RecordingTracker(config, delay=0.2)
    started(running, PolicyScheduler(tracker, store=None, jitter=False))
    wait_for(lambda: all(tracker.checked(pid) >= 2 for pid in ids))
    running[0].shutdown()
    calls = list(tracker.calls)
    assert no_overlap(calls), calls  # one check at a time, whatever the policy
    # due while another check ran: checked together in one call
    assert any(len(c.ids) >= 2 for c in calls[:2]), calls
    for pid in ids:  # max_instances=1: a slow policy's job does not queue runs behind itself
        own = [c for c in calls if pid in c.ids]
        assert all(len(c.ids) == len(set(c.ids)) for c in own)
        span = own[-1].end - own[0].start
        assert len(own) <= span / 0.2 + 1


def test_start_twice_is_an_error(tmp_path: Path, running: list[PolicyScheduler]) -> None:
    config = write_config(tmp_path, [("privacy", "privacy.md")], every="1h")
    s = started(running, PolicyScheduler(Tracker(config), store=None))
    with pytest.raises(InputError, match="already running"):
        s.start()


# -- back-off and failure streaks -----------------------------------------------------------------


def test_a_failing_source_backs_off_and_shows_its_streak(
    tmp_path: Path, pagesite: PageSite, running: list[PolicyScheduler]
) -> None:
    pagesite.pages["/privacy"] = Page("maintenance", status=503)
    config = write_config(tmp_path, [("privacy", pagesite.url("/privacy"))], every="0.1s")
    tracker = RecordingTracker(config)
    clock = OffsetClock()
    s = started(running, PolicyScheduler(tracker, store=None, clock=clock))

    def status() -> PolicyStatus:
        return by_policy(s.status())["privacy"]

    # first failure, then the due runs are skipped instead of fetching again
    wait_for(lambda: status().skipped >= 3)
    st = status()
    assert pagesite.hits["/privacy"] == 1 and tracker.checked() == 1
    assert st.last_status == "error" and st.failures == 1
    assert st.last_error is not None and "503" in st.last_error
    last_failure = tracker.state.get("privacy").last_failure
    assert last_failure is not None
    assert st.backoff_until == last_failure + timedelta(minutes=5)
    assert st.next_run is not None and st.next_run >= st.backoff_until

    clock.offset = timedelta(minutes=6)  # past the first back-off: one more attempt, then 10 min
    wait_for(lambda: status().failures == 2)
    assert pagesite.hits["/privacy"] == 2
    # another process reads the state file, which the check saves when it ends
    wait_for(lambda: by_policy(schedule_status(Tracker(config)))["privacy"].failures == 2)
    offline = by_policy(schedule_status(Tracker(config)))["privacy"]
    assert offline.failures == 2 and offline.last_status == "error" and offline.last_error

    pagesite.pages["/privacy"] = Page(WEB_POLICY)
    clock.offset = timedelta(minutes=30)
    wait_for(lambda: status().last_status == "first")
    st = status()
    assert st.failures == 0 and st.last_error is None and st.backoff_until is None
    assert len(tracker.archive.log("privacy")) == 1
    offline = by_policy(schedule_status(Tracker(config)))["privacy"]
    assert offline.failures == 0 and offline.last_run is not None


def test_a_local_source_that_fails_counts_its_streak(
    tmp_path: Path, running: list[PolicyScheduler]
) -> None:
    config = write_config(tmp_path, [("privacy", "privacy.md")], every="0.1s")
    (tmp_path / "privacy.md").unlink()  # the config was valid; the file went away since
    tracker = RecordingTracker(config)
    s = started(running, PolicyScheduler(tracker, store=None))
    wait_for(lambda: by_policy(s.status())["privacy"].failures >= 3)
    st = by_policy(s.status())["privacy"]
    assert st.last_status == "error" and "cannot read" in (st.last_error or "")
    assert st.backoff_until is None  # reading a file hammers no one


# -- one scheduler per archive --------------------------------------------------------------------


def test_one_leader_per_archive_in_the_database_then_takeover(
    tmp_path: Path, database_url: str, running: list[PolicyScheduler]
) -> None:
    config = write_config(tmp_path, [("privacy", "privacy.md")], every="0.1s")
    first, second = RecordingTracker(config), RecordingTracker(config)
    db1, db2 = Store.open(database_url), Store.open(database_url)
    try:
        s1 = started(running, PolicyScheduler(first, store=db1, lease=LEASE))
        s2 = started(running, PolicyScheduler(second, store=db2, lease=LEASE))
        assert s1.leader and not s2.leader
        # what /healthz shows of each: both healthy, one doing the checks
        assert (s1.health(), s2.health()) == (("leader", True), ("standby", True))
        wait_for(lambda: first.checked() >= 3)
        assert second.checked() == 0
        # the follower still answers status from what the leader persisted
        wait_for(lambda: by_policy(s2.status())["privacy"].last_run is not None)
        assert by_policy(s2.status())["privacy"].next_run is not None

        s1.shutdown()  # releases the lease: the other takes over at its next retry
        assert s1.health() == ("stopped", False)
        done = first.checked()
        wait_for(lambda: s2.leader and second.checked() >= 1, timeout=3)
        assert first.checked() == done
    finally:
        for s in running:
            s.shutdown()
        db1.close()
        db2.close()


def test_a_dead_holders_lease_expires_then_we_take_over(
    tmp_path: Path, database_url: str, running: list[PolicyScheduler]
) -> None:
    config = write_config(tmp_path, [("privacy", "privacy.md")], every="0.1s")
    tracker = RecordingTracker(config)
    db = Store.open(database_url)
    try:
        name = lock_name(config.archive.path)
        assert db.acquire_lock(name, "gone-host:4242:dead", timedelta(seconds=0.5))
        t0 = time.monotonic()
        s = started(running, PolicyScheduler(tracker, store=db, lease=LEASE))
        assert s.lock_name == name and not s.leader
        wait_for(lambda: s.leader and tracker.checked() >= 1, timeout=3)
        assert tracker.calls[0].start - t0 >= 0.4  # not before the dead lease ran out
    finally:
        for s in running:
            s.shutdown()
        db.close()


def test_a_leader_whose_lease_was_taken_steps_down(
    tmp_path: Path,
    store: Store,
    clock: storefixture.Clock,
    running: list[PolicyScheduler],
) -> None:
    config = write_config(tmp_path, [("privacy", "privacy.md")], every="0.1s")
    tracker = RecordingTracker(config)
    s = started(running, PolicyScheduler(tracker, store=store, lease=LEASE))
    wait_for(lambda: s.leader and tracker.checked() >= 1)
    # the leader stalled past its lease (the database clock moves on) and another took over
    clock.advance(timedelta(seconds=5))
    assert store.acquire_lock(s.lock_name, "other-host:1:abc", timedelta(minutes=5))
    wait_for(lambda: not s.leader, timeout=3)
    done = tracker.checked()
    time.sleep(3 * LEASE.total_seconds() / 3)  # a few ticks and due times: nothing may run
    assert tracker.checked() <= done + 1  # at most the check that was already running


def test_one_leader_per_archive_with_a_lock_file(
    tmp_path: Path, running: list[PolicyScheduler]
) -> None:
    config = write_config(tmp_path, [("privacy", "privacy.md")], every="0.1s")
    first, second = RecordingTracker(config), RecordingTracker(config)
    s1 = started(running, PolicyScheduler(first, store=None, lease=LEASE))
    s2 = started(running, PolicyScheduler(second, store=None, lease=LEASE))
    assert s1.leader and not s2.leader
    wait_for(lambda: first.checked() >= 2)
    assert second.checked() == 0
    lock = first.archive.git_dir / "policywatch" / "scheduler.lock"
    assert lock.read_text().strip() == s1.owner
    s1.shutdown()
    wait_for(lambda: s2.leader and second.checked() >= 1, timeout=3)
    assert lock.read_text().strip() == s2.owner
