"""Atom feeds: valid RFC 4287, byte-stable, paged per RFC 5005, inert against hostile text."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import feedparser
import lxml.html  # type: ignore[import-untyped, unused-ignore]
import pytest
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from atomcheck import check_feed
from policywatch.config import SiteConfig
from policywatch.errors import ConfigError, InputError
from policywatch.feeds import (
    MAX_LISTED,
    FeedChange,
    FeedEntry,
    SiteInfo,
    archive_page_count,
    build_feed,
    entry_id,
    feed_etag,
    publishable,
    write_feeds,
)
from policywatch.models import Change, Clause, Diff, DiffStats, Revision, Side

ATOM = "{http://www.w3.org/2005/Atom}"
FH = "{http://purl.org/syndication/history/1.0}"
SITE = SiteInfo(name="Example Co.", base_url="https://example.com/")
T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)

HOSTILE = (
    'We share <script>alert("x")</script> data with <img src=x onerror="alert(1)"> partners, '
    '<a href="javascript:alert(2)">see here</a> ]]> &amp; <iframe src="javascript:alert(3)">'
    "\x00\x1b</iframe>"
)


def entry(
    n: int,
    *,
    policy: str = "privacy",
    previous: str | None = "auto",
    kind: str = "change",
    material: bool = False,
    date: datetime | None = None,
    restores: str | None = None,
    changes: tuple[FeedChange, ...] = (),
    categories: tuple[str, ...] = (),
    effective: str | None = None,
) -> FeedEntry:
    prev = (f"r{n - 1:03d}" if n > 0 else None) if previous == "auto" else previous
    return FeedEntry(
        policy=policy,
        policy_title="Privacy policy" if policy == "privacy" else policy.title(),
        revision=f"r{n:03d}" if policy == "privacy" else f"{policy}{n:03d}",
        previous=prev,
        date=date or T0 + timedelta(days=n),
        kind="first" if prev is None and kind == "change" else kind,  # type: ignore[arg-type]
        material=material,
        summary=f"{n} modified",
        categories=categories,
        changes=changes,
        effective=effective,
        restores=restores,
    )


def history(count: int) -> list[FeedEntry]:
    return [entry(n) for n in range(count)]


def parse(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def ids(data: bytes) -> list[str]:
    return [e.findtext(f"{ATOM}id") or "" for e in parse(data).iter(f"{ATOM}entry")]


def links(el: etree._Element) -> dict[str, str]:
    return {link.get("rel", ""): link.get("href", "") for link in el.findall(f"{ATOM}link")}


SHARING = FeedChange(
    kind="modified",
    old_text="We share data with service providers.",
    new_text="We share data with service providers and advertising partners.",
    section=("How we share", "Partners"),
    categories=("third-party-sharing",),
    reasons=("adds recipient: advertising partners",),
    material=True,
)


# -- validity -----------------------------------------------------------------------------------


def test_every_kind_of_document_passes_the_checker() -> None:
    entries = [
        *history(7),
        entry(7, material=True, changes=(SHARING,), categories=("third-party-sharing",)),
        entry(0, policy="terms"),
    ]
    docs = {
        "all": build_feed(SITE, entries, page_size=3),
        "archive": build_feed(SITE, entries, page_size=3, page=1),
        "policy": build_feed(SITE, entries, policy=("privacy", "Privacy policy")),
        "complete": build_feed(SITE, entries, policy=("terms", "Terms"), page_size=None),
        "empty": build_feed(SITE, [], policy=("cookies", "Cookies")),
    }
    for name, data in docs.items():
        assert check_feed(data) == [], name


def test_feed_has_the_required_parts() -> None:
    data = build_feed(SITE, [entry(0), entry(1, material=True, changes=(SHARING,))])
    root = parse(data)
    assert data.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<feed ')
    assert root.findtext(f"{ATOM}id") == "tag:policywatch,2026:example-co:feed/all"
    assert root.findtext(f"{ATOM}author/{ATOM}name") == "Example Co."
    assert root.findtext(f"{ATOM}generator") == "policywatch"
    assert root.find(f"{ATOM}generator").get("version") is None
    assert links(root)["self"] == "https://example.com/feeds/all.atom"
    assert links(root)["alternate"] == "https://example.com/"
    newest = root.find(f"{ATOM}entry")
    assert newest is not None
    assert newest.findtext(f"{ATOM}id") == "tag:policywatch,2026:example-co/privacy/r001"
    assert newest.findtext(f"{ATOM}updated") == "2026-01-06T09:30:00Z"
    assert newest.findtext(f"{ATOM}published") == "2026-01-06T09:30:00Z"
    link = newest.find(f"{ATOM}link")
    assert link is not None
    assert link.attrib == {
        "href": "https://example.com/policies/privacy/diff?from=r000&to=r001",
        "rel": "alternate",
        "type": "text/html",
    }
    first = root.findall(f"{ATOM}entry")[1]
    assert links(first)["alternate"] == "https://example.com/policies/privacy/revisions/r000"


def test_feed_updated_is_the_newest_entry_never_the_clock() -> None:
    old = [entry(0, date=datetime(2019, 3, 1, 12, 0, tzinfo=UTC))]
    root = parse(build_feed(SITE, old))
    assert root.findtext(f"{ATOM}updated") == "2019-03-01T12:00:00Z"
    empty = parse(build_feed(SITE, []))
    assert empty.findtext(f"{ATOM}updated") == "1970-01-01T00:00:00Z"


def test_dates_in_other_zones_are_written_in_utc() -> None:
    paris = timezone(timedelta(hours=2))
    root = parse(build_feed(SITE, [entry(0, date=datetime(2026, 6, 1, 11, 0, tzinfo=paris))]))
    assert root.findtext(f"{ATOM}entry/{ATOM}updated") == "2026-06-01T09:00:00Z"


def test_same_input_gives_the_same_bytes_and_a_new_entry_new_ones() -> None:
    entries = history(5)
    one = build_feed(SITE, entries)
    two = build_feed(SITE, list(reversed(entries)))  # input order does not matter either
    assert one == two
    assert feed_etag(one) == feed_etag(two)
    three = build_feed(SITE, [*entries, entry(5)])
    assert three != one
    assert feed_etag(three) != feed_etag(one)
    assert feed_etag(one).startswith('"') and feed_etag(one).endswith('"')


def test_ids_do_not_depend_on_the_host_but_links_do() -> None:
    moved = SiteInfo(name="Example Co.", base_url="http://10.0.0.7:8080/pw")
    a, b = build_feed(SITE, history(3)), build_feed(moved, history(3))
    assert ids(a) == ids(b)
    assert parse(a).findtext(f"{ATOM}id") == parse(b).findtext(f"{ATOM}id")
    assert links(parse(b))["self"] == "http://10.0.0.7:8080/pw/feeds/all.atom"


def test_an_explicit_slug_survives_a_rename() -> None:
    before = SiteInfo(name="Example Co.", base_url="https://example.com", slug="example")
    after = SiteInfo(name="Example Holdings", base_url="https://example.com", slug="example")
    assert ids(build_feed(before, history(2))) == ids(build_feed(after, history(2)))
    assert entry_id(before, "privacy", "r1") == "tag:policywatch,2026:example/privacy/r1"


def test_site_config_is_accepted() -> None:
    data = build_feed(SiteConfig(name="Ümlaut GmbH", base_url="http://localhost:8080"), history(1))
    assert ids(data) == ["tag:policywatch,2026:umlaut-gmbh/privacy/r000"]
    assert check_feed(data) == []


def test_categories_summary_and_content() -> None:
    e = entry(
        1,
        material=True,
        categories=("third-party-sharing", "data-retention"),
        changes=(SHARING,),
        effective="1 March 2026",
    )
    node = parse(build_feed(SITE, [entry(0), e])).find(f"{ATOM}entry")
    assert node is not None
    cats = [(c.get("scheme"), c.get("term")) for c in node.findall(f"{ATOM}category")]
    assert cats == [
        ("tag:policywatch,2026:category", "third-party-sharing"),
        ("tag:policywatch,2026:category", "data-retention"),
        ("tag:policywatch,2026:change", "material"),
    ]
    summary = node.find(f"{ATOM}summary")
    assert summary is not None and summary.get("type") == "text"
    assert summary.text == "1 modified. Takes effect: 1 March 2026"
    content = node.find(f"{ATOM}content")
    assert content is not None and content.get("type") == "html"
    page = lxml.html.fragment_fromstring(content.text or "", create_parent="div")
    text = page.text_content()
    assert "advertising partners" in text
    assert "How we share › Partners" in text
    assert "adds recipient: advertising partners" in text
    assert "Takes effect: 1 March 2026" in text
    assert [a.get("href") for a in page.iter("a")] == [
        "https://example.com/policies/privacy/diff?from=r000&to=r001"
    ]


@pytest.mark.parametrize(
    ("kind", "material", "term"),
    [("change", False, "change"), ("editorial", False, "editorial"), ("change", True, "material")],
)
def test_one_category_says_what_kind_of_change(kind: str, material: bool, term: str) -> None:
    node = parse(build_feed(SITE, [entry(0), entry(1, kind=kind, material=material)]))
    first = node.find(f"{ATOM}entry")
    assert first is not None
    kinds = [
        c.get("term")
        for c in first.findall(f"{ATOM}category")
        if c.get("scheme") == "tag:policywatch,2026:change"
    ]
    assert kinds == [term]


def test_long_change_lists_are_cut_with_a_count() -> None:
    many = tuple(
        FeedChange(kind="added", old_text=None, new_text=f"Clause {i}.") for i in range(45)
    )
    node = parse(build_feed(SITE, [entry(0), entry(1, changes=many)])).find(f"{ATOM}entry")
    assert node is not None
    html = node.findtext(f"{ATOM}content") or ""
    assert f"Clause {MAX_LISTED - 1}." in html and f"Clause {MAX_LISTED}." not in html
    assert f"and {45 - MAX_LISTED} more changes" in html


# -- feedparser ---------------------------------------------------------------------------------


def test_feedparser_reads_entries_links_and_categories() -> None:
    entries = [entry(0), entry(1, material=True, categories=("user-choice",), changes=(SHARING,))]
    parsed = feedparser.parse(build_feed(SITE, entries))
    assert parsed.bozo is False, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "Example Co.: policy changes"
    assert [e.id for e in parsed.entries] == [
        "tag:policywatch,2026:example-co/privacy/r001",
        "tag:policywatch,2026:example-co/privacy/r000",
    ]
    newest = parsed.entries[0]
    assert newest.link == "https://example.com/policies/privacy/diff?from=r000&to=r001"
    assert [(lk.rel, lk.type) for lk in newest.links] == [("alternate", "text/html")]
    assert [(t.term, t.scheme) for t in newest.tags] == [
        ("user-choice", "tag:policywatch,2026:category"),
        ("material", "tag:policywatch,2026:change"),
    ]
    assert newest.content[0].type == "text/html"
    assert parsed.feed.author == "Example Co."


# -- hostile text -------------------------------------------------------------------------------


def test_hostile_policy_text_stays_inert() -> None:
    bad = FeedChange(
        kind="modified",
        old_text=HOSTILE,
        new_text=HOSTILE + " more",
        section=("<b onmouseover=alert(4)>Head</b>",),
        reasons=('adds recipient: <svg onload="alert(5)">',),
        material=True,
    )
    e = FeedEntry(
        policy="privacy",
        policy_title='Privacy <script>alert("t")</script>',
        revision="r001",
        previous="r000",
        date=T0,
        kind="change",
        material=True,
        summary="1 modified; material: <img src=x onerror=alert(6)>",
        changes=(bad,),
        effective="<script>alert(7)</script>",
    )
    hostile_site = SiteInfo(name="Evil <script>alert(8)</script> & Co", base_url="https://e.com")
    data = build_feed(hostile_site, [e])
    assert check_feed(data) == []
    parsed = feedparser.parse(data)
    assert parsed.bozo is False
    node = parse(data).find(f"{ATOM}entry")
    assert node is not None
    page = lxml.html.fragment_fromstring(node.findtext(f"{ATOM}content") or "", create_parent="div")
    tags = {el.tag for el in page.iter() if isinstance(el.tag, str)}
    assert not tags & {"script", "img", "iframe", "svg", "b"}
    for el in page.iter():
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), (el.tag, name)
            assert "javascript:" not in value.lower(), (el.tag, name, value)
    # the words are still there, as text the reader can see
    assert '<script>alert("x")</script>' in page.text_content()
    assert "onerror=" in page.text_content()
    assert "\x00" not in page.text_content() and "\ufffd" in page.text_content()
    # text constructs are plain text, never markup
    assert node.find(f"{ATOM}title").get("type") in (None, "text")
    assert node.findtext(f"{ATOM}title", "").startswith("Privacy <script>")


# -- which revisions appear ---------------------------------------------------------------------


def test_technical_revisions_never_appear() -> None:
    entries = [entry(0), entry(1, kind="technical"), entry(2)]
    assert [e.revision for e in publishable(entries)] == ["r000", "r002"]
    assert ids(build_feed(SITE, entries)) == [
        "tag:policywatch,2026:example-co/privacy/r002",
        "tag:policywatch,2026:example-co/privacy/r000",
    ]


def test_a_flip_flop_is_announced_once() -> None:
    # A, B, A, B, A, B: an A/B page variant
    entries = [entry(0)]
    for n in range(1, 6):
        entries.append(entry(n, restores=f"r{n - 2:03d}" if n >= 2 else None))
    shown = [e.revision for e in publishable(entries)]
    assert shown == ["r000", "r001", "r002"]  # A; A -> B; B -> A; then nothing new


def test_a_revert_is_announced() -> None:
    entries = [entry(0), entry(1, material=True), entry(2, restores="r000"), entry(3)]
    assert [e.revision for e in publishable(entries)] == ["r000", "r001", "r002", "r003"]
    node = parse(build_feed(SITE, entries[:3])).find(f"{ATOM}entry")
    assert node is not None
    assert "again that of revision r000" in (node.findtext(f"{ATOM}content") or "")


def test_announcing_a_restore_does_not_depend_on_other_policies() -> None:
    entries = [
        entry(0),
        entry(1),
        entry(2, restores="r000"),
        entry(0, policy="terms"),
        entry(1, policy="terms", previous="terms000"),
        entry(2, policy="terms", previous="terms001", restores="terms000"),
    ]
    assert len(publishable(entries)) == 6


def test_entries_recorded_in_the_same_second_get_distinct_updated() -> None:
    same = [
        entry(0, date=T0),
        entry(0, policy="terms", date=T0),
        entry(0, policy="cookies", date=T0),
    ]
    root = parse(build_feed(SITE, same))
    updated = [e.findtext(f"{ATOM}updated") for e in root.iter(f"{ATOM}entry")]
    published = {e.findtext(f"{ATOM}published") for e in root.iter(f"{ATOM}entry")}
    assert len(set(updated)) == 3
    assert published == {"2026-01-05T09:30:00Z"}
    assert check_feed(build_feed(SITE, same)) == []
    # the nudge is the same in the policy's own feed
    terms = parse(build_feed(SITE, same, policy=("terms", "Terms")))
    assert terms.findtext(f"{ATOM}entry/{ATOM}updated") in updated


# -- paging ---------------------------------------------------------------------------------------


def test_current_document_holds_the_newest_page_and_links_the_archive() -> None:
    entries = history(120)
    assert archive_page_count(120, 50) == 2
    current = parse(build_feed(SITE, entries, page_size=50))
    assert len(current.findall(f"{ATOM}entry")) == 50
    assert ids(build_feed(SITE, entries, page_size=50))[0].endswith("/r119")
    assert links(current)["prev-archive"] == "https://example.com/feeds/all-page-2.atom"
    assert current.find(f"{FH}archive") is None
    assert "next-archive" not in links(current)


def test_archive_pages_are_fixed_blocks_from_the_oldest() -> None:
    entries = history(120)
    page1 = build_feed(SITE, entries, page_size=50, page=1)
    page2 = build_feed(SITE, entries, page_size=50, page=2)
    root1, root2 = parse(page1), parse(page2)
    assert root1.find(f"{FH}archive") is not None
    assert ids(page1)[0].endswith("/r049") and ids(page1)[-1].endswith("/r000")
    assert ids(page2)[0].endswith("/r099") and ids(page2)[-1].endswith("/r050")
    assert links(root1) == {
        "self": "https://example.com/feeds/all-page-1.atom",
        "alternate": "https://example.com/",
        "current": "https://example.com/feeds/all.atom",
        "next-archive": "https://example.com/feeds/all-page-2.atom",
    }
    assert links(root2)["prev-archive"] == "https://example.com/feeds/all-page-1.atom"
    assert "next-archive" not in links(root2)
    assert root1.findtext(f"{ATOM}updated") == root1.findtext(f"{ATOM}entry/{ATOM}updated")
    assert check_feed(page1) == [] and check_feed(page2) == []
    with pytest.raises(InputError, match="no archive page 3"):
        build_feed(SITE, entries, page_size=50, page=3)

    # walking prev-archive from the current document finds every entry
    seen = set(ids(build_feed(SITE, entries, page_size=50))) | set(ids(page2)) | set(ids(page1))
    assert len(seen) == 120

    # a full page keeps its entries and bytes as history grows
    grown = history(160)
    assert build_feed(SITE, grown, page_size=50, page=1) == page1
    regrown2 = build_feed(SITE, grown, page_size=50, page=2)
    assert ids(regrown2) == ids(page2)
    assert links(parse(regrown2))["next-archive"] == "https://example.com/feeds/all-page-3.atom"


def test_a_short_history_has_no_archive() -> None:
    root = parse(build_feed(SITE, history(50), page_size=50))
    assert "prev-archive" not in links(root)
    with pytest.raises(InputError):
        build_feed(SITE, history(50), page_size=50, page=1)


def test_a_complete_policy_feed_holds_everything() -> None:
    data = build_feed(SITE, history(80), policy=("privacy", "Privacy policy"), page_size=None)
    root = parse(data)
    assert root.find(f"{FH}complete") is not None
    assert len(root.findall(f"{ATOM}entry")) == 80
    assert not {"prev-archive", "next-archive"} & set(links(root))
    assert root.findtext(f"{ATOM}title") == "Example Co.: Privacy policy"
    assert links(root)["self"] == "https://example.com/feeds/privacy.atom"
    assert links(root)["alternate"] == "https://example.com/policies/privacy"


# -- bad input -------------------------------------------------------------------------------------


def test_bad_input_is_refused_with_a_clear_error() -> None:
    with pytest.raises(InputError, match="no time zone"):
        entry(0, date=datetime(2026, 1, 1))
    with pytest.raises(InputError, match="unknown categories 'adtech'"):
        entry(0, categories=("adtech",))
    with pytest.raises(InputError, match="given twice"):
        build_feed(SITE, [entry(0), entry(0)])
    with pytest.raises(InputError, match="page_size"):
        build_feed(SITE, history(3), page_size=0)
    with pytest.raises(ConfigError, match=r"site\.base_url"):
        build_feed(SiteInfo(name="x", base_url="javascript:alert(1)"), history(1))


# -- files --------------------------------------------------------------------------------------


def test_write_feeds_writes_atomically_and_leaves_unchanged_files_alone(tmp_path: Path) -> None:
    feeds = tmp_path / "feeds"
    policies = [("privacy", "Privacy policy"), ("terms", "Terms")]
    entries = [*history(4), entry(0, policy="terms")]
    written = write_feeds(feeds, SITE, policies, entries, page_size=3)
    names = sorted(p.name for p in written)
    assert names == ["all-page-1.atom", "all.atom", "privacy.atom", "terms.atom"]
    for path in written:
        assert check_feed(path.read_bytes()) == [], path.name
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert (feeds / "all.atom").read_bytes() == build_feed(SITE, entries, page_size=3)

    past = 1_600_000_000
    for path in written:
        os.utime(path, (past, past))
    assert write_feeds(feeds, SITE, policies, entries, page_size=3) == []
    assert all(p.stat().st_mtime == past for p in written)

    written = write_feeds(
        feeds,
        SITE,
        policies,
        [*entries, entry(1, policy="terms", previous="terms000")],
        page_size=3,
    )
    # page 1 gains its next-archive link, once; its entries stay the same
    assert sorted(p.name for p in written) == [
        "all-page-1.atom",
        "all-page-2.atom",
        "all.atom",
        "terms.atom",
    ]
    assert (feeds / "privacy.atom").stat().st_mtime == past
    assert sorted(p.name for p in feeds.iterdir()) == [
        "all-page-1.atom",
        "all-page-2.atom",
        "all.atom",
        "privacy.atom",
        "terms.atom",
    ]

    # a larger page size removes the pages that no longer exist
    write_feeds(feeds, SITE, policies, entries, page_size=50)
    assert sorted(p.name for p in feeds.iterdir()) == ["all.atom", "privacy.atom", "terms.atom"]


def test_write_feeds_pages_policy_feeds_or_writes_them_whole(tmp_path: Path) -> None:
    paged = write_feeds(
        tmp_path / "paged",
        SITE,
        [("privacy", "Privacy")],
        history(7),
        page_size=3,
        policy_page_size=3,
    )
    assert sorted(p.name for p in paged) == [
        "all-page-1.atom",
        "all-page-2.atom",
        "all.atom",
        "privacy-page-1.atom",
        "privacy-page-2.atom",
        "privacy.atom",
    ]
    for path in paged:
        assert check_feed(path.read_bytes()) == [], path.name
    whole = write_feeds(
        tmp_path / "whole",
        SITE,
        [("privacy", "Privacy")],
        history(7),
        page_size=3,
        policy_page_size=None,
    )
    assert sorted(p.name for p in whole) == [
        "all-page-1.atom",
        "all-page-2.atom",
        "all.atom",
        "privacy.atom",
    ]
    assert (
        len(parse((tmp_path / "whole" / "privacy.atom").read_bytes()).findall(f"{ATOM}entry")) == 7
    )


def test_write_feeds_accepts_policy_configs_and_refuses_clashing_ids(tmp_path: Path) -> None:
    from policywatch.config import PolicyConfig

    policy = PolicyConfig(id="privacy", title="Privacy policy", source="p.md")
    assert [p.name for p in write_feeds(tmp_path, SITE, [policy], history(2))] == [
        "all.atom",
        "privacy.atom",
    ]
    for bad in ("all", "privacy-page-2"):
        with pytest.raises(ConfigError, match=r"policy\.id"):
            write_feeds(tmp_path, SITE, [(bad, "x")], [])


def test_write_feeds_reports_an_unwritable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "feeds"
    blocker.write_text("a file, not a directory")
    with pytest.raises(ConfigError, match=r"feeds\.dir"):
        write_feeds(blocker, SITE, [("privacy", "Privacy policy")], history(1))


# -- from the archive's own values ---------------------------------------------------------------


def test_entry_from_revision_and_diff() -> None:
    old = Clause(
        index=0,
        kind="sentence",
        text="We keep data 30 days.",
        section=("Retention",),
        key="we keep data 30 days",
    )
    new = Clause(
        index=0,
        kind="sentence",
        text="We keep data 2 years.",
        section=("Retention",),
        key="we keep data 2 years",
    )
    tidy = Clause(index=1, kind="sentence", text="Contact us.", section=(), key="contact us")
    diff = Diff(
        old=Side(name="previous"),
        new=Side(name="new"),
        changes=(
            Change(
                kind="modified",
                old=old,
                new=new,
                categories=("data-retention",),
                material=True,
                reasons=("longer retention",),
            ),
            Change(kind="editorial", old=tidy, new=tidy),
        ),
        stats=DiffStats(modified=1, editorial=1),
        material=True,
    )
    rev = Revision(
        policy="privacy",
        id="abc123",
        date=T0,
        kind="change",
        material=True,
        summary="1 modified; material: longer retention",
        categories=("data-retention",),
    )
    e = FeedEntry.from_revision(rev, title="Privacy policy", previous="abc000", diff=diff)
    assert e.changes == (
        FeedChange(
            kind="modified",
            old_text="We keep data 30 days.",
            new_text="We keep data 2 years.",
            section=("Retention",),
            categories=("data-retention",),
            reasons=("longer retention",),
            material=True,
        ),
    )
    assert check_feed(build_feed(SITE, [e])) == []
