"""Renderers: the JSON schema, escaping of hostile text, terminal output with and without colour."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from policywatch.diff import word_diff
from policywatch.models import CATEGORIES, Change, Clause, Diff, DiffStats, Side
from policywatch.render import (
    _dump_indented,
    diff_to_dict,
    render_html,
    render_json,
    render_markdown,
    render_text,
)

HOSTILE = (
    'Click <script>alert("x")</script> or <img src=x onerror="alert(1)"> or '
    "<a href=\"javascript:alert('y')\">here</a> [link](javascript:alert(2)) \x1b[31mred\x1b[0m"
)


def clause(index: int, text: str, section: tuple[str, ...] = ("Sharing",)) -> Clause:
    return Clause(index, "sentence", text, section, text.lower())


def sample_diff(*, hostile: bool = False) -> Diff:
    old_text = "We may share your data with service providers."
    new_text = "We may share all of your data with advertising partners."
    changes = (
        Change(
            "modified",
            clause(3, old_text),
            clause(4, new_text),
            words=word_diff(old_text, new_text),
            categories=("third-party-sharing",),
            material=True,
            reasons=("adds recipient: advertising partners",),
        ),
        Change("added", None, clause(5, HOSTILE if hostile else "We now keep logs for a year.")),
        Change("removed", clause(7, "You may opt out by email.", ("Choices",)), None),
        Change(
            "moved",
            clause(1, "Contact us by post.", ("Intro",)),
            clause(9, "Contact us by post.", ("Contact",)),
        ),
        Change(
            "editorial",
            clause(8, "We use “cookies”."),
            clause(10, 'We use "cookies".'),
            words=word_diff("We use “cookies”.", 'We use "cookies".'),
        ),
    )
    return Diff(
        old=Side("privacy", "a" * 40, datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),
        new=Side("privacy", "b" * 40, datetime(2024, 6, 1, 9, 30, tzinfo=UTC)),
        changes=changes,
        stats=DiffStats(added=1, removed=1, modified=1, moved=1, editorial=1, unchanged=40),
        material=True,
    )


def empty_diff() -> Diff:
    return Diff(Side("old.md"), Side("new.md"), (), DiffStats(unchanged=12))


# -- JSON ------------------------------------------------------------------------------------------


def test_json_follows_the_diff_schema() -> None:
    doc = json.loads(render_json(sample_diff()))
    assert list(doc) == ["schema", "old", "new", "material", "stats", "changes"]
    assert doc["schema"] == "policywatch.diff/1"
    assert doc["old"] == {
        "name": "privacy",
        "revision": "a" * 40,
        "date": "2024-05-01T12:00:00+00:00",
    }
    assert datetime.fromisoformat(doc["new"]["date"]) == datetime(2024, 6, 1, 9, 30, tzinfo=UTC)
    assert doc["material"] is True
    assert doc["stats"] == {
        "added": 1,
        "removed": 1,
        "modified": 1,
        "moved": 1,
        "editorial": 1,
        "unchanged": 40,
    }
    kinds = {"added", "removed", "modified", "moved", "editorial"}
    for change in doc["changes"]:
        assert set(change) == {"kind", "old", "new", "categories", "material", "reasons", "words"}
        assert change["kind"] in kinds
        assert (change["old"] is None) == (change["kind"] == "added")
        assert (change["new"] is None) == (change["kind"] == "removed")
        for side in ("old", "new"):
            if change[side] is not None:
                assert set(change[side]) == {"index", "section", "text"}
                assert isinstance(change[side]["index"], int)
                assert all(isinstance(s, str) for s in change[side]["section"])
        assert set(change["categories"]) <= set(CATEGORIES)
        assert isinstance(change["material"], bool)
        if change["kind"] == "modified":
            assert all(op in ("=", "-", "+") for op, _ in change["words"])
    modified = doc["changes"][0]
    assert modified["old"] == {
        "index": 3,
        "section": ["Sharing"],
        "text": "We may share your data with service providers.",
    }
    assert modified["reasons"] == ["adds recipient: advertising partners"]
    assert "".join(t for op, t in modified["words"] if op != "-") == modified["new"]["text"]


def test_json_keeps_unicode_and_is_deterministic() -> None:
    out = render_json(sample_diff())
    assert "“cookies”" in out
    assert out == render_json(sample_diff())
    assert out.startswith('{\n  "schema"')


def test_json_sides_without_revision_are_null() -> None:
    doc = diff_to_dict(empty_diff())
    assert doc["old"] == {"name": "old.md", "revision": None, "date": None}
    assert doc["changes"] == []
    assert doc["material"] is False


# -- text ------------------------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[")


def test_text_without_colour_uses_word_diff_markers_and_no_ansi() -> None:
    out = render_text(sample_diff(hostile=True), color=False)
    assert not _ANSI.search(out)
    assert "[-your-]" not in out  # "your" is kept; only "all of " is inserted
    assert "{+all of +}" in out
    assert "[-service providers-]{+advertising partners+}" in out
    assert "material: adds recipient: advertising partners" in out
    assert "categories: third-party-sharing" in out
    assert "## Sharing" in out and "## Choices" in out
    assert out.rstrip().endswith("1 editorial, 40 unchanged (material change)")


def test_text_with_colour_colours_words_but_not_policy_escapes() -> None:
    out = render_text(sample_diff(hostile=True), color=True)
    assert "\x1b[32madvertising partners\x1b[0m" in out
    # the clause's own escape sequence is neutralised, only ours remain
    assert "\x1b[31mred" not in out
    assert "\ufffd[31mred" in out


def test_text_moved_clause_says_where_from() -> None:
    out = render_text(sample_diff(), color=False)
    assert "> moved (from Intro, clause 2): Contact us by post." in out


def test_text_no_changes() -> None:
    out = render_text(empty_diff(), color=False)
    assert "No changes (12 clauses unchanged)." in out


# -- Markdown --------------------------------------------------------------------------------------


def test_markdown_marks_words_and_escapes_specials() -> None:
    out = render_markdown(sample_diff(hostile=True))
    assert "~~service providers~~**advertising partners**" in out
    assert "<script>" not in out and "<img" not in out
    assert "&lt;script&gt;" in out
    assert "\\[link\\]\\(javascript\\:alert\\(2\\)\\)" in out
    assert "**Material change.**" in out


def test_markdown_keeps_white_space_outside_emphasis() -> None:
    out = render_markdown(sample_diff())
    assert "**all of** your" in out  # not "**all of **", which would not render as bold


# -- HTML ------------------------------------------------------------------------------------------


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)


def test_html_escapes_hostile_policy_text() -> None:
    for standalone in (False, True):
        out = render_html(sample_diff(hostile=True), standalone=standalone)
        parser = _Collector()
        parser.feed(out)
        assert "script" not in parser.tags
        assert "img" not in parser.tags and "a" not in parser.tags
        assert all(not name.startswith("on") for name, _ in parser.attrs)
        assert all("javascript:" not in (value or "") for _, value in parser.attrs)
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in out
        assert "\x1b" not in out  # control characters are parse errors in HTML


def test_html_structure() -> None:
    out = render_html(sample_diff())
    parser = _Collector()
    parser.feed(out)
    assert parser.tags.count("section") == 4  # Sharing, Choices, Contact, Sharing
    assert "<del>service providers</del><ins>advertising partners</ins>" in out
    assert '<span class="pw-badge pw-cat-third-party-sharing">third-party-sharing</span>' in out
    assert "adds recipient: advertising partners" in out
    assert "<html" not in out


def test_html_standalone_page_has_no_scripts_and_a_csp() -> None:
    out = render_html(sample_diff(), standalone=True)
    assert out.startswith("<!DOCTYPE html>")
    assert "<style>" in out and "<script" not in out
    assert "Content-Security-Policy" in out


def test_html_no_changes() -> None:
    assert "No changes (12 clauses unchanged)." in render_html(empty_diff())


def test_markdown_falls_back_to_tags_where_emphasis_would_not_render() -> None:
    old_text, new_text = "We collect data including logs.", "We collect data, including logs."
    change = Change(
        "modified", clause(0, old_text), clause(0, new_text), word_diff(old_text, new_text)
    )
    diff = Diff(Side("a"), Side("b"), (change,), DiffStats(modified=1))
    assert "data<ins>,</ins> including" in render_markdown(diff)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_fast_json_writer_matches_the_standard_library(value: object) -> None:
    out: list[str] = []
    _dump_indented(value, "\n", out)
    assert "".join(out) == json.dumps(value, indent=2, ensure_ascii=False)


def test_render_json_matches_the_standard_library() -> None:
    diff = sample_diff(hostile=True)
    assert render_json(diff) == json.dumps(diff_to_dict(diff), indent=2, ensure_ascii=False) + "\n"


def test_text_moved_within_its_section_gives_the_old_position() -> None:
    moved = Change("moved", clause(2, "Contact us by post."), clause(6, "Contact us by post."))
    diff = Diff(Side("a"), Side("b"), (moved,), DiffStats(moved=1))
    assert "> moved (was clause 3): Contact us by post." in render_text(diff, color=False)
