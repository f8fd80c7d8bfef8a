"""The scheduler ``policywatch serve`` runs: one APScheduler job per policy, one leader per archive.

::

    scheduler = PolicyScheduler(tracker, store=store)   # store None: a lock file in the archive
    scheduler.start()        # blocking (git, database): from aiohttp, call it in an executor
    ...
    scheduler.status()       # list[PolicyStatus] for the web app
    scheduler.shutdown()     # waits for a running check, then gives the lease up

The traps this module exists for (docs/decisions/0006-scheduling.md):

- APScheduler job stores must not be shared between schedulers, so two ``serve`` processes each
  running jobs would check everything twice. Only the holder of a lease named after the archive
  path schedules checks; the others keep serving pages and retry the lease, taking over when the
  holder shuts down or dies and its lease runs out.
- Fixed buckets and "everything at start" cause bursts after every restart. Each policy runs on a
  grid of its own, ``epoch + offset + k * every``, with the offset derived from the policy id, so a
  restart neither bunches the checks nor resets their progress.
- ``Tracker.check`` blocks (git) and calls ``asyncio.run`` itself, so it must run in a worker
  thread, never in a running event loop. Checks are serialised: policies that come due while
  another check runs are checked together in one ``check([ids])`` call afterwards.
- ``check`` with explicit ids ignores a failing source's back-off, so the scheduler applies the
  tracker's back-off itself before calling it: a failing web source is not hammered.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .config import PolicyConfig
from .errors import InputError
from .tracker import BACKOFF_BASE, CheckReport, CheckStatus, Tracker

if TYPE_CHECKING:
    from .state import SourceState, StateFile
    from .store import Store

__all__ = [
    "DEFAULT_LEASE",
    "PolicyScheduler",
    "PolicyStatus",
    "jitter_offset",
    "lock_name",
    "next_slot",
    "schedule_status",
]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

#: the anchor of every policy's grid of run times; fixed, so restarts keep each policy's phase
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: how long a scheduler's database lease lasts; it is renewed every third of it
DEFAULT_LEASE = timedelta(seconds=60)
#: worker threads for policy jobs; they mostly wait for the one check that runs at a time
_MAX_WORKERS = 16


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PolicyStatus:
    """Where one policy stands in the schedule, for the web app and ``policywatch log``.

    ``failures`` is the failure streak (0 after a success); ``backoff_until`` is set while a
    failing web source is left alone, and ``next_run`` then already points past it.
    ``last_status`` is None when unknown (nothing checked yet, or a process that only reads the
    persisted state, which keeps success or failure but not what a success found).
    """

    policy: str
    every: timedelta
    next_run: datetime | None
    last_run: datetime | None
    last_status: CheckStatus | None
    failures: int
    last_error: str | None
    backoff_until: datetime | None = None
    #: runs skipped because of the back-off, since this scheduler started
    skipped: int = 0
    running: bool = False


def jitter_offset(policy_id: str, every: timedelta) -> timedelta:
    """Where in each interval ``policy_id`` runs: a stable point in ``[0, every)``.

    Derived from a hash of the id alone, so it survives restarts and config edits, and a set of
    policies spreads evenly over the interval instead of firing together.
    """
    if every <= timedelta(0):
        raise InputError(f"every must be positive, got {every}")
    digest = hashlib.sha256(policy_id.encode("utf-8")).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    offset = timedelta(seconds=every.total_seconds() * fraction)
    return min(offset, every - timedelta(microseconds=1))


def next_slot(policy_id: str, every: timedelta, after: datetime) -> datetime:
    """The first run time of ``policy_id``'s grid strictly after ``after``."""
    start = EPOCH + jitter_offset(policy_id, every)
    steps = (after - start) // every + 1
    return start + steps * every


def lock_name(archive_path: Path) -> str:
    """The lease name of an archive: its resolved path (hashed when too long for the column)."""
    path = str(archive_path.resolve())
    name = f"scheduler:{path}"
    if len(name) <= 100:
        return name
    return "scheduler:sha256:" + hashlib.sha256(path.encode("utf-8")).hexdigest()


def default_owner() -> str:
    """Unique per scheduler object, readable per process: host, pid and a random tag."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _every(tracker: Tracker, policy: PolicyConfig) -> timedelta:
    return policy.every or tracker.config.schedule.every


def _backoff_until(policy: PolicyConfig, state: SourceState, now: datetime) -> datetime | None:
    """When a failing web source may be read again: the tracker's own rule, so both agree."""
    from .sources import next_attempt

    if not policy.is_url or not state.failures or state.last_failure is None:
        return None
    due = next_attempt(state.failures, state.last_failure, BACKOFF_BASE)
    return due if now < due else None


