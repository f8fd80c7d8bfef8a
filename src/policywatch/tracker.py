"""The one library API behind the CLI and the web app.

``Tracker`` composes the stages (read a source, extract, archive, diff, classify) and holds no
presentation: the CLI formats what it returns, the web app serves it. Heavy modules (GitPython,
aiohttp, SQLAlchemy) are imported only by the methods that need them, so ``policywatch diff`` of
two files never pays for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .errors import ArchiveError, ExtractError, InputError, RevisionNotFound, SourceError
from .models import CATEGORIES, Diff, Document, Revision, RevisionKind, Side, Snapshot
from .semantic import diff_documents, diff_files

if TYPE_CHECKING:  # kept out of start-up: `policywatch diff OLD NEW` needs none of these
    from .archive import GitArchive
    from .config import Config, PolicyConfig
    from .history import ImportReport
    from .mail import DkimSigner
    from .notify import Notifier
    from .state import StateFile
    from .store import Store
    from .tokens import TokenSigner

__all__ = [
    "CheckReport",
    "CheckResult",
    "Description",
    "Tracker",
    "describe_change",
    "diff_documents",
    "diff_files",
]

log_ = logging.getLogger(__name__)

CheckStatus = Literal["first", "changed", "editorial", "unchanged", "error"]

#: how many earlier revisions a new text is compared with to spot A/B flip-flops and reverts
RESTORE_WINDOW = 5
#: first back-off step of a failing web source across runs (doubles per failure, capped at 24 h)
BACKOFF_BASE = timedelta(minutes=5)
#: a check writes new revisions in chunks of at most this many (and this many bytes of texts and
#: snapshots): one fast-import and one database transaction per chunk, not per revision, while a
#: web app sharing the archive waits for one chunk's writing at most
WRITE_CHUNK = 64
WRITE_CHUNK_BYTES = 32 * 1024 * 1024


def extraction_fingerprint(policy: PolicyConfig) -> str:
    """What the extracted text depends on besides the bytes: selectors and extractor version."""
    import hashlib

    from .extract import EXTRACTOR_VERSION

    material = "\x1f".join([EXTRACTOR_VERSION, "select", *policy.select, "remove", *policy.remove])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class CheckResult:
    policy: str
    status: CheckStatus
    revision: Revision | None = None
    material: bool = False
    error: str | None = None
    diff: Diff | None = None


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A new text ready to be written (see :meth:`Tracker._prepare`)."""

    policy: PolicyConfig
    text: str
    snapshot: Snapshot
    latest: Revision | None
    description: Description
    digest: str
    restores: str | None
    fingerprint: str
    #: the response's (ETag, Last-Modified), kept once the text is written
    validators: tuple[str | None, str | None] | None = None

    @property
    def size(self) -> int:
        return len(self.text) + len(self.snapshot.content)


def _keep_validators(
    state: StateFile, policy: str, validators: tuple[str | None, str | None]
) -> None:
    etag, last_modified = validators
    state.put(policy, replace(state.get(policy), etag=etag, last_modified=last_modified))


@dataclass(frozen=True, slots=True)
class CheckReport:
    results: tuple[CheckResult, ...]

    @property
    def failed(self) -> bool:
        return any(r.status == "error" for r in self.results)


@dataclass(frozen=True, slots=True)
class Description:
    """What a new text means relative to the previous one, as recorded in the archive."""

    kind: RevisionKind
    material: bool
    summary: str
    categories: tuple[str, ...]
    diff: Diff | None = None


def describe_change(previous: str | None, new: str, *, title: str) -> Description:
    """Describe ``new`` against ``previous`` for the archive: kind, materiality, a summary."""
    if previous is None:
        return Description(
            kind="first", material=False, summary=f"First record of {title}", categories=()
        )
    diff = diff_documents(previous, new, old_side=Side(name="previous"), new_side=Side(name="new"))
    return Description(
        kind="editorial" if diff.editorial_only else "change",
        material=diff.material,
        summary=summarise(diff),
        categories=_categories(diff),
        diff=diff,
    )


