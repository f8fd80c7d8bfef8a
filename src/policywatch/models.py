"""Plain frozen values passed between the pipeline stages.

No I/O here. Stages are functions from one of these to the next, so tests can call them with
literal values. Datetimes are timezone-aware UTC; collections are tuples so values stay hashable
and immutable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = [
    "CATEGORIES",
    "Change",
    "ChangeKind",
    "Clause",
    "ClauseChange",
    "ClauseKind",
    "Diff",
    "DiffStats",
    "Document",
    "Revision",
    "RevisionKind",
    "Side",
    "Snapshot",
]

#: OPP-115 category ids, in the contract's order (ids used in JSON, feeds, emails, subscriptions)
CATEGORIES: tuple[str, ...] = (
    "first-party-collection",
    "third-party-sharing",
    "user-choice",
    "user-access",
    "data-retention",
    "data-security",
    "policy-change",
    "do-not-track",
    "specific-audiences",
    "introductory",
    "contact-information",
    "practice-not-covered",
)

ClauseKind = Literal["heading", "sentence", "item", "row"]
ChangeKind = Literal["added", "removed", "modified", "moved", "editorial"]
RevisionKind = Literal["first", "change", "editorial", "technical"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The raw bytes of a source as read, before any extraction.

    ``media_type`` is one of ``text/markdown``, ``text/html``, ``text/plain``, ``application/pdf``.
    ``charset`` is the charset declared by the transport (HTTP header), if any; BOM and in-document
    declarations are looked at during extraction.
    """

    source: str
    content: bytes
    media_type: str
    fetched_at: datetime
    charset: str | None = None
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """Extracted policy text as Markdown, plus its front matter (if it had any)."""

    name: str
    text: str
    metadata: tuple[tuple[str, str], ...] = ()

    def meta(self, key: str) -> str | None:
        for k, v in self.metadata:
            if k == key:
                return v
        return None


@dataclass(frozen=True, slots=True)
class Clause:
    """The smallest unit a reader cites: a heading, a sentence, a list item or a table row.

    ``text`` is the readable text (markup and link targets removed, link text kept);
    ``key`` is the normalised form used for matching: two clauses with the same key differ only in
    presentation (white space, quotes and dashes, emphasis, link targets, numbering, case).
    Equal ``text`` and ``source`` means unchanged; equal ``key`` otherwise means editorial.
    """

    index: int
    kind: ClauseKind
    text: str
    section: tuple[str, ...]
    key: str
    #: the clause as written (Markdown, white space collapsed): tells an edit of a link target or
    #: of emphasis, invisible in ``text``, from no edit at all, so it can be listed as editorial
    source: str = ""


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of a diff.

    ``old`` is None for ``added``, ``new`` is None for ``removed``. ``words`` is a word-level diff
    of ``old.text`` into ``new.text`` as ``(op, text)`` pairs, op being ``=``, ``-`` or ``+``.
    ``reasons`` explain why the change is material ("adds recipient: advertising partners").
    """

    kind: ChangeKind
    old: Clause | None
    new: Clause | None
    words: tuple[tuple[str, str], ...] | None = None
    categories: tuple[str, ...] = ()
    material: bool = False
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ClauseChange:
    """One change flattened to what a reader is shown (feed entries, emails), without indexes.

    ``old_text`` is None for ``added``, ``new_text`` for ``removed``. ``section`` is the heading
    path where the clause stands now (stood, for a removed one). ``words`` is the word diff of a
    modified clause. Built from diffs, and also read back from caches and tests, so it checks
    itself: a wrong kind or category is refused here rather than published.
    """

    kind: ChangeKind
    old_text: str | None
    new_text: str | None
    section: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    material: bool = False
    words: tuple[tuple[str, str], ...] | None = None

    def __post_init__(self) -> None:
        from .errors import InputError

        if self.kind not in _CHANGE_KINDS:
            raise InputError(f"clause change: unknown kind {self.kind!r}")
        if self.old_text is None and self.new_text is None:
            raise InputError("clause change: old_text and new_text are both None")
        unknown = [c for c in self.categories if c not in CATEGORIES]
        if unknown:
            raise InputError(f"clause change: unknown categories {', '.join(map(repr, unknown))}")

    @classmethod
    def from_change(cls, change: Change) -> ClauseChange:
        clause = change.new if change.new is not None else change.old
        return cls(
            kind=change.kind,
            old_text=change.old.text if change.old is not None else None,
            new_text=change.new.text if change.new is not None else None,
            section=clause.section if clause is not None else (),
            categories=change.categories,
            reasons=change.reasons,
            material=change.material,
            words=change.words if change.kind == "modified" else None,
        )


_CHANGE_KINDS = frozenset({"added", "removed", "modified", "moved", "editorial"})


@dataclass(frozen=True, slots=True)
class DiffStats:
    added: int = 0
    removed: int = 0
    modified: int = 0
    moved: int = 0
    editorial: int = 0
    unchanged: int = 0


@dataclass(frozen=True, slots=True)
class Side:
    """What one side of a diff is: a file name, or a policy revision with its date."""

    name: str
    revision: str | None = None
    date: datetime | None = None


@dataclass(frozen=True, slots=True)
class Diff:
    old: Side
    new: Side
    changes: tuple[Change, ...]
    stats: DiffStats
    material: bool = False

    @property
    def editorial_only(self) -> bool:
        """True when nothing but presentation changed (nothing to notify)."""
        s = self.stats
        return s.added == s.removed == s.modified == s.moved == 0


@dataclass(frozen=True, slots=True)
class Revision:
    """One archived revision of a policy (a git commit touching the policy's text)."""

    policy: str
    id: str
    date: datetime
    kind: RevisionKind
    material: bool = False
    summary: str = ""
    content_hash: str = ""
    source: str = ""
    #: categories touched by the change (empty for first/technical revisions)
    categories: tuple[str, ...] = field(default=())
    #: set when the text equals one of the last few revisions (an A/B flip-flop or a revert)
    restores: str | None = None
