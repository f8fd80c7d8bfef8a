"""The git archive: every revision of every policy, one commit each, dated when it was observed.

Layout (docs/decisions/0002-archive-layout.md): ``<policy>/policy.md`` holds the extracted text and
``<policy>/snapshot.<ext>`` the raw bytes it came from. Metadata lives in commit trailers, so the
archive stays a plain git repository that ``git log`` and any git host can read.

Writes go through one ``git fast-import`` stream that creates objects but no ref; the branch moves
only afterwards, with a compare-and-swap ``update-ref``. A crash at any point therefore leaves the
branch on the previous commit (unreferenced objects are garbage that ``git gc`` collects), and
:meth:`GitArchive.record` and the ``import`` backfill share the same code path, so both produce
commits of exactly the same shape.

Reads never spawn a process per revision: one ``git log`` per policy (path-limited, fast with the
commit-graph's changed-path filters) is parsed and cached against the branch tip, the tip is read
from the ref files, and blobs come from one persistent ``git cat-file --batch`` process
(:mod:`policywatch.gitcmd`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import islice, pairwise
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol

from .errors import ArchiveError, RevisionNotFound
from .files import write_atomic
from .gitcmd import Git, GitFailed, NotARepository
from .models import Revision, RevisionKind, Snapshot

__all__ = [
    "SNAPSHOT_EXTENSIONS",
    "TEXT_FILE",
    "Archive",
    "ArchiveBatch",
    "GitArchive",
    "content_hash",
    "revision_date",
]

log_ = logging.getLogger(__name__)

#: the extracted text of a policy, inside its directory
TEXT_FILE = "policy.md"
#: media type -> extension of the raw snapshot stored beside the text (``bin`` for anything else)
SNAPSHOT_EXTENSIONS: dict[str, str] = {
    "text/markdown": "md",
    "text/html": "html",
    "text/plain": "txt",
    "application/pdf": "pdf",
}
_ALL_SNAPSHOT_EXTS = (*SNAPSHOT_EXTENSIONS.values(), "bin")
_MEDIA_TYPES = {ext: media for media, ext in SNAPSHOT_EXTENSIONS.items()}

#: same rule as config.toml's policy ids; anything else could escape its directory or clash with git
POLICY_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_KINDS: tuple[RevisionKind, ...] = ("first", "change", "editorial", "technical")
_HEX = re.compile(r"^[0-9a-f]{4,40}$")
_LATEST = re.compile(r"^latest(?:~(\d*))?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRAILER = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*):[ \t]*(.*)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\s]+")
_ZERO = "0" * 40
#: commit subjects longer than this are cut at a word boundary (logs and feeds show one line)
SUBJECT_MAX = 120
#: a pending ref name fast-import builds on and then deletes in the same stream
_PENDING = "refs/policywatch/pending"


def content_hash(text: str) -> str:
    """``sha256:<hex>`` of the UTF-8 text: the ``Content-Hash`` trailer, the key of restores."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("policywatch")
    except PackageNotFoundError:
        return "unknown"


class Archive(Protocol):
    """What the tracker and the web app need from an archive of policy revisions."""

    def record(
        self,
        policy: str,
        text: str,
        *,
        observed_at: datetime,
        kind: RevisionKind,
        summary: str,
        source: str,
        material: bool = False,
        categories: Sequence[str] = (),
        snapshot: Snapshot | None = None,
        restores: str | None = None,
    ) -> Revision | None: ...

    def log(self, policy: str | None = None, *, limit: int | None = None) -> list[Revision]: ...

    def read(self, policy: str, revision: str) -> str: ...

    def read_snapshot(self, policy: str, revision: str) -> bytes | None: ...

    def resolve(self, policy: str, name: str) -> Revision: ...

    def latest(self, policy: str) -> Revision | None: ...

    def previous(self, revision: Revision) -> Revision | None: ...

    def policies(self) -> list[str]: ...

    def recent_hashes(self, policy: str, n: int) -> list[tuple[str, str]]: ...


# -- commit messages ---------------------------------------------------------------------------


def _one_line(value: str) -> str:
    """Collapse white space and control characters: a newline in a value would end the trailer."""
    return _CONTROL.sub(" ", value).strip()


