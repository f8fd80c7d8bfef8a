"""``policywatch import``: backfill a policy's history from another git repository.

Every commit of the other repository's HEAD that touches the file becomes a revision dated with
the commit's *author* date (the time the text was observed, for Open Terms Archive and similar
trackers; histories are not in date order, so revisions are sorted by it). The file is followed
through renames, a deletion records nothing and a re-addition is compared with the text before the
deletion, so only real changes become revisions.

All revisions go through one :class:`~policywatch.archive.ArchiveBatch`, i.e. one ``git
fast-import`` stream: the same code path as :meth:`GitArchive.record`, so an imported revision is
indistinguishable from a recorded one, and the branch moves once, at the end. Any failure (bad
UTF-8, a ``describe`` that raises, git dying) leaves the archive's branch where it was.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import git

from .archive import POLICY_ID, GitArchive, content_hash
from .errors import ArchiveError, InputError
from .models import RevisionKind

__all__ = [
    "RESTORE_WINDOW",
    "Description",
    "ImportReport",
    "import_histories",
    "import_history",
]

#: a text equal to one of this many latest revisions is marked as restoring it
RESTORE_WINDOW = 5


@dataclass(frozen=True, slots=True)
class Description:
    """What ``describe(previous_text, new_text)`` says about a new text; it becomes the commit."""

    kind: RevisionKind
    material: bool
    summary: str
    categories: tuple[str, ...] = ()


Describe = Callable[[str | None, str], Description]


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did. ``first`` and ``last`` are the dates of the revisions it added."""

    imported: int
    #: versions equal to the one before them (re-recorded, reverted twice, only metadata touched)
    skipped: int
    #: versions not newer than the archive's latest revision when the import began
    already: int = 0
    #: imported revisions whose text equals one of the RESTORE_WINDOW revisions before them
    restores: int = 0
    first: datetime | None = None
    last: datetime | None = None


@dataclass(frozen=True, slots=True)
class _Version:
    """One commit's effect on a tracked file: a blob, or None when the commit deleted it."""

    policy: str
    path: str
    commit: str
    date: datetime
    blob: str | None


def import_history(
    archive: GitArchive,
    repo: Path,
    path: str,
    policy: str,
    *,
    describe: Describe,
    source: str | None = None,
) -> ImportReport:
    """Import every version of ``path`` in ``repo`` as revisions of ``policy``.

    Only versions newer than the policy's latest revision are added, so importing twice adds
    nothing. ``source`` goes into each revision's ``Source`` trailer (default ``REPO:PATH``).
    """
    return import_histories(archive, repo, [(path, policy)], describe=describe, source=source)


def import_histories(
    archive: GitArchive,
    repo: Path,
    files: Sequence[tuple[str, str]],
    *,
    describe: Describe,
    source: str | None = None,
) -> ImportReport:
    """Import several files of one repository at once: ``files`` are ``(path, policy)`` pairs.

    One walk of the other repository's history and one fast-import stream for all of them, with
    the revisions of all policies interleaved in date order, as a live archive would have them.
    """
    wanted: dict[str, str] = {}
    for path, policy in files:
        if not POLICY_ID.match(policy):
            raise InputError(
                f"bad policy id {policy!r}: expected lower-case letters, digits, dashes"
            )
        clean = _clean_path(path)
        if clean in wanted or policy in wanted.values():
            raise InputError(f"{path} -> {policy}: each path and each policy may appear only once")
        wanted[clean] = policy
    src = _open_source(repo)
    try:
        versions = _versions(src, Path(repo), wanted)
        return _replay(archive, src, versions, wanted, describe=describe, source=source, repo=repo)
    finally:
        src.close()


def _clean_path(path: str) -> str:
    clean = str(PurePosixPath(path.replace(os.sep, "/")))
    clean = clean.removeprefix("./").lstrip("/")
    if not clean or clean == "." or ".." in PurePosixPath(clean).parts:
        raise InputError(f"--path {path!r}: expected a file path inside the repository")
    return clean


def _open_source(repo: Path) -> git.Repo:
    if not Path(repo).is_dir():
        raise InputError("no such directory", path=str(repo))
    try:
        return git.Repo(repo)
    except (git.exc.InvalidGitRepositoryError, git.exc.NoSuchPathError):
        raise InputError("not a git repository", path=str(repo)) from None
    except (git.exc.GitError, OSError) as exc:
        raise InputError(f"cannot open the repository: {exc}", path=str(repo)) from exc


