"""The test-suite's Atom checker must catch broken feeds, or its silence proves nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from atomcheck import check_feed

A = "{http://www.w3.org/2005/Atom}"
FH = "{http://purl.org/syndication/history/1.0}"

VALID = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>tag:example.org,2026:feed</id>
  <title>Changes</title>
  <updated>2026-01-02T03:04:05Z</updated>
  <author><name>Example</name></author>
  <link rel="self" type="application/atom+xml" href="https://example.org/feed.atom"/>
  <link rel="alternate" type="text/html" href="https://example.org/"/>
  <entry>
    <id>tag:example.org,2026:e2</id>
    <title>Second</title>
    <updated>2026-01-02T03:04:05Z</updated>
    <published>2026-01-02T03:04:05Z</published>
    <link rel="alternate" type="text/html" href="https://example.org/2"/>
    <summary>two</summary>
    <content type="html">&lt;p&gt;two&lt;/p&gt;</content>
    <category term="x"/>
  </entry>
  <entry>
    <id>tag:example.org,2026:e1</id>
    <title type="text">First</title>
    <updated>2026-01-01T00:00:00+01:00</updated>
    <content>one</content>
  </entry>
</feed>
"""

Mutation = Callable[[etree._Element], None]


def _entry(root: etree._Element, n: int = 0) -> etree._Element:
    return root.findall(f"{A}entry")[n]


def _remove(path: str) -> Mutation:
    def mutate(root: etree._Element) -> None:
        el = root.find(path)
        assert el is not None, path
        el.getparent().remove(el)

    return mutate


def _set_text(path: str, text: str) -> Mutation:
    def mutate(root: etree._Element) -> None:
        el = root.find(path)
        assert el is not None, path
        el.text = text

    return mutate


def _add(path: str, xml: str) -> Mutation:
    def mutate(root: etree._Element) -> None:
        parent = root if path == "." else root.find(path)
        assert parent is not None, path
        parent.append(etree.fromstring(f'<x xmlns="http://www.w3.org/2005/Atom">{xml}</x>')[0])

    return mutate


def _both(*mutations: Mutation) -> Mutation:
    def mutate(root: etree._Element) -> None:
        for m in mutations:
            m(root)

    return mutate


E = f"{A}entry"
BROKEN: dict[str, tuple[Mutation, str]] = {
    "feed without id": (_remove(f"{A}id"), "feed: needs exactly one atom:id, has 0"),
    "feed with two titles": (_add(".", "<title>x</title>"), "feed: needs exactly one atom:title"),
    "entry without updated": (
        _remove(f"{E}/{A}updated"),
        "entry 1: needs exactly one atom:updated",
    ),
    "relative id": (_set_text(f"{E}/{A}id", "e2"), "entry 1: id is not an absolute IRI"),
    "id with spaces": (
        _set_text(f"{A}id", " tag:a.org,2026:f "),
        "feed: id is not an absolute IRI",
    ),
    "date without zone": (_set_text(f"{A}updated", "2026-01-02T03:04:05"), "feed: updated is not"),
    "date with space": (_set_text(f"{E}/{A}published", "2026-01-02 03:04Z"), "entry 1: published"),
    "impossible date": (_set_text(f"{A}updated", "2026-02-30T03:04:05Z"), "feed: updated is not"),
    "no author anywhere": (_remove(f"{A}author"), "entry 1: no author, and the feed has none"),
    "author without name": (_remove(f"{A}author/{A}name"), "feed author: needs exactly one"),
    "duplicate entry id": (
        _set_text(f"{E}/{A}id", "tag:example.org,2026:e1"),
        "entry 2: id 'tag:example.org,2026:e1' already used by entry 1",
    ),
    "two alternates of one type": (
        _add(E, '<link rel="alternate" type="text/html" href="https://x/"/>'),
        "entry 1: more than one alternate link with type='text/html'",
    ),
    "two default alternates": (
        _both(_add(".", '<link href="https://x/1"/>'), _add(".", '<link href="https://x/2"/>')),
        "feed: more than one alternate link with type=None",
    ),
    "link without href": (_add(".", '<link rel="related"/>'), "feed: link without href"),
    "bad rel": (
        _add(".", '<link rel="Not A Rel" href="https://x/"/>'),
        "neither a registered name nor an IRI",
    ),
    "no self link": (_remove(f"{A}link[@rel='self']"), "feed: no self link"),
    "unknown atom element": (_add(".", "<subtitel>x</subtitel>"), "feed: atom:subtitel is not"),
    "text title with markup": (
        _add(f"{E}/{A}title", "<b>x</b>"),
        "entry 1 title: type='text' must not contain child elements",
    ),
    "category without term": (_add(E, "<category/>"), "entry 1: category without term"),
    "same updated twice": (
        _set_text(f"{E}[2]/{A}updated", "2026-01-02T03:04:05Z"),
        "entry 2: updated 2026-01-02T03:04:05Z equals entry 1's",
    ),
    "published after updated": (
        _set_text(f"{E}/{A}published", "2026-05-01T00:00:00Z"),
        "entry 1: published is after updated",
    ),
    "two summaries": (_add(E, "<summary>x</summary>"), "entry 1: more than one atom:summary"),
}


