"""The text of a change email: plain text written here, HTML from an autoescaped template.

Both are rendered once per change with placeholders where the per-recipient links go
(:data:`UNSUBSCRIBE`, :data:`OPT_OUT`); every string from the policy or the config goes through
:func:`clean` first, so none can carry a placeholder (they contain NUL) or a control character.
"""

from __future__ import annotations

import re
import textwrap
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from markupsafe import Markup, escape

from ._templates import CHANGE_HTML
from .notice import CATEGORY_LABELS, ChangeNotice, NoticeClause, plain_reason

if TYPE_CHECKING:
    from jinja2 import Template

__all__ = [
    "MAX_CLAUSE_CHARS",
    "MAX_LISTED",
    "OPT_OUT",
    "UNSUBSCRIBE",
    "clean",
    "day",
    "html_body",
    "listed_clauses",
    "subject_of",
    "template",
    "text_body",
    "wrap",
]

#: at most this many changed clauses are listed (material ones first); the rest is a count
#: and the link. Gmail clips an HTML part past ~100 KB, hiding the unsubscribe link with it.
MAX_LISTED = 25
#: a listed clause longer than this is cut; the full text is one click away
MAX_CLAUSE_CHARS = 800

# placeholders for the per-recipient links: NUL cannot survive clean(), so no policy text or
# config value can forge one
UNSUBSCRIBE = "\x00pw-unsubscribe\x00"
OPT_OUT = "\x00pw-opt-out\x00"
# C0/C1 controls, DEL and the Unicode line/paragraph separators: none belongs in a clause, and
# a bare CR or NUL would corrupt the message itself
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")

_KIND_LABELS = {
    "added": "Added",
    "removed": "Removed",
    "modified": "Changed",
    "moved": "Moved",
    "editorial": "Reworded",
}

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def clean(text: str) -> str:
    """One line of display text: controls dropped, white space runs collapsed."""
    return " ".join(_CONTROLS.sub(" ", text).split())


def _clip(text: str) -> str:
    text = clean(text)
    if len(text) > MAX_CLAUSE_CHARS:
        return text[: MAX_CLAUSE_CHARS - 1].rstrip() + "…"
    return text


def day(at: datetime) -> str:
    at = at.astimezone(UTC)
    return f"{at.day} {_MONTHS[at.month - 1]} {at.year}"


