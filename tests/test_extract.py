"""Source bytes -> Markdown Document: decoding, refusing bad input, HTML and PDF extraction."""

from __future__ import annotations

import codecs
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policywatch.clauses import segment
from policywatch.errors import ExtractError, InputError, SourceError
from policywatch.extract import (
    TRACKING_PARAMETERS,
    clean_href,
    decode,
    extract,
    html_to_markdown,
    media_type_for,
    read_document,
    split_front_matter,
)
from policywatch.models import Snapshot

DATA = Path(__file__).parent / "data" / "extract"


def snapshot(content: bytes, media_type: str, charset: str | None = None) -> Snapshot:
    return Snapshot(
        source="https://example.test/privacy",
        content=content,
        media_type=media_type,
        fetched_at=datetime(2024, 5, 1, tzinfo=UTC),
        charset=charset,
    )


def minimal_pdf(lines: list[str], *more_pages: list[str]) -> bytes:
    """A PDF showing ``lines`` (then each of ``more_pages``) in Helvetica, one page each (no
    lines: a page without any text)."""
    pages = [lines, *more_pages]
    font = 3 + 2 * len(pages)
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [{}] /Count {} >>".format(
            " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages))), len(pages)
        ),
    ]
    for i, page in enumerate(pages):
        shown = " ".join(f"({line}) Tj T*" for line in page)
        stream = f"BT /F1 12 Tf 72 720 Td 14 TL {shown} ET" if page else ""
        objects += [
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]"
            f" /Resources << /Font << /F1 {font} 0 R >> >> /Contents {4 + 2 * i} 0 R >>",
            f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        ]
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode()
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return out


# ---------------------------------------------------------------------------------------------
# decoding

TEXT = "Café “quotes” — naïve"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), TEXT),
        (codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), TEXT),
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), TEXT),
        (codecs.BOM_UTF32_LE + TEXT.encode("utf-32-le"), TEXT),
        (codecs.BOM_UTF32_BE + TEXT.encode("utf-32-be"), TEXT),
        (TEXT.encode("utf-8"), TEXT),
    ],
    ids=["utf-8-bom", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be", "plain-utf-8"],
)
def test_decode_byte_order_marks(content: bytes, expected: str) -> None:
    assert decode(content) == expected


def test_bom_wins_over_a_wrong_declaration() -> None:
    assert decode(codecs.BOM_UTF8 + "é".encode(), declared="iso-8859-1") == "é"


@pytest.mark.parametrize(
    ("declared", "content", "expected"),
    [
        ("iso-8859-1", b"caf\xe9", "café"),
        ("latin1", b"na\xefve", "naïve"),
        # browsers read latin-1 labels as windows-1252: 0x93/0x94 are curly quotes, not controls
        ("ISO-8859-1", b"\x93Cookies\x94", "“Cookies”"),
        ("windows-1252", b"\x96 dash", "– dash"),
        ("utf-8", "é".encode(), "é"),
        ("shift_jis", "個人情報".encode("shift_jis"), "個人情報"),
    ],
)
def test_decode_declared_charset(declared: str, content: bytes, expected: str) -> None:
    assert decode(content, declared=declared) == expected


@pytest.mark.parametrize(
    "head",
    [
        b'<meta charset="windows-1252">',
        b"<meta charset=ISO-8859-1>",
        b'<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">',
    ],
)
def test_decode_in_document_declaration(head: bytes) -> None:
    content = b"<html><head>" + head + b"</head><body><p>Caf\xe9</p></body></html>"
    assert "Café" in decode(content)


def test_decode_xml_declaration() -> None:
    content = b'<?xml version="1.0" encoding="iso-8859-1"?>\n<html><p>Caf\xe9</p></html>'
    assert "Café" in decode(content)


def test_meta_declaring_utf16_means_utf8() -> None:
    content = '<meta charset="utf-16"><p>café</p>'.encode()
    assert "café" in decode(content)


def test_meta_beyond_the_first_4kb_is_not_consulted() -> None:
    content = b"<p>" + b"x" * 5000 + b'</p><meta charset="latin-1"><p>Caf\xe9</p>'
    with pytest.raises(InputError, match="not valid UTF-8"):
        decode(content)


def test_undecodable_bytes_name_the_file_the_charset_and_the_fix() -> None:
    with pytest.raises(InputError) as info:
        decode(b"Our caf\xe9 policy", name="policies/privacy.md")
    message = str(info.value)
    assert message.startswith("policies/privacy.md: ")
    assert "not valid UTF-8" in message
    assert "byte 0xe9 at offset 7" in message
    assert "declare its charset" in message
    assert info.value.path == "policies/privacy.md"
    assert info.value.exit_code == 2


def test_a_wrong_declared_charset_is_named() -> None:
    with pytest.raises(InputError, match=r"not valid utf-8 as the server declares"):
        decode(b"caf\xe9", declared="utf-8", name="page")


def test_a_wrong_meta_charset_is_named() -> None:
    with pytest.raises(InputError, match="as its <meta charset> declares"):
        decode(b'<meta charset="utf-8"><p>caf\xe9</p>', name="page")