def summarise(diff: Diff) -> str:
    """One line for commit subjects, logs and feed titles: counts, then the material reasons."""
    s = diff.stats
    if diff.editorial_only:
        n = s.editorial
        return f"Editorial changes only ({n} clause{'s' if n != 1 else ''})"
    parts = [
        f"{count} {label}"
        for count, label in (
            (s.added, "added"),
            (s.removed, "removed"),
            (s.modified, "modified"),
            (s.moved, "moved"),
        )
        if count
    ]
    text = ", ".join(parts)
    if diff.material:
        reasons: list[str] = []
        for change in diff.changes:
            for reason in change.reasons:
                if reason not in reasons:
                    reasons.append(reason)
        if reasons:
            shown = "; ".join(reasons[:3])
            more = f" (+{len(reasons) - 3} more)" if len(reasons) > 3 else ""
            text += f"; material: {shown}{more}"
        else:
            text += "; material"
    return text


def _categories(diff: Diff) -> tuple[str, ...]:
    seen = {c for change in diff.changes if change.kind != "editorial" for c in change.categories}
    return tuple(c for c in CATEGORIES if c in seen)


class Tracker:
    """Everything policywatch does, for one site described by a :class:`Config`."""

    def __init__(
        self, config: Config, *, archive: GitArchive | None = None, store: Store | None = None
    ) -> None:
        self.config = config
        self._archive = archive
        self._state: StateFile | None = None
        self._store = store
        self._signer: TokenSigner | None = None
        self._notifier: Notifier | None = None
        self._dkim: DkimSigner | bool | None = False

    @property
    def archive(self) -> GitArchive:
        if self._archive is None:
            from .archive import GitArchive

            self._archive = GitArchive.open(self.config.archive.path, create=True)
        return self._archive

    @property
    def store(self) -> Store:
        """The database (subscribers, outbox, opt-out ledger); migrated on first use."""
        if self._store is None:
            from .store import Store

            self._store = Store.open(self.config.database.url)
        return self._store

    @property
    def signer(self) -> TokenSigner:
        """Signs and verifies the links in emails (secret file or POLICYWATCH_SECRET)."""
        if self._signer is None:
            from .tokens import TokenSigner, load_secrets

            self._signer = TokenSigner(load_secrets(self.config.site.secret_file))
        return self._signer

    @property
    def dkim(self) -> DkimSigner | None:
        if self._dkim is False:
            from .mail import DkimSigner, sender_domain

            key = self.config.mail.dkim_key
            self._dkim = (
                DkimSigner.from_file(
                    key,
                    domain=sender_domain(self.config.mail.sender),
                    selector=self.config.mail.dkim_selector,
                )
                if key is not None
                else None
            )
        return self._dkim if not isinstance(self._dkim, bool) else None

    @property
    def notifier(self) -> Notifier:
        if self._notifier is None:
            from .notify import Notifier

            self._notifier = Notifier(self)
        return self._notifier

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- reading sources -------------------------------------------------------------------

    def _policy(self, policy_id: str) -> PolicyConfig:
        policy = self.config.policy(policy_id)
        if policy is None:
            known = ", ".join(p.id for p in self.config.policies) or "none"
            raise InputError(f"unknown policy {policy_id!r} (configured: {known})")
        return policy

    def read_source(self, policy: PolicyConfig) -> Snapshot:
        """Read a local source into a snapshot. HTTP sources are fetched by :mod:`sources`."""
        from .extract import media_type_for

        if policy.is_url:
            raise SourceError(
                f"{policy.source}: http(s) sources need the HTTP fetcher", policy=policy.id
            )
        path = Path(policy.source)
        try:
            size = path.stat().st_size
            if size > self.config.fetch.max_bytes:
                raise SourceError(
                    f"{path}: {size:,} bytes is over the limit of {self.config.fetch.max_bytes:,}"
                    " ([fetch] max_bytes)",
                    policy=policy.id,
                )
            content = path.read_bytes()
        except OSError as exc:
            raise SourceError(f"{path}: cannot read: {exc.strerror}", policy=policy.id) from None
        return Snapshot(
            source=policy.source,
            content=content,
            media_type=media_type_for(path.name, content),
            fetched_at=datetime.now(UTC),
        )

    def extract(self, policy: PolicyConfig, snapshot: Snapshot) -> Document:
        from .extract import extract

        return extract(snapshot, select=policy.select, remove=policy.remove, name=policy.source)

    # -- checking --------------------------------------------------------------------------

    @property
    def state(self) -> StateFile:
        """Per-source memory between runs (validators, failure streaks), beside the archive."""
        if self._state is None:
            from .state import StateFile

            self._state = StateFile(self.archive.git_dir / "policywatch" / "sources.json")
        return self._state

    def check(self, policy_ids: Sequence[str] = ()) -> CheckReport:
        """One pass over the sources, recording what changed; a failing source stops no other.

        Policies named explicitly are always read; otherwise a web source that keeps failing is
        skipped until its back-off expires, and reported as an error meanwhile (never silently).
        """
        policies = [self._policy(pid) for pid in policy_ids] if policy_ids else self.config.policies
        self._state = None  # re-read: another process (cron, serve) may have saved it since
        state = self.state
        now = datetime.now(UTC)
        results: dict[str, CheckResult] = {}
        self.notifier.reconcile()
        for policy in policies:
            try:
                self._reextract(policy, state)
            except (SourceError, InputError) as exc:
                results[policy.id] = self._failed(policy, exc, now)
        archive = self.archive
        archive.log()  # one read of the whole history; every policy's latest is a slice of it
        archive.defer_worktree = True  # refreshed once at the end, not once per revision
        try:
            return self._check(policies, bool(policy_ids), state, now, results)
        finally:
            archive.defer_worktree = False
            try:
                archive.sync_worktree()
            except ArchiveError as exc:  # a convenience for people browsing: never fatal
                log_.warning("%s", exc)

    def _check(
        self,
        policies: Sequence[PolicyConfig],
        explicit: bool,
        state: StateFile,
        now: datetime,
        results: dict[str, CheckResult],
    ) -> CheckReport:
        web = [p for p in policies if p.is_url and p.id not in results]
        if web and not explicit:
            web = [p for p in web if not self._backing_off(p, state, now, results)]
        latest = self._latest_revisions(web) if web else {}
        pending: list[_Prepared] = []

        def write_pending() -> None:
            for item, result in zip(pending, self._write(pending, state), strict=True):
                results[item.policy.id] = result
                state.put(item.policy.id, state.get(item.policy.id).succeeded(now))
            pending.clear()

        def take(
            policy: PolicyConfig, prepare: Callable[..., CheckResult | _Prepared], *args: Any
        ) -> None:
            try:
                prepared = prepare(policy, *args)
            except (SourceError, InputError) as exc:
                results[policy.id] = self._failed(policy, exc, now)
                return
            if isinstance(prepared, CheckResult):
                results[policy.id] = prepared
                state.put(policy.id, state.get(policy.id).succeeded(now))
                return
            pending.append(prepared)
            if len(pending) >= WRITE_CHUNK or sum(i.size for i in pending) >= WRITE_CHUNK_BYTES:
                write_pending()

        # web sources as their answers arrive (the fetching goes on meanwhile), then local files
        for policy, outcome in self._fetch(web, state, latest) if web else ():
            take(policy, self._prepare_fetched, outcome, state, latest)
        for policy in policies:
            if policy.id not in results and not policy.is_url:
                take(policy, self._prepare_local, state)
        write_pending()
        state.save()
        if any(
            r.revision is not None and r.status not in ("unchanged", "error")
            for r in results.values()
        ):
            self.publish()
        return CheckReport(results=tuple(results[p.id] for p in policies))

    def _failed(self, policy: PolicyConfig, exc: Exception, now: datetime) -> CheckResult:
        state = self.state
        state.put(policy.id, state.get(policy.id).failed(str(exc), now))
        return CheckResult(policy=policy.id, status="error", error=str(exc))

    def _backing_off(
        self,
        policy: PolicyConfig,
        state: StateFile,
        now: datetime,
        results: dict[str, CheckResult],
    ) -> bool:
        from .sources import next_attempt

        st = state.get(policy.id)
        if not st.failures or st.last_failure is None:
            return False
        due = next_attempt(st.failures, st.last_failure, BACKOFF_BASE)
        if now >= due:
            return False
        results[policy.id] = CheckResult(
            policy=policy.id,
            status="error",
            error=(
                f"{policy.source}: failing ({st.failures} in a row), next attempt after "
                f"{due.strftime('%Y-%m-%d %H:%M')} UTC; last error: {st.last_error}"
            ),
        )
        return True

    def _latest_revisions(self, policies: Sequence[PolicyConfig]) -> dict[str, Revision]:
        """The latest revision of each of ``policies`` that has one (slices of the one whole-history
        log ``check`` reads first: no ``git log`` per policy)."""
        return self.archive.latest_of(p.id for p in policies)

    def _fetch(
        self,
        policies: Sequence[PolicyConfig],
        state: StateFile,
        latest: dict[str, Revision],
    ) -> Iterator[tuple[PolicyConfig, Any]]:
        """Each web source's fetch outcome as it completes (see ``sources.fetch_in_background``:
        at most a few dozen fetched pages wait in memory, however many sources there are)."""
        from .sources import Validators, fetch_in_background

        previous = {}
        for p in policies:
            st = state.get(p.id)
            # without an archived text a 304 would leave nothing to compare with
            if p.id in latest and (st.etag or st.last_modified):
                previous[p.id] = Validators(etag=st.etag, last_modified=st.last_modified)
        return fetch_in_background(self.config.fetch, policies, previous)

    def _prepare_local(self, policy: PolicyConfig, state: StateFile) -> CheckResult | _Prepared:
        return self._prepare(policy, self.read_source(policy), state)

    def _prepare_fetched(
        self,
        policy: PolicyConfig,
        outcome: Any,
        state: StateFile,
        latest: dict[str, Revision],
    ) -> CheckResult | _Prepared:
        from .errors import FetchError

        if isinstance(outcome, FetchError):
            raise outcome
        if outcome.not_modified or outcome.snapshot is None:
            # a 304 was only asked for with an archived text, so `latest` has it
            return CheckResult(policy=policy.id, status="unchanged", revision=latest.get(policy.id))
        if not outcome.snapshot.content.strip():
            raise ExtractError(
                f"{policy.source}: the server answered {outcome.status} with an empty body",
                policy=policy.id,
            )
        # Validators are kept only for a text that was accepted: after a refused page (an error
        # page, a shrink awaiting confirmation) the next fetch must read the body again, not 304.
        validators = (outcome.validators.etag, outcome.validators.last_modified)
        prepared = self._prepare(
            policy, outcome.snapshot, state, guarded=True, validators=validators
        )
        if isinstance(prepared, CheckResult):  # the same text: accepted as it is
            _keep_validators(state, policy.id, validators)
        return prepared

    def record(
        self,
        policy: PolicyConfig,
        snapshot: Snapshot,
        *,
        state: StateFile | None = None,
        guarded: bool = False,
    ) -> CheckResult:
        """Extract a snapshot and record it as a revision when its text changed.

        ``guarded`` (web sources) refuses texts that cannot be the policy and holds back a
        drastic shrink until the next fetch confirms it (see :mod:`policywatch.guards`).
        """
        state = state if state is not None else self.state
        prepared = self._prepare(policy, snapshot, state, guarded=guarded)
        if isinstance(prepared, CheckResult):
            return prepared
        return self._write([prepared], state)[0]

    def _prepare(
        self,
        policy: PolicyConfig,
        snapshot: Snapshot,
        state: StateFile,
        *,
        guarded: bool = False,
        validators: tuple[str | None, str | None] | None = None,
    ) -> CheckResult | _Prepared:
        """Everything about a new snapshot short of writing it: extraction, the guards, the
        comparison with the latest text, and the diff that describes the change.

        Returns the final result when nothing is to be written (the same text), else what
        :meth:`_write` needs. This is the slow part (tens of milliseconds for a long policy), so
        it runs outside the archive's write: a ``serve`` web app reading the archive waits only
        for the writing of a chunk, never for the diffs.
        """
        from .archive import content_hash, revision_date
        from .guards import check_text, shrank

        document = self.extract(policy, snapshot)
        if guarded:
            check_text(document.text, source=policy.source)
        archive = self.archive
        latest = archive.latest(policy.id)
        previous = archive.read(policy.id, latest.id) if latest else None
        st = state.get(policy.id)
        fingerprint = extraction_fingerprint(policy)
        if previous == document.text:
            state.put(policy.id, replace(st, pending_hash=None, extraction=fingerprint))
            return CheckResult(policy=policy.id, status="unchanged", revision=latest)
        if latest is not None and revision_date(snapshot.fetched_at) < latest.date:
            # checked here, not left to the archive: in a chunk it would fail the other sources
            raise SourceError(
                f"{policy.source}: read at {snapshot.fetched_at:%Y-%m-%d %H:%M:%S} UTC, before the"
                f" latest revision ({latest.date:%Y-%m-%d %H:%M:%S} UTC, {latest.id[:12]}); is"
                " this machine's clock wrong? Nothing recorded",
                policy=policy.id,
            )
        digest = content_hash(document.text)
        if guarded and previous is not None:
            sizes = shrank(document.text, previous)
            if sizes and st.pending_hash != digest:
                state.put(policy.id, replace(st, pending_hash=digest))
                raise ExtractError(
                    f"{policy.source}: the text shrank from {sizes[0]:,} to {sizes[1]:,} words; "
                    "it will be recorded if the next check reads the same text",
                    policy=policy.id,
                )
        description = describe_change(previous, document.text, title=policy.title)
        restores = next(
            (rev for rev, h in archive.recent_hashes(policy.id, RESTORE_WINDOW) if h == digest),
            None,
        )
        return _Prepared(
            policy=policy,
            text=document.text,
            snapshot=snapshot,
            latest=latest,
            description=description,
            digest=digest,
            restores=restores,
            fingerprint=fingerprint,
            validators=validators,
        )

    def _write(self, items: Sequence[_Prepared], state: StateFile) -> list[CheckResult]:
        """Commit prepared revisions together: one ``fast-import`` run and one branch update for
        the lot, then one database transaction that queues their notifications.

        The branch moves only if every commit was written, and the notifications are queued only
        after it moved; a crash in between is what ``Notifier.reconcile`` repairs.
        """
        if not items:
            return []
        with self.archive.batch() as batch:
            revisions = [
                batch.record(
                    item.policy.id,
                    item.text,
                    observed_at=item.snapshot.fetched_at,
                    kind=item.description.kind,
                    summary=item.description.summary,
                    source=item.policy.source,
                    material=item.description.material,
                    categories=item.description.categories,
                    snapshot=item.snapshot,
                    restores=item.restores,
                )
                for item in items
            ]
        results: list[CheckResult] = []
        written: list[tuple[Revision, Revision | None]] = []
        for item, revision in zip(items, revisions, strict=True):
            pid = item.policy.id
            state.put(pid, replace(state.get(pid), pending_hash=None, extraction=item.fingerprint))
            if item.validators is not None:
                _keep_validators(state, pid, item.validators)
            diff = item.description.diff
            if diff is not None and item.latest is not None:
                from .publish import remember_changes

                remember_changes(self, item.latest.content_hash, item.digest, diff)
            if revision is not None:
                written.append((revision, item.latest))
            status: CheckStatus = "first"
            if item.description.kind == "change":
                status = "changed"
            elif item.description.kind == "editorial":
                status = "editorial"
            results.append(
                CheckResult(
                    policy=pid,
                    status=status,
                    revision=revision,
                    material=item.description.material,
                    diff=diff,
                )
            )
        self.notifier.enqueue_all(written)
        return results

    def _reextract(self, policy: PolicyConfig, state: StateFile) -> Revision | None:
        """Re-read the latest stored snapshot when the selectors or the extractor changed.

        A different text is recorded as a ``technical`` revision, never announced: otherwise an
        extractor upgrade would read as a policy change (Open Terms Archive's "technical upgrade").
        """
        fingerprint = extraction_fingerprint(policy)
        st = state.get(policy.id)
        if st.extraction == fingerprint:
            return None
        archive = self.archive
        latest = archive.latest(policy.id)
        stored = archive.read_snapshot_typed(policy.id, latest.id) if latest else None
        revision = None
        if latest is not None and stored is not None:
            media_type, content = stored
            snapshot = Snapshot(
                source=policy.source,
                content=content,
                media_type=media_type,
                fetched_at=datetime.now(UTC),
            )
            text = self.extract(policy, snapshot).text
            if text != archive.read(policy.id, latest.id):
                revision = archive.record(
                    policy.id,
                    text,
                    observed_at=max(snapshot.fetched_at, latest.date),
                    kind="technical",
                    summary="Re-extracted from the stored snapshot (extraction changed)",
                    source=policy.source,
                    snapshot=snapshot,
                )
        state.put(policy.id, replace(st, extraction=fingerprint))
        return revision

    def publish(self) -> list[Path]:
        """Write the Atom feeds for the archive's current state; returns the files rewritten."""
        from .publish import write_site_feeds

        return write_site_feeds(self)

    # -- reading the archive -----------------------------------------------------------------

    def log(self, policy_id: str | None = None) -> list[Revision]:
        if policy_id is not None:
            self._known_policy(policy_id)
        return self.archive.log(policy_id)

    def _known_policy(self, policy_id: str) -> None:
        if self.config.policy(policy_id) is None and policy_id not in self.archive.policies():
            known = ", ".join(
                sorted({p.id for p in self.config.policies} | set(self.archive.policies()))
            )
            raise RevisionNotFound(
                f"unknown policy {policy_id!r} (known: {known or 'none'})", policy=policy_id
            )

    def show(self, policy_id: str, name: str = "latest") -> tuple[Revision, str]:
        self._known_policy(policy_id)
        revision = self.archive.resolve(policy_id, name)
        return revision, self.archive.read(policy_id, revision.id)

    def diff(
        self, policy_id: str, from_name: str | None = None, to_name: str | None = None
    ) -> Diff:
        """Diff two archived revisions; FROM defaults to the one before TO, TO to the latest."""
        self._known_policy(policy_id)
        archive = self.archive
        new = archive.resolve(policy_id, to_name or "latest")
        if from_name is None:
            old = archive.previous(new)
            if old is None:
                raise RevisionNotFound(
                    f"{policy_id}: revision {new.id[:12]} is the first; nothing to compare it with",
                    policy=policy_id,
                    name=to_name or "latest",
                )
        else:
            old = archive.resolve(policy_id, from_name)
        return diff_documents(
            archive.read(policy_id, old.id),
            archive.read(policy_id, new.id),
            old_side=Side(name=policy_id, revision=old.id, date=old.date),
            new_side=Side(name=policy_id, revision=new.id, date=new.date),
        )

    def import_history(self, repo: Path, path: str, policy_id: str) -> ImportReport:
        """Backfill a history from another repository, then publish the feeds."""
        from .archive import content_hash
        from .history import Description as HistoryDescription
        from .history import import_history
        from .publish import remember_changes

        policy = self.config.policy(policy_id)
        title = policy.title if policy else policy_id

        def describe(previous: str | None, new: str) -> HistoryDescription:
            d = describe_change(previous, new, title=title)
            if d.diff is not None and previous is not None:
                remember_changes(self, content_hash(previous), content_hash(new), d.diff)
            return HistoryDescription(
                kind=d.kind, material=d.material, summary=d.summary, categories=d.categories
            )

        report = import_history(
            self.archive, repo, path, policy_id, describe=describe, source=f"{repo}:{path}"
        )
        if report.imported:
            self.notifier.record_silently(policy_id)
            self.publish()
        return report