def _subject(summary: str, fallback: str) -> str:
    text = _one_line(summary) or fallback
    if len(text) <= SUBJECT_MAX:
        return text
    cut = text[: SUBJECT_MAX - 1]
    space = cut.rfind(" ")
    if space > SUBJECT_MAX // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def _message(
    policy: str,
    *,
    summary: str,
    source: str,
    digest: str,
    kind: RevisionKind,
    material: bool,
    categories: Sequence[str],
    restores: str | None,
) -> str:
    # The subject is never empty: git reads the first paragraph as the subject, so a message made
    # only of trailers would have none.
    subject = _subject(summary, f"{kind} revision of {policy}")
    lines = [subject, "", f"Policy: {policy}"]
    if _one_line(summary) and _one_line(summary) != subject:  # shortened: keep it all
        lines.append(f"Summary: {_one_line(summary)}")
    lines += [
        f"Source: {_one_line(source)}",
        f"Content-Hash: {digest}",
        f"Kind: {kind}",
        f"Material: {'yes' if material else 'no'}",
    ]
    if categories:
        lines.append(f"Categories: {', '.join(categories)}")
    if restores:
        lines.append(f"Restores: {restores}")
    lines.append(f"Policywatch-Version: {_version()}")
    return "\n".join(lines) + "\n"


def _trailers(message: str) -> dict[str, str]:
    """The trailers of a commit message: ``Key: value`` lines of its last paragraph.

    Parsed here rather than with ``%(trailers)`` so that a user's ``trailer.*`` git config cannot
    change what we read. Keys are case-insensitive, continuation lines (leading white space) are
    joined, the first occurrence of a key wins and lines that are not trailers are ignored.
    """
    paragraphs = [p for p in message.replace("\r\n", "\n").strip("\n").split("\n\n") if p.strip()]
    if len(paragraphs) < 2:
        return {}
    found: dict[str, str] = {}
    key: str | None = None
    for line in paragraphs[-1].split("\n"):
        if key is not None and line[:1] in (" ", "\t"):
            found[key] = (found[key] + " " + line.strip()).strip()
            continue
        m = _TRAILER.match(line)
        key = None
        if m:
            k = m.group(1).lower()
            if k not in found:
                found[k] = m.group(2).strip()
                key = k
    return found


def _revision(commit: str, timestamp: int, message: str, policy: str | None) -> Revision | None:
    """A revision from a commit's id, author time and message; None when it names no policy."""
    tr = _trailers(message)
    policy = policy or tr.get("policy")
    if not policy or not POLICY_ID.match(policy):
        return None
    kind_value = tr.get("kind", "change")
    kind: RevisionKind = next((k for k in _KINDS if k == kind_value), "change")
    categories = tuple(c.strip() for c in tr.get("categories", "").split(",") if c.strip())
    restores = tr.get("restores", "").lower() or None
    if restores is not None and not _HEX.match(restores):
        restores = None
    return Revision(
        policy=policy,
        id=commit,
        date=datetime.fromtimestamp(timestamp, UTC),
        kind=kind,
        material=tr.get("material", "no").lower() in ("yes", "true"),
        summary=tr.get("summary") or message.split("\n", 1)[0].strip(),
        content_hash=tr.get("content-hash", ""),
        source=tr.get("source", ""),
        categories=categories,
        restores=restores,
    )


def _snapshot_ext(media_type: str) -> str:
    return SNAPSHOT_EXTENSIONS.get(media_type.split(";", 1)[0].strip().lower(), "bin")