def test_unknown_declared_charset() -> None:
    with pytest.raises(InputError, match="unknown charset 'x-klingon'"):
        decode(b"hello", declared="x-klingon", name="page")


def test_unknown_meta_charset_falls_back_to_utf8_and_says_so() -> None:
    assert decode('<meta charset="x-klingon"><p>é</p>'.encode()) == (
        '<meta charset="x-klingon"><p>é</p>'
    )
    with pytest.raises(InputError, match="unknown charset 'x-klingon'"):
        decode(b'<meta charset="x-klingon"><p>\xe9</p>')


# ---------------------------------------------------------------------------------------------
# binary data


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"Privacy\x00Policy" * 10, "NUL bytes"),
        (minimal_pdf(["We collect data."]), "PDF"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
        (b"\x1f\x8b\x08\x00" + bytes(range(1, 40)), "gzip"),
        (b"PK\x03\x04" + b"word/document.xml", "ZIP"),
        (bytes(range(1, 9)) * 40 + b"some text", "control characters"),
    ],
    ids=["nul", "pdf", "png", "gzip", "zip", "controls"],
)
def test_binary_data_is_refused(content: bytes, kind: str) -> None:
    with pytest.raises(InputError, match="binary data") as info:
        decode(content, name="blob")
    assert kind in str(info.value)
    assert "not a text document" in str(info.value)


def test_text_with_a_few_control_characters_is_text() -> None:
    content = ("A paragraph of policy text.\x0c\n" * 50).encode() + b"\x1b[0m"
    assert decode(content).startswith("A paragraph")


def test_utf16_without_bom_but_declared_is_not_called_binary() -> None:
    assert decode("Privacy".encode("utf-16-le"), declared="utf-16-le") == "Privacy"


# ---------------------------------------------------------------------------------------------
# front matter


def test_front_matter_values_are_flattened_to_strings() -> None:
    text = (
        "---\n"
        "title: Privacy policy\n"
        "effective: 2024-05-01\n"
        "version: 3\n"
        "draft: false\n"
        "owner:\n"
        "regions: [EU, US]\n"
        "---\n"
        "# Privacy\n"
    )
    metadata, body = split_front_matter(text, "p.md")
    assert metadata == (
        ("title", "Privacy policy"),
        ("effective", "2024-05-01"),
        ("version", "3"),
        ("draft", "false"),
        ("owner", ""),
        ("regions", "EU, US"),
    )
    assert body == "# Privacy\n"


@pytest.mark.parametrize(
    "text",
    [
        "# No front matter\n",
        "---\n\nA rule first, never closed.\n",
        "Text\n---\ntitle: x\n---\n",  # not at the very start
    ],
)
def test_text_without_front_matter_is_untouched(text: str) -> None:
    assert split_front_matter(text, "p.md") == ((), text)


def test_empty_front_matter() -> None:
    assert split_front_matter("---\n---\nBody\n", "p.md") == ((), "Body\n")


def test_malformed_front_matter_names_the_file_and_the_line() -> None:
    text = "---\ntitle: Privacy\nversion: [1, 2\nowner: legal\n---\nBody\n"
    with pytest.raises(InputError) as info:
        split_front_matter(text, "policies/privacy.md")
    message = str(info.value)
    assert message.startswith("policies/privacy.md: malformed front matter at line ")
    line = int(message.split(" at line ")[1].split(":")[0])
    assert line in (3, 4, 5)  # the unclosed list, as counted in the file (the --- is line 1)


def test_front_matter_must_be_a_mapping() -> None:
    with pytest.raises(InputError, match="must be a mapping"):
        split_front_matter("---\n- a\n- b\n---\nBody\n", "p.md")


def test_front_matter_refuses_python_objects() -> None:
    with pytest.raises(InputError, match="malformed front matter"):
        split_front_matter("---\nx: !!python/object/apply:os.system ['true']\n---\n", "p.md")


# ---------------------------------------------------------------------------------------------
# HTML -> Markdown

PAGE = """<!doctype html>
<html><head><title>Acme privacy</title><style>.banner{color:red}</style>
<script>var tracking = "SCRIPT-TEXT";</script></head>
<body>
<nav><a href="/">Home</a> <a href="/blog">Blog</a></nav>
<div class="cookie-banner"><p>We use cookies. Accept?</p></div>
<main>
  <h1>Acme Widgets privacy notice</h1>
  <p>Acme Widgets Ltd. (“Acme”) explains here what it collects
     and why.</p>
  <h2>What we collect</h2>
  <ul>
    <li>Your name and <strong>postal address</strong></li>
    <li>Your order history</li>
  </ul>
  <section class="legal"><h2>Contact</h2><p>Write to our privacy team.</p></section>
</main>
<footer><p>© Acme Widgets</p></footer>
</body></html>"""


