"""What the watcher remembers about each source between runs, beside the archive.

The archive holds revisions, which change only when the text changes; a source's HTTP validators
(``ETag``, ``Last-Modified``), its failure streak and a pending "the text shrank drastically"
confirmation change far more often and must never create commits. They live in one small JSON
file inside the archive's git directory (``.git/policywatch/sources.json``): private to this
archive, never versioned, replaced atomically so a crash leaves the previous state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import ArchiveError
from .files import write_atomic

__all__ = ["SourceState", "StateFile"]


@dataclass(frozen=True, slots=True)
class SourceState:
    etag: str | None = None
    last_modified: str | None = None
    failures: int = 0
    last_error: str | None = None
    last_failure: datetime | None = None
    last_success: datetime | None = None
    #: content hash of a text that shrank drastically, recorded only if the next fetch repeats it
    pending_hash: str | None = None
    #: fingerprint of the extraction (selectors + extractor version) behind the latest revision
    extraction: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def failed(self, error: str, at: datetime) -> SourceState:
        return replace(self, failures=self.failures + 1, last_error=error, last_failure=at)

    def succeeded(self, at: datetime) -> SourceState:
        return replace(self, failures=0, last_error=None, last_success=at)


_DATES = ("last_failure", "last_success")
_FIELDS = tuple(SourceState.__dataclass_fields__)


class StateFile:
    """A mapping policy id -> :class:`SourceState`, loaded once and saved atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._states: dict[str, SourceState] = {}
        self._load()

    def _load(self) -> None:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise ArchiveError(f"{self.path}: unreadable source state: {exc}") from exc
        for policy, values in raw.get("sources", {}).items():
            known = {k: v for k, v in values.items() if k in SourceState.__dataclass_fields__}
            for key in _DATES:
                if known.get(key):
                    known[key] = datetime.fromisoformat(known[key])
            self._states[policy] = SourceState(**known)

    def get(self, policy: str) -> SourceState:
        return self._states.get(policy, SourceState())

    def put(self, policy: str, state: SourceState) -> None:
        self._states[policy] = state

    def items(self) -> list[tuple[str, SourceState]]:
        return sorted(self._states.items())

    def save(self) -> None:
        out: dict[str, Any] = {}
        for policy, state in sorted(self._states.items()):
            # field by field rather than dataclasses.asdict, which deep-copies every value:
            # this runs at the end of every check, over every source
            values = {name: getattr(state, name) for name in _FIELDS}
            for key in _DATES:
                if values[key] is not None:
                    values[key] = values[key].isoformat()
            out[policy] = values
        # json.dumps, compact: only a one-shot encode without indent uses the C encoder
        # (json.dump to a file, or indent, falls back to the pure-Python one: ~35 ms for
        # 1,000 sources at the end of every check)
        text = json.dumps({"version": 1, "sources": out}, sort_keys=True, separators=(",", ":"))
        write_atomic(self.path, text)
