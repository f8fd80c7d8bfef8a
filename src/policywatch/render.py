"""Diff -> JSON, terminal text, Markdown, HTML: the only place a diff is serialised.

Policy text is untrusted input: a watched page can put ``<script>``, event handlers, ``javascript:``
links, Markdown link syntax or terminal escape sequences into a clause. Every renderer escapes for
its own medium (HTML entities, Markdown backslashes, control characters for terminals) at the one
point where text is written out, and never builds markup from policy text in any other way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from html import escape as _html_escape
from json.encoder import encode_basestring as _json_str  # C-accelerated
from typing import Any

from .models import CATEGORIES, Change, Clause, Diff, Side

__all__ = [
    "SCHEMA",
    "diff_to_dict",
    "render_html",
    "render_json",
    "render_markdown",
    "render_text",
]

SCHEMA = "policywatch.diff/1"

_KIND_LABEL = {
    "added": "Added",
    "removed": "Removed",
    "modified": "Modified",
    "moved": "Moved",
    "editorial": "Editorial",
}
_STAT_ORDER = ("added", "removed", "modified", "moved", "editorial", "unchanged")


# -- JSON ------------------------------------------------------------------------------------------


def _iso(date: datetime | None) -> str | None:
    return None if date is None else date.isoformat()


def _side_dict(side: Side) -> dict[str, Any]:
    return {"name": side.name, "revision": side.revision, "date": _iso(side.date)}


def _clause_dict(clause: Clause | None) -> dict[str, Any] | None:
    if clause is None:
        return None
    return {"index": clause.index, "section": list(clause.section), "text": clause.text}


def diff_to_dict(diff: Diff) -> dict[str, Any]:
    """The ``policywatch.diff/1`` document (see CONTRACT.md), keys in a fixed order.

    ``reasons`` (why a change is material) is an extension of the contract's schema; ``words`` is
    always present, ``null`` for kinds that carry no word diff, so every change has the same keys.
    """
    return {
        **_head(diff),
        "changes": [
            {
                "kind": c.kind,
                "old": _clause_dict(c.old),
                "new": _clause_dict(c.new),
                "categories": list(c.categories),
                "material": c.material,
                "reasons": list(c.reasons),
                "words": None if c.words is None else [[op, text] for op, text in c.words],
            }
            for c in diff.changes
        ],
    }


def _head(diff: Diff) -> dict[str, Any]:
    """``diff_to_dict`` without its last key, ``changes``."""
    s = diff.stats
    return {
        "schema": SCHEMA,
        "old": _side_dict(diff.old),
        "new": _side_dict(diff.new),
        "material": diff.material,
        "stats": {name: getattr(s, name) for name in _STAT_ORDER},
    }


def render_json(diff: Diff) -> str:
    """Stable JSON: two-space indent, UTF-8 text kept as is, keys in schema order.

    The bytes are exactly ``json.dumps(diff_to_dict(diff), indent=2, ensure_ascii=False)``, but
    written by :func:`_dump_indented` and :func:`_dump_change`: with ``indent`` set, the standard
    library falls back to its pure-Python encoder, which costs ~10 ms on a 290 KB policy's diff,
    a tenth of the budget of the whole ``policywatch diff`` process.
    """
    out: list[str] = []
    _dump_indented(_head(diff), "\n", out)
    out[-1] = ',\n  "changes": '  # instead of the closing "\n}": the changes come last
    if diff.changes:
        sep = "["
        for change in diff.changes:
            out.append(sep)
            _dump_change(change, out)
            sep = ","
        out.append("\n  ]\n}\n")
    else:
        out.append("[]\n}\n")
    return "".join(out)


def _dump_change(c: Change, out: list[str]) -> None:
    """``_dump_indented`` of one entry of ``diff_to_dict(diff)["changes"]``, four spaces in,
    written directly: a long diff has hundreds of them, and the generic walk costs ~5 µs each."""
    out.append(f'\n    {{\n      "kind": {_json_str(c.kind)},\n      "old": ')
    _dump_clause(c.old, out)
    out.append(',\n      "new": ')
    _dump_clause(c.new, out)
    out.append(',\n      "categories": ')
    _dump_strings(c.categories, "\n      ", out)
    out.append(f',\n      "material": {"true" if c.material else "false"},\n      "reasons": ')
    _dump_strings(c.reasons, "\n      ", out)
    out.append(',\n      "words": ')
    if c.words is None:
        out.append("null")
    else:
        _dump_indented([[op, text] for op, text in c.words], "\n      ", out)
    out.append("\n    }")


def _dump_clause(clause: Clause | None, out: list[str]) -> None:
    if clause is None:
        out.append("null")
        return
    out.append(f'{{\n        "index": {int.__repr__(clause.index)},\n        "section": ')
    _dump_strings(clause.section, "\n        ", out)
    out.append(f',\n        "text": {_json_str(clause.text)}\n      }}')


def _dump_strings(items: tuple[str, ...], newline: str, out: list[str]) -> None:
    if not items:
        out.append("[]")
        return
    inner = newline + "  "
    out.append("[" + inner + ("," + inner).join(map(_json_str, items)) + newline + "]")


def _dump_indented(obj: Any, newline: str, out: list[str]) -> None:
    """``json.dumps(indent=2, ensure_ascii=False)`` for JSON-shaped values, strings escaped by
    the C encoder. ``newline`` is the line break plus the current indentation."""
    if isinstance(obj, str):
        out.append(_json_str(obj))
    elif obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, int):
        out.append(int.__repr__(obj))
    elif isinstance(obj, float):
        out.append(json.dumps(obj))
    elif isinstance(obj, dict):
        if not obj:
            out.append("{}")
            return
        inner = newline + "  "
        sep = "{"
        for key, value in obj.items():
            out.append(f"{sep}{inner}{_json_str(key)}: ")
            sep = ","
            _dump_indented(value, inner, out)
        out.append(newline + "}")
    elif isinstance(obj, list | tuple):
        if not obj:
            out.append("[]")
            return
        inner = newline + "  "
        sep = "["
        for value in obj:
            out.append(sep + inner)
            sep = ","
            _dump_indented(value, inner, out)
        out.append(newline + "]")
    else:
        raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# -- shared helpers --------------------------------------------------------------------------------


def _stats_line(diff: Diff) -> str:
    s = diff.stats
    return ", ".join(f"{getattr(s, name)} {name}" for name in _STAT_ORDER)


def _side_label(side: Side) -> str:
    parts = [side.name]
    if side.revision:
        parts.append(side.revision[:12])
    if side.date is not None:
        parts.append(side.date.date().isoformat())
    return " ".join(parts)


def _section_of(change: Change) -> tuple[str, ...]:
    clause = change.new if change.new is not None else change.old
    assert clause is not None
    return clause.section


def _groups(diff: Diff) -> Iterator[tuple[tuple[str, ...], list[Change]]]:
    """Consecutive changes under the same heading path (changes are in document order)."""
    current: tuple[str, ...] | None = None
    batch: list[Change] = []
    for change in diff.changes:
        section = _section_of(change)
        if section != current and batch:
            assert current is not None
            yield current, batch
            batch = []
        current = section
        batch.append(change)
    if batch:
        assert current is not None
        yield current, batch


def _words_of(change: Change) -> tuple[tuple[str, str], ...] | None:
    """The word ops to show: only when old and new texts actually differ."""
    if change.words is None or change.old is None or change.new is None:
        return None
    if change.old.text == change.new.text:
        return None
    return change.words


def _moved_note(change: Change) -> str | None:
    """Where a relocated clause came from, when it changed position, for moved and far edits."""
    if change.old is None or change.new is None or change.kind not in ("moved", "modified"):
        return None
    if change.old.section == change.new.section:
        # the section moved with it, or the clause moved within its section
        return f"was clause {change.old.index + 1}" if change.kind == "moved" else None
    where = " › ".join(change.old.section) or "the top"
    return f"from {where}, clause {change.old.index + 1}"


def _split_space(text: str) -> tuple[str, str, str]:
    """Leading white space, core, trailing white space: emphasis markers must hug the core."""
    core = text.strip()
    if not core:
        return text, "", ""
    start = text.index(core)
    return text[:start], core, text[start + len(core) :]


# -- terminal text ---------------------------------------------------------------------------------

#: C0/C1 controls (ESC starts terminal escape sequences), DEL, and line/paragraph separators
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_NEWLINES = re.compile(r"[\t\n]+")

_RED, _GREEN, _YELLOW, _CYAN, _BOLD, _DIM, _RESET = (
    "\x1b[31m",
    "\x1b[32m",
    "\x1b[33m",
    "\x1b[36m",
    "\x1b[1m",
    "\x1b[2m",
    "\x1b[0m",
)
_MARKER = {"added": "+", "removed": "-", "modified": "~", "moved": ">", "editorial": "="}
_MARKER_COLOUR = {
    "added": _GREEN,
    "removed": _RED,
    "modified": _YELLOW,
    "moved": _CYAN,
    "editorial": _DIM,
}


def _safe(text: str) -> str:
    """Policy text made harmless for a terminal: no escape sequences, one line."""
    return _CONTROL.sub("\ufffd", _NEWLINES.sub(" ", text))


def render_text(diff: Diff, *, color: bool) -> str:
    """Clause by clause under section headings, for a terminal.

    Without colour, word changes use git's ``--word-diff`` markers ``[-old-]{+new+}`` so the
    output stays readable when piped; with colour, ANSI red/green replace the markers.
    """

    def paint(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if color else text

    lines = [
        paint(_BOLD, f"--- {_safe(_side_label(diff.old))}"),
        paint(_BOLD, f"+++ {_safe(_side_label(diff.new))}"),
        "",
    ]
    if not diff.changes:
        lines.append(f"No changes ({diff.stats.unchanged} clauses unchanged).")
        return "\n".join(lines) + "\n"

    for section, changes in _groups(diff):
        heading = " › ".join(section) or "(before the first heading)"
        lines.append(paint(_BOLD, f"## {_safe(heading)}"))
        for change in changes:
            marker = paint(_MARKER_COLOUR[change.kind], f"{_MARKER[change.kind]} {change.kind}")
            words = _words_of(change)
            if words is not None:
                body = "".join(_text_op(op, text, color) for op, text in words)
            else:
                clause = change.new if change.new is not None else change.old
                assert clause is not None
                body = _safe(clause.text)
                if change.kind == "removed" and color:
                    body = paint(_RED, body)
                elif change.kind == "added" and color:
                    body = paint(_GREEN, body)
            note = _moved_note(change)
            lines.append(f"{marker}{f' ({_safe(note)})' if note else ''}: {body}")
            if change.categories:
                lines.append(f"    categories: {', '.join(change.categories)}")
            if change.material:
                reasons = "; ".join(_safe(r) for r in change.reasons) or "yes"
                lines.append("    " + paint(_YELLOW + _BOLD, f"material: {reasons}"))
        lines.append("")
    material = paint(_YELLOW + _BOLD, "material change") if diff.material else "not material"
    lines.append(f"{_stats_line(diff)} ({material})")
    return "\n".join(lines) + "\n"


def _text_op(op: str, text: str, color: bool) -> str:
    text = _safe(text)
    if op == "=":
        return text
    if color:
        return f"{_RED if op == '-' else _GREEN}{text}{_RESET}"
    return f"[-{text}-]" if op == "-" else f"{{+{text}+}}"


# -- Markdown --------------------------------------------------------------------------------------

#: CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that can start
#: emphasis, links, images, code, HTML, tables, headings, lists or strike-through
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>:])")


def _md(text: str) -> str:
    """Policy text as inert Markdown: specials backslash-escaped, HTML-significant characters as
    entities (GitHub would otherwise pass some raw HTML through), one line."""
    text = _NEWLINES.sub(" ", _CONTROL.sub("\ufffd", text))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_op(op: str, text: str, before: str = " ", after: str = " ") -> str:
    """One word op as Markdown. ``before``/``after`` are the characters around it in the output:
    CommonMark only honours ``**``/``~~`` that hug their text from outside (``data**,**`` stays
    literal), so where that fails the op falls back to ``<ins>``/``<del>``, which GitHub renders."""
    if op == "=":
        return _md(text)
    lead, core, trail = _split_space(text)
    if not core:  # a change of white space only: show the new spacing, drop the old
        return "" if op == "-" else text
    before = lead[-1:] or before
    after = trail[:1] or after
    if (_is_punct(core[0]) and before.isalnum()) or (_is_punct(core[-1]) and after.isalnum()):
        tag = "del" if op == "-" else "ins"
        return f"{lead}<{tag}>{_md(core)}</{tag}>{trail}"
    mark = "~~" if op == "-" else "**"
    return f"{lead}{mark}{_md(core)}{mark}{trail}"


def _is_punct(ch: str) -> bool:
    return not ch.isalnum() and not ch.isspace()


def _md_words(words: tuple[tuple[str, str], ...]) -> str:
    out = []
    for k, (op, text) in enumerate(words):
        before = words[k - 1][1][-1:] if k else " "
        after = words[k + 1][1][:1] if k + 1 < len(words) else " "
        out.append(_md_op(op, text, before, after))
    return "".join(out)


def render_markdown(diff: Diff) -> str:
    """For issues and pull requests: a list of changes per section, ``~~removed~~`` and
    ``**added**`` words, categories and material reasons in italics."""
    out = [
        f"### Policy changes: {_md(_side_label(diff.old))} → {_md(_side_label(diff.new))}",
        "",
    ]
    if not diff.changes:
        out.append(f"No changes ({diff.stats.unchanged} clauses unchanged).")
        return "\n".join(out) + "\n"
    flag = "**Material change.** " if diff.material else ""
    out += [f"{flag}{_md(_stats_line(diff))}", ""]
    for section, changes in _groups(diff):
        out += [f"#### {_md(' › '.join(section) or '(before the first heading)')}", ""]
        for change in changes:
            words = _words_of(change)
            if words is not None:
                body = _md_words(words)
            else:
                clause = change.new if change.new is not None else change.old
                assert clause is not None
                body = _md_op({"added": "+", "removed": "-"}.get(change.kind, "="), clause.text)
            note = _moved_note(change)
            label = _KIND_LABEL[change.kind] + (f" ({_md(note)})" if note else "")
            out.append(f"- **{label}:** {body}")
            if change.categories:
                out.append(f"  - _categories: {_md(', '.join(change.categories))}_")
            if change.material:
                reasons = "; ".join(change.reasons) or "yes"
                out.append(f"  - **material:** {_md(reasons)}")
        out.append("")
    return "\n".join(out)


# -- HTML ------------------------------------------------------------------------------------------

_CLASS_SAFE = re.compile(r"[^a-z0-9-]+")

_CSS = """
body{font:16px/1.5 system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem;color:#222}
.pw-stats{color:#555}.pw-section h2{font-size:1.1rem;border-bottom:1px solid #ddd;margin-top:2rem}
.pw-change{margin:.8rem 0;padding:.4rem .8rem;border-left:4px solid #bbb}
.pw-added{border-color:#2a7}.pw-removed{border-color:#c33}.pw-modified{border-color:#d90}
.pw-moved{border-color:#38c}.pw-editorial{border-color:#ccc;color:#555}
.pw-kind{font-weight:600;margin-right:.4rem}.pw-from{color:#555;font-size:.9rem}
ins{background:#d7f5dd;text-decoration:none}del{background:#fbd9d9}
.pw-badge{display:inline-block;font-size:.75rem;padding:0 .4rem;margin:.2rem .2rem 0 0;
border-radius:.6rem;background:#eef}.pw-material{font-weight:600;color:#a40}
""".strip()


def _h(text: str) -> str:
    """Escaped for element content and quoted attributes; control characters (parse errors in
    HTML, invalid in the XHTML some mail clients use) become U+FFFD."""
    return _html_escape(_CONTROL.sub("\ufffd", text), quote=True)


def _badge(category: str) -> str:
    """Category ids are a closed set, but the class name is still sanitised: a classifier bug
    must not become markup."""
    cls = _CLASS_SAFE.sub("-", category.lower()) if category not in CATEGORIES else category
    return f'<span class="pw-badge pw-cat-{cls}">{_h(category)}</span>'


def _html_op(op: str, text: str) -> str:
    if op == "=":
        return _h(text)
    tag = "del" if op == "-" else "ins"
    return f"<{tag}>{_h(text)}</{tag}>"


def _html_change(change: Change) -> str:
    classes = f"pw-change pw-{change.kind}" + (" pw-is-material" if change.material else "")
    parts = [
        f'<article class="{classes}">',
        f'<span class="pw-kind">{_KIND_LABEL[change.kind]}</span>',
    ]
    note = _moved_note(change)
    if note:
        parts.append(f'<span class="pw-from">{_h(note)}</span>')
    words = _words_of(change)
    if words is not None:
        body = "".join(_html_op(op, text) for op, text in words)
    else:
        clause = change.new if change.new is not None else change.old
        assert clause is not None
        op = {"added": "+", "removed": "-"}.get(change.kind, "=")
        body = _html_op(op, clause.text)
    parts.append(f'<p class="pw-text">{body}</p>')
    if change.categories:
        badges = "".join(_badge(c) for c in change.categories)
        parts.append(f'<p class="pw-categories">{badges}</p>')
    if change.material:
        reasons = "; ".join(change.reasons) or "yes"
        parts.append(f'<p class="pw-material">Material: {_h(reasons)}</p>')
    parts.append("</article>")
    return "".join(parts)


def render_html(diff: Diff, *, standalone: bool = False) -> str:
    """Semantic HTML: one ``<section>`` per heading path, ``<ins>``/``<del>`` for words, category
    badges as ``<span class="pw-badge pw-cat-ID">``.

    ``standalone`` wraps it in a page with inline CSS, no scripts, and a Content-Security-Policy
    that forbids scripts outright, as a second line of defence behind the escaping.
    """
    title = f"{_side_label(diff.old)} → {_side_label(diff.new)}"
    out = ['<div class="pw-diff">', f'<p class="pw-sides">{_h(title)}</p>']
    if not diff.changes:
        out.append(f'<p class="pw-none">No changes ({diff.stats.unchanged} clauses unchanged).</p>')
    else:
        flag = '<strong class="pw-material">Material change.</strong> ' if diff.material else ""
        out.append(f'<p class="pw-stats">{flag}{_h(_stats_line(diff))}</p>')
        for section, changes in _groups(diff):
            heading = " › ".join(section) or "(before the first heading)"
            out.append(f'<section class="pw-section"><h2>{_h(heading)}</h2>')
            out.extend(_html_change(c) for c in changes)
            out.append("</section>")
    out.append("</div>")
    body = "\n".join(out)
    if not standalone:
        return body + "\n"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Policy changes: {_h(title)}</title>\n<style>\n{_CSS}\n</style>\n"
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
