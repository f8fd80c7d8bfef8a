"""Presentation values for the templates: safe Markdown, labels, and diffs laid out for reading.

Policy text is untrusted: it is whatever a watched page said, so it may carry ``<script>``, event
handler attributes, ``javascript:`` links or ``<iframe>``. Two rules keep it inert:

- the archived Markdown goes through markdown-it-py with raw HTML *disabled* (tags come out as
  text), links limited to ``http``, ``https``, ``mailto`` and relative targets, and images
  replaced by their alt text (a remote image would be a tracking pixel, and the CSP blocks it
  anyway, which would only show up as a console error);
- everything else reaches the page through Jinja2 with autoescape on; nothing here marks policy
  text safe except the Markdown renderer's output.

No I/O here: the functions take models and return plain values, so they are tested directly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

from ..models import CATEGORIES, Change, Diff, DiffStats, Revision

__all__ = [
    "CATEGORY_INFO",
    "CHANGE_LABELS",
    "ChangeView",
    "DiffView",
    "Section",
    "diff_view",
    "render_markdown",
    "revision_label",
]

#: reader-facing name and one-line meaning of each OPP-115 category id (our own wording)
CATEGORY_INFO: dict[str, tuple[str, str]] = {
    "first-party-collection": ("Collection", "What the site itself collects, and why."),
    "third-party-sharing": ("Sharing", "Who else receives personal data, and why."),
    "user-choice": ("Your choices", "Ways to opt in, opt out or limit a use of your data."),
    "user-access": ("Access and deletion", "Seeing, correcting, exporting or deleting your data."),
    "data-retention": ("Retention", "How long personal data is kept."),
    "data-security": ("Security", "How personal data is protected."),
    "policy-change": ("Policy changes", "How you are told when this policy changes."),
    "do-not-track": ("Do Not Track", "How browser Do Not Track signals are handled."),
    "specific-audiences": ("Specific audiences", "Rules for children, regions or other groups."),
    "introductory": ("Introduction", "General or introductory text."),
    "contact-information": ("Contact", "How to reach the site about privacy."),
    "practice-not-covered": ("Other practices", "Practices outside the other categories."),
}
assert tuple(CATEGORY_INFO) == CATEGORIES, "one entry per category, in the contract's order"

CHANGE_LABELS = {
    "added": "Added",
    "removed": "Removed",
    "modified": "Changed",
    "moved": "Moved",
    "editorial": "Editorial",
}

_SAFE_SCHEME = re.compile(r"^(?:https?:|mailto:)", re.IGNORECASE)
_ANY_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
_SLUG_DROP = re.compile(r"[^a-z0-9]+")


def revision_label(revision: Revision) -> str:
    """What a revision is, in words (never colour alone): the timeline and the feeds agree."""
    if revision.kind == "first":
        return "First record"
    if revision.kind == "editorial":
        return "Editorial"
    if revision.kind == "technical":
        return "Technical"
    return "Material change" if revision.material else "Change"


# -- Markdown -------------------------------------------------------------------------------------


class _PolicyMarkdown(MarkdownIt):
    """CommonMark + tables + strikethrough, raw HTML off, links to safe schemes only.

    markdown-it's own check only refuses ``javascript:``/``vbscript:``/``file:``/``data:``; an
    allow-list also keeps out schemes nobody has thought of yet.
    """

    def __init__(self) -> None:
        super().__init__("commonmark", {"html": False, "linkify": False, "typographer": False})
        self.enable(["table", "strikethrough"])
        self.add_render_rule("image", _render_image)
        self.add_render_rule("link_open", _render_link_open)
        self.add_render_rule("heading_open", _render_heading_open)
        self.add_render_rule("heading_close", _render_heading_close)

    def validateLink(self, url: str) -> bool:
        url = url.strip()
        return bool(_SAFE_SCHEME.match(url)) or not _ANY_SCHEME.match(url)


def _render_image(
    renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: dict[str, Any]
) -> str:
    token = tokens[idx]
    alt = renderer.renderInlineAsText(token.children or [], options, env)
    if not alt:
        return ""
    return f'<span class="img-alt">[image: {Markup.escape(alt)}]</span>'


def _render_link_open(
    renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: dict[str, Any]
) -> str:
    # a policy's links point anywhere: no referrer, no opener, no endorsement
    tokens[idx].attrSet("rel", "nofollow noopener noreferrer")
    return str(renderer.renderToken(tokens, idx, options, env))


def _heading_level(token: Token) -> int:
    return min(int(token.tag[1:]) + 1, 6)


def _render_heading_open(
    renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: dict[str, Any]
) -> str:
    """Headings one level down (the page has its own ``<h1>``), with stable anchors.

    Anchors are prefixed ``s-`` so policy text can never take an id the page itself uses
    (``main``, the skip link's target).
    """
    token = tokens[idx]
    inline = tokens[idx + 1] if idx + 1 < len(tokens) else None
    title = inline.content if inline is not None and inline.type == "inline" else ""
    seen: dict[str, int] = env.setdefault("anchors", {})
    base = "s-" + (_SLUG_DROP.sub("-", title.lower()).strip("-")[:60] or "section")
    seen[base] = seen.get(base, 0) + 1
    anchor = base if seen[base] == 1 else f"{base}-{seen[base]}"
    return f'<h{_heading_level(token)} id="{Markup.escape(anchor)}">'


def _render_heading_close(
    renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: dict[str, Any]
) -> str:
    return f"</h{_heading_level(tokens[idx])}>\n"


_MARKDOWN = _PolicyMarkdown()


def render_markdown(text: str) -> Markup:
    """Archived policy Markdown -> inert HTML (see the module docstring)."""
    return Markup(_MARKDOWN.render(text, {}))


# -- diffs ----------------------------------------------------------------------------------------

Words = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class ChangeView:
    """One change as the diff page shows it; ``n`` is its anchor (``#change-n``)."""

    n: int
    kind: str
    label: str
    section: tuple[str, ...]
    old_section: tuple[str, ...] | None
    new_section: tuple[str, ...] | None
    moved: str | None
    categories: tuple[str, ...]
    material: bool
    reasons: tuple[str, ...]
    old_text: str | None
    new_text: str | None
    #: word ops for the inline view, or None when the whole clause is shown
    words: Words | None
    #: the old side (``=`` and ``-``) and the new side (``=`` and ``+``) for side by side
    left: Words
    right: Words


@dataclass(frozen=True, slots=True)
class Section:
    path: tuple[str, ...]
    changes: tuple[ChangeView, ...]


@dataclass(frozen=True, slots=True)
class Reason:
    text: str
    categories: tuple[str, ...]
    n: int


@dataclass(frozen=True, slots=True)
class DiffView:
    material: bool
    stats: DiffStats
    reasons: tuple[Reason, ...]
    categories: tuple[tuple[str, int], ...]
    sections: tuple[Section, ...]
    editorial: tuple[ChangeView, ...]

    @property
    def substantive(self) -> int:
        return sum(len(s.changes) for s in self.sections)


def _where(section: tuple[str, ...]) -> str:
    return " › ".join(section) if section else "the top of the policy"


def _moved_note(change: Change) -> str | None:
    """Say where a relocated clause went, in words a reader can check against the text."""
    old, new = change.old, change.new
    if old is None or new is None:
        return None
    if change.kind == "moved":
        if old.section != new.section:
            return f"Moved from “{_where(old.section)}” to “{_where(new.section)}”"
        return f"Moved within “{_where(new.section)}” (clause {old.index + 1} → {new.index + 1})"
    if change.kind == "modified" and old.section != new.section:
        return f"Also moved from “{_where(old.section)}” to “{_where(new.section)}”"
    return None


def _sides(change: Change) -> tuple[Words | None, Words, Words]:
    old = change.old.text if change.old is not None else None
    new = change.new.text if change.new is not None else None
    words = change.words
    if words is not None and old is not None and new is not None and old != new:
        left = tuple((op, t) for op, t in words if op != "+")
        right = tuple((op, t) for op, t in words if op != "-")
        return words, left, right
    if change.kind == "added":
        return None, (), (("+", new or ""),)
    if change.kind == "removed":
        return None, (("-", old or ""),), ()
    if change.kind in ("modified", "editorial") and old is not None and new is not None:
        if old == new:
            return None, (("=", old),), (("=", new),)
        pair: Words = (("-", old), ("+", new))
        return pair, (("-", old),), (("+", new),)
    return None, (("=", old or ""),), (("=", new or ""),)


def _change_view(n: int, change: Change) -> ChangeView:
    clause = change.new if change.new is not None else change.old
    assert clause is not None, "a change has at least one side"
    words, left, right = _sides(change)
    return ChangeView(
        n=n,
        kind=change.kind,
        label=CHANGE_LABELS[change.kind],
        section=clause.section,
        old_section=change.old.section if change.old is not None else None,
        new_section=change.new.section if change.new is not None else None,
        moved=_moved_note(change),
        categories=change.categories,
        material=change.material,
        reasons=change.reasons,
        old_text=change.old.text if change.old is not None else None,
        new_text=change.new.text if change.new is not None else None,
        words=words,
        left=left,
        right=right,
    )


def diff_view(diff: Diff) -> DiffView:
    """Lay a diff out for the page: material reasons first, changes grouped by section in
    document order, editorial changes apart (they are noise next to a change of substance)."""
    sections: list[Section] = []
    editorial: list[ChangeView] = []
    reasons: dict[str, Reason] = {}
    counts: dict[str, int] = {}
    batch: list[ChangeView] = []
    current: tuple[str, ...] | None = None
    for n, change in enumerate(diff.changes, start=1):
        view = _change_view(n, change)
        if change.kind == "editorial":
            editorial.append(view)
            continue
        for category in change.categories:
            counts[category] = counts.get(category, 0) + 1
        if change.material:
            for reason in change.reasons:
                if reason not in reasons:
                    reasons[reason] = Reason(reason, change.categories, n)
        if view.section != current and batch:
            sections.append(Section(current or (), tuple(batch)))
            batch = []
        current = view.section
        batch.append(view)
    if batch:
        sections.append(Section(current or (), tuple(batch)))
    return DiffView(
        material=diff.material,
        stats=diff.stats,
        reasons=tuple(reasons.values()),
        categories=tuple((c, counts[c]) for c in CATEGORIES if c in counts),
        sections=tuple(sections),
        editorial=tuple(editorial),
    )