def revision_date(when: datetime) -> datetime:
    """The date a revision observed at ``when`` is recorded with: UTC, whole seconds (git's
    resolution), so a date read back from git equals the one written."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"observed_at must be timezone-aware, got {when!r}")
    return when.astimezone(UTC).replace(microsecond=0)


def _check_policy(policy: str) -> None:
    if not POLICY_ID.match(policy):
        raise ValueError(
            f"bad policy id {policy!r}: expected lower-case letters, digits and dashes"
        )


# -- the lock ----------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _lock_holder(path: Path) -> tuple[int | None, str | None, float]:
    """(pid, host, age in seconds) of a lock file; pid None while its writer has not filled it."""
    try:
        raw = path.read_text(encoding="ascii", errors="replace").split()
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None, None, 0.0
    pid = int(raw[0]) if raw and raw[0].isdigit() else None
    return pid, (raw[1] if len(raw) > 1 else None), age


# -- the archive -------------------------------------------------------------------------------


class GitArchive:
    """A git repository holding every revision of every policy (see the module docstring).

    One object may be shared by threads (a lock guards the persistent ``cat-file`` process); writers
    in other processes are serialised by ``.git/policywatch.lock``.
    """

    def __init__(
        self,
        path: Path,
        *,
        name: str = "policywatch",
        email: str = "policywatch@localhost",
        lock_timeout: float = 10.0,
    ) -> None:
        if any(c in name + email for c in "<>\n") or not name or not email:
            raise ValueError(f"bad committer identity {name!r} <{email!r}>")
        self.path = Path(path)
        self.name = name
        self.email = email
        self.lock_timeout = lock_timeout
        try:
            self._repo = Git(self.path)
        except NotARepository as exc:
            why = "no archive here" if exc.missing else "not a git repository"
            raise ArchiveError(f"{self.path}: {why}") from exc
        except OSError as exc:
            raise ArchiveError(f"{self.path}: cannot open the archive: {exc}") from exc
        self.git_dir = self._repo.git_dir
        # HEAD read as a file, not with `git symbolic-ref`: one process less for every command
        head = _read(self.git_dir / "HEAD")
        if not head.startswith("ref: refs/heads/"):
            raise ArchiveError(f"{self.path}: HEAD is detached; check out the archive's branch")
        #: the full name of the branch that holds the revisions (HEAD's branch when opened)
        self.branch: str = head.removeprefix("ref: ")
        self._mutex = threading.RLock()
        self._cache: dict[str | None, tuple[str, list[Revision]]] = {}
        self._grouped: tuple[str, dict[str, list[Revision]]] | None = None
        self._policies: tuple[str, list[str]] | None = None
        self._history_saved: str | None = None
        #: see :meth:`sync_worktree`
        self.defer_worktree = False
        self._worktree_behind = False

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        create: bool = True,
        name: str = "policywatch",
        email: str = "policywatch@localhost",
        lock_timeout: float = 10.0,
    ) -> GitArchive:
        """Open the archive at ``path``; with ``create``, initialise it when missing or empty.

        A directory that holds anything but a git repository is refused rather than turned into
        one: the configured path is probably wrong, and ``git init`` there would adopt strangers'
        files.
        """
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise ArchiveError(f"{path}: exists and is not a directory")
        is_repo = path.is_dir() and (
            (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())
        )
        if not is_repo:
            if not create:
                raise ArchiveError(
                    f"{path}: no archive here (run `policywatch check` to create it)"
                )
            if path.is_dir() and any(path.iterdir()):
                raise ArchiveError(
                    f"{path}: exists, is not empty and is not a git repository;"
                    " point [archive] path at an empty or new directory"
                )
            try:
                path.mkdir(parents=True, exist_ok=True)
                Git.init(path, branch="main")
            except (GitFailed, OSError) as exc:
                raise ArchiveError(f"{path}: cannot create the archive: {exc}") from exc
        return cls(path, name=name, email=email, lock_timeout=lock_timeout)

    def close(self) -> None:
        """Stop the persistent ``cat-file`` process."""
        with self._mutex:
            self._repo.close()

    def __enter__(self) -> GitArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------------

    def _git(self, *args: str) -> str:
        try:
            return self._repo.run(*args)
        except GitFailed as exc:
            raise ArchiveError(f"{self.path}: git {args[0]} failed: {exc.message}") from exc

    def tip(self) -> str | None:
        """The branch's current commit id (None for an empty archive): a cheap validator for
        everything derived from the archive. Thread-safe."""
        with self._mutex:
            return self._tip()

    def _tip(self) -> str | None:
        """The branch's commit id (None before the first commit), read from the ref files."""
        try:
            return self._repo.ref(self.branch)
        except GitFailed as exc:
            raise ArchiveError(f"{self.path}: cannot read {self.branch}: {exc.message}") from exc

    def _object(self, name: str) -> bytes | None:
        try:
            return self._repo.read_object(name)
        except GitFailed as exc:
            raise ArchiveError(f"{self.path}: cannot read {name}: {exc.message}") from exc

    # -- reading -------------------------------------------------------------------------------

    def _revisions(self, policy: str | None) -> list[Revision]:
        """All revisions of ``policy`` (or of every policy), newest first by observation date.

        One ``git log`` call, cached until the branch moves. Sorting happens here because commit
        order need not be date order (histories merged or written by other tools); the sort is
        stable, so revisions with the same date keep git's newest-commit-first order.
        """
        if policy is not None and not POLICY_ID.match(policy):
            return []
        with self._mutex:
            tip = self._tip()
            if tip is None:
                return []
            cached = self._cache.get(policy)
            if cached is not None and cached[0] == tip:
                return cached[1]
            whole = self._cache.get(None)
            if policy is not None and whole is not None and whole[0] == tip:
                # the whole history is already read at this tip: one policy's is a slice of it,
                # so a pass over many policies costs one `git log`, not one per policy
                sliced = self._by_policy(tip, whole[1]).get(policy, [])
                self._cache[policy] = (tip, sliced)
                return sliced
            if policy is None and (saved := self._load_history(tip)) is not None:
                self._cache[None] = (tip, saved)
                return saved
            args = ["log", "-z", "--format=%H%x1f%at%x1f%B", tip]
            if policy is not None:
                args += ["--", f"{policy}/"]
            revisions: list[Revision] = []
            for entry in self._git(*args).split("\0"):
                if not entry.strip():
                    continue
                commit, ts, message = entry.lstrip("\n").split("\x1f", 2)
                rev = _revision(commit, int(ts), message, policy)
                if rev is not None:
                    revisions.append(rev)
            revisions.sort(key=lambda r: r.date, reverse=True)
            self._cache[policy] = (tip, revisions)
            if policy is None:
                self._save_history(tip, revisions)
            return revisions

    # The whole history as last read, saved beside the archive and keyed by the branch tip: a
    # commit id fixes everything before it, so a later process at the same tip (the next
    # `check`, most often one where nothing changed) loads it in ~10 ms instead of running and
    # parsing a `git log` of every commit (~60 ms for 1,000 revisions). A missing, stale or
    # damaged file is simply read from git again.

    def _history_file(self) -> Path:
        return self.git_dir / "policywatch" / "history.json"

    def _load_history(self, tip: str) -> list[Revision] | None:
        try:
            data = json.loads(self._history_file().read_bytes())
            if data.get("version") != 1 or data.get("tip") != tip:
                return None
            if any(r[3] not in _KINDS for r in data["revisions"]):
                return None
            revisions = [
                Revision(
                    policy=r[0],
                    id=r[1],
                    date=datetime.fromtimestamp(r[2], UTC),
                    kind=r[3],
                    material=bool(r[4]),
                    summary=r[5],
                    content_hash=r[6],
                    source=r[7],
                    categories=tuple(r[8]),
                    restores=r[9],
                )
                for r in data["revisions"]
            ]
        except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
            return None
        self._history_saved = tip
        return revisions

    def _save_history(self, tip: str, revisions: list[Revision]) -> None:
        if self._history_saved == tip:
            return
        rows = [
            [
                r.policy,
                r.id,
                int(r.date.timestamp()),
                r.kind,
                r.material,
                r.summary,
                r.content_hash,
                r.source,
                list(r.categories),
                r.restores,
            ]
            for r in revisions
        ]
        path = self._history_file()
        text = json.dumps({"version": 1, "tip": tip, "revisions": rows}, separators=(",", ":"))
        try:
            write_atomic(path, text)
        except OSError as exc:  # a cache: never worth failing a read for
            log_.warning("%s: cannot save the history cache: %s", path, exc)
            return
        self._history_saved = tip

    def log(self, policy: str | None = None, *, limit: int | None = None) -> list[Revision]:
        """Revisions newest first by observation date, of one policy or of all."""
        revisions = self._revisions(policy)
        return list(revisions if limit is None else revisions[:limit])

    def latest(self, policy: str) -> Revision | None:
        revisions = self._revisions(policy)
        return revisions[0] if revisions else None

    def latest_of(self, policies: Iterable[str]) -> dict[str, Revision]:
        """The latest revision of each of ``policies`` that has one, reading the branch tip once
        (a check of a thousand sources would otherwise ask git for it a thousand times)."""
        with self._mutex:
            self._revisions(None)  # one read at the current tip; each policy is a slice of it
            tip = self._tip()
            whole = self._cache.get(None)
            if tip is None or whole is None or whole[0] != tip:
                return {p: r for p in policies if (r := self.latest(p)) is not None}
            grouped = self._by_policy(tip, whole[1])
            return {p: grouped[p][0] for p in policies if grouped.get(p)}

    def _by_policy(self, tip: str, whole: list[Revision]) -> dict[str, list[Revision]]:
        """The whole history at ``tip`` split by policy (computed once per tip)."""
        if self._grouped is None or self._grouped[0] != tip:
            groups: dict[str, list[Revision]] = {}
            for one in whole:
                groups.setdefault(one.policy, []).append(one)
            self._grouped = (tip, groups)
        return self._grouped[1]

    def previous(self, revision: Revision) -> Revision | None:
        """The revision before ``revision`` (by date) of the same policy."""
        revisions = self._revisions(revision.policy)
        for i, rev in enumerate(revisions):
            if rev.id == revision.id:
                return revisions[i + 1] if i + 1 < len(revisions) else None
        raise RevisionNotFound(
            f"{revision.policy}: {revision.id[:12]} is not a revision of this policy",
            policy=revision.policy,
            name=revision.id,
        )

    def recent_hashes(self, policy: str, n: int) -> list[tuple[str, str]]:
        """``(revision id, content hash)`` of the last ``n`` revisions, newest first."""
        out = []
        for rev in self._revisions(policy)[: max(n, 0)]:
            digest = rev.content_hash or content_hash(self.read(policy, rev.id))
            out.append((rev.id, digest))
        return out

    def policies(self) -> list[str]:
        """Ids of the policies that have a text on the branch, sorted."""
        with self._mutex:
            tip = self._tip()
            if tip is None:
                return []
            if self._policies is None or self._policies[0] != tip:
                names = self._git("ls-tree", "-r", "-z", "--name-only", tip).split("\0")
                suffix = f"/{TEXT_FILE}"
                ids = {n.removesuffix(suffix) for n in names if n.endswith(suffix)}
                self._policies = (tip, sorted(p for p in ids if POLICY_ID.match(p)))
            return list(self._policies[1])

    def resolve(self, policy: str, name: str) -> Revision:
        """A revision of ``policy`` from a name a person typed.

        ``latest``, ``latest~N`` (N revisions before the latest, by date), a commit id prefix of at
        least 4 hex digits, ``YYYY-MM-DD`` (the revision in force at the end of that UTC day) or an
        ISO datetime (the revision in force at that instant; UTC when no offset is given).
        """
        revisions = self._revisions(policy)
        if not revisions:
            known = ", ".join(self.policies()) or "none"
            raise RevisionNotFound(
                f"unknown policy {policy!r}: the archive has no revision of it (known: {known})",
                policy=policy,
                name=name,
            )
        first = revisions[-1].date.strftime("%Y-%m-%d")
        raw = name.strip()
        lowered = raw.lower()

        def fail(problem: str) -> RevisionNotFound:
            return RevisionNotFound(f"{policy}: {problem}", policy=policy, name=name)

        m = _LATEST.match(lowered)
        if m:
            back = int(m.group(1) or 1) if m.group(1) is not None else 0
            if back < len(revisions):
                return revisions[back]
            raise fail(
                f"no revision {raw!r}: there are only {len(revisions)} revision(s)"
                f" (latest to latest~{len(revisions) - 1})"
            )
        if _HEX.match(lowered):
            matches = [r for r in revisions if r.id.startswith(lowered)]
            if len(matches) == 1:
                return matches[0]
            if matches:
                ids = ", ".join(r.id[:12] for r in matches[:5])
                raise fail(
                    f"revision prefix {raw!r} is ambiguous: it matches {ids}; type more digits"
                )
            other = next((r for r in self._revisions(None) if r.id.startswith(lowered)), None)
            if other is not None:
                raise fail(f"{raw!r} is a revision of {other.policy!r}, not of {policy!r}")
            raise fail(f"no revision with an id starting {raw!r}")
        when: datetime | None = None
        if _DATE.match(raw):
            try:
                when = datetime.fromisoformat(raw).replace(tzinfo=UTC) + timedelta(days=1)
            except ValueError:
                raise fail(f"{raw!r} is not a valid date") from None
            # the revision in force that day: the last one observed before the next day began
            found = next((r for r in revisions if r.date < when), None)
        else:
            try:
                when = datetime.fromisoformat(raw.replace("z", "Z"))
            except ValueError:
                raise fail(
                    f"{raw!r} is not a revision name; expected latest, latest~N, an id prefix"
                    " (4+ hex digits), a date YYYY-MM-DD or an ISO datetime"
                ) from None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            found = next((r for r in revisions if r.date <= when), None)
        if found is None:
            raise fail(f"no revision in force at {raw}: the first revision is from {first}")
        return found

    def read(self, policy: str, revision: str) -> str:
        """The text of ``policy`` at a revision (an id or any name :meth:`resolve` accepts)."""
        rev = self.resolve(policy, revision)
        with self._mutex:
            data = self._object(f"{rev.id}:{policy}/{TEXT_FILE}")
        if data is None:
            raise RevisionNotFound(
                f"{policy}: revision {rev.id[:12]} has no {TEXT_FILE}", policy=policy, name=revision
            )
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ArchiveError(
                f"{self.path}: {rev.id[:12]}:{policy}/{TEXT_FILE} is not UTF-8 ({exc.reason})"
            ) from exc

    def read_snapshot(self, policy: str, revision: str) -> bytes | None:
        """The raw snapshot stored with a revision, or None when it was recorded without one."""
        found = self.read_snapshot_typed(policy, revision)
        return found[1] if found else None

    def read_snapshot_typed(self, policy: str, revision: str) -> tuple[str, bytes] | None:
        """(media type, bytes) of the stored snapshot: re-extraction must read it as it was read."""
        rev = self.resolve(policy, revision)
        with self._mutex:
            for ext in _ALL_SNAPSHOT_EXTS:
                data = self._object(f"{rev.id}:{policy}/snapshot.{ext}")
                if data is not None:
                    return _MEDIA_TYPES.get(ext, "application/octet-stream"), data
        return None

    # -- writing -------------------------------------------------------------------------------

    def record(
        self,
        policy: str,
        text: str,
        *,
        observed_at: datetime,
        kind: RevisionKind,
        summary: str,
        source: str,
        material: bool = False,
        categories: Sequence[str] = (),
        snapshot: Snapshot | None = None,
        restores: str | None = None,
    ) -> Revision | None:
        """Commit a new revision; None (and nothing written) when the text is unchanged.

        "Unchanged" is byte equality with the latest revision's text, for every kind: a technical
        re-extraction that yields the same text is not a revision either.
        """
        with self.batch() as batch:
            return batch.record(
                policy,
                text,
                observed_at=observed_at,
                kind=kind,
                summary=summary,
                source=source,
                material=material,
                categories=categories,
                snapshot=snapshot,
                restores=restores,
            )

    def batch(self) -> ArchiveBatch:
        """A writer that commits any number of revisions and moves the branch once, at the end.

        Use it as a context manager; an exception inside the block leaves the branch untouched.
        """
        return ArchiveBatch(self)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold ``.git/policywatch.lock`` (O_EXCL) so that one process writes at a time.

        A lock whose process is gone (same host, pid not running) is stale and broken; a lock still
        empty after 10 s lost its writer between create and write. Breaking re-reads the pid just
        before unlinking; two processes breaking the same stale lock in the same microsecond could
        still both proceed, and the compare-and-swap on the branch then refuses the second.
        """
        path = self.git_dir / "policywatch.lock"
        host = socket.gethostname()
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                pid, holder_host, age = _lock_holder(path)
                stale = (pid is None and age > 10) or (
                    pid is not None and holder_host == host and not _alive(pid)
                )
                if stale:
                    again, _, _ = _lock_holder(path)
                    if again == pid:
                        log_.warning("%s: breaking a stale lock of process %s", path, pid)
                        path.unlink(missing_ok=True)
                    continue
                if time.monotonic() >= deadline:
                    raise ArchiveError(
                        f"{path}: the archive is locked by process {pid or '?'} on"
                        f" {holder_host or '?'} (another policywatch is writing); waited"
                        f" {self.lock_timeout:g}s. Delete the file if that process is gone."
                    ) from None
                time.sleep(0.05)
                continue
            except OSError as exc:
                raise ArchiveError(f"{path}: cannot create the lock: {exc.strerror}") from exc
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(f"{os.getpid()} {host}\n")
            break
        try:
            yield
        finally:
            path.unlink(missing_ok=True)

    def _publish(
        self, old: str | None, new: str, count: int, written: Sequence[Revision] = ()
    ) -> None:
        """Move the branch from ``old`` to ``new`` (compare-and-swap), then tidy up.

        The worktree and the commit-graph are conveniences: failing to update them is logged, not
        raised, because the revisions are already safely on the branch.
        """
        self._git(
            "update-ref", "-m", f"policywatch: {count} revision(s)", self.branch, new, old or _ZERO
        )
        self._carry_caches(old, new, written)
        try:
            self._worktree_behind = True
            if not self.defer_worktree:
                self.sync_worktree()
            # Refresh the changed-path filters after a bulk write, and now and then otherwise:
            # a sample of 1 in 32 commit ids needs no state and works for short `check` runs too.
            if count >= 32 or int(new[:2], 16) < 8:
                self.write_commit_graph()
        except (ArchiveError, OSError) as exc:
            log_.warning("%s: %s", self.path, exc)

    def sync_worktree(self) -> None:
        """Check the branch out into the worktree, for people browsing the archive (reads never
        look at it). With ``defer_worktree`` set, writes leave this to the caller: a check that
        records hundreds of revisions refreshes the worktree once, not once per revision."""
        with self._mutex:
            whole = self._cache.get(None)
            if whole is not None and whole[0] == self._tip():
                self._save_history(*whole)  # the history as carried through this burst of writes
            if not self._worktree_behind:
                return
            tip = self._tip()
            if (
                tip
                and not self._repo.bare
                and _read(self.git_dir / "HEAD") == f"ref: {self.branch}"
            ):
                self._git("read-tree", "-u", "--reset", tip)
            self._worktree_behind = False

    def _carry_caches(self, old: str | None, new: str, written: Sequence[Revision]) -> None:
        """Bring the history caches from ``old`` to ``new`` without reading git again.

        The commits between them are exactly ``written`` (the compare-and-swap just proved the
        branch was at ``old``), so each cached history is the old one plus the new revisions of
        its policy, ordered as :meth:`_revisions` orders a fresh log: newest commit first, then a
        stable sort by date. A check recording many policies thus runs no ``git log`` per record.
        """
        carried: dict[str | None, tuple[str, list[Revision]]] = {}
        grouped = None
        if old is None:  # the archive was empty: what was written is its whole history
            old = ""
            self._cache = {None: (old, [])}
            self._grouped = (old, {})
            self._policies = (old, [])
        if written:
            newest_first = list(reversed(written))
            added_by: dict[str | None, list[Revision]] = {None: newest_first}
            for rev in newest_first:
                added_by.setdefault(rev.policy, []).append(rev)
            for key, (tip, revisions) in self._cache.items():
                if tip == old:
                    carried[key] = (new, _merged(added_by.get(key), revisions))
            if self._grouped is not None and self._grouped[0] == old:
                groups = dict(self._grouped[1])
                for key, added in added_by.items():
                    if key is not None:
                        groups[key] = _merged(added, groups.get(key, []))
                grouped = (new, groups)
            if self._policies is not None and self._policies[0] == old:
                ids = set(self._policies[1]) | {r.policy for r in written}
                self._policies = (new, sorted(ids))
        self._cache = carried
        self._grouped = grouped

    def write_commit_graph(self) -> None:
        """Write the commit-graph with changed-path filters: path-limited logs skip most commits."""
        self._git("commit-graph", "write", "--reachable", "--changed-paths", "--split")


def _merged(added: list[Revision] | None, revisions: list[Revision]) -> list[Revision]:
    """``added`` (newest commit first) in front of ``revisions``, stably sorted by date as
    :meth:`GitArchive._revisions` sorts a fresh log. A new list: cached lists are shared."""
    if not added:
        return revisions
    merged = added + revisions
    # new revisions are nearly always the newest: skip the sort when the order already holds
    if any(a.date < b.date for a, b in islice(pairwise(merged), len(added))):
        merged.sort(key=lambda r: r.date, reverse=True)
    return merged


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ArchiveError(f"{path}: cannot read: {exc.strerror}") from exc


@dataclass(slots=True)
class _Head:
    """What a batch knows of one policy's latest revision, including its own commits."""

    revision: Revision | None
    text: str | None