def test_main_is_used_when_it_is_obvious() -> None:
    markdown = html_to_markdown(PAGE)
    assert markdown.startswith("# Acme Widgets privacy notice\n")
    assert "Home" not in markdown
    assert "© Acme" not in markdown
    assert "Acme Widgets Ltd. (“Acme”) explains here what it collects and why." in markdown
    assert "- Your name and **postal address**\n- Your order history" in markdown
    assert "## Contact\n\nWrite to our privacy team." in markdown


def test_without_main_the_body_is_used() -> None:
    markdown = html_to_markdown("<body><div><p>One.</p></div><p>Two.</p></body>")
    assert markdown == "One.\n\nTwo.\n"


def test_a_small_article_teaser_does_not_replace_the_body() -> None:
    html = "<body><p>" + "Policy text. " * 50 + "</p><article><p>Related post</p></article></body>"
    assert "Policy text." in html_to_markdown(html)


def test_select_takes_every_match_in_document_order_once() -> None:
    html = """<body>
      <div id="intro"><p>Intro.</p></div>
      <div class="policy"><p>First.</p><div class="policy"><p>Nested.</p></div></div>
      <p>Outside.</p>
      <div class="policy"><p>Second.</p></div>
    </body>"""
    markdown = html_to_markdown(html, select=[".policy", "#intro"])
    assert markdown == "Intro.\n\nFirst.\n\nNested.\n\nSecond.\n"


def test_remove_applies_before_select() -> None:
    markdown = html_to_markdown(PAGE, select=["body"], remove=["nav", ".cookie-banner", "footer"])
    assert "Home" not in markdown
    assert "cookies" not in markdown
    assert "© Acme" not in markdown
    assert "What we collect" in markdown


def test_a_selector_matching_nothing_is_an_extract_error() -> None:
    with pytest.raises(ExtractError, match=r"page.html: the selector '#policy' matched nothing"):
        html_to_markdown(PAGE, select=["#policy"], name="page.html")


def test_an_invalid_selector_is_named() -> None:
    with pytest.raises(ExtractError, match=r"invalid CSS selector 'div\[\['"):
        html_to_markdown(PAGE, remove=["div[["], name="page.html")


@pytest.mark.parametrize(
    "hidden",
    [
        "<script>document.write('SECRET')</script>",
        "<style>.x:after{content:'SECRET'}</style>",
        "<noscript><p>SECRET</p></noscript>",
        "<template><p>SECRET</p></template>",
        "<svg><text>SECRET</text></svg>",
        "<p hidden>SECRET</p>",
        '<div aria-hidden="true"><p>SECRET</p></div>',
        '<p style="display:none">SECRET</p>',
        '<p style="color: red; DISPLAY : None !important">SECRET</p>',
        '<span style="visibility: hidden">SECRET</span>',
        '<div hidden><div aria-hidden="true"><p style="display:none">SECRET</p></div></div>',
        "<dialog><p>SECRET</p></dialog>",
        '<input type="hidden" value="SECRET">',
    ],
)
def test_text_a_reader_cannot_see_never_reaches_the_markdown(hidden: str) -> None:
    html = f"<body><main><p>Visible before.</p>{hidden}<p>Visible after.</p></main></body>"
    markdown = html_to_markdown(html)
    assert "SECRET" not in markdown
    assert "Visible before." in markdown
    assert "Visible after." in markdown


def test_content_hidden_until_found_is_kept() -> None:
    html = '<body><div hidden="until-found"><p>Collapsed section text.</p></div></body>'
    assert "Collapsed section text." in html_to_markdown(html)


def test_collapsed_accordion_and_tab_panels_are_kept() -> None:
    html = """<body><main>
      <h3><button aria-expanded="false" aria-controls="p1">Who sees my data?<svg
        aria-hidden="true"><text>+</text></svg></button></h3>
      <div id="p1" role="region" hidden><p>Only our support team.</p></div>
      <button aria-expanded="false" aria-controls="p2"><h3>How long is it kept?</h3></button>
      <div id="p2" aria-hidden="true" style="display: none"><p>Two years.</p>
        <span aria-hidden="true">ICON</span></div>
      <div role="tablist"><button role="tab" aria-selected="true" aria-controls="t1">EU</button>
        <button role="tab" aria-selected="false" aria-controls="t2">US</button></div>
      <div role="tabpanel" id="t1"><p>EU text.</p></div>
      <div role="tabpanel" id="t2" hidden><p>US text.</p></div>
    </main></body>"""
    markdown = html_to_markdown(html)
    for text in ("Only our support team.", "Two years.", "EU text.", "US text."):
        assert text in markdown
    assert "### How long is it kept?" in markdown
    assert "ICON" not in markdown
    assert "+" not in markdown


@pytest.mark.parametrize(
    "control",
    [
        '<button aria-haspopup="true" aria-expanded="false" aria-controls="x">Menu</button>',
        '<input role="combobox" aria-expanded="false" aria-controls="x">',
        '<a href="#x" aria-controls="x">no aria-expanded: not a disclosure</a>',
    ],
)
def test_hidden_menus_and_undisclosed_content_stay_hidden(control: str) -> None:
    html = f'<body><p>Policy.</p>{control}<ul id="x" hidden><li>SECRET</li></ul></body>'
    assert "SECRET" not in html_to_markdown(html)


