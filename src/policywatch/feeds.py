"""Policy changes -> deterministic Atom 1.0 documents (RFC 4287, paged per RFC 5005).

The bytes are a pure function of the entries: no clock is read anywhere, so the same archive state
always gives the same bytes, the same ``ETag`` and (because :func:`write_feeds` leaves unchanged
files alone) the same ``Last-Modified``. A feed that changed bytes on every build would defeat
conditional GETs and make every reader re-download it every poll.

feedgen 1.0.0 builds the documents; its known faults are worked around here (see
docs/decisions/0004-feeds.md):

- ``updated`` defaults to "now" on the feed and on every entry: always set explicitly;
- entry ``<link>`` elements lose ``rel``, ``type`` and ``title`` (its issue #135): feedgen gets no
  entry links, they are added to the tree afterwards;
- its default generator carries feedgen's version (an upgrade would change every feed): ours has
  none;
- lxml's declaration quoting and pretty-printing have varied between versions: feedgen's output is
  reparsed, finished (entry links, RFC 5005 markers, ``Z`` dates) and serialised by
  :func:`_serialise` with a fixed declaration and indentation;
- it prepends entries by default: they are added in our order with ``order="append"``.

Policy text is untrusted (it comes from whatever page was fetched): every piece of it is
HTML-escaped before it enters the ``type="html"`` content, characters XML 1.0 forbids are replaced,
and it never reaches an attribute or a URL.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote, urlsplit

from .errors import ConfigError, InputError
from .models import CATEGORIES, ClauseChange, RevisionKind

if TYPE_CHECKING:
    from lxml import etree  # type: ignore[import-untyped, unused-ignore]

    from .models import Diff, Revision

__all__ = [
    "ATOM_NS",
    "CATEGORY_SCHEME",
    "CHANGE_SCHEME",
    "FH_NS",
    "FeedChange",
    "FeedEntry",
    "PolicyLike",
    "Site",
    "SiteInfo",
    "archive_page_count",
    "build_feed",
    "entry_id",
    "feed_etag",
    "feed_id",
    "publishable",
    "write_feeds",
]

ATOM_NS = "http://www.w3.org/2005/Atom"
#: RFC 5005 (feed paging and archiving) namespace: ``fh:archive`` and ``fh:complete``
FH_NS = "http://purl.org/syndication/history/1.0"

#: The tagging entity of every id (RFC 4151). The date is part of the id, not of the build: it
#: must never be "this year", or every id would change on 1 January.
TAG_AUTHORITY = "tag:policywatch,2026:"
#: scheme of the one category per OPP-115 category id (term = the id)
CATEGORY_SCHEME = TAG_AUTHORITY + "category"
#: scheme of the one category that says what kind of change an entry is:
#: ``first``, ``material``, ``change`` (not material) or ``editorial``
CHANGE_SCHEME = TAG_AUTHORITY + "change"

#: feed and entry ``updated`` of a document without entries: a fixed instant, never "now"
EMPTY_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)
#: the ``all.atom`` feed's file stem; a policy may not use it as its id
ALL = "all"
#: at most this many changed clauses are listed in one entry; the rest is a count and the link
MAX_LISTED = 25
#: a listed clause longer than this is cut (the full text is one click away)
MAX_CLAUSE_CHARS = 800

_POLICY_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_REVISION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_PAGE_FILE = re.compile(r"^(?P<feed>[a-z0-9-]+)-page-(?P<n>[1-9][0-9]*)\.atom$")
# characters XML 1.0 cannot carry at all (lxml refuses them): C0 controls but tab/LF/CR,
# surrogates, U+FFFE/U+FFFF. A fetched page can contain any of them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SLUG_DROP = re.compile(r"[^a-z0-9]+")

_KINDS: frozenset[str] = frozenset({"first", "change", "editorial", "technical"})
_CHANGE_LABELS = {
    "added": "Added",
    "removed": "Removed",
    "modified": "Changed",
    "moved": "Moved",
    "editorial": "Editorial",
}
_KIND_LABELS = {
    "first": "First record",
    "material": "Material change",
    "change": "Change",
    "editorial": "Editorial change",
}


# -- input values --------------------------------------------------------------------------------


#: one changed clause as a feed entry lists it (the same value the emails list)
FeedChange = ClauseChange


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One archived revision as the feeds announce it; plain values so this module does no I/O.

    ``previous`` is the revision before it (None for the first), the ``from`` of its diff link.
    ``restores`` is the revision whose text this one repeats byte for byte (an A/B flip-flop or a
    revert), as recorded in :attr:`policywatch.models.Revision.restores`. ``effective`` is the date
    the new text takes effect, as the site states it (free text, shown as given).
    """

    policy: str
    policy_title: str
    revision: str
    previous: str | None
    date: datetime
    kind: RevisionKind
    material: bool = False
    summary: str = ""
    categories: tuple[str, ...] = ()
    changes: tuple[FeedChange, ...] = ()
    effective: str | None = None
    restores: str | None = None

    def __post_init__(self) -> None:
        where = f"feed entry {self.policy}/{self.revision}"
        if not _POLICY_ID.match(self.policy):
            raise InputError(f"{where}: policy id must match [a-z0-9-]+, got {self.policy!r}")
        for name, value in (
            ("revision", self.revision),
            ("previous", self.previous),
            ("restores", self.restores),
        ):
            if value is not None and not _REVISION_ID.match(value):
                raise InputError(f"{where}: {name} is not a revision id: {value!r}")
        if self.kind not in _KINDS:
            raise InputError(f"{where}: unknown kind {self.kind!r}")
        if self.date.tzinfo is None or self.date.utcoffset() is None:
            raise InputError(f"{where}: date {self.date.isoformat()} has no time zone")
        _check_categories(self.categories, where)

    @classmethod
    def from_revision(
        cls,
        revision: Revision,
        *,
        title: str,
        previous: str | None,
        diff: Diff | None = None,
        effective: str | None = None,
    ) -> FeedEntry:
        """The entry for an archived revision; ``diff`` (previous -> revision) fills the clauses.

        An editorial revision lists its editorial changes; any other lists only the changes of
        substance, because editorial noise next to a material change hides it.
        """
        changes: tuple[FeedChange, ...] = ()
        if diff is not None:
            editorial = revision.kind == "editorial"
            changes = tuple(
                FeedChange.from_change(c)
                for c in diff.changes
                if (c.kind == "editorial") == editorial
            )
        return cls(
            policy=revision.policy,
            policy_title=title,
            revision=revision.id,
            previous=previous,
            date=revision.date,
            kind=revision.kind,
            material=revision.material,
            summary=revision.summary,
            categories=revision.categories,
            changes=changes,
            effective=effective,
            restores=revision.restores,
        )


