"""What the web app reads from the archive, with the caches that make it cheap to serve.

Every :class:`Publisher` method blocks (git, diffing, Markdown, feedgen) unless it says
otherwise: handlers call them through ``asyncio.to_thread``; :class:`Stamps` is their async door
to the one value every request needs. A Publisher is shared by the worker threads, so every
cache is guarded.

Three caches, each with a reason:

- the archive *state* (policies, their latest revisions, the newest date) is keyed by the branch
  tip: one ``cat-file`` round trip per request tells whether anything changed;
- diffs are keyed by ``(policy, from id, to id)`` in a bounded LRU: revisions never change, so a
  pair is diffed once however many people read it (a 290 KB pair costs a large fraction of a
  second, a page view must not);
- rendered Markdown is keyed by revision id, for the same reason.

A feed is served from the file ``policywatch check`` wrote into ``[feeds] dir`` when there is
one (the same bytes readers of the static files get, so the ETag agrees), else built here once
per archive state from the same entries ``check`` publishes.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from ..errors import RevisionNotFound
from ..models import Diff, Revision
from .present import DiffView, diff_view, render_markdown
from .status import SourceBoard, SourceBoards

if TYPE_CHECKING:
    from markupsafe import Markup

    from ..archive import GitArchive
    from ..feeds import FeedEntry
    from ..tracker import Tracker

__all__ = [
    "LRU",
    "Compared",
    "FeedDoc",
    "PolicyInfo",
    "Publisher",
    "Stamp",
    "Stamps",
]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_FEED_NAME = re.compile(
    r"^(?P<stem>[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)(?:-page-(?P<n>[1-9]\d{0,5}))?$"
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class LRU(Generic[K, V]):
    """A bounded, thread-safe least-recently-used map that computes each missing value once.

    Two threads asking for the same missing key do not both compute it: the second waits for
    the first. If the first fails, the waiter computes it itself (errors are not cached, and
    one exception object is never re-raised in two threads).
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"an LRU holds at least one value, not {size}")
        self.size = size
        self._data: OrderedDict[K, V] = OrderedDict()
        self._pending: dict[K, threading.Event] = {}
        self._lock = threading.Lock()
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def peek(self, key: K) -> V | None:
        """The value if present (marking it used), without computing anything: safe to call
        from the event loop."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
            return None

    def get(self, key: K, make: Callable[[], V]) -> V:
        while True:
            with self._lock:
                if key in self._data:
                    self._data.move_to_end(key)
                    return self._data[key]
                event = self._pending.get(key)
                if event is None:
                    event = self._pending[key] = threading.Event()
                    break
            event.wait()
            with self._lock:
                if key in self._data or key in self._pending:
                    continue
            return make()  # the owner failed: compute it ourselves, uncached
        try:
            value = make()
            with self._lock:
                self.misses += 1
                self._data[key] = value
                while len(self._data) > self.size:
                    self._data.popitem(last=False)
            return value
        finally:
            with self._lock:
                del self._pending[key]
            event.set()


@dataclass(frozen=True, slots=True)
class Stamp:
    """The archive's state: ``tip`` changes with every recorded revision ("" when empty).

    ``sources`` is the sources' failure streaks at the same moment: they change without the tip
    (a failed check writes the state file, not the archive), so the pages that show them put
    its digest in their validator too.
    """

    tip: str
    updated: datetime | None
    sources: SourceBoard = field(default_factory=SourceBoard)


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    id: str
    title: str
    #: the public source (an http(s) URL); None for a local file, whose path is nobody's business
    url: str | None
    latest: Revision | None
    count: int
    configured: bool


@dataclass(frozen=True, slots=True)
class Compared:
    policy: PolicyInfo
    old: Revision
    new: Revision
    diff: Diff
    view: DiffView


@dataclass(frozen=True, slots=True)
class FeedDoc:
    body: bytes
    etag: str
    last_modified: datetime


@dataclass(frozen=True, slots=True)
class _State:
    stamp: Stamp
    policies: tuple[PolicyInfo, ...]
    #: every revision of every policy, newest first
    revisions: tuple[Revision, ...]
    #: revision id -> the revision before it (same policy)
    previous: dict[str, Revision | None]

    def policy(self, policy_id: str) -> PolicyInfo | None:
        return next((p for p in self.policies if p.id == policy_id), None)


class Stamps:
    """The archive's current :class:`~policywatch.web.reader.Stamp`, read once for all the
    requests waiting on it.

    Every request needs it (it is in every validator), and reading it is a round trip to git's
    ``cat-file`` process in a worker thread, serialised by the archive's lock. Under load,
    requests that arrive while a read is in flight share that read instead of queueing for their
    own: a revision recorded during that read is seen by the next wave, one round trip later.
    """

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self._pending: asyncio.Future[Stamp] | None = None

    async def get(self) -> Stamp:
        pending = self._pending
        if pending is None:
            pending = self._pending = asyncio.ensure_future(asyncio.to_thread(self.publisher.stamp))
            pending.add_done_callback(self._done)
        # shielded: one impatient client disconnecting must not cancel the others' read
        return await asyncio.shield(pending)

    def _done(self, future: asyncio.Future[Stamp]) -> None:
        if self._pending is future:
            self._pending = None


def archive_tip(archive: GitArchive) -> str:
    """The branch's commit id: what every page's validator is derived from."""
    return archive.tip() or ""


class Publisher:
    """The archive as the web app sees it; one per app, shared by the worker threads."""

    def __init__(
        self, tracker: Tracker, *, diffs: int = 64, texts: int = 32, feeds: int = 64
    ) -> None:
        self.tracker = tracker
        self.config = tracker.config
        self._state: _State | None = None
        self._state_lock = threading.Lock()
        self._diffs: LRU[tuple[str, str, str], tuple[Diff, DiffView]] = LRU(diffs)
        self._texts: LRU[tuple[str, str], Markup] = LRU(texts)
        self._built_feeds: LRU[tuple[str, str], FeedDoc] = LRU(feeds)
        self._entries: LRU[str, list[FeedEntry]] = LRU(1)
        self._files: dict[Path, tuple[int, int, FeedDoc]] = {}
        self._files_lock = threading.Lock()
        self._opened: GitArchive | None = None
        self.boards = SourceBoards(tracker)

    @property
    def diff_cache(self) -> LRU[tuple[str, str, str], tuple[Diff, DiffView]]:
        return self._diffs

    @property
    def archive(self) -> GitArchive:
        archive = self._opened = self.tracker.archive
        return archive

    def close(self) -> None:
        """Close the archive if it was ever opened (its ``cat-file`` processes)."""
        if self._opened is not None:
            self._opened.close()

    # -- state -------------------------------------------------------------------------------

    def stamp(self) -> Stamp:
        """The archive's state and the sources' state, read together for one request."""
        return replace(self._current().stamp, sources=self.boards.current())

    def _current(self) -> _State:
        tip = archive_tip(self.archive)
        with self._state_lock:
            state = self._state
            if state is None or state.stamp.tip != tip:
                state = self._state = self._load(tip)
            return state

    def _load(self, tip: str) -> _State:
        archive = self.archive
        everything = archive.log(None) if tip else []
        stored = set(archive.policies()) if tip else set()
        by_policy: dict[str, list[Revision]] = {}
        for rev in everything:
            by_policy.setdefault(rev.policy, []).append(rev)
        previous: dict[str, Revision | None] = {}
        for revs in by_policy.values():
            for newer, older in zip(revs, [*revs[1:], None], strict=True):
                previous[newer.id] = older
        infos: list[PolicyInfo] = []
        for p in self.config.policies:
            revs = by_policy.get(p.id, [])
            infos.append(
                PolicyInfo(
                    id=p.id,
                    title=p.title,
                    url=p.source if p.is_url else None,
                    latest=revs[0] if revs else None,
                    count=len(revs),
                    configured=True,
                )
            )
        configured = {p.id for p in self.config.policies}
        for pid in sorted((stored | set(by_policy)) - configured):
            revs = by_policy.get(pid, [])
            if not revs:
                continue
            infos.append(PolicyInfo(pid, pid, None, revs[0], len(revs), configured=False))
        updated = everything[0].date if everything else None
        return _State(Stamp(tip, updated), tuple(infos), tuple(everything), previous)

    # -- policies and revisions ----------------------------------------------------------------

    def policies(self) -> tuple[PolicyInfo, ...]:
        return self._current().policies

    def policy(self, policy_id: str) -> PolicyInfo:
        info = self._current().policy(policy_id)
        if info is None:
            raise RevisionNotFound(f"there is no policy {policy_id!r}", policy=policy_id)
        return info

    def history(self, policy_id: str) -> list[Revision]:
        """Revisions of a policy, newest first (empty for a configured, unrecorded policy)."""
        state = self._current()
        if state.policy(policy_id) is None:
            raise RevisionNotFound(f"there is no policy {policy_id!r}", policy=policy_id)
        return [r for r in state.revisions if r.policy == policy_id]

    def revision(self, policy_id: str, name: str) -> tuple[Revision, str]:
        self.policy(policy_id)
        revision = self.archive.resolve(policy_id, name)
        return revision, self.archive.read(policy_id, revision.id)

    def previous(self, revision: Revision) -> Revision | None:
        return self._current().previous.get(revision.id)

    def following(self, revision: Revision) -> Revision | None:
        newer = None
        for rev in self._current().revisions:
            if rev.policy != revision.policy:
                continue
            if rev.id == revision.id:
                return newer
            newer = rev
        return None

    def text_html(self, revision: Revision) -> Markup:
        """A revision's text as inert HTML, rendered once per revision."""
        return self._texts.get(
            (revision.policy, revision.id),
            lambda: render_markdown(self.archive.read(revision.policy, revision.id)),
        )

    # -- diffs ---------------------------------------------------------------------------------

    def compare(self, policy_id: str, from_name: str | None, to_name: str | None) -> Compared:
        """Resolve FROM and TO as ``policywatch diff`` does (FROM defaults to the revision before
        TO, TO to the latest), then diff them, once per pair of revisions."""
        info = self.policy(policy_id)
        archive = self.archive
        new = archive.resolve(policy_id, to_name or "latest")
        if from_name:
            old = archive.resolve(policy_id, from_name)
        else:
            before = self.previous(new)
            if before is None:
                raise RevisionNotFound(
                    f"{policy_id}: revision {new.id[:12]} is the first one recorded;"
                    " there is nothing before it to compare with",
                    policy=policy_id,
                    name=to_name or "latest",
                )
            old = before
        diff, view = self.diff(policy_id, old, new)
        return Compared(info, old, new, diff, view)

    def diff(self, policy_id: str, old: Revision, new: Revision) -> tuple[Diff, DiffView]:
        def make() -> tuple[Diff, DiffView]:
            diff = self.tracker.diff(policy_id, old.id, new.id)
            return diff, diff_view(diff)

        return self._diffs.get((policy_id, old.id, new.id), make)

    # -- categories ----------------------------------------------------------------------------

    def category(self, category: str) -> list[tuple[PolicyInfo, Revision, Revision | None]]:
        """Changes (revisions) that touched ``category``, newest first, with their previous."""
        state = self._current()
        out = []
        for rev in state.revisions:
            if category in rev.categories and rev.kind in ("change", "editorial"):
                info = state.policy(rev.policy)
                if info is not None:
                    out.append((info, rev, state.previous.get(rev.id)))
        return out

    def category_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for rev in self._current().revisions:
            if rev.kind in ("change", "editorial"):
                for c in rev.categories:
                    counts[c] = counts.get(c, 0) + 1
        return counts

    # -- feeds ---------------------------------------------------------------------------------

    def feed_file(self, name: str) -> FeedDoc | None:
        """The feed ``check`` wrote, if any; a ``stat`` per call, the bytes re-read on change.

        Cheap enough for the event loop: no thread hop on the hot (304) path.
        """
        from ..feeds import feed_etag

        if not _FEED_NAME.match(name):
            return None
        path = self.config.feeds.dir / f"{name}.atom"
        try:
            st = os.stat(path)
        except OSError:
            return None
        with self._files_lock:
            cached = self._files.get(path)
        if cached is not None and cached[0] == st.st_mtime_ns and cached[1] == st.st_size:
            return cached[2]
        try:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                body = fh.read()
        except OSError:
            return None
        modified = datetime.fromtimestamp(int(st.st_mtime), UTC)
        doc = FeedDoc(body, feed_etag(body), modified)
        with self._files_lock:
            self._files[path] = (st.st_mtime_ns, st.st_size, doc)
        return doc

    def built_feed(self, stamp: Stamp, name: str) -> FeedDoc | None:
        """A feed already built for this archive state, if any (no I/O: for the event loop)."""
        return self._built_feeds.peek((stamp.tip, name))

    def feed(self, name: str) -> FeedDoc:
        """``all``, a policy id, or ``<feed>-page-<n>``: the file when written, else built."""
        doc = self.feed_file(name)
        if doc is not None:
            return doc
        m = _FEED_NAME.match(name)
        if m is None:
            raise RevisionNotFound(f"there is no feed {name!r}")
        stem, page = m.group("stem"), m.group("n")
        state = self._current()
        if stem != "all" and state.policy(stem) is None:
            raise RevisionNotFound(f"there is no feed {name!r}: no policy {stem!r}", policy=stem)
        return self._built_feeds.get(
            (state.stamp.tip, name), lambda: self._build_feed(state, stem, page)
        )

    def _build_feed(self, state: _State, stem: str, page: str | None) -> FeedDoc:
        from ..errors import InputError
        from ..feeds import build_feed, feed_etag

        entries = self._entries.get(state.stamp.tip, self._feed_entries)
        policy = None
        if stem != "all":
            info = state.policy(stem)
            assert info is not None
            policy = (info.id, info.title)
        try:
            body = build_feed(
                self.config.site,
                entries,
                policy=policy,
                page=int(page) if page is not None else None,
            )
        except InputError as exc:  # an archive page that does not exist
            raise RevisionNotFound(f"there is no feed {stem}-page-{page}: {exc}") from exc
        own = [e.date for e in entries if policy is None or e.policy == policy[0]]
        modified = max(own, default=EPOCH).astimezone(UTC).replace(microsecond=0)
        return FeedDoc(body, feed_etag(body), modified)

    def _feed_entries(self) -> list[FeedEntry]:
        """The entries ``check`` publishes (:func:`policywatch.publish.feed_entries`), so a feed
        built here has the same bytes, hence the same ETag, as the file would."""
        from ..publish import feed_entries

        return feed_entries(self.tracker)

    # -- health --------------------------------------------------------------------------------

    def healthy(self) -> dict[str, object]:
        """Read the branch and list the policies: raises ArchiveError when git cannot."""
        state = self._current()
        return {"archive": "ok", "revisions": len(state.revisions), "policies": len(state.policies)}