def _not_before(run: datetime | None, every: timedelta, limit: datetime | None) -> datetime | None:
    """The first run of the grid through ``run`` at or after ``limit``."""
    if run is None or limit is None or run >= limit:
        return run
    return run + math.ceil((limit - run) / every) * every


@dataclass(slots=True)
class _Live:
    """What this process saw of one policy's runs (the state file keeps the rest)."""

    last_run: datetime | None = None
    last_status: CheckStatus | None = None
    last_error: str | None = None
    streak: int = 0
    skipped: int = 0


def _status(
    tracker: Tracker,
    policy: PolicyConfig,
    state: SourceState,
    now: datetime,
    *,
    next_run: datetime | None,
    live: _Live | None = None,
    running: bool = False,
) -> PolicyStatus:
    every = _every(tracker, policy)
    backoff = _backoff_until(policy, state, now)
    persisted = [t for t in (state.last_success, state.last_failure) if t is not None]
    last_run = max(persisted) if persisted else None
    last_status: CheckStatus | None = "error" if state.failures else None
    last_error = state.last_error
    failures = state.failures
    if live is not None and live.last_run is not None:
        last_run = live.last_run
        last_status = live.last_status
        last_error = live.last_error if live.last_status == "error" else None
        failures = max(failures, live.streak)
    return PolicyStatus(
        policy=policy.id,
        every=every,
        next_run=_not_before(next_run, every, backoff),
        last_run=last_run,
        last_status=last_status,
        failures=failures,
        last_error=last_error,
        backoff_until=backoff,
        skipped=live.skipped if live is not None else 0,
        running=running,
    )


def _fresh_state(tracker: Tracker) -> StateFile:
    """The state file as on disk now: another process (the leader, a cron'd check) writes it."""
    from .state import StateFile

    return StateFile(tracker.state.path)


def schedule_status(
    tracker: Tracker, *, jitter: bool = True, now: datetime | None = None
) -> list[PolicyStatus]:
    """The schedule as a process that does not run it sees it (``policywatch log``).

    Failure streaks and last runs come from the persisted source state; ``next_run`` is the
    policy's slot on its grid (None without jitter, whose phase is set by the running leader).
    """
    now = now or _utcnow()
    state = _fresh_state(tracker)
    out = []
    for policy in tracker.config.policies:
        every = _every(tracker, policy)
        slot = next_slot(policy.id, every, now) if jitter else None
        out.append(_status(tracker, policy, state.get(policy.id), now, next_run=slot))
    return out


# -- leases ----------------------------------------------------------------------------------------


class _Lease(Protocol):
    def hold(self) -> bool:
        """Take the lease or keep it; True while this scheduler holds it."""

    def release(self) -> None: ...


class _StoreLease:
    """A lease row in the database: works across hosts sharing one database and one archive."""

    def __init__(self, store: Store, name: str, owner: str, ttl: timedelta) -> None:
        self.store, self.name, self.owner, self.ttl = store, name, owner, ttl
        self.held = False

    def hold(self) -> bool:
        if self.held:
            # False means another owner took over an expired lease: step down at once
            self.held = self.store.renew_lock(self.name, self.owner, self.ttl)
        else:
            self.held = self.store.acquire_lock(self.name, self.owner, self.ttl)
        return self.held

    def release(self) -> None:
        if self.held:
            self.held = False
            self.store.release_lock(self.name, self.owner)


class _FileLease:
    """``flock`` on a file in the archive's git dir: the kernel frees it when the holder dies.

    Each object opens the file itself, and flock conflicts between open file descriptions, so two
    schedulers in one process exclude each other as two processes do.
    """

    def __init__(self, path: Path, owner: str) -> None:
        self.path, self.owner = path, owner
        self._fd: int | None = None

    def hold(self) -> bool:
        import fcntl

        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{self.owner}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        import fcntl

        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


# -- the scheduler ---------------------------------------------------------------------------------