class Site(Protocol):
    """What the feeds need to know about the site; :class:`policywatch.config.SiteConfig` fits."""

    @property
    def name(self) -> str: ...

    @property
    def base_url(self) -> str: ...


@dataclass(frozen=True, slots=True)
class SiteInfo:
    """The site, with an optional ``slug`` that pins its ids.

    Without a slug, ids use one derived from ``name``: renaming the site then changes every id and
    readers see every entry again. Set ``slug`` once and keep it to rename freely.
    """

    name: str
    base_url: str
    slug: str | None = None


def _check_categories(categories: Iterable[str], where: str) -> None:
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise InputError(f"{where}: unknown categories {', '.join(map(repr, unknown))}")


# -- ids and URLs ----------------------------------------------------------------------------


def site_slug(site: Site) -> str:
    """The site part of every id: the explicit ``slug``, or the name folded to ``[a-z0-9-]``."""
    explicit = getattr(site, "slug", None)
    source = explicit if isinstance(explicit, str) and explicit else site.name
    folded = unicodedata.normalize("NFKD", source).encode("ascii", "ignore").decode().lower()
    return _SLUG_DROP.sub("-", folded).strip("-") or "site"


def entry_id(site: Site, policy: str, revision: str) -> str:
    """``tag:policywatch,2026:<site>/<policy>/<revision>``: no host in it, so a move keeps it."""
    return f"{TAG_AUTHORITY}{site_slug(site)}/{policy}/{revision}"