def wrap(text: str, indent: str = "", first: str | None = None) -> str:
    return textwrap.fill(
        text,
        width=72,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _jinja(source: str) -> Template:
    # imported here: only the sender needs Jinja, not every command that imports policywatch
    from jinja2 import Environment, StrictUndefined

    env = Environment(
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.from_string(source)


_compiled: dict[str, Template] = {}


def template(source: str) -> Template:
    tpl = _compiled.get(source)
    if tpl is None:
        tpl = _compiled[source] = _jinja(source)
    return tpl


def listed_clauses(notice: ChangeNotice) -> tuple[list[NoticeClause], int]:
    """Material clauses first (a cut list must never hide one), each group in document order."""
    ordered = [c for c in notice.clauses if c.material] + [
        c for c in notice.clauses if not c.material
    ]
    ordered = [c for c in ordered if c.kind != "editorial"]
    return ordered[:MAX_LISTED], max(0, len(ordered) - MAX_LISTED)


def subject_of(notice: ChangeNotice) -> str:
    subject = f"{clean(notice.site_name)}: changes to {clean(notice.policy_title)}"
    return subject + " (material)" if notice.material else subject


def _words_markup(words: tuple[tuple[str, str], ...]) -> Markup:
    """A modified clause with deletions struck and insertions marked, cut at the clause limit."""
    out: list[str] = []
    budget = MAX_CLAUSE_CHARS
    for op, piece in words:
        piece = _CONTROLS.sub(" ", piece)
        if budget <= 0:
            out.append("…")
            break
        if len(piece) > budget:
            piece = piece[:budget] + "…"
        budget -= len(piece)
        text = str(escape(piece))
        if op == "-":
            out.append(f'<del style="background:#fde8e8;color:#8a1c1c;">{text}</del>')
        elif op == "+":
            out.append(
                f'<ins style="background:#e3f6e8;color:#14532d;text-decoration:none;">{text}</ins>'
            )
        else:
            out.append(text)
    return Markup("".join(out))


def text_body(notice: ChangeNotice, listed: list[NoticeClause], more: int) -> str:
    site, title = clean(notice.site_name), clean(notice.policy_title)
    out = [wrap(f"{site} has changed its {title}."), ""]
    if notice.material:
        out += [
            wrap(
                "This is a material change: it adds or widens a use of your personal data, or "
                "narrows your rights and choices. You can object to the new uses with the link "
                "at the end of this email."
            ),
            "",
        ]
    out.append(f"Recorded: {day(notice.date)}")
    if notice.effective and clean(notice.effective):
        out.append(f"Takes effect: {clean(notice.effective)}")
    if notice.summary and clean(notice.summary):
        out.append(wrap(f"Summary: {clean(notice.summary)}"))
    heading = f"What changed ({len(listed) + more} clause{'s' if len(listed) + more != 1 else ''})"
    out += ["", heading, "-" * len(heading)]
    for n, c in enumerate(listed, 1):
        head = f"{n}. {_KIND_LABELS[c.kind]}"
        if c.section:
            head += " in " + " › ".join(_clip(s) for s in c.section)
        if c.material:
            head += " (material)"
        out += ["", wrap(head)]
        pad = " " * (len(str(n)) + 2)
        if c.categories:
            about = ", ".join(CATEGORY_LABELS.get(x, x) for x in c.categories)
            out.append(wrap(f"About: {about}", pad))
        for reason in c.reasons:
            out.append(wrap(f"Why it matters: {plain_reason(clean(reason))}", pad))
        if c.old_text is not None:
            out.append(pad + ("Before:" if c.new_text is not None else "Removed text:"))
            out.append(wrap(_clip(c.old_text), pad + "  "))
        if c.new_text is not None:
            out.append(pad + ("After:" if c.old_text is not None else "Text:"))
            out.append(wrap(_clip(c.new_text), pad + "  "))
    if more:
        out += ["", f"... and {more} more changed clause{'s' if more != 1 else ''}."]
    out += ["", "See the full comparison:", notice.diff_url, ""]
    out += ["Follow every change of this policy in a feed reader:", notice.feed_url, ""]
    if notice.material:
        out += ["Object to the new uses announced in this change (opt out):", OPT_OUT, ""]
    out += [
        "-- ",
        wrap(f"You receive this email because you subscribed to changes of {site}'s {title}."),
        "To unsubscribe, open this page and press its button (no login needed):",
        UNSUBSCRIBE,
    ]
    return "\n".join(out) + "\n"


def html_body(notice: ChangeNotice, listed: list[NoticeClause], more: int) -> str:
    clauses = []
    for c in listed:
        clauses.append(
            {
                "label": _KIND_LABELS[c.kind],
                "section": " › ".join(_clip(s) for s in c.section),
                "material": c.material,
                "categories": ", ".join(CATEGORY_LABELS.get(x, x) for x in c.categories),
                "reasons": [plain_reason(_clip(r)) for r in c.reasons],
                "old": _clip(c.old_text) if c.old_text is not None else None,
                "new": _clip(c.new_text) if c.new_text is not None else None,
                "words": _words_markup(c.words) if c.words else None,
            }
        )
    return template(CHANGE_HTML).render(
        subject=subject_of(notice),
        site=clean(notice.site_name),
        title=clean(notice.policy_title),
        material=notice.material,
        date=day(notice.date),
        effective=clean(notice.effective or ""),
        summary=clean(notice.summary),
        clauses=clauses,
        more=more,
        diff_url=notice.diff_url,
        feed_url=notice.feed_url,
        opt_out=Markup(OPT_OUT),
        unsubscribe=Markup(UNSUBSCRIBE),
    )