class PolicyScheduler:
    """Checks each policy every ``policy.every or config.schedule.every``, if this is the leader.

    A ``BackgroundScheduler`` (its own thread), not an ``AsyncIOScheduler``: checks block and run
    ``asyncio.run`` themselves, so they need threads without a loop anyway, and this way the web
    app's loop never runs scheduler code, and ``start``/``shutdown`` work the same from the CLI,
    from aiohttp (through ``run_in_executor``: both block) and from tests.

    ``store`` None takes the lease with ``flock`` on ``.git/policywatch/scheduler.lock`` (one
    host); with a store, a database lease of ``lease`` renewed every third of it (any number of
    hosts on a shared archive). ``jitter`` False runs every policy at once when the lease is taken,
    then every interval from there (tests, a one-policy site). ``clock`` decides the back-off and
    stamps the status; ``on_report`` receives every :class:`CheckReport` (the lead wires
    notifications there), in the worker thread.
    """

    def __init__(
        self,
        tracker: Tracker,
        *,
        store: Store | None,
        owner: str | None = None,
        jitter: bool = True,
        clock: Clock = _utcnow,
        lease: timedelta = DEFAULT_LEASE,
        on_report: Callable[[CheckReport], None] | None = None,
    ) -> None:
        if lease <= timedelta(0):
            raise InputError(f"lease must be positive, got {lease}")
        self.tracker = tracker
        self.store = store
        self.owner = owner or default_owner()
        self.jitter = jitter
        self.clock = clock
        self.lease = lease
        self.on_report = on_report
        self.lock_name = lock_name(tracker.config.archive.path)
        self._lease: _Lease | None = None
        self._scheduler: Any = None  # apscheduler has no type hints
        self._leader = False
        self._stopping = False
        self._check_mutex = threading.Lock()  # one check at a time
        self._info = threading.Lock()  # guards the fields below
        self._waiting: set[str] = set()
        self._running: set[str] = set()
        self._live: dict[str, _Live] = {p.id: _Live() for p in tracker.config.policies}

    @property
    def leader(self) -> bool:
        """True while this scheduler holds the archive's lease and runs the checks."""
        return self._leader

    @property
    def started(self) -> bool:
        return self._scheduler is not None

    def health(self) -> tuple[str, bool]:
        """For ``/healthz``: "leader" (checks run here), "standby" (another process holds the
        archive's lease) or "stopped" (nothing will ever check from here)."""
        scheduler = self._scheduler
        if scheduler is None or not scheduler.running:
            return "stopped", False
        return ("leader" if self._leader else "standby"), True

    def start(self) -> None:
        """Start the scheduler thread and try the lease once; blocks on git and the database."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        if self._scheduler is not None:
            raise InputError("the scheduler is already running")
        # the tracker opens its archive and state file lazily: do it here, before any thread
        # (a job, the web app's status calls) could race to create two of them
        self.tracker.state  # noqa: B018
        if self.store is not None:
            self._lease = _StoreLease(self.store, self.lock_name, self.owner, self.lease)
        else:
            path = self.tracker.archive.git_dir / "policywatch" / "scheduler.lock"
            self._lease = _FileLease(path, self.owner)
        workers = max(1, min(_MAX_WORKERS, len(self.tracker.config.policies)))
        scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(workers), "lease": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        self._stopping = False
        self._scheduler = scheduler
        scheduler.start()
        self._tick()
        scheduler.add_job(
            self._tick,
            IntervalTrigger(seconds=self.lease.total_seconds() / 3, timezone=UTC),
            id="lease",
            name="scheduler lease",
            executor="lease",
            misfire_grace_time=None,
        )

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop scheduling, wait for a running check (unless ``wait`` False), give the lease up.

        Checks still queued behind a running one are dropped, not run on the way out.
        """
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is None:
            return
        self._stopping = True
        scheduler.shutdown(wait=wait)
        self._leader = False
        if self._lease is not None:
            try:
                self._lease.release()
            except Exception:
                log.warning(
                    "could not release the scheduler lease %s", self.lock_name, exc_info=True
                )

    # -- leadership --------------------------------------------------------------------------------

    def _tick(self) -> None:
        """Take, keep or lose the lease; add or remove the policy jobs to match."""
        if self._stopping or self._lease is None:
            return
        try:
            held = self._lease.hold()
        except Exception:
            log.warning("scheduler lease %s: cannot reach the lock", self.lock_name, exc_info=True)
            held = False
        if held and not self._leader:
            log.info("scheduler lease %s taken by %s: checks run here", self.lock_name, self.owner)
            self._leader = True
            self._add_jobs()
        elif not held and self._leader:
            log.warning(
                "scheduler lease %s lost by %s: checks stop here", self.lock_name, self.owner
            )
            self._leader = False
            self._remove_jobs()

    def _add_jobs(self) -> None:
        from apscheduler.triggers.interval import IntervalTrigger

        scheduler = self._scheduler
        if scheduler is None:
            return
        now = _utcnow()
        state = self.tracker.state
        for policy in self.tracker.config.policies:
            every = _every(self.tracker, policy)
            st = state.get(policy.id)
            never_checked = (
                st.last_success is None
                and st.last_failure is None
                and self.tracker.archive.latest(policy.id) is None
            )
            start = EPOCH + jitter_offset(policy.id, every) if self.jitter else now
            first: dict[str, Any] = {}
            if never_checked or not self.jitter:
                # nothing to lose and nothing to show yet: check now, on the grid afterwards
                first["next_run_time"] = now
            scheduler.add_job(
                self._due,
                IntervalTrigger(seconds=every.total_seconds(), start_date=start, timezone=UTC),
                args=(policy.id,),
                id=f"check:{policy.id}",
                name=f"check {policy.id}",
                replace_existing=True,
                misfire_grace_time=max(1, math.ceil(every.total_seconds())),
                **first,
            )

    def _remove_jobs(self) -> None:
        scheduler = self._scheduler
        if scheduler is None:
            return
        for job in scheduler.get_jobs():
            if job.id.startswith("check:"):
                job.remove()

    # -- running checks ----------------------------------------------------------------------------

    def _due(self, policy_id: str) -> None:
        """One policy's job. It waits for the check in progress, then checks every policy waiting.

        The job stays "running" while it waits, so APScheduler's ``max_instances=1`` also keeps a
        policy from queueing twice behind a slow check.
        """
        with self._info:
            self._waiting.add(policy_id)
        with self._check_mutex:
            with self._info:
                if policy_id not in self._waiting:
                    return  # checked in another job's batch
                batch = [p.id for p in self.tracker.config.policies if p.id in self._waiting]
                self._waiting.difference_update(batch)
            self._run(batch)

    def _run(self, batch: Sequence[str]) -> None:
        if self._stopping or not self._leader:
            return
        now = self.clock()
        state = self.tracker.state
        ids = []
        for pid in batch:
            policy = self.tracker.config.policy(pid)
            if policy is None:
                continue
            until = _backoff_until(policy, state.get(pid), now)
            if until is not None:
                with self._info:
                    self._live[pid].skipped += 1
                log.info("%s: failing, left alone until %s", pid, until.isoformat())
                continue
            ids.append(pid)
        if not ids:
            return
        with self._info:
            self._running.update(ids)
        try:
            report = self.tracker.check(ids)
        except Exception as exc:
            log.exception("check of %s failed", ", ".join(ids))
            with self._info:
                for pid in ids:
                    self._note(pid, now, "error", f"{type(exc).__name__}: {exc}")
            return
        finally:
            with self._info:
                self._running.difference_update(ids)
        with self._info:
            for result in report.results:
                self._note(result.policy, now, result.status, result.error)
        for result in report.results:
            if result.status == "error":
                log.warning("%s: %s", result.policy, result.error)
            else:
                log.info("%s: %s", result.policy, result.status)
        if self.on_report is not None:
            try:
                self.on_report(report)
            except Exception:
                log.exception("on_report failed for a check of %s", ", ".join(ids))

    def _note(self, pid: str, at: datetime, status: CheckStatus, error: str | None) -> None:
        live = self._live.setdefault(pid, _Live())
        live.last_run = at
        live.last_status = status
        live.last_error = error
        live.streak = live.streak + 1 if status == "error" else 0

    # -- status ------------------------------------------------------------------------------------

    def status(self) -> list[PolicyStatus]:
        """Each configured policy's schedule, failures and last result, in config order.

        On the leader ``next_run`` is the job's; elsewhere it is the policy's grid slot (what a
        leader with jitter does), and failures come from the state file the leader writes.
        """
        now = self.clock()
        scheduler = self._scheduler
        jobs: dict[str, datetime | None] = {}
        if scheduler is not None and self._leader:
            jobs = {job.id: job.next_run_time for job in scheduler.get_jobs()}
        state = self.tracker.state if self._leader else _fresh_state(self.tracker)
        out = []
        for policy in self.tracker.config.policies:
            every = _every(self.tracker, policy)
            key = f"check:{policy.id}"
            if key in jobs:
                next_run = jobs[key]
            elif self.jitter:
                next_run = next_slot(policy.id, every, now)
            else:
                next_run = None
            with self._info:
                live = replace(self._live[policy.id])
                running = policy.id in self._running
            out.append(
                _status(
                    self.tracker,
                    policy,
                    state.get(policy.id),
                    now,
                    next_run=next_run,
                    live=live,
                    running=running,
                )
            )
        return out