def feed_id(site: Site, policy: str | None) -> str:
    """``tag:policywatch,2026:<site>:feed/<all|policy>``, shared by a feed's archive pages.

    The ``:`` after the site keeps feed ids apart from entry ids (``/`` after the site).
    """
    return f"{TAG_AUTHORITY}{site_slug(site)}:feed/{policy or ALL}"


def _base(site: Site) -> str:
    url = site.base_url.rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"got {site.base_url!r}", key="site.base_url", expected="an http(s) URL")
    return url


def _feed_url(base: str, stem: str, page: int | None = None) -> str:
    return f"{base}/feeds/{stem}.atom" if page is None else f"{base}/feeds/{stem}-page-{page}.atom"


def _entry_url(base: str, entry: FeedEntry) -> str:
    policy = quote(entry.policy, safe="")
    rev = quote(entry.revision, safe="")
    if entry.previous is None:
        return f"{base}/policies/{policy}/revisions/{rev}"
    return f"{base}/policies/{policy}/diff?from={quote(entry.previous, safe='')}&to={rev}"


# -- which revisions are announced --------------------------------------------------------------


def publishable(entries: Iterable[FeedEntry]) -> list[FeedEntry]:
    """The entries a feed announces, oldest first.

    - ``technical`` revisions (re-extractions, never a change of the policy) never appear.
    - A restore (``restores`` set) appears only the first time its *transition* appears: the
      text is identified by following ``restores`` to the revision that first had it, and an entry
      that moves the policy from text X to text Y is skipped when an earlier announced entry already
      moved it from X to Y. An A/B flip-flop A, B, A, B, A... thus shows ``A``, ``A -> B`` and
      ``B -> A`` once each and nothing after, while a genuine revert (A, B, back to A) is still
      announced. Entries that are not restores are new texts and always appear.

    Each decision depends only on older entries, so an announced entry never disappears later.
    Pass a policy's whole history: a window starting mid-flip-flop decides differently.
    """
    ordered = sorted(entries, key=lambda e: (e.date, e.policy, e.revision))
    seen: set[tuple[str, str]] = set()
    for e in ordered:
        key = (e.policy, e.revision)
        if key in seen:
            raise InputError(f"feed entry {e.policy}/{e.revision} is given twice")
        seen.add(key)
    text_of: dict[tuple[str, str], str] = {}
    announced: set[tuple[str, str | None, str]] = set()
    out: list[FeedEntry] = []
    for e in ordered:
        text = e.revision
        if e.restores is not None:
            text = text_of.get((e.policy, e.restores), e.restores)
        text_of[(e.policy, e.revision)] = text
        if e.kind == "technical":
            continue
        before = None if e.previous is None else text_of.get((e.policy, e.previous), e.previous)
        transition = (e.policy, before, text)
        if e.restores is not None and transition in announced:
            continue
        announced.add(transition)
        out.append(e)
    return out


def _updated_instants(ordered: Sequence[FeedEntry]) -> dict[tuple[str, str], datetime]:
    """Each entry's ``updated``: its date, nudged forward by microseconds where dates collide.

    Two entries with the same ``updated`` draw validator warnings (two policies recorded in the
    same second is common). Walking oldest first and keeping each instant strictly after the
    previous one moves a colliding entry by microseconds, never by a visible amount, and never
    moves an older entry when a newer one arrives. ``published`` keeps the true date.
    """
    out: dict[tuple[str, str], datetime] = {}
    last: datetime | None = None
    for e in ordered:
        at = e.date.astimezone(UTC)
        if last is not None and at <= last:
            at = last + timedelta(microseconds=1)
        out[(e.policy, e.revision)] = at
        last = at
    return out


