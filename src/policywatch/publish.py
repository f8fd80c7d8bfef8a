"""From the archive to the Atom files in ``[feeds] dir``.

Every feed entry lists the clauses its revision changed, so building the feeds needs the diff of
every announced revision against the one before it. The diff of two texts never changes, so each
pair's clause list is computed once and kept as JSON in the archive's git directory
(``.git/policywatch/changes/<old hash>-<new hash>.json``), written by whoever computed the diff
(``check``, ``import``); publishing a long history diffs nothing it has seen before. The
cache is derived data: deleting it costs time, never information.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .feeds import FeedChange, FeedEntry, write_feeds
from .files import write_atomic
from .models import Diff, Revision

if TYPE_CHECKING:
    from .tracker import Tracker

__all__ = ["feed_entries", "remember_changes", "revision_changes", "write_site_feeds"]

#: bump when what is cached per revision pair changes shape or meaning (e.g. a new classifier)
CACHE_VERSION = 1


def _cache_path(tracker: Tracker, old_hash: str, new_hash: str) -> Path:
    def short(h: str) -> str:
        return h.removeprefix("sha256:")[:32]

    return (
        tracker.archive.git_dir
        / "policywatch"
        / "changes"
        / f"{short(old_hash)}-{short(new_hash)}.json"
    )


def remember_changes(tracker: Tracker, old_hash: str, new_hash: str, diff: Diff) -> None:
    """Keep the clause changes of a diff between two texts (named by their content hashes).

    A diff depends only on the two texts, so the cache is keyed by their hashes: the tracker and
    ``import`` store the diff they computed anyway, and publishing never computes it again.
    """
    path = _cache_path(tracker, old_hash, new_hash)
    payload = {
        "version": CACHE_VERSION,
        "changes": [_change_to_json(FeedChange.from_change(c)) for c in diff.changes],
    }
    write_atomic(path, json.dumps(payload, ensure_ascii=False))


def revision_changes(
    tracker: Tracker, revision: Revision, previous: Revision | None
) -> tuple[FeedChange, ...]:
    """The clause changes a feed entry lists for ``revision``: an editorial revision lists its
    editorial changes, any other only the changes of substance (noise hides what matters)."""
    if previous is None or revision.kind == "technical":
        return ()
    path = _cache_path(tracker, previous.content_hash, revision.content_hash)
    changes: tuple[FeedChange, ...] | None = None
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("version") == CACHE_VERSION:
            changes = tuple(_change_from_json(c) for c in cached["changes"])
    except (OSError, ValueError, KeyError, TypeError):
        changes = None
    if changes is None:
        diff = tracker.diff(revision.policy, previous.id, revision.id)
        remember_changes(tracker, previous.content_hash, revision.content_hash, diff)
        changes = tuple(FeedChange.from_change(c) for c in diff.changes)
    editorial = revision.kind == "editorial"
    return tuple(c for c in changes if (c.kind == "editorial") == editorial)


def _change_to_json(c: FeedChange) -> dict[str, Any]:
    return {
        "kind": c.kind,
        "old": c.old_text,
        "new": c.new_text,
        "section": list(c.section),
        "categories": list(c.categories),
        "reasons": list(c.reasons),
        "material": c.material,
    }


def _change_from_json(d: dict[str, Any]) -> FeedChange:
    return FeedChange(
        kind=d["kind"],
        old_text=d["old"],
        new_text=d["new"],
        section=tuple(d["section"]),
        categories=tuple(d["categories"]),
        reasons=tuple(d["reasons"]),
        material=bool(d["material"]),
    )


def _titles(tracker: Tracker) -> dict[str, str]:
    titles = {p.id: p.title for p in tracker.config.policies}
    for pid in tracker.archive.policies():
        titles.setdefault(pid, pid)
    return titles


def feed_entries(tracker: Tracker) -> list[FeedEntry]:
    """Every revision of every policy as a feed entry, oldest first within each policy."""
    titles = _titles(tracker)
    entries: list[FeedEntry] = []
    tracker.archive.log()  # one `git log` for every policy; the per-policy logs slice it
    for pid, title in titles.items():
        history = list(reversed(tracker.archive.log(pid)))  # oldest first
        previous: Revision | None = None
        for revision in history:
            entries.append(
                FeedEntry(
                    policy=revision.policy,
                    policy_title=title,
                    revision=revision.id,
                    previous=previous.id if previous else None,
                    date=revision.date,
                    kind=revision.kind,
                    material=revision.material,
                    summary=revision.summary,
                    categories=revision.categories,
                    changes=revision_changes(tracker, revision, previous),
                    restores=revision.restores,
                )
            )
            previous = revision
    return entries


def write_site_feeds(tracker: Tracker) -> list[Path]:
    """Write ``all.atom`` and one feed per policy into ``[feeds] dir``."""
    config = tracker.config
    titles = _titles(tracker)
    return write_feeds(config.feeds.dir, config.site, list(titles.items()), feed_entries(tracker))