@pytest.mark.parametrize(
    "panel",
    [
        '<nav id="x" hidden><a href="/a">SECRET</a></nav>',
        '<div id="x" role="dialog" aria-hidden="true"><p>SECRET cookie settings</p></div>',
    ],
)
def test_hidden_navigation_and_dialogs_stay_hidden_when_toggled(panel: str) -> None:
    html = (
        f'<body><p>Policy.</p><button aria-expanded="false" aria-controls="x">Open</button>{panel}'
    )
    assert "SECRET" not in html_to_markdown(html)


def test_a_hidden_copy_of_a_shown_panel_is_not_repeated() -> None:
    # the same tab block pasted twice, each copy showing the other panel: each text once
    tabs = (
        '<button role="tab" aria-controls="a">A</button><button role="tab" aria-controls="b">B'
        '</button><div role="tabpanel" id="a"{}><p>Panel A.</p></div>'
        '<div role="tabpanel" id="b"{}><p>Panel B.</p></div>'
    )
    html = "<body>" + tabs.format("", " hidden") + tabs.format(" hidden", "") + "</body>"
    markdown = html_to_markdown(html)
    assert markdown.count("Panel A.") == 1
    assert markdown.count("Panel B.") == 1


def test_a_body_hidden_until_scripts_run_is_still_read() -> None:
    html = '<html style="display:none"><body style="visibility:hidden"><p>Policy.</p></body></html>'
    assert html_to_markdown(html) == "Policy.\n"


def test_a_style_mentioning_none_without_hiding_is_kept() -> None:
    html = '<body><p style="text-decoration: none; border: hidden">Shown.</p></body>'
    assert html_to_markdown(html) == "Shown.\n"


def test_tables_become_pipe_rows_with_a_header_separator() -> None:
    html = """<body><table>
      <thead><tr><th>Data</th><th>Purpose</th><th>Kept for</th></tr></thead>
      <tbody>
        <tr><td>E-mail</td><td>Login | recovery</td><td>2 years</td></tr>
        <tr><td>Address</td><td>Delivery<br>and returns</td></tr>
      </tbody></table></body>"""
    assert html_to_markdown(html) == (
        "| Data | Purpose | Kept for |\n"
        "| --- | --- | --- |\n"
        "| E-mail | Login \\| recovery | 2 years |\n"
        "| Address | Delivery and returns |  |\n"
    )


def test_a_layout_table_is_read_as_blocks() -> None:
    html = "<body><table><tr><td><h2>Terms</h2><p>Body text.</p></td></tr></table></body>"
    assert html_to_markdown(html) == "## Terms\n\nBody text.\n"
    # a navigation column beside the page body, the body holding headings
    html = """<body><table><tr><td><a href="/">Home</a></td><td><h1>Privacy</h1>
      <p>We collect what you give us, and we keep it no longer than we need it.</p>
      <h2>Rights</h2><p>You may ask for a copy of it at any time.</p></td></tr></table></body>"""
    assert html_to_markdown(html) == (
        "[Home](/)\n\n# Privacy\n\n"
        "We collect what you give us, and we keep it no longer than we need it.\n\n"
        "## Rights\n\nYou may ask for a copy of it at any time.\n"
    )
    html = "<body><table><tr><td>A</td><td><table><tr><td>B</td></tr></table></td></tr></table>"
    assert html_to_markdown(html) == "A\n\nB\n"


def test_a_heading_in_a_data_cell_keeps_the_table() -> None:
    html = """<body><table>
      <tr><td><b>Purpose</b></td><td><b>Data</b></td></tr>
      <tr><td><h4>Verify your profile</h4></td><td>photos; phone number</td></tr>
      <tr><td>Run the service</td><td>e-mail address; <ul><li>device id</li></ul></td></tr>
      </table></body>"""
    assert html_to_markdown(html) == (
        "| **Purpose** | **Data** |\n| --- | --- |\n"
        "| Verify your profile | photos; phone number |\n"
        "| Run the service | e-mail address; device id |\n"
    )


def test_an_inline_element_wrapping_blocks_is_read_as_their_container() -> None:
    # <span> around whole sections (component frameworks), <button> holding an accordion's
    # heading, a card link around a heading and a paragraph: browsers lay these out as blocks
    html = """<body><span class="section"><h2>Sharing</h2><p>We share <b>nothing</b>.</p>
      <ol><li>One</li><li>Two</li></ol></span>
      <div>Intro <a href="/card"><h3>Card title</h3><p>Card text.</p></a> outro.</div>
      <button type="button"><h3>Question?</h3></button><p>Answer <span>inline</span>.</p>
      </body>"""
    assert html_to_markdown(html) == (
        "## Sharing\n\nWe share **nothing**.\n\n1. One\n2. Two\n\nIntro\n\n### Card title\n\n"
        "Card text.\n\noutro.\n\n### Question?\n\nAnswer inline.\n"
    )
    assert [c.kind for c in segment(html_to_markdown(html))][:4] == [
        "heading",
        "sentence",
        "item",
        "item",
    ]