def archive_page_count(total: int, page_size: int) -> int:
    """How many RFC 5005 archive pages a feed of ``total`` entries has.

    Pages are full blocks of ``page_size`` entries numbered from the oldest, so a page never
    changes its entries once written. None exist while the current document holds everything.
    """
    if page_size < 1:
        raise InputError(f"page_size must be at least 1, got {page_size}")
    return total // page_size if total > page_size else 0


# -- rendering ------------------------------------------------------------------------------------


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _iso(at: datetime) -> str:
    """RFC 3339 in UTC with ``Z``; microseconds only when an instant has them."""
    at = at.astimezone(UTC)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if at.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return at.strftime(fmt)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > MAX_CLAUSE_CHARS:
        return text[: MAX_CLAUSE_CHARS - 1].rstrip() + "…"
    return text


def _kind_term(entry: FeedEntry) -> str:
    if entry.kind == "first":
        return "first"
    if entry.kind == "editorial":
        return "editorial"
    return "material" if entry.material else "change"


def _label(category: str) -> str:
    return category.replace("-", " ").capitalize()


def _entry_title(entry: FeedEntry) -> str:
    if entry.kind == "first":
        return f"{entry.policy_title}: first recorded version"
    return f"{entry.policy_title}: {entry.summary or _KIND_LABELS[_kind_term(entry)]}"


def _entry_summary(entry: FeedEntry) -> str:
    text = entry.summary or _KIND_LABELS[_kind_term(entry)]
    if entry.effective:
        text += f". Takes effect: {entry.effective}"
    return text


def _content_html(entry: FeedEntry, link: str) -> str:
    """The changed clauses as HTML; every string from the policy goes through ``html.escape``."""
    e = html.escape
    parts = [f"<p>{e(entry.summary or _KIND_LABELS[_kind_term(entry)])}</p>"]
    if entry.material:
        parts.append("<p><strong>This is a material change.</strong></p>")
    if entry.effective:
        parts.append(f"<p><strong>Takes effect:</strong> {e(entry.effective)}</p>")
    if entry.restores is not None:
        parts.append(f"<p>The text is again that of revision {e(entry.restores)}.</p>")
    if entry.categories:
        cats = ", ".join(e(c) for c in entry.categories)
        parts.append(f"<p>Categories: {cats}</p>")
    if entry.changes:
        parts.append("<ol>")
        for change in entry.changes[:MAX_LISTED]:
            head = [f"<strong>{_CHANGE_LABELS[change.kind]}</strong>"]
            if change.section:
                head.append("in <em>" + " › ".join(e(_clip(s)) for s in change.section) + "</em>")
            if change.categories:
                head.append("(" + ", ".join(e(c) for c in change.categories) + ")")
            if change.material:
                head.append("<strong>material</strong>")
            parts.append("<li><p>" + " ".join(head) + "</p>")
            if change.kind in ("modified", "editorial") and change.old_text is not None:
                parts.append(f"<p>Before: <del>{e(_clip(change.old_text))}</del></p>")
                if change.new_text is not None:
                    parts.append(f"<p>After: <ins>{e(_clip(change.new_text))}</ins></p>")
            elif change.kind == "removed" and change.old_text is not None:
                parts.append(
                    f"<blockquote><p><del>{e(_clip(change.old_text))}</del></p></blockquote>"
                )
            else:
                text = change.new_text if change.new_text is not None else change.old_text or ""
                parts.append(f"<blockquote><p>{e(_clip(text))}</p></blockquote>")
            if change.reasons:
                reasons = "".join(f"<li>{e(_clip(r))}</li>" for r in change.reasons)
                parts.append(f"<p>Why it is material:</p><ul>{reasons}</ul>")
            parts.append("</li>")
        parts.append("</ol>")
        more = len(entry.changes) - MAX_LISTED
        if more > 0:
            parts.append(f"<p>… and {more} more change{'s' if more != 1 else ''}.</p>")
    label = "Read the full text" if entry.previous is None else "Read the full diff"
    parts.append(f'<p><a href="{e(link, quote=True)}">{label}</a></p>')
    return _xml_text("\n".join(parts))


