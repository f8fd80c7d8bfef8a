"""Safe Markdown and the diff layout: pure functions over literal values (no archive needed)."""

from __future__ import annotations

from conftest import active_content
from policywatch.models import Change, Clause, Diff, DiffStats, Side
from policywatch.web.present import diff_view, render_markdown


def clause(index: int, text: str, section: tuple[str, ...] = ("Policy",)) -> Clause:
    return Clause(index=index, kind="sentence", text=text, section=section, key=text.lower())


def test_raw_html_in_markdown_comes_out_as_text() -> None:
    html = render_markdown(
        '# Title <script>alert(1)</script>\n\nHi <img src=x onerror="alert(2)"> there.\n\n'
        '<iframe src="https://evil.invalid/"></iframe>\n'
    )
    assert active_content(html) == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;iframe" in html


def test_only_safe_link_schemes_become_links() -> None:
    html = render_markdown(
        "[a](javascript:alert(1)) [b](JAVASCRIPT:alert(1)) [c](data:text/html,x) "
        "[d](vbscript:x) [e](https://example.org/p) [f](mailto:dpo@example.org) [g](/terms) "
        "[h](tel:123) [i](#top)"
    )
    assert active_content(html) == []
    hrefs = [a.split('"')[0] for a in html.split('href="')[1:]]
    assert hrefs == ["https://example.org/p", "mailto:dpo@example.org", "/terms", "#top"]
    assert 'rel="nofollow noopener noreferrer"' in html


def test_images_become_their_alt_text() -> None:
    html = render_markdown("See ![the chart](https://evil.invalid/t.gif) and ![](x.png).")
    assert "<img" not in html
    assert "[image: the chart]" in html


def test_headings_step_down_and_get_prefixed_unique_anchors() -> None:
    html = render_markdown("# Privacy\n\n## Sharing\n\n## Sharing\n\n###### Deep\n\n# main\n")
    assert '<h2 id="s-privacy">Privacy</h2>' in html
    assert '<h3 id="s-sharing">' in html and '<h3 id="s-sharing-2">' in html
    assert '<h6 id="s-deep">' in html  # h6 stays h6
    assert 'id="main"' not in html  # never collides with the page's own ids


def test_tables_render() -> None:
    html = render_markdown("| Data | Kept |\n|---|---|\n| Email | 2 years |\n")
    assert "<table>" in html and "<td>Email</td>" in html


def _diff(*changes: Change) -> Diff:
    return Diff(Side("old"), Side("new"), tuple(changes), DiffStats(), material=True)


def test_diff_view_groups_by_section_and_puts_material_reasons_first() -> None:
    modified = Change(
        "modified",
        clause(3, "We share data with nobody.", ("Policy", "Sharing")),
        clause(3, "We share data with partners.", ("Policy", "Sharing")),
        words=(("=", "We share data with "), ("-", "nobody"), ("+", "partners"), ("=", ".")),
        categories=("third-party-sharing",),
        material=True,
        reasons=("adds recipient: partners",),
    )
    added = Change(
        "added",
        None,
        clause(4, "We keep logs for ten years.", ("Policy", "Sharing")),
        categories=("data-retention",),
        material=True,
        reasons=("adds retention: 10 years", "adds recipient: partners"),
    )
    editorial = Change(
        "editorial", clause(0, "Hello"), clause(0, "Hello!"), words=(("=", "Hello"), ("+", "!"))
    )
    view = diff_view(_diff(modified, editorial, added))
    assert [r.text for r in view.reasons] == [
        "adds recipient: partners",
        "adds retention: 10 years",
    ]
    assert [r.n for r in view.reasons] == [1, 3]
    assert [(s.path, [c.n for c in s.changes]) for s in view.sections] == [
        (("Policy", "Sharing"), [1, 3])
    ]
    assert [c.n for c in view.editorial] == [2]
    assert view.categories == (("third-party-sharing", 1), ("data-retention", 1))
    first = view.sections[0].changes[0]
    assert first.left == (("=", "We share data with "), ("-", "nobody"), ("=", "."))
    assert first.right == (("=", "We share data with "), ("+", "partners"), ("=", "."))
    assert view.sections[0].changes[1].right == (("+", "We keep logs for ten years."),)


def test_moved_clause_says_from_where_to_where() -> None:
    across = Change(
        "moved",
        clause(2, "Receipts by email.", ("Policy", "Data")),
        clause(7, "Receipts by email.", ("Policy", "Sharing")),
    )
    within = Change("moved", clause(2, "A.", ("Policy",)), clause(5, "A.", ("Policy",)))
    top = Change("moved", clause(0, "B.", ()), clause(9, "B.", ("Policy",)))
    notes = [c.moved for s in diff_view(_diff(across, within, top)).sections for c in s.changes]
    assert notes == [
        "Moved from “Policy › Data” to “Policy › Sharing”",
        "Moved within “Policy” (clause 3 → 6)",
        "Moved from “the top of the policy” to “Policy”",
    ]