def test_a_selected_inline_element_wrapping_blocks_keeps_them() -> None:
    html = '<body><span id="terms"><h2>Terms</h2><p>First.</p><p>Second.</p></span></body>'
    assert html_to_markdown(html, select=["#terms"]) == "## Terms\n\nFirst.\n\nSecond.\n"
    html = '<body><p>See <em id="x">this <b>note</b></em>.</p></body>'
    assert html_to_markdown(html, select=["#x"]) == "*this **note***\n"


def test_aria_headings_are_headings() -> None:
    html = """<body><div role="heading" aria-level="3">Sharing</div><p>We share nothing.</p>
      <div>Intro <span role="heading" aria-level="4">Retention</span> Two years.</div>
      <div role="heading">No level</div><p>Text.</p></body>"""
    markdown = html_to_markdown(html)
    assert markdown == (
        "### Sharing\n\nWe share nothing.\n\nIntro\n\n#### Retention\n\nTwo years.\n\n"
        "## No level\n\nText.\n"
    )
    assert [c.section for c in segment(markdown)][1] == ("Sharing",)


def test_ordered_lists_keep_their_numbers() -> None:
    html = """<body><ol start="4">
      <li>Fourth</li><li>Fifth<ul><li>nested bullet</li></ul></li>
      <li value="9">Ninth</li><li>Tenth</li></ol>
      <ol reversed><li>Three</li><li>Two</li><li>One</li></ol></body>"""
    assert html_to_markdown(html) == (
        "4. Fourth\n5. Fifth\n   - nested bullet\n9. Ninth\n10. Tenth\n\n3. Three\n2. Two\n1. One\n"
    )


def test_nested_lists_and_paragraphs_inside_items() -> None:
    html = """<body><ul><li><p>Outer item.</p><p>Its second paragraph.</p>
      <ul><li>Inner one</li><li>Inner two<ol><li>Deep</li></ol></li></ul></li>
      <li>Outer two</li></ul></body>"""
    assert html_to_markdown(html) == (
        "- Outer item.\n  Its second paragraph.\n  - Inner one\n  - Inner two\n"
        "    1. Deep\n- Outer two\n"
    )


def test_content_directly_inside_a_list_is_kept_under_its_item() -> None:
    # invalid but common: text, inline elements and blocks outside any <li>, and wrappers
    # between the list and its items; browsers show all of it
    html = """<body><ol><li>Transfers rely on:<ol>(a) adequacy <b>decisions</b>;</ol>
      <ol>(b) contractual clauses.</ol></li><p>A note on the first item.</p>
      <li>Second</li></ol>
      <ul>Lead text<div class="row"><li>One</li><li>Two</li></div></ul></body>"""
    assert html_to_markdown(html) == (
        "1. Transfers rely on:\n   (a) adequacy **decisions**;\n   (b) contractual clauses.\n"
        "   A note on the first item.\n2. Second\n\nLead text\n\n- One\n- Two\n"
    )


def test_inline_markup() -> None:
    html = (
        "<body><p>We <em>never</em> sell <b> your </b>data. See <code>opt_out()</code>."
        "<br>New line<br></p><blockquote><p>Quoted one.</p><p>Quoted two.</p></blockquote>"
        "<pre>  keep\n    spacing</pre><hr><h3>Sub <i>heading</i></h3></body>"
    )
    assert html_to_markdown(html) == (
        "We *never* sell **your** data. See `opt_out()`.\\\nNew line\n\n"
        "> Quoted one.\n\n> Quoted two.\n\n```\n  keep\n    spacing\n```\n\n---\n\n"
        "### Sub *heading*\n"
    )


def test_two_line_breaks_in_a_row_separate_paragraphs() -> None:
    html = (
        "<body><div><b>Your rights</b><br><br>You may ask for a copy<br>by post.<br> <br>"
        "<br>Last line.</div></body>"
    )
    markdown = html_to_markdown(html)
    assert markdown == "**Your rights**\n\nYou may ask for a copy\\\nby post.\n\nLast line.\n"
    assert [c.text for c in segment(markdown)] == [
        "Your rights",
        "You may ask for a copy by post.",
        "Last line.",
    ]


