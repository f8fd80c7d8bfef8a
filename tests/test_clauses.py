"""Document -> clauses: block scanning, sections, sentences, readable text and matching keys."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policywatch.clauses import normalise, readable, segment, split_sentences
from policywatch.models import Clause, Document


def view(clauses: tuple[Clause, ...]) -> list[tuple[str, str]]:
    return [(c.kind, c.text) for c in clauses]


# ---------------------------------------------------------------------------------------------
# segment(): blocks and sections

POLICY = """\
# Acme Widgets privacy notice

Acme Widgets Ltd. sells widgets. This notice says what we collect
and why we collect it.

## What we collect

We collect:

- your name and postal address;
- what you ordered. We keep a record of it so that returns work, and we never
  see your full card number.
  - nested: the last four digits only

1. First numbered item
2. Second numbered item

### Cookies

We set one cookie.

## Sharing

Carriers get your address.

# Appendix

Nothing else.
"""


def test_segment_kinds_texts_and_sections() -> None:
    clauses = segment(Document(name="p.md", text=POLICY))
    top = ("Acme Widgets privacy notice",)
    collect = (*top, "What we collect")
    assert [(c.kind, c.text, c.section) for c in clauses] == [
        ("heading", "Acme Widgets privacy notice", ()),
        ("sentence", "Acme Widgets Ltd. sells widgets.", top),
        ("sentence", "This notice says what we collect and why we collect it.", top),
        ("heading", "What we collect", top),
        ("sentence", "We collect:", collect),
        ("item", "your name and postal address;", collect),
        (
            "item",
            "what you ordered. We keep a record of it so that returns work, and we never see "
            "your full card number.",
            collect,
        ),
        ("item", "nested: the last four digits only", collect),
        ("item", "First numbered item", collect),
        ("item", "Second numbered item", collect),
        ("heading", "Cookies", collect),
        ("sentence", "We set one cookie.", (*collect, "Cookies")),
        ("heading", "Sharing", top),
        ("sentence", "Carriers get your address.", (*top, "Sharing")),
        ("heading", "Appendix", ()),
        ("sentence", "Nothing else.", ("Appendix",)),
    ]
    assert [c.index for c in clauses] == list(range(len(clauses)))


def test_segment_accepts_a_string() -> None:
    assert segment("One. Two.") == segment(Document(name="x", text="One. Two."))


def test_setext_headings() -> None:
    text = "Terms of use\n============\n\nIntro.\n\nData we hold\n------------\nBody text.\n"
    clauses = segment(text)
    assert [(c.kind, c.text, c.section) for c in clauses] == [
        ("heading", "Terms of use", ()),
        ("sentence", "Intro.", ("Terms of use",)),
        ("heading", "Data we hold", ("Terms of use",)),
        ("sentence", "Body text.", ("Terms of use", "Data we hold")),
    ]


def test_heading_levels_may_skip() -> None:
    text = "# A\n\n### C\n\nx.\n\n## B\n\ny.\n"
    assert [c.section for c in segment(text)] == [(), ("A",), ("A", "C"), ("A",), ("A", "B")]


def test_atx_closing_hashes_and_permalinks_are_not_heading_text() -> None:
    text = "## Your rights ##\n\n## Retention [#](#retention)\n\n## Contact ¶\n\n## C#\n"
    assert [c.text for c in segment(text)] == ["Your rights", "Retention", "Contact", "C#"]


def test_wrapped_lines_are_joined_before_splitting() -> None:
    text = "We may share your\ndata with carriers. They\n   deliver orders.\n"
    assert view(segment(text)) == [
        ("sentence", "We may share your data with carriers."),
        ("sentence", "They deliver orders."),
    ]


def test_hard_breaks_join_too() -> None:
    text = "Acme Widgets Ltd.\\\n1 Example Street  \nExampletown\n"
    assert view(segment(text)) == [("sentence", "Acme Widgets Ltd. 1 Example Street Exampletown")]


def test_a_long_list_item_stays_one_clause() -> None:
    text = (
        "* We keep order records for six years. Tax law requires it. After that we delete\n"
        "  them. Backups expire within 30 days.\n"
        "\n"
        "  A second paragraph of the same item.\n"
        "* Next item.\n"
    )
    assert view(segment(text)) == [
        (
            "item",
            "We keep order records for six years. Tax law requires it. After that we delete them. "
            "Backups expire within 30 days. A second paragraph of the same item.",
        ),
        ("item", "Next item."),
    ]


def test_list_items_with_lazy_continuation_and_nesting() -> None:
    text = (
        "1.  **Collect:** names\n"
        "lazy continuation line\n"
        "    1.  nested numbered\n"
        "    2.  another\n"
        "2.  Back at the top\n"
        "- - doubly nested\n"
        "\n"
        "Paragraph after the list.\n"
    )
    assert view(segment(text)) == [
        ("item", "Collect: names lazy continuation line"),
        ("item", "nested numbered"),
        ("item", "another"),
        ("item", "Back at the top"),
        ("item", "doubly nested"),
        ("sentence", "Paragraph after the list."),
    ]


def test_a_number_at_the_start_of_a_wrapped_line_is_not_a_list() -> None:
    text = "Our records go back to\n2019. We delete older ones.\n"
    assert view(segment(text)) == [
        ("sentence", "Our records go back to 2019."),
        ("sentence", "We delete older ones."),
    ]


def test_tables_give_one_row_clause_per_row() -> None:
    text = (
        "| Data | Purpose |   |\n"
        "|:-----|--------:|---|\n"
        "| E-mail | Login \\| recovery | |\n"
        "|  | Delivery |  |\n"
        "|   |   |   |\n"
        "\n"
        "Retention | Period\n"
        "--- | ---\n"
        "Orders | 6 years\n"
    )
    assert view(segment(text)) == [
        ("row", "Data | Purpose"),
        ("row", "E-mail | Login | recovery"),
        ("row", "Delivery"),
        ("row", "Retention | Period"),
        ("row", "Orders | 6 years"),
    ]


def test_blockquotes_rules_comments_and_link_definitions() -> None:
    text = (
        "> **Important:** read this. It matters.\n"
        "> > Nested quote.\n"
        ">\n"
        "> Quoted heading\n"
        "> --------------\n"
        "\n"
        "***\n"
        "\n"
        "<!-- editor note: remove\n"
        "before publishing -->\n"
        "Visible text.\n"
        "\n"
        "[privacy]: https://acme.test/privacy\n"
        "\n"
        "- - -\n"
        "See the [policy][privacy].\n"
    )
    clauses = segment(text)
    assert view(clauses) == [
        ("sentence", "Important: read this."),
        ("sentence", "It matters."),
        ("sentence", "Nested quote."),
        ("heading", "Quoted heading"),
        ("sentence", "Visible text."),
        ("sentence", "See the policy."),
    ]
    assert clauses[-1].section == ("Quoted heading",)


def test_a_link_definition_ends_an_open_list_item() -> None:
    text = "- Item text.\n\n[terms]: https://acme.test/terms\nNext paragraph.\n"
    assert view(segment(text)) == [("item", "Item text."), ("sentence", "Next paragraph.")]


def test_fenced_code_is_one_clause() -> None:
    text = "Intro.\n\n```text\nGET /export. Then\n   wait.\n```\n\n~~~\nx\n~~~\nAfter.\n"
    assert view(segment(text)) == [
        ("sentence", "Intro."),
        ("sentence", "GET /export. Then wait."),
        ("sentence", "x"),
        ("sentence", "After."),
    ]


def test_markup_only_lines_make_no_clause() -> None:
    text = "<div class='policy'>\n\n![logo](logo.png)\n\n</div>\n\n===\n"
    assert segment(text) == ()


def test_crlf_input() -> None:
    assert view(segment("# Title\r\n\r\nOne.\r\nTwo.\r\n")) == [
        ("heading", "Title"),
        ("sentence", "One."),
        ("sentence", "Two."),
    ]


def test_presentation_only_edits_keep_every_key() -> None:
    """The editorial definition of CONTRACT.md, applied to a whole document."""
    old = (
        "# 1. Who we are\n\n"
        "We are *Acme Widgets Ltd.* We sell [widgets](https://acme.test/w?ref=1).\n\n"
        "## 2. Your rights\n\n"
        "1. You can ask for a copy -- free of charge.\n"
        '2. You can object to "direct marketing".\n\n'
        "| Data | Kept for |\n|---|---|\n| Orders | 6 years |\n"
    )
    new = (
        "Who we are\n==========\n\n"
        "We are **Acme  Widgets Ltd.**\nWe sell [widgets](https://acme.test/widgets).\n\n"
        "3\\. Your Rights ¶\n----------------\n\n"
        "- You can ask for a copy — free of charge\n"
        "- You can object to “direct marketing”.\n\n"
        "Data | Kept for\n:--|--:\nOrders   |   6 years\n"
    )
    old_clauses, new_clauses = segment(old), segment(new)
    assert [c.key for c in old_clauses] == [c.key for c in new_clauses]
    assert [c.kind for c in old_clauses] == [c.kind for c in new_clauses]
    assert [c.text for c in old_clauses] != [c.text for c in new_clauses]


def test_segment_is_fast_on_a_large_policy() -> None:
    block = (
        "## Section heading {n}\n\n"
        "We collect information when you use our services, e.g. your device model, the\n"
        "pages you visit and the [settings](https://acme.test/settings?x={n}) you choose. "
        "We keep it for 30 days. Acme Widgets Ltd. is the controller.\n\n"
        "* **Partners:** we share data with carriers, payment processors and our hosting\n"
        "  provider. They act on our instructions.\n"
        "* Authorities, when the law requires it.\n\n"
        "| Data | Kept for |\n| --- | --- |\n| Orders | 6 years |\n\n"
    )
    text = "".join(block.format(n=n) for n in range(700))
    assert len(text) > 290_000
    start = time.perf_counter()
    clauses = segment(text)
    elapsed = time.perf_counter() - start
    assert len(clauses) == 700 * 8
    assert elapsed < 1.0  # ~25 ms on the project machine; only a quadratic scan gets near this


# ---------------------------------------------------------------------------------------------
# split_sentences()

SENTENCES = [
    # abbreviations
    (
        "We collect identifiers, e.g. your e-mail address. We also collect logs, i.e. records.",
        [
            "We collect identifiers, e.g. your e-mail address.",
            "We also collect logs, i.e. records.",
        ],
    ),
    (
        "Acme Widgets Inc. and Widget Holdings Ltd. are joint controllers.",
        ["Acme Widgets Inc. and Widget Holdings Ltd. are joint controllers."],
    ),
    (
        "The controller is Acme Widgets Inc. We process data in the U.S. We rely on the E.U. "
        "Commission's decisions.",
        [
            "The controller is Acme Widgets Inc.",
            "We process data in the U.S.",
            "We rely on the E.U. Commission's decisions.",
        ],
    ),
    (
        "Our U.K. Representative is Mr. J. Smith of Example Co. Ltd. You may write to him.",
        ["Our U.K. Representative is Mr. J. Smith of Example Co. Ltd.", "You may write to him."],
    ),
    (
        "We share names, addresses, etc. with carriers. We share logs, images, etc. We do not "
        "share passwords.",
        [
            "We share names, addresses, etc. with carriers.",
            "We share logs, images, etc.",
            "We do not share passwords.",
        ],
    ),
    (
        "Contact Dr. Example at 1 Main St. Exampletown.",
        ["Contact Dr. Example at 1 Main St. Exampletown."],
    ),
    (
        "The policy changed on Jan. 5 and approx. 20 users objected. Acme vs. Widgets was cited.",
        [
            "The policy changed on Jan. 5 and approx. 20 users objected.",
            "Acme vs. Widgets was cited.",
        ],
    ),
    # numbered references
    (
        "See Section 4.2. Processing under Art. 6(1)(f) GDPR is lawful. See No. 3 and Sec. 7.",
        [
            "See Section 4.2.",
            "Processing under Art. 6(1)(f) GDPR is lawful.",
            "See No. 3 and Sec. 7.",
        ],
    ),
    (
        "Clause 1.2.3 applies. Article 6(1)(a) is our basis.",
        ["Clause 1.2.3 applies.", "Article 6(1)(a) is our basis."],
    ),
    (
        "We collect the following: 1. your name 2. your e-mail.",
        ["We collect the following: 1. your name 2. your e-mail."],
    ),
    ("1. Introduction to this policy", ["1. Introduction to this policy"]),
    # amounts, decimals, URLs, e-mail addresses
    (
        "Premium costs $4.99 per month. The fee rose by 2.5 percent. Visit acme.test/privacy. Or "
        "write to privacy@acme.test. Thanks.",
        [
            "Premium costs $4.99 per month.",
            "The fee rose by 2.5 percent.",
            "Visit acme.test/privacy.",
            "Or write to privacy@acme.test.",
            "Thanks.",
        ],
    ),
    (
        "Read https://acme.test/a.b?c=d.e for details. It is short.",
        ["Read https://acme.test/a.b?c=d.e for details.", "It is short."],
    ),
    # quotes and parentheses after the full stop
    (
        'We call these "cookies." They are small files. (Some are strictly necessary.) Others '
        "are not.",
        [
            'We call these "cookies."',
            "They are small files.",
            "(Some are strictly necessary.)",
            "Others are not.",
        ],
    ),
    (
        "Acme (“we”) decides. “Personal data” means any information.",
        ["Acme (“we”) decides.", "“Personal data” means any information."],
    ),
    # question marks, exclamation marks, ellipses, colons
    (
        "What do we collect? Only what we need! See below.",
        ["What do we collect?", "Only what we need!", "See below."],
    ),
    (
        "We may collect … and use it. We collect more... Then we stop.",
        ["We may collect … and use it.", "We collect more...", "Then we stop."],
    ),
    (
        "Why? because the law says so.",
        ["Why? because the law says so."],
    ),
    (
        "Note: We may share data. Here is the list of recipients:",
        ["Note: We may share data.", "Here is the list of recipients:"],
    ),
    # initials and a one-letter company
    (
        "Content on X. Learn more in the help centre.",
        ["Content on X.", "Learn more in the help centre."],
    ),
    ("Schedule A. Definitions apply throughout.", ["Schedule A. Definitions apply throughout."]),
    # white space
    ("  Spread\nover\n  lines.   Second\tone.  ", ["Spread over lines.", "Second one."]),
    ("", []),
]


@pytest.mark.parametrize(("text", "expected"), SENTENCES)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


# ---------------------------------------------------------------------------------------------
# readable()


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("We **never** sell *your* data", "We never sell your data"),
        ("__Bold__ and _em_ and ~~gone~~", "Bold and em and gone"),
        ("keep snake_case and file_name_v2", "keep snake_case and file_name_v2"),
        ("5 * 3 = 15", "5 * 3 = 15"),
        ("Run `opt_out --all` now", "Run opt_out --all now"),
        (
            r"Escaped \*stars\*, \[brackets\] and \_under\_",
            "Escaped *stars*, [brackets] and _under_",
        ),
        ('See [our policy](https://acme.test/p?a=1 "Title") now', "See our policy now"),
        ("[Meta \\[1\\]](#note-1) and [text [x] y](<a b>)", "Meta [1] and text [x] y"),
        ("Read [the terms][terms] and [more][]", "Read the terms and more"),
        ("Logo ![Acme logo](logo.png) here", "Logo here"),
        (r"See [our notice](#notice\), now", "See our notice, now"),
        ("[Manage your data", "Manage your data"),
        ("Privacy Centre](https://acme.test/centre)", "Privacy Centre"),
        ("**\nHow to ask for a review**", "How to ask for a review"),
        ("[![badge](b.svg)](https://acme.test)Text", "Text"),
        (
            "Mail <privacy@acme.test> or <https://acme.test/x>",
            "Mail privacy@acme.test or https://acme.test/x",
        ),
        ("Line<br>break and <span class='x'>span</span>", "Line break and span"),
        ("Ages 13 < 16 and 18 > 16", "Ages 13 < 16 and 18 > 16"),
        (r"A literal \<tag\> stays", "A literal <tag> stays"),
        ("AT&amp;T &copy; 2024&nbsp;Acme", "AT&T © 2024\xa0Acme".replace("\xa0", " ")),
        ("## Heading text ##", "Heading text"),
        ("Permalink here #", "Permalink here"),
        ("Permalink here ¶", "Permalink here"),
        ("We use C#", "We use C#"),
        ("“Curly” quotes — and dashes", "“Curly” quotes — and dashes"),
        ("  lots \n of\t space  ", "lots of space"),
        ("Text <!-- hidden note --> after", "Text after"),
    ],
)
def test_readable(markdown: str, expected: str) -> None:
    assert readable(markdown) == expected


# ---------------------------------------------------------------------------------------------
# normalise()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("We collect data", "We  collect\u00a0data"),
        ("We collect data", "We\u200b collect data"),
        ("We collect data.", "we collect data"),
        ("“Cookies” are files", '"cookies" are files'),
        ("the user’s data", "the user's data"),
        ("data — including logs", "data - including logs"),
        ("data–including logs", "data - including logs"),
        ("data -- including logs", "data — including logs"),
        ("a non‑breaking hyphen", "a non-breaking hyphen"),
        ("−5 degrees", "-5 degrees"),
        ("and so on…", "and so on..."),
        ("ﬁles in ｆｕｌｌ width", "files in full width"),
        ("1. We collect data", "We collect data"),
        ("(a) We collect data", "We collect data"),
        ("iv) We collect data", "We collect data"),
        ("4.2 Retention", "Retention"),
        ("• We collect data", "We collect data"),
        ("2. (b) We collect data", "We collect data"),
        ("We collect data:", "We collect data;"),
        ("data , including logs ( see below )", "data, including logs (see below)"),
        ("Orders | 6 years", "Orders 6 years"),
        ("ÉTÉ", "été"),
    ],
)
def test_normalise_equal(a: str, b: str) -> None:
    assert normalise(a) == normalise(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("We collect data", "We collect your data"),
        ("We do not sell data", "We do sell data"),
        ("We keep data for 30 days", "We keep data for 90 days"),
        ("Do we sell data?", "Do we sell data!"),
        ("third-party sharing", "third party sharing"),
        ("We collect data", "We collect date"),
        ("Civil claims", "Claims"),
        ("e.g. names", "names"),
        ("Section 4 applies", "Section 5 applies"),
        ("$4.99 per month", "$4.90 per month"),
    ],
)
def test_normalise_different(a: str, b: str) -> None:
    assert normalise(a) != normalise(b)


def test_keys_are_what_segment_stores() -> None:
    clause = segment("We **share** your “data”.")[0]
    assert clause.text == "We share your “data”."
    assert clause.key == normalise(clause.text) == 'we share your "data"'


# ---------------------------------------------------------------------------------------------
# robustness

MARKDOWN_BITS = st.sampled_from(
    [
        "# ",
        "## ",
        "- ",
        "* ",
        "1. ",
        "2) ",
        "> ",
        "| ",
        " | ",
        "---",
        "===",
        "```",
        "~~~",
        "<!--",
        "-->",
        "[",
        "](",
        ")",
        "![",
        "**",
        "_",
        "`",
        "\\",
        "\n",
        "\n\n",
        "    ",
        "\t",
        "Word",
        "e.g.",
        "Inc.",
        " We ",
        ". ",
        "? ",
        "“",
        "…",
        "\u00a0",
        "\u200b",
        "<br>",
        "&amp;",
        "¶",
        "#",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(MARKDOWN_BITS | st.text(max_size=5), max_size=60))
def test_segment_never_fails_and_keeps_its_invariants(parts: list[str]) -> None:
    clauses = segment("".join(parts))
    for index, clause in enumerate(clauses):
        assert clause.index == index
        assert clause.text == clause.text.strip()
        assert "\n" not in clause.text
        assert clause.key == normalise(clause.text)
        assert all(clause.section)


def test_a_footnote_reference_after_a_full_stop_ends_the_sentence() -> None:
    assert split_sentences("We post your order.[1] We use your email.") == [
        "We post your order.[1]",
        "We use your email.",
    ]
    # as the extractor writes a footnote link, in a clause's Markdown source
    assert split_sentences("We post it.[\\[12\\]](#fn12) Then we bill.") == [
        "We post it.[\\[12\\]](#fn12)",
        "Then we bill.",
    ]
    assert split_sentences("See Art. 6(1)(a) GDPR. Then [2] more.") == [
        "See Art. 6(1)(a) GDPR.",
        "Then [2] more.",
    ]


def test_footnote_numbers_are_presentation_in_the_key() -> None:
    """A note added above renumbers every later reference: the words did not change."""
    assert normalise("We keep logs for 30 days.[60]") == normalise("We keep logs for 30 days.[61]")
    assert normalise("[7] Required by the tax office.") == normalise(
        "[8] Required by the tax office."
    )
    assert normalise("We keep logs for 30 days.") == normalise("We keep logs for 30 days.[1]")
    assert normalise("We keep logs for 30 days.") != normalise("We keep logs for 60 days.")
