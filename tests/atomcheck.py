"""An RFC 4287 (Atom) checker for tests, with the RFC 5005 rules our paging relies on.

feedparser's ``bozo`` flag only catches XML that does not parse; a feed that breaks Atom's own
rules (no id, two alternates of one type, a date without a zone...) parses fine and is then shown
wrongly or dropped by stricter readers. :func:`check_feed` returns every problem it finds as a
readable line, so a test can ``assert check_feed(data) == []`` and show them all on failure.

``strict`` adds what the RFCs only recommend and validators warn about: a ``self`` link, distinct
entry ``updated`` values, ``published`` not after ``updated``, ``current`` links in archives.
"""

from __future__ import annotations

import re
from datetime import datetime

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

ATOM = "http://www.w3.org/2005/Atom"
XHTML = "http://www.w3.org/1999/xhtml"
FH = "http://purl.org/syndication/history/1.0"
A = f"{{{ATOM}}}"

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+$")
_REL_TOKEN = re.compile(r"^[a-z][a-z0-9.-]*$")
_MIME = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(\s*;.*)?$")

_FEED_CHILDREN = {
    "author", "category", "contributor", "generator", "icon", "id", "link", "logo", "rights",
    "subtitle", "title", "updated", "entry",
}  # fmt: skip
_ENTRY_CHILDREN = {
    "author", "category", "content", "contributor", "id", "link", "published", "rights",
    "source", "summary", "title", "updated",
}  # fmt: skip
_TEXT_CONSTRUCTS = {"title", "subtitle", "summary", "rights"}


def _local(el: etree._Element) -> str:
    name: str = etree.QName(el).localname
    return name


def _parse_date(text: str | None) -> datetime | None:
    m = _DATE.match(text or "")
    if not m:
        return None
    value = (text or "").replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _check_text_construct(el: etree._Element, where: str, problems: list[str]) -> None:
    kind = el.get("type", "text")
    children = [c for c in el if isinstance(c.tag, str)]
    if kind not in ("text", "html", "xhtml"):
        problems.append(f"{where}: type must be text, html or xhtml, got {kind!r}")
    elif kind in ("text", "html") and children:
        problems.append(f"{where}: type={kind!r} must not contain child elements")
    elif kind == "xhtml" and (len(children) != 1 or children[0].tag != f"{{{XHTML}}}div"):
        problems.append(f"{where}: type='xhtml' must contain exactly one xhtml:div")


def _check_content(el: etree._Element, where: str, problems: list[str]) -> bool:
    """Check atom:content; returns whether RFC 4287 4.1.1.3 then requires an atom:summary."""
    kind = el.get("type", "text")
    src = el.get("src")
    children = [c for c in el if isinstance(c.tag, str)]
    if kind not in ("text", "html", "xhtml") and not _MIME.match(kind):
        problems.append(f"{where}: type must be text, html, xhtml or a MIME type, got {kind!r}")
    if src is not None:
        if not src.strip():
            problems.append(f"{where}: empty src")
        if (el.text or "").strip() or children:
            problems.append(f"{where}: content with src must be empty")
        if kind in ("text", "html", "xhtml"):
            problems.append(f"{where}: content with src must have a MIME type, not {kind!r}")
        return True
    if kind in ("text", "html") and children:
        problems.append(f"{where}: type={kind!r} must not contain child elements")
    if kind == "xhtml" and (len(children) != 1 or children[0].tag != f"{{{XHTML}}}div"):
        problems.append(f"{where}: type='xhtml' must contain exactly one xhtml:div")
    if kind in ("text", "html", "xhtml"):
        return False
    base = kind.split(";")[0].strip().lower()
    is_xml = base.endswith("/xml") or base.endswith("+xml")
    # anything that is neither XML nor text/* is Base64 and needs a summary
    return not is_xml and not base.startswith("text/")


def _check_person(el: etree._Element, where: str, problems: list[str]) -> None:
    names = el.findall(f"{A}name")
    if len(names) != 1 or not (names[0].text or "").strip():
        problems.append(f"{where}: needs exactly one non-empty name")
    for tag in ("uri", "email"):
        found = el.findall(f"{A}{tag}")
        if len(found) > 1:
            problems.append(f"{where}: more than one {tag}")
    uri = el.findtext(f"{A}uri")
    if uri is not None and not _IRI.match(uri.strip()):
        problems.append(f"{where}: uri is not an IRI: {uri!r}")
    email = el.findtext(f"{A}email")
    if email is not None and "@" not in email:
        problems.append(f"{where}: email is not an address: {email!r}")


def _check_links(parent: etree._Element, where: str, problems: list[str]) -> dict[str, int]:
    """Check links; returns how many links of each rel there are."""
    alternates: set[tuple[str | None, str | None]] = set()
    rels: dict[str, int] = {}
    for link in parent.findall(f"{A}link"):
        href = link.get("href")
        rel = link.get("rel", "alternate")
        rels[rel] = rels.get(rel, 0) + 1
        if not href or not href.strip():
            problems.append(f"{where}: link without href")
        if not (_REL_TOKEN.match(rel) or _IRI.match(rel)):
            problems.append(f"{where}: link rel is neither a registered name nor an IRI: {rel!r}")
        kind = link.get("type")
        if kind is not None and not _MIME.match(kind):
            problems.append(f"{where}: link type is not a MIME type: {kind!r}")
        if rel == "alternate":
            key = (kind, link.get("hreflang"))
            if key in alternates:
                problems.append(
                    f"{where}: more than one alternate link with type={key[0]!r} "
                    f"hreflang={key[1]!r}"
                )
            alternates.add(key)
    return rels