def test_links_keep_their_target_without_tracking_parameters() -> None:
    html = (
        '<body><p><a href="https://acme.test/rights?utm_source=mail&amp;lang=en&amp;'
        'fbclid=abc&amp;UTM_Campaign=x&amp;gclid=1&amp;mc_eid=2&amp;_hsenc=3#opt-out">'
        "your rights</a> and <a href='/privacy?id=7'>this page</a></p></body>"
    )
    assert html_to_markdown(html) == (
        "[your rights](https://acme.test/rights?lang=en#opt-out) and [this page](/privacy?id=7)\n"
    )


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("https://a.test/p?utm_medium=x", "https://a.test/p"),
        ("https://a.test/p?utm_medium=x#top", "https://a.test/p#top"),
        ("https://a.test/p?q=%20a&fbclid=1&b=2", "https://a.test/p?q=%20a&b=2"),
        ("  /p?msclkid=1 ", "/p"),
        ("/a path/(x)", "/a%20path/%28x%29"),
        ("javascript:void(0)", None),
        ("JavaScript:alert(1)", None),
        ("java\tscript:alert(1)", None),
        (" vbscript:x", None),
        ("data:text/html,<p>x</p>", None),
        ("mailto:privacy@acme.test", "mailto:privacy@acme.test"),
        ("", None),
    ],
)
def test_clean_href(href: str, expected: str | None) -> None:
    assert clean_href(href) == expected


def test_the_tracking_list_is_a_module_constant() -> None:
    assert {"fbclid", "gclid", "mc_eid", "_hsenc"} <= TRACKING_PARAMETERS


def test_javascript_links_are_inert() -> None:
    html = '<body><p>Manage <a href="javascript:openPrefs()">cookie settings</a> here.</p></body>'
    markdown = html_to_markdown(html)
    assert markdown == "Manage cookie settings here.\n"
    assert "javascript" not in markdown.lower()


def test_links_without_text_or_target_leave_only_text() -> None:
    html = '<body><p><a href="/x"><img src="logo.png" alt="Logo"></a><a href="#">Top</a></p></body>'
    assert html_to_markdown(html) == "Top\n"


def test_text_that_looks_like_markdown_is_escaped() -> None:
    html = (
        "<body><p>1. Not a list</p><p># not a heading</p><p>- not an item</p>"
        "<p>a *star* and snake_case and [brackets]</p><p>| not a table |</p></body>"
    )
    markdown = html_to_markdown(html)
    clauses = segment(markdown)
    assert [c.kind for c in clauses] == ["sentence"] * 5
    assert [c.text for c in clauses] == [
        "1. Not a list",
        "# not a heading",
        "- not an item",
        "a *star* and snake_case and [brackets]",
        "| not a table |",
    ]


def test_block_white_space_is_collapsed() -> None:
    html = (
        "<body>\n\n  <div>\n   <p>  Spaced\n\n   out  </p>\n\n</div>   <div> </div>"
        "<p>Next</p></body>"
    )
    assert html_to_markdown(html) == "Spaced out\n\nNext\n"


def test_a_large_page_converts_in_linear_time() -> None:
    item = (
        '<div class="a"><div class="b"><p>We share <a href="https://x.test/?utm_source=1">'
        "data</a> with <em>partners</em> such as processors.</p></div></div>"
        "<ul><li>One item</li><li>Two <b>items</b></li></ul>"
    )
    html = "<body><main>" + item * 1600 + "</main></body>"
    assert len(html) > 300_000
    start = time.perf_counter()
    markdown = html_to_markdown(html)
    elapsed = time.perf_counter() - start
    assert markdown.count("We share [data](https://x.test/)") == 1600
    assert elapsed < 1.0  # ~30 ms on the project machine; only a quadratic walk gets near this

    # inline wrappers nested deep around the whole text are each read once, not once per level
    html = "<body><main>" + "<span>" * 100 + item * 1600 + "</span>" * 100 + "</main></body>"
    start = time.perf_counter()
    markdown = html_to_markdown(html)
    elapsed = time.perf_counter() - start
    assert markdown.count("We share [data](https://x.test/)") == 1600
    assert markdown.count("\n- One item\n") == 1600
    assert elapsed < 1.0  # ~50 ms; re-flattening each level took ~4 s


# ---------------------------------------------------------------------------------------------
# extract()


def test_extract_markdown_splits_front_matter_and_normalises_line_endings() -> None:
    content = (
        b"---\r\ntitle: Privacy\r\n---\r\n# Privacy\r\n\r\nWe collect data.\r\nOld mac\rline\n"
    )
    doc = extract(snapshot(content, "text/markdown"))
    assert doc.metadata == (("title", "Privacy"),)
    assert doc.text == "# Privacy\n\nWe collect data.\nOld mac\nline\n"
    assert doc.meta("title") == "Privacy"
    assert doc.name == "https://example.test/privacy"


def test_extract_html_uses_selectors_and_the_declared_charset() -> None:
    content = b"<body><div id='p'><p>Caf\xe9 policy.</p></div><p>Other</p></body>"
    doc = extract(snapshot(content, "text/html", charset="iso-8859-1"), select=["#p"], name="acme")
    assert doc.text == "Café policy.\n"
    assert doc.name == "acme"


def test_extract_plain_text_is_kept() -> None:
    text = "PRIVACY\n\nWe collect your name\nand address.\n"
    assert extract(snapshot(text.encode(), "text/plain")).text == text


def test_extract_pdf_text_per_page() -> None:
    doc = extract(snapshot(minimal_pdf(["We collect names.", "We keep them."]), "application/pdf"))
    assert "We collect names." in doc.text
    assert "We keep them." in doc.text