class _Prepared:
    """Per-run state shared by the documents of one history: each entry's ``updated`` and its
    rendered content (one entry appears in ``all.atom``, its policy's feed and archive pages)."""

    __slots__ = ("_html", "instants")

    def __init__(self, instants: dict[tuple[str, str], datetime]) -> None:
        self.instants = instants
        self._html: dict[tuple[str, str], str] = {}

    def content(self, entry: FeedEntry, link: str) -> str:
        key = (entry.policy, entry.revision)
        html_ = self._html.get(key)
        if html_ is None:
            html_ = self._html[key] = _content_html(entry, link)
        return html_


@dataclass(frozen=True, slots=True)
class _Doc:
    """What one document is: which entries, its own URL and its RFC 5005 links."""

    stem: str
    title: str
    subtitle: str
    alternate: str
    self_url: str
    entries: tuple[FeedEntry, ...]  # newest first
    current: str | None = None
    prev_archive: str | None = None
    next_archive: str | None = None
    marker: str | None = None  # "archive" or "complete"


def build_feed(
    site: Site,
    entries: Iterable[FeedEntry],
    *,
    policy: tuple[str, str] | None = None,
    page_size: int | None = 50,
    page: int | None = None,
) -> bytes:
    """One Atom document: ``all.atom`` (``policy=None``) or the feed of ``policy = (id, title)``.

    ``entries`` may hold every policy's history (a policy feed keeps its own); pass whole
    histories, since which restores are announced and how colliding dates are nudged depend on
    older entries. ``page=None`` is the subscription document: the newest ``page_size`` entries and,
    when there are more, a ``prev-archive`` link. ``page=n`` is archive page ``n`` (1 = oldest).
    ``page_size=None`` gives one complete document (RFC 5005 ``fh:complete``).
    """
    usable = publishable(entries)
    prep = _Prepared(_updated_instants(usable))
    if policy is not None:
        usable = [e for e in usable if e.policy == policy[0]]
    return _build(site, usable, prep, policy=policy, page_size=page_size, page=page)


def _build(
    site: Site,
    usable: Sequence[FeedEntry],
    prep: _Prepared,
    *,
    policy: tuple[str, str] | None,
    page_size: int | None,
    page: int | None,
) -> bytes:
    """:func:`build_feed` on entries already chosen (oldest first) and dated, so that
    :func:`write_feeds` sorts the history once rather than once per document."""
    base = _base(site)
    if policy is not None:
        pid, ptitle = policy
        if not _POLICY_ID.match(pid):
            raise InputError(f"policy id must match [a-z0-9-]+, got {pid!r}")
        stem = pid
        title = f"{site.name}: {ptitle}"
        subtitle = f"Every change to {ptitle}, clause by clause"
        alternate = f"{base}/policies/{quote(pid, safe='')}"
    else:
        stem = ALL
        title = f"{site.name}: policy changes"
        subtitle = f"Every change to the policies of {site.name}, clause by clause"
        alternate = f"{base}/"
    current_url = _feed_url(base, stem)

    if page_size is None:
        if page is not None:
            raise InputError("a complete feed (page_size=None) has no archive pages")
        doc = _Doc(
            stem,
            title,
            subtitle,
            alternate,
            current_url,
            tuple(reversed(usable)),
            marker="complete",
        )
    else:
        pages = archive_page_count(len(usable), page_size)
        if page is None:
            doc = _Doc(
                stem,
                title,
                subtitle,
                alternate,
                current_url,
                tuple(reversed(usable[-page_size:])),
                prev_archive=_feed_url(base, stem, pages) if pages else None,
            )
        else:
            if not 1 <= page <= pages:
                raise InputError(
                    f"feed {stem!r} has no archive page {page} "
                    f"({pages} page{'s' if pages != 1 else ''} of {page_size} entries)"
                )
            block = usable[(page - 1) * page_size : page * page_size]
            doc = _Doc(
                stem,
                f"{title} (archive {page})",
                subtitle,
                alternate,
                _feed_url(base, stem, page),
                tuple(reversed(block)),
                current=current_url,
                prev_archive=_feed_url(base, stem, page - 1) if page > 1 else None,
                next_archive=_feed_url(base, stem, page + 1) if page < pages else None,
                marker="archive",
            )
    return _render(site, base, doc, prep, policy is None)