def _check_common(
    el: etree._Element, where: str, allowed: set[str], problems: list[str]
) -> dict[str, list[etree._Element]]:
    by_name: dict[str, list[etree._Element]] = {}
    for child in el:
        if not isinstance(child.tag, str):
            continue
        if etree.QName(child).namespace == ATOM:
            name = _local(child)
            if name not in allowed:
                problems.append(f"{where}: atom:{name} is not allowed here")
            by_name.setdefault(name, []).append(child)
    for name in ("id", "title", "updated"):
        count = len(by_name.get(name, []))
        if count != 1:
            problems.append(f"{where}: needs exactly one atom:{name}, has {count}")
    for name in ("rights", "subtitle", "generator", "icon", "logo", "content", "summary",
                 "published", "source"):  # fmt: skip
        if len(by_name.get(name, [])) > 1:
            problems.append(f"{where}: more than one atom:{name}")
    for id_el in by_name.get("id", []):
        value = (id_el.text or "").strip()
        if not _IRI.match(value) or value != id_el.text:
            problems.append(f"{where}: id is not an absolute IRI: {id_el.text!r}")
    for name in ("updated", "published"):
        for d in by_name.get(name, []):
            if _parse_date(d.text) is None:
                problems.append(f"{where}: {name} is not an RFC 3339 date-time: {d.text!r}")
    for name in _TEXT_CONSTRUCTS:
        for t in by_name.get(name, []):
            _check_text_construct(t, f"{where} {name}", problems)
    for name in ("author", "contributor"):
        for p in by_name.get(name, []):
            _check_person(p, f"{where} {name}", problems)
    for cat in by_name.get("category", []):
        if not cat.get("term"):
            problems.append(f"{where}: category without term")
        scheme = cat.get("scheme")
        if scheme is not None and not _IRI.match(scheme):
            problems.append(f"{where}: category scheme is not an IRI: {scheme!r}")
    return by_name


def check_feed(data: bytes, *, strict: bool = True) -> list[str]:
    """Every RFC 4287 violation in an Atom feed document (and, when ``strict``, every warning)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed XML: {exc}"]
    if root.tag != f"{A}feed":
        return [f"root element is {root.tag!r}, not atom:feed"]
    problems: list[str] = []
    feed = _check_common(root, "feed", _FEED_CHILDREN, problems)
    rels = _check_links(root, "feed", problems)
    for name in ("icon", "logo"):
        for el in feed.get(name, []):
            if not (el.text or "").strip():
                problems.append(f"feed: empty {name}")
    for gen in feed.get("generator", []):
        uri = gen.get("uri")
        if uri is not None and not _IRI.match(uri):
            problems.append(f"feed: generator uri is not an IRI: {uri!r}")

    entries = feed.get("entry", [])
    feed_has_author = bool(feed.get("author"))
    seen_ids: dict[str, int] = {}
    seen_updated: dict[str, int] = {}
    for n, entry in enumerate(entries, 1):
        where = f"entry {n}"
        e = _check_common(entry, where, _ENTRY_CHILDREN, problems)
        entry_rels = _check_links(entry, where, problems)
        contents = e.get("content", [])
        needs_summary = any(_check_content(c, f"{where} content", problems) for c in contents)
        if not contents and not entry_rels.get("alternate"):
            problems.append(f"{where}: no content, so it needs an alternate link")
        if needs_summary and not e.get("summary"):
            problems.append(f"{where}: content is not inline text, so it needs a summary")
        if not feed_has_author and not e.get("author"):
            source = entry.find(f"{A}source")
            if source is None or source.find(f"{A}author") is None:
                problems.append(f"{where}: no author, and the feed has none either")
        eid = entry.findtext(f"{A}id")
        if eid is not None:
            if eid in seen_ids:
                problems.append(f"{where}: id {eid!r} already used by entry {seen_ids[eid]}")
            seen_ids.setdefault(eid, n)
        updated = entry.findtext(f"{A}updated")
        if strict and updated is not None:
            if updated in seen_updated:
                problems.append(
                    f"{where}: updated {updated} equals entry {seen_updated[updated]}'s"
                )
            seen_updated.setdefault(updated, n)
            published = _parse_date(entry.findtext(f"{A}published"))
            when = _parse_date(updated)
            if published is not None and when is not None and published > when:
                problems.append(f"{where}: published is after updated")

    if strict:
        if not rels.get("self"):
            problems.append("feed: no self link")
        is_archive = root.find(f"{{{FH}}}archive") is not None
        is_complete = root.find(f"{{{FH}}}complete") is not None
        if is_archive and not rels.get("current"):
            problems.append("feed: archive document without a current link")
        if is_complete and (is_archive or rels.get("prev-archive") or rels.get("next-archive")):
            problems.append("feed: a complete feed must not be archived or link archives")
        if not is_archive and rels.get("next-archive"):
            problems.append("feed: next-archive outside an archive document")
    return problems