def _paged(body: list[str], per_page: int, header: str, footer: str) -> list[list[str]]:
    """``body`` laid out ``per_page`` lines a page under a running header and footer."""
    chunks = [body[i : i + per_page] for i in range(0, len(body), per_page)]
    n = len(chunks)
    return [
        [header.format(page=k, pages=n), *chunk, footer.format(page=k, pages=n)]
        for k, chunk in enumerate(chunks, 1)
    ]


BODY = [
    "1. What we collect",
    "We collect the name and e-mail address you give us when you open an",
    "account, and the orders you place with us.",
    "2. Why we collect it",
    "We use your address to deliver the goods you order and to send you",
    "receipts. We do not sell it.",
    "3. How long we keep it",
    "We keep invoices for seven years because accounting rules require it.",
    "4. Your rights",
    "You may ask for a copy of your data or ask us to correct or erase it.",
]


def test_pdf_running_headers_footers_and_page_numbers_are_dropped() -> None:
    pages = _paged(BODY, 3, "Acme Ltd - Privacy Policy - 2026-03-01", "Page {page} of {pages}")
    text = extract(snapshot(minimal_pdf(*pages), "application/pdf")).text
    assert "Acme Ltd" not in text and "Page " not in text
    assert text == "\n".join(BODY) + "\n"  # pages joined as lines: sentences run on


def test_a_pdf_reflow_changes_no_text_but_the_edit() -> None:
    """Adding one sentence on page 1 pushes every later line down a page: with the layout's own
    lines removed, the only difference between the two texts is that sentence."""
    edited = [*BODY[:3], "We may also ask for your postal address.", *BODY[3:]]
    header, footer = "Acme Privacy Policy", "- {page} -"
    before = extract(snapshot(minimal_pdf(*_paged(BODY, 3, header, footer)), "application/pdf"))
    after = extract(snapshot(minimal_pdf(*_paged(edited, 3, header, footer)), "application/pdf"))
    old, new = before.text.splitlines(), after.text.splitlines()
    assert [ln for ln in new if ln not in old] == ["We may also ask for your postal address."]
    assert [ln for ln in old if ln not in new] == []


def test_a_short_pdf_keeps_its_lines_but_drops_page_numbers() -> None:
    """Two pages are too few to tell a running header from text: only bare page numbers go."""
    text = extract(
        snapshot(
            minimal_pdf(["Acme", "We collect names.", "1"], ["Acme", "We keep them.", "2"]),
            "application/pdf",
        )
    ).text
    assert text == "Acme\nWe collect names.\nAcme\nWe keep them.\n"


def test_a_pdf_without_text_is_an_extract_error() -> None:
    with pytest.raises(ExtractError, match="no extractable text"):
        extract(snapshot(minimal_pdf([]), "application/pdf"))


def test_a_broken_pdf_is_an_extract_error() -> None:
    with pytest.raises(ExtractError, match="PDF"):
        extract(snapshot(b"%PDF-1.4\nthis is not really a pdf", "application/pdf"))


@pytest.mark.parametrize(
    ("content", "media_type"),
    [
        (b"   \n\t\n", "text/markdown"),
        (b"---\ntitle: x\n---\n\n", "text/markdown"),
        (b"<html><body><script>x()</script><p hidden>gone</p></body></html>", "text/html"),
        (b"", "text/plain"),
    ],
)
def test_an_empty_result_is_an_extract_error(content: bytes, media_type: str) -> None:
    with pytest.raises(ExtractError, match="no text extracted"):
        extract(snapshot(content, media_type))


def test_an_unknown_media_type_is_an_extract_error() -> None:
    with pytest.raises(ExtractError, match="cannot extract text from image/png"):
        extract(snapshot(b"\x89PNG\r\n", "image/png"))


def test_bad_bytes_from_a_source_fail_that_source_only() -> None:
    """A fetched page that is binary or undecodable is a SourceError, not a user input error."""
    with pytest.raises(ExtractError, match="binary data") as info:
        extract(snapshot(b"\x89PNG\r\n\x1a\n\x00\x00", "text/html"))
    assert isinstance(info.value, SourceError)
    assert "https://example.test/privacy" in str(info.value)
    with pytest.raises(ExtractError, match="not valid UTF-8"):
        extract(snapshot(b"caf\xe9", "text/markdown"))


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("privacy.md", b"# x", "text/markdown"),
        ("privacy.MARKDOWN", b"# x", "text/markdown"),
        ("privacy.txt", b"x", "text/plain"),
        ("privacy.html", b"x", "text/html"),
        ("privacy.htm", b"x", "text/html"),
        ("privacy.pdf", b"%PDF-1.7", "application/pdf"),
        ("privacy.md", b"%PDF-1.7", "application/pdf"),
        ("privacy", b"\xef\xbb\xbf  <!DOCTYPE html><html>", "text/html"),
        ("privacy", b"\n<html lang=en>", "text/html"),
        ("privacy", b"%PDF-1.4", "application/pdf"),
        ("privacy", b"Plain words", "text/markdown"),
    ],
)
def test_media_type_for(name: str, content: bytes, expected: str) -> None:
    assert media_type_for(name, content) == expected