def _render(
    site: Site,
    base: str,
    doc: _Doc,
    prep: _Prepared,
    is_all: bool,
) -> bytes:
    from feedgen.feed import FeedGenerator
    from lxml import etree  # type: ignore[import-untyped, unused-ignore]

    fg = FeedGenerator()
    fg.id(feed_id(site, None if is_all else doc.stem))
    fg.title(_xml_text(doc.title))
    fg.subtitle(_xml_text(doc.subtitle))
    fg.author({"name": _xml_text(site.name), "uri": f"{base}/"})
    # the version is left out on purpose: upgrading policywatch must not change every feed's bytes
    fg.generator("policywatch")
    fg.link(href=doc.self_url, rel="self", type="application/atom+xml")
    fg.link(href=doc.alternate, rel="alternate", type="text/html")
    for rel, href in (
        ("current", doc.current),
        ("prev-archive", doc.prev_archive),
        ("next-archive", doc.next_archive),
    ):
        if href is not None:
            fg.link(href=href, rel=rel, type="application/atom+xml")
    newest = max(
        (prep.instants[(e.policy, e.revision)] for e in doc.entries), default=EMPTY_UPDATED
    )
    fg.updated(newest)

    links: dict[str, str] = {}
    for entry in doc.entries:
        eid = entry_id(site, entry.policy, entry.revision)
        link = _entry_url(base, entry)
        links[eid] = link
        fe = fg.add_entry(order="append")
        fe.id(eid)
        fe.title(_xml_text(_entry_title(entry)))
        fe.updated(prep.instants[(entry.policy, entry.revision)])
        fe.published(entry.date.astimezone(UTC))
        fe.summary(_xml_text(_entry_summary(entry)), type="text")
        fe.content(prep.content(entry, link), type="html")
        for category in entry.categories:
            fe.category(term=category, scheme=CATEGORY_SCHEME, label=_label(category))
        term = _kind_term(entry)
        fe.category(term=term, scheme=CHANGE_SCHEME, label=_KIND_LABELS[term])

    raw = fg.atom_str(pretty=False, xml_declaration=False, encoding="UTF-8")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)
    root = etree.fromstring(raw, parser)
    _finish(root, doc, links)
    return _serialise(root)


def _finish(root: etree._Element, doc: _Doc, links: dict[str, str]) -> None:
    """Do in the tree what feedgen 1.0.0 cannot: entry links with rel/type, RFC 5005 markers,
    our own date format (feedgen writes ``isoformat()``)."""
    from lxml import etree  # type: ignore[import-untyped, unused-ignore]

    a = f"{{{ATOM_NS}}}"
    for el in root.iter(f"{a}updated", f"{a}published"):
        el.text = _iso(datetime.fromisoformat(el.text or ""))
    for entry in root.iterchildren(f"{a}entry"):
        for stale in entry.findall(f"{a}link"):  # issue #135: none are passed, drop any anyway
            entry.remove(stale)
        eid = entry.findtext(f"{a}id") or ""
        anchor = entry.find(f"{a}updated")
        assert anchor is not None  # feedgen always writes it
        link = etree.Element(f"{a}link")
        link.set("href", links[eid])
        link.set("rel", "alternate")
        link.set("type", "text/html")
        anchor.addnext(link)
    if doc.marker is not None:
        # RFC 5005 markers belong to the feed's metadata, before the first entry
        marker = etree.Element(f"{{{FH_NS}}}{doc.marker}", nsmap={"fh": FH_NS})
        first = root.find(f"{a}entry")
        if first is None:
            root.append(marker)
        else:
            first.addprevious(marker)


