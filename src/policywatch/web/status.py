"""Each source's failure streak as the public pages and the API show it.

The streak lives in the source state file (``.git/policywatch/sources.json``), not in the
archive: a failing check changes that file and leaves the branch tip alone. Pages are validated
by the tip, so a page cached before the failure would never show the notice unless its ETag also
depends on this state. :class:`SourceBoard` therefore carries two digests: ``notices`` (what the
HTML notices show: only failing sources, so the many successful checks do not invalidate every
page) and ``full`` (everything ``/api/policies`` publishes, last runs included).

Error messages are untrusted text (a server's reason phrase ends up in them) and may name
internals: only a web source's message is published, as its first line cut short, and the
templates escape it; a local file's message names paths on this host and is never published.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..tracker import Tracker

__all__ = ["ERROR_MAX", "LOCAL_ERROR", "SourceBoard", "SourceBoards", "SourceView", "public_error"]

#: the longest error summary published (characters, before the ellipsis)
log = logging.getLogger(__name__)

ERROR_MAX = 200
#: what is published instead of a local source's error (its message names paths on this host)
LOCAL_ERROR = "the local source could not be read (the details are in the server's log)"


def public_error(error: str | None, *, is_url: bool) -> str | None:
    """The part of a check's error the public may see: a web source's first line, cut short."""
    if not error:
        return None
    if not is_url:
        return LOCAL_ERROR
    line = error.strip().splitlines()[0] if error.strip() else ""
    line = "".join(ch if ch.isprintable() else " " for ch in line)
    return line if len(line) <= ERROR_MAX else line[:ERROR_MAX].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class SourceView:
    """One source's state, ready to publish (``last_error`` already reduced by
    :func:`public_error`)."""

    policy: str
    failures: int
    last_error: str | None
    last_run: datetime | None
    next_run: datetime | None
    backoff_until: datetime | None
    last_failure: datetime | None
    last_success: datetime | None

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def as_dict(self) -> dict[str, Any]:
        """The ``source_status`` object of ``/api/policies`` (ISO 8601 times, UTC)."""
        return {
            "failures": self.failures,
            "last_error": self.last_error,
            "last_run": _iso(self.last_run),
            "next_run": _iso(self.next_run),
            "backoff_until": _iso(self.backoff_until),
        }

    def notice_dict(self) -> dict[str, Any]:
        """What a failing source's notice on a page shows (its digest is the pages' validator)."""
        return {
            "failures": self.failures,
            "last_error": self.last_error,
            "last_failure": _iso(self.last_failure),
            "last_success": _iso(self.last_success),
            "next_run": _iso(self.next_run),
            "backoff_until": _iso(self.backoff_until),
        }


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat() if when is not None else None


def _digest(document: object) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class SourceBoard:
    """Every configured source's state at one moment; ``updated`` is the newest run."""

    sources: Mapping[str, SourceView] = field(default_factory=dict)
    notices: str = ""
    full: str = ""
    updated: datetime | None = None
    #: when a ``next_run`` or back-off shown here is in the past and the board must be rebuilt
    valid_until: datetime | None = None

    def get(self, policy: str) -> SourceView | None:
        return self.sources.get(policy)

    def failing(self, policy: str) -> SourceView | None:
        """The source's view when it is failing (what the notice templates ask for)."""
        view = self.sources.get(policy)
        return view if view is not None and view.failing else None

    @classmethod
    def build(cls, views: list[SourceView]) -> SourceBoard:
        failing = {v.policy: v.notice_dict() for v in views if v.failing}
        runs = [v.last_run for v in views if v.last_run is not None]
        ends = [t for v in views for t in (v.next_run, v.backoff_until) if t is not None]
        return cls(
            sources={v.policy: v for v in views},
            notices=_digest(failing) if failing else "",
            full=_digest({v.policy: v.as_dict() for v in views}),
            updated=max(runs) if runs else None,
            valid_until=min(ends) if ends else None,
        )


_Signature = tuple[int, int, int] | None


class SourceBoards:
    """The current :class:`SourceBoard`, re-read only when the state file changes (a ``stat``
    per call) or when a time it shows has passed. Thread-safe: the web app's worker threads
    share it."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self._lock = threading.Lock()
        self._path: Path | None = None
        self._cached: tuple[_Signature, SourceBoard] | None = None

    def _state_path(self) -> Path:
        with self._lock:
            if self._path is None:
                self._path = self.tracker.state.path
            return self._path

    def current(self, now: datetime | None = None) -> SourceBoard:
        now = now or datetime.now(UTC)
        path = self._state_path()
        signature = _signature(path)
        with self._lock:
            cached = self._cached
        if cached is not None and cached[0] == signature:
            board = cached[1]
            if board.valid_until is None or now < board.valid_until:
                return board
        board = self._read(now)
        with self._lock:
            self._cached = (signature, board)
        return board

    def _read(self, now: datetime) -> SourceBoard:
        from ..errors import ArchiveError
        from ..schedule import schedule_status
        from ..state import StateFile

        try:
            statuses = schedule_status(self.tracker, now=now)
            state = StateFile(self._state_path())
        except ArchiveError as exc:
            # a damaged state file must not take the archive's pages down with it
            log.error("the source state cannot be read: %s", exc)
            return SourceBoard()
        kinds = {p.id: p.is_url for p in self.tracker.config.policies}
        views = []
        for s in statuses:
            persisted = state.get(s.policy)
            views.append(
                SourceView(
                    policy=s.policy,
                    failures=s.failures,
                    last_error=public_error(s.last_error, is_url=kinds.get(s.policy, False)),
                    last_run=s.last_run,
                    next_run=s.next_run,
                    backoff_until=s.backoff_until,
                    last_failure=persisted.last_failure if s.failures else None,
                    last_success=persisted.last_success,
                )
            )
        return SourceBoard.build(views)


def _signature(path: Path) -> _Signature:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)