class ArchiveBatch:
    """Commits revisions through one ``git fast-import`` process; the branch moves on exit.

    ``fast-import`` builds the commits on a ref it is told to drop again before it exits, so it
    never moves a ref itself: :meth:`GitArchive._publish` does, once, with a compare-and-swap. The
    lock is held from ``__enter__`` to ``__exit__``.
    """

    def __init__(self, archive: GitArchive) -> None:
        self.archive = archive
        self._base: str | None = None
        self._tip: str | None = None
        self._heads: dict[str, _Head] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._stdin: IO[bytes] | None = None
        self._count = 0
        self._stack = ExitStack()
        #: the revisions written so far, oldest first
        self.revisions: list[Revision] = []

    def __enter__(self) -> ArchiveBatch:
        with ExitStack() as stack:
            stack.enter_context(self.archive._mutex)
            stack.enter_context(self.archive._locked())
            self._base = self._tip = self.archive._tip()
            self._stack = stack.pop_all()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self._finish()
            else:
                self._kill()
        finally:
            self._stack.close()

    def latest(self, policy: str) -> Revision | None:
        """The latest revision of ``policy``, counting the ones this batch has written."""
        return self._head(policy).revision

    def latest_text(self, policy: str) -> str | None:
        return self._head(policy).text

    def _head(self, policy: str) -> _Head:
        head = self._heads.get(policy)
        if head is None:
            rev = self.archive.latest(policy)
            text = self.archive.read(policy, rev.id) if rev is not None else None
            head = self._heads[policy] = _Head(rev, text)
        return head

    def record(
        self,
        policy: str,
        text: str,
        *,
        observed_at: datetime,
        kind: RevisionKind,
        summary: str,
        source: str,
        material: bool = False,
        categories: Sequence[str] = (),
        snapshot: Snapshot | None = None,
        restores: str | None = None,
    ) -> Revision | None:
        """Add one commit to the stream; see :meth:`GitArchive.record`."""
        _check_policy(policy)
        if kind not in _KINDS:
            raise ValueError(f"bad revision kind {kind!r}: expected one of {', '.join(_KINDS)}")
        when = revision_date(observed_at)
        cats = tuple(_one_line(c) for c in categories if _one_line(c))
        if any("," in c for c in cats):
            raise ValueError(f"a category cannot contain a comma: {cats!r}")
        if restores is not None and not _HEX.match(restores):
            raise ValueError(f"restores must be a revision id, got {restores!r}")
        head = self._head(policy)
        if head.text == text:
            return None
        if head.revision is not None and when < head.revision.date:
            # Allowing it would make the new text a revision in the past while "latest" (by date)
            # stayed the old text, and every later check would record the new text again.
            raise ArchiveError(
                f"{policy}: observed_at {when.isoformat()} is before the latest revision"
                f" ({head.revision.date.isoformat()}, {head.revision.id[:12]}); is the clock wrong?"
            )
        digest = content_hash(text)
        message = _message(
            policy,
            summary=summary,
            source=source,
            digest=digest,
            kind=kind,
            material=material,
            categories=cats,
            restores=restores,
        )
        commit = self._write(policy, text, message, when, snapshot)
        revision = Revision(
            policy=policy,
            id=commit,
            date=when,
            kind=kind,
            material=material,
            summary=_one_line(summary) or message.split("\n", 1)[0],
            content_hash=digest,
            source=_one_line(source),
            categories=cats,
            restores=restores,
        )
        self._heads[policy] = _Head(revision, text)
        self.revisions.append(revision)
        return revision

    def _start(self) -> IO[bytes]:
        if self._stdin is not None:
            return self._stdin
        try:
            self._proc = self.archive._repo.start("fast-import", "--quiet")
        except GitFailed as exc:
            raise ArchiveError(
                f"{self.archive.path}: cannot start git fast-import: {exc.message}"
            ) from exc
        assert self._proc.stdin is not None
        self._stdin = self._proc.stdin
        # `done` makes a stream cut short by a crash an error instead of a silent commit
        self._stdin.write(b"feature done\n")
        return self._stdin

    def _write(
        self, policy: str, text: str, message: str, when: datetime, snapshot: Snapshot | None
    ) -> str:
        stdin = self._start()
        self._count += 1
        stamp = f"{self.archive.name} <{self.archive.email}> {int(when.timestamp())} +0000\n"
        msg = message.encode("utf-8")
        body = text.encode("utf-8")
        parts = [
            f"commit {_PENDING}\nmark :{self._count}\n".encode(),
            f"author {stamp}committer {stamp}".encode(),
            b"data %d\n%s\n" % (len(msg), msg),
        ]
        if self._count == 1 and self._base is not None:
            parts.append(f"from {self._base}\n".encode())
        parts.append(
            b"M 100644 inline %s/%s\ndata %d\n%s\n"
            % (policy.encode(), TEXT_FILE.encode(), len(body), body)
        )
        keep = None
        if snapshot is not None:
            keep = _snapshot_ext(snapshot.media_type)
            parts.append(
                b"M 100644 inline %s/snapshot.%s\ndata %d\n%s\n"
                % (policy.encode(), keep.encode(), len(snapshot.content), snapshot.content)
            )
        # a text must never sit beside the snapshot of another revision
        parts += [
            f"D {policy}/snapshot.{ext}\n".encode() for ext in _ALL_SNAPSHOT_EXTS if ext != keep
        ]
        parts.append(f"\nget-mark :{self._count}\n".encode())
        assert self._proc is not None and self._proc.stdout is not None
        try:
            stdin.writelines(parts)
            stdin.flush()
            answer = self._proc.stdout.readline().decode("ascii", "replace").strip()
        except OSError:
            answer = ""
        if len(answer) != 40:
            raise ArchiveError(f"{self.archive.path}: git fast-import failed: {self._kill()}")
        self._tip = answer
        return answer

    def _kill(self) -> str:
        """Stop fast-import without `done`: it writes no ref. Returns what it said on stderr."""
        proc, self._proc, self._stdin = self._proc, None, None
        if proc is None:
            return ""
        proc.kill()
        return _end(proc, b"")[1]

    def _finish(self) -> None:
        proc, self._proc, self._stdin = self._proc, None, None
        if proc is None or self._tip is None:
            return
        # drop the working ref again (reset without `from`), then end the stream
        status, err = _end(proc, f"reset {_PENDING}\n\ndone\n".encode())
        if status != 0:
            raise ArchiveError(f"{self.archive.path}: git fast-import failed: {err}")
        self.archive._publish(self._base, self._tip, self._count, self.revisions)


def _end(proc: subprocess.Popen[bytes], tail: bytes) -> tuple[int, str]:
    """Send the end of a stream, close it and wait: (exit status, stderr)."""
    if proc.stdin is not None:
        try:
            proc.stdin.write(tail)
            proc.stdin.close()
        except OSError:
            pass
        proc.stdin = None  # communicate() would flush the closed pipe
    _, err = proc.communicate()
    return proc.returncode, err.decode("utf-8", "replace").strip()