def _versions(src: git.Repo, repo: Path, wanted: dict[str, str]) -> list[_Version]:
    """Every version of the wanted files on HEAD, oldest first by author date.

    One ``git log --raw -M`` over the whole history instead of one ``--follow`` walk per file: the
    walk goes from HEAD back (``--topo-order``, children before parents), and when a tracked file
    turns out to have been renamed, its older commits are looked up under the old name.
    """
    try:
        raw = src.git.execute(
            [
                "git",
                "log",
                "--topo-order",
                "--raw",
                "-M",
                "--no-abbrev",
                "-z",
                "--format=%x1e%H %at",
                "HEAD",
            ],
            stdout_as_string=False,
        )
    except git.exc.GitCommandError as exc:
        err = str(exc.stderr or "")
        if "does not have any commits" in err or "unknown revision" in err:
            raise InputError("the repository has no commits", path=str(repo)) from None
        raise InputError(f"git log failed: {err.strip()}", path=str(repo)) from exc
    except (git.exc.GitError, OSError) as exc:
        raise InputError(f"git log failed: {exc}", path=str(repo)) from exc
    names = dict(wanted)  # current name -> policy, as the walk goes back in time
    original = {policy: path for path, policy in wanted.items()}
    found: list[_Version] = []
    for chunk in raw.decode("utf-8", "surrogateescape").split("\x1e"):
        if not chunk:
            continue
        fields = chunk.split("\0")
        commit, _, stamp = fields[0].strip().partition(" ")
        date = datetime.fromtimestamp(int(stamp), UTC)
        i = 1
        while i < len(fields):
            meta = fields[i].strip()
            if not meta.startswith(":"):
                i += 1
                continue
            _, _, _, dst, status = meta[1:].split(" ")
            if status[:1] in ("R", "C"):
                old, new = fields[i + 1], fields[i + 2]
                i += 3
            else:
                old = new = fields[i + 1]
                i += 2
            if status[:1] == "R" and new in names:
                policy = names.pop(new)
                found.append(_Version(policy, new, commit, date, dst))
                names[old] = policy  # older commits knew the file by its old name
            elif status[:1] == "R" and old in names:
                # the name we follow was renamed away here: for our file, a deletion
                found.append(_Version(names[old], old, commit, date, None))
            elif new in names:
                blob = None if status[:1] == "D" else dst
                found.append(_Version(names[new], new, commit, date, blob))
    seen = {v.policy for v in found}
    for policy, path in original.items():
        if policy not in seen:
            raise InputError(f"{path} is not in the history of {repo} (HEAD)", path=path)
    found.reverse()  # oldest first: ties in the date sort keep parents before children
    found.sort(key=lambda v: v.date)
    return found


@dataclass(slots=True)
class _Policy:
    """Per-policy state of a replay."""

    latest: datetime | None
    text: str | None
    blob: str | None
    recent: deque[tuple[str, str]]


def _replay(
    archive: GitArchive,
    src: git.Repo,
    versions: list[_Version],
    wanted: dict[str, str],
    *,
    describe: Describe,
    source: str | None,
    repo: Path,
) -> ImportReport:
    imported = skipped = already = restores = 0
    first: datetime | None = None
    last: datetime | None = None
    sources = {policy: source or f"{repo}:{path}" for path, policy in wanted.items()}
    with archive.batch() as batch:
        state: dict[str, _Policy] = {}
        for policy in wanted.values():
            latest = batch.latest(policy)
            recent = archive.recent_hashes(policy, RESTORE_WINDOW)
            state[policy] = _Policy(
                latest=latest.date if latest else None,
                text=batch.latest_text(policy),
                blob=None,
                recent=deque(reversed(recent), maxlen=RESTORE_WINDOW),
            )
        for v in versions:
            st = state[v.policy]
            if st.latest is not None and v.date <= st.latest:
                already += 1
                continue
            if v.blob is None or v.blob == st.blob:
                # a deletion records nothing; a re-addition is compared with the text before it
                skipped += v.blob is not None
                continue
            text = _read_text(src, v, v.blob)
            st.blob = v.blob
            if text == st.text:
                skipped += 1
                continue
            digest = content_hash(text)
            restored = next((rid for rid, h in reversed(st.recent) if h == digest), None)
            d = describe(st.text, text)
            revision = batch.record(
                v.policy,
                text,
                observed_at=v.date,
                kind=d.kind,
                summary=d.summary,
                source=sources[v.policy],
                material=d.material,
                categories=d.categories,
                restores=restored,
            )
            if revision is None:  # cannot happen: the text differs from the latest
                raise ArchiveError(f"{v.policy}: the archive refused {v.commit[:12]}")
            st.text = text
            st.recent.append((revision.id, digest))
            imported += 1
            restores += restored is not None
            first = first or revision.date
            last = revision.date
    return ImportReport(
        imported=imported,
        skipped=skipped,
        already=already,
        restores=restores,
        first=first,
        last=last,
    )


def _read_text(src: git.Repo, v: _Version, blob: str) -> str:
    try:
        _, _, _, data = src.git.get_object_data(blob)
    except (ValueError, git.exc.GitError, OSError) as exc:
        raise InputError(f"cannot read it at commit {v.commit[:12]}: {exc}", path=v.path) from exc
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not valid UTF-8 at commit {v.commit[:12]} ({exc.reason} at byte {exc.start})",
            path=v.path,
        ) from None