def _mutated(mutation: Mutation) -> bytes:
    root = etree.fromstring(VALID)
    mutation(root)
    data: bytes = etree.tostring(root)
    return data


def test_the_valid_feed_is_valid() -> None:
    assert check_feed(VALID) == []


@pytest.mark.parametrize("name", list(BROKEN))
def test_each_broken_feed_is_caught(name: str) -> None:
    mutation, message = BROKEN[name]
    problems = check_feed(_mutated(mutation))
    assert any(message in p for p in problems), problems


def test_an_entry_without_content_needs_an_alternate_link() -> None:
    root = etree.fromstring(VALID)
    entry = _entry(root, 0)
    for tag in ("content", "link"):
        el = entry.find(f"{A}{tag}")
        assert el is not None
        entry.remove(el)
    assert "entry 1: no content, so it needs an alternate link" in check_feed(etree.tostring(root))


def test_content_rules() -> None:
    root = etree.fromstring(VALID)
    content = _entry(root, 1).find(f"{A}content")
    assert content is not None
    content.set("src", "https://example.org/1.pdf")
    problems = check_feed(etree.tostring(root))
    assert "entry 2 content: content with src must be empty" in problems
    assert "entry 2 content: content with src must have a MIME type, not 'text'" in problems
    assert "entry 2: content is not inline text, so it needs a summary" in problems

    content.text = None
    content.set("type", "application/pdf")
    problems = check_feed(etree.tostring(root))
    assert problems == ["entry 2: content is not inline text, so it needs a summary"]

    del content.attrib["src"]
    content.text = "JVBERi0="  # Base64 content also needs a summary
    assert check_feed(etree.tostring(root)) == [
        "entry 2: content is not inline text, so it needs a summary"
    ]
    content.set("type", "application/xhtml+xml")  # XML content does not
    content.text = None
    content.append(etree.Element("{http://www.w3.org/1999/xhtml}div"))
    assert check_feed(etree.tostring(root)) == []
    content.set("type", "xhtml")
    content.append(etree.Element("{http://www.w3.org/1999/xhtml}div"))
    assert check_feed(etree.tostring(root)) == [
        "entry 2 content: type='xhtml' must contain exactly one xhtml:div"
    ]


def test_rfc5005_rules() -> None:
    root = etree.fromstring(VALID)
    root.insert(0, etree.Element(f"{FH}archive"))
    assert "feed: archive document without a current link" in check_feed(etree.tostring(root))
    root = etree.fromstring(VALID)
    root.insert(0, etree.Element(f"{FH}complete"))
    link = etree.SubElement(root, f"{A}link", rel="prev-archive", href="https://example.org/p1")
    assert link is not None
    assert "feed: a complete feed must not be archived or link archives" in check_feed(
        etree.tostring(root)
    )


def test_not_atom_at_all() -> None:
    assert check_feed(b"<rss version='2.0'/>") == ["root element is 'rss', not atom:feed"]
    assert check_feed(b"<feed")[0].startswith("not well-formed XML")


def test_strict_off_keeps_only_the_musts() -> None:
    data = _mutated(_remove(f"{A}link[@rel='self']"))
    assert check_feed(data, strict=False) == []
