"""What one change email says, as plain values: :class:`ChangeNotice` and :class:`Recipient`.

The notice is the same for every subscriber of a change; the recipient carries the only
per-person parts (address, links holding their tokens, the id that makes the Message-ID). Keeping
them apart is what lets :func:`policywatch.mail.render_change` render the bodies once per change.

Policy text is untrusted (it is whatever page was fetched): nothing here trusts it, and the
renderer escapes it. Links and ids come from the config and the archive and are validated here,
because a malformed one would end up in a header.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from ..errors import InputError
from ..models import CATEGORIES, ClauseChange

if TYPE_CHECKING:
    from ..models import Diff, Revision

__all__ = [
    "CATEGORY_LABELS",
    "ChangeNotice",
    "NoticeClause",
    "Recipient",
    "SiteLike",
    "notifiable",
    "plain_reason",
    "sender_domain",
]

_POLICY_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_REVISION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# a DNS name as it may appear in List-Id and Message-ID (dot-atom, RFC 2919 / RFC 5322)
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
# what may stand between the angle brackets of List-Unsubscribe: RFC 3986 characters without
# the comma (it separates URLs in that header) and without anything that ends the bracket
_HEADER_URL = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+;=%]+$")
_MAX_URL = 900
_LOOPBACK = ("localhost", "127.0.0.1", "::1")

#: how each OPP-115 category reads in an email (the ids stay in the feeds and the JSON)
CATEGORY_LABELS: dict[str, str] = {
    "first-party-collection": "collection and use of your data",
    "third-party-sharing": "sharing with third parties",
    "user-choice": "your choices",
    "user-access": "access to, correction and deletion of your data",
    "data-retention": "how long data is kept",
    "data-security": "data security",
    "policy-change": "how policy changes are announced",
    "do-not-track": "Do Not Track",
    "specific-audiences": "children and other specific audiences",
    "introductory": "introduction and scope",
    "contact-information": "contact information",
    "practice-not-covered": "other practices",
}

# the classifier's reason prefixes ("adds recipient: advertising partners") in plain words;
# an unknown prefix is shown as given, so a new rule in the classifier never breaks an email
_REASON_WORDS: dict[str, str] = {
    "adds data": "collects new data",
    "adds recipient": "shares data with someone new",
    "adds purpose": "uses data for a new purpose",
    "adds practice": "adds a practice",
    "adds transfer": "sends data to another country",
    "adds retention": "keeps data for",
    "longer retention": "keeps data longer",
    "removes retention limit": "drops a limit on how long data is kept",
    "limits choice": "limits a choice you had",
    "limits right": "limits a right you had",
    "removes choice": "takes away a choice you had",
    "removes right": "takes away a right you had",
    "removes promise": "drops a promise",
    "removes condition": "drops a condition",
    "removes limit": "drops a limit",
    "weakens promise": "weakens a promise",
}


def plain_reason(reason: str) -> str:
    """A classifier reason in words a subscriber reads without knowing the rules.

    ``"adds recipient: advertising partners"`` becomes ``"shares data with someone new:
    advertising partners"``; ``"longer retention: 30 days -> 2 years"`` becomes ``"keeps data
    longer: 30 days → 2 years"``.
    """
    head, sep, rest = reason.partition(": ")
    words = _REASON_WORDS.get(head.strip().lower())
    if not sep or words is None:
        return reason
    return f"{words}: {rest.replace(' -> ', ' → ')}"


def sender_domain(sender: str) -> str:
    """The domain of a ``Name <user@domain>`` address: the natural List-Id and Message-ID domain.

    It is the domain the site controls (and signs with DKIM), unlike ``base_url``, which is often
    ``localhost`` while a site is set up.
    """
    from email.utils import parseaddr

    _, address = parseaddr(sender)
    _, at, domain = address.rpartition("@")
    domain = domain.strip().rstrip(".").lower()
    if not at or not domain:
        raise InputError(f"mail sender {sender!r} has no domain (expected Name <user@domain>)")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InputError(f"mail sender {sender!r}: domain is not a valid name") from exc
    if not _DOMAIN.match(domain):
        raise InputError(f"mail sender {sender!r}: domain {domain!r} is not a valid name")
    return domain


class SiteLike(Protocol):
    """What a notice needs of the site; :class:`policywatch.config.SiteConfig` fits."""

    @property
    def name(self) -> str: ...

    @property
    def base_url(self) -> str: ...


#: one changed clause as the email lists it; ``words`` is marked up inline in the HTML body
NoticeClause = ClauseChange


def notifiable(revision: Revision, diff: Diff | None) -> bool:
    """Whether a revision is announced by email at all.

    Only ``change`` revisions with a change of substance are: a first record is not a change,
    an editorial or technical revision changes nothing a reader relies on, and emailing those
    would teach subscribers to ignore the emails that matter.
    """
    return revision.kind == "change" and diff is not None and not diff.editorial_only


@dataclass(frozen=True, slots=True)
class ChangeNotice:
    """One announced change of one policy, the same for every subscriber.

    ``domain`` names the list: ``List-Id`` is ``<{policy}.{domain}>`` and Message-IDs end in
    ``@{domain}`` (use :func:`sender_domain` of the configured sender). ``previous`` is the
    revision before this one, the ``from`` of the diff link. ``effective`` is the date the new
    text takes effect as the site states it (free text, shown as given). ``clauses`` are the
    changes of substance only; editorial ones next to a material change would hide it.
    """

    site_name: str
    base_url: str
    domain: str
    policy: str
    policy_title: str
    revision: str
    previous: str
    date: datetime
    material: bool
    summary: str
    clauses: tuple[NoticeClause, ...]
    effective: str | None = None

    def __post_init__(self) -> None:
        where = f"change notice {self.policy}/{self.revision}"
        if not _POLICY_ID.match(self.policy):
            raise InputError(f"{where}: policy id must match [a-z0-9-]+, got {self.policy!r}")
        for name, value in (("revision", self.revision), ("previous", self.previous)):
            if not _REVISION_ID.match(value):
                raise InputError(f"{where}: {name} is not a revision id: {value!r}")
        if self.date.tzinfo is None or self.date.utcoffset() is None:
            raise InputError(f"{where}: date {self.date.isoformat()} has no time zone")
        if not _DOMAIN.match(self.domain):
            raise InputError(f"{where}: domain {self.domain!r} is not a DNS name")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InputError(f"{where}: base_url {self.base_url!r} is not an http(s) URL")
        if not self.site_name.strip() or not self.policy_title.strip():
            raise InputError(f"{where}: site name and policy title must not be empty")
        if not any(c.kind != "editorial" for c in self.clauses):
            raise InputError(
                f"{where}: no change of substance to announce (editorial-only changes are "
                "never emailed)"
            )

    @classmethod
    def from_diff(
        cls,
        diff: Diff,
        revision: Revision,
        *,
        site: SiteLike,
        title: str,
        domain: str,
        previous: str | None = None,
        effective: str | None = None,
    ) -> ChangeNotice:
        """The notice for ``revision``, whose ``diff`` runs from the previous revision to it.

        ``previous`` defaults to the diff's old side. Raises :class:`InputError` for a revision
        that is not announced (see :func:`notifiable`): the caller checks first rather than
        sending an empty or editorial email.
        """
        where = f"change notice {revision.policy}/{revision.id}"
        if not notifiable(revision, diff):
            raise InputError(
                f"{where}: a {revision.kind} revision"
                + (" with editorial changes only" if revision.kind == "change" else "")
                + " is never emailed"
            )
        if diff.new.revision is not None and diff.new.revision != revision.id:
            raise InputError(f"{where}: the diff ends at {diff.new.revision}, not this revision")
        prev = previous if previous is not None else diff.old.revision
        if prev is None:
            raise InputError(f"{where}: the previous revision is unknown")
        return cls(
            site_name=site.name,
            base_url=site.base_url,
            domain=domain,
            policy=revision.policy,
            policy_title=title,
            revision=revision.id,
            previous=prev,
            date=revision.date,
            material=revision.material,
            summary=revision.summary,
            clauses=tuple(
                NoticeClause.from_change(c) for c in diff.changes if c.kind != "editorial"
            ),
            effective=effective,
        )

    @property
    def base(self) -> str:
        return self.base_url.rstrip("/")

    @property
    def diff_url(self) -> str:
        from urllib.parse import quote

        return (
            f"{self.base}/policies/{self.policy}/diff"
            f"?from={quote(self.previous, safe='')}&to={quote(self.revision, safe='')}"
        )

    @property
    def feed_url(self) -> str:
        return f"{self.base}/feeds/{self.policy}.atom"

    @property
    def policy_url(self) -> str:
        return f"{self.base}/policies/{self.policy}"

    @property
    def list_id(self) -> str:
        return f"{self.policy}.{self.domain}"


@dataclass(frozen=True, slots=True)
class Recipient:
    """One subscriber of one change: the only per-person parts of an email.

    ``unsubscribe_url`` goes into ``List-Unsubscribe`` and must be ``https`` (RFC 8058; Gmail,
    Yahoo and Outlook.com require it of bulk senders); plain ``http`` is accepted on a loopback
    host only, so a site can be tried out locally. ``opt_out_url`` is the link to object to the
    new uses of a material change; it is ignored for a change that is not material.
    ``subscriber`` is the store's stable id of the subscription: it makes the Message-ID, so a
    resend after a crash repeats the same id and the receiving side can drop the duplicate.
    ``message_id``, when given, is the left-hand side of the Message-ID as the outbox row holds
    it (the store is then the one source of message ids); the domain is added here.
    """

    email: str
    unsubscribe_url: str
    subscriber: str | int
    opt_out_url: str | None = None
    message_id: str | None = None

    def __post_init__(self) -> None:
        _check_link(self.unsubscribe_url, "unsubscribe_url", self.email)
        if self.opt_out_url is not None:
            _check_link(self.opt_out_url, "opt_out_url", self.email)
        if str(self.subscriber) == "":
            raise InputError(f"recipient {self.email!r}: subscriber id is empty")


def _check_link(url: str, name: str, email: str) -> None:
    where = f"recipient {email!r}: {name}"
    if len(url) > _MAX_URL or not _HEADER_URL.match(url):
        raise InputError(f"{where} {url[:80]!r} is not a plain URL (no spaces, commas or quotes)")
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and (host in _LOOPBACK or host.startswith("127.")):
        return
    raise InputError(f"{where} must be an https URL (http only on localhost), got {url[:80]!r}")


def _check_categories(categories: Sequence[str], where: str) -> None:
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise InputError(f"{where}: unknown categories {', '.join(map(repr, unknown))}")