def _serialise(root: etree._Element) -> bytes:
    """Fixed declaration, two-space indentation, LF line ends, trailing newline.

    Namespace declarations are hoisted to the root so the ``fh`` prefix is declared once.
    """
    from lxml import etree  # type: ignore[import-untyped, unused-ignore]

    etree.cleanup_namespaces(
        root, top_nsmap={"fh": FH_NS} if root.find(f"{{{FH_NS}}}*") is not None else None
    )
    etree.indent(root, space="  ")
    body: bytes = etree.tostring(root, encoding="UTF-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body + b"\n"


def feed_etag(data: bytes) -> str:
    """A strong ``ETag`` (quoted) for a feed's bytes: equal bytes, equal tag, on any machine."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


# -- files ---------------------------------------------------------------------------------------


class PolicyLike(Protocol):
    """A configured policy; :class:`policywatch.config.PolicyConfig` fits."""

    @property
    def id(self) -> str: ...

    @property
    def title(self) -> str: ...


def write_feeds(
    directory: Path,
    site: Site,
    policies: Iterable[PolicyLike | tuple[str, str]],
    entries: Iterable[FeedEntry],
    *,
    page_size: int = 50,
    policy_page_size: int | None = 50,
) -> list[Path]:
    """Write ``all.atom`` (+ its archive pages) and one ``<policy>.atom`` per policy.

    Every feed is paged the same way (RFC 5005 archive pages ``<feed>-page-<n>.atom``);
    ``policy_page_size=None`` makes each policy's feed one complete document instead.
    Returns the files whose bytes changed. A file whose bytes are unchanged is not touched, so
    its mtime (served as ``Last-Modified``) stays put; a changed one is replaced atomically (temp
    file + rename), so a reader never sees half a feed. Archive pages that no longer exist (the
    history was rewritten or a page size changed) are removed.
    """
    pairs = [p if isinstance(p, tuple) else (p.id, p.title) for p in policies]
    ids = [pid for pid, _ in pairs]
    for pid in ids:
        if pid == ALL or _PAGE_FILE.match(f"{pid}.atom"):
            raise ConfigError(
                f"{pid!r} would overwrite a feed file of another feed",
                key="policy.id",
                expected=f"an id other than {ALL!r} and not ending in -page-N",
            )
    if len(set(ids)) != len(ids):
        raise InputError("write_feeds: a policy is listed twice")
    usable = publishable(entries)
    prep = _Prepared(_updated_instants(usable))
    feeds: list[tuple[tuple[str, str] | None, list[FeedEntry], int | None]] = [
        (None, usable, page_size)
    ]
    for pid, title in pairs:
        own = [e for e in usable if e.policy == pid]
        feeds.append(((pid, title), own, policy_page_size))
    wanted: dict[str, bytes] = {}
    for policy, own, size in feeds:
        stem = ALL if policy is None else policy[0]
        wanted[f"{stem}.atom"] = _build(site, own, prep, policy=policy, page_size=size, page=None)
        if size is not None:
            for n in range(1, archive_page_count(len(own), size) + 1):
                wanted[f"{stem}-page-{n}.atom"] = _build(
                    site, own, prep, policy=policy, page_size=size, page=n
                )

    try:
        directory.mkdir(parents=True, exist_ok=True)
        written = [
            directory / name
            for name, data in wanted.items()
            if _write_if_changed(directory / name, data)
        ]
        stems = {ALL, *ids}
        for path in sorted(directory.glob("*-page-*.atom")):
            m = _PAGE_FILE.match(path.name)
            if m and m.group("feed") in stems and path.name not in wanted:
                path.unlink()
    except OSError as exc:
        raise ConfigError(
            f"cannot write feeds into {directory}: {exc.strerror or exc}",
            key="feeds.dir",
            expected="a writable directory",
        ) from exc
    return written


def _write_if_changed(path: Path, data: bytes) -> bool:
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600; a web server running as another user must be able to read feeds
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return True