# ---------------------------------------------------------------------------------------------
# read_document()


def test_read_markdown_file(tmp_path: Path) -> None:
    path = tmp_path / "privacy.md"
    path.write_bytes(b"---\nversion: 2\n---\n# Privacy\r\n\r\nText.\r\n")
    doc = read_document(path)
    assert doc.text == "# Privacy\n\nText.\n"
    assert doc.metadata == (("version", "2"),)
    assert doc.name == str(path)


def test_read_html_file(tmp_path: Path) -> None:
    path = tmp_path / "privacy.html"
    path.write_text("<html><body><main><h1>Privacy</h1><p>Text.</p></main></body></html>")
    assert read_document(path).text == "# Privacy\n\nText.\n"


def test_read_an_empty_file_gives_an_empty_document(tmp_path: Path) -> None:
    path = tmp_path / "empty.md"
    path.write_bytes(b"")
    assert read_document(path).text == ""


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "no such file"),
        ("directory", "is a directory"),
        ("binary", "binary data"),
        ("latin1", "not valid UTF-8"),
        ("front-matter", r"malformed front matter at line \d+: "),
        ("blank-pdf", "no extractable text"),
    ],
)
def test_read_document_errors_name_the_path(tmp_path: Path, setup: str, message: str) -> None:
    path = tmp_path / "policy.md"
    if setup == "directory":
        path.mkdir()
    elif setup == "binary":
        path.write_bytes(b"\x00\x01\x02" * 100)
    elif setup == "latin1":
        path.write_bytes(b"caf\xe9")
    elif setup == "front-matter":
        path.write_bytes(b"---\ntitle: ok\nbad: [unclosed\n---\nBody\n")
    elif setup == "blank-pdf":
        path = tmp_path / "policy.pdf"
        path.write_bytes(minimal_pdf([]))
    with pytest.raises(InputError, match=message) as info:
        read_document(path)
    assert str(info.value).startswith(f"{path}: ")
    assert info.value.path == str(path)


def test_read_document_checks_the_size_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.md"
    path.write_bytes(b"a" * 3000)
    with pytest.raises(InputError) as info:
        read_document(path, max_bytes=2048)
    assert "is 2.9 KB (3000 bytes), more than the limit of 2.0 KB (2048 bytes)" in str(info.value)
    assert read_document(path, max_bytes=3000).text == "a" * 3000


def test_read_document_unreadable_file(tmp_path: Path) -> None:
    import os

    path = tmp_path / "secret.md"
    path.write_text("x")
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user who can read anything (root)")
        with pytest.raises(InputError, match="permission denied"):
            read_document(path)
    finally:
        path.chmod(0o644)


def test_read_document_from_a_pipe_is_capped(tmp_path: Path) -> None:
    import contextlib
    import os
    import threading

    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)

    def writer() -> None:
        with open(fifo, "wb") as handle, contextlib.suppress(BrokenPipeError):
            handle.write(b"x" * 5000)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        with pytest.raises(InputError, match="more than the limit"):
            read_document(fifo, max_bytes=1000)
    finally:
        thread.join(timeout=5)


def test_sample_page_from_data(tmp_path: Path) -> None:
    """A realistic page: navigation, banner, main text with a table, a footer."""
    doc = read_document(DATA / "acme-privacy.html")
    clauses = segment(doc)
    texts = [c.text for c in clauses]
    assert texts[0] == "Acme Widgets privacy notice"
    assert "Accept all cookies" not in " ".join(texts)
    assert "Order number | Delivery | 6 years" in texts
    assert "utm_" not in doc.text
    assert "(“Acme”, “we”)" in doc.text  # windows-1252 declared in <meta http-equiv>


HTML_BITS = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<div>",
        "</div>",
        "<ul>",
        "<ol start=3>",
        "<li>",
        "</li>",
        "</ul>",
        "<table>",
        "<tr>",
        "<td>",
        "<th>",
        "</table>",
        "<a href='?utm_source=x&amp;a=1'>",
        "</a>",
        "<b>",
        "</b>",
        "<br>",
        "<pre>",
        "</pre>",
        "<h2>",
        "</h2>",
        "<blockquote>",
        "<span hidden>",
        "</span>",
        "<script>",
        "</script>",
        "Text. ",
        "1. ",
        "# ",
        "*",
        "|",
        "_",
        "[",
        "]",
        "\n",
        "  ",
        "&nbsp;",
    ]
)


@settings(max_examples=100, deadline=None)
@given(st.lists(HTML_BITS | st.text(max_size=4), max_size=50))
def test_any_tag_soup_converts_to_markdown_the_scanner_reads(parts: list[str]) -> None:
    markdown = html_to_markdown("".join(parts))
    assert "utm_source" not in markdown
    assert markdown == "" or markdown.endswith("\n")
    segment(markdown)
