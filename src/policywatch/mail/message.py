"""Change notices -> RFC 5322 messages, rendered once per change and stamped per recipient.

A change goes to thousands of subscribers, and each copy differs only in its ``To``, its
``Message-ID`` and two links. :func:`render_change` therefore renders and encodes the bodies once,
keeping the lines that hold a per-recipient link apart; :func:`build_message` re-encodes just
those lines and joins pre-built bytes (about 10 µs a message instead of a full render). The
MIME structure is written here rather than by :mod:`email` for the same reason, and the tests
parse every result back with :mod:`email` to hold it to the standard.

Bytes are a pure function of (change, recipient, sender): the ``Date`` is the change's date, the
``Message-ID`` is derived from the subscriber and the revision, the MIME boundary from the
revision. A message rebuilt after a crash is byte-identical, so a resend carries the same
Message-ID and a receiving system can drop the duplicate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime
from typing import TYPE_CHECKING

from ..errors import InputError
from ._bodies import (
    MAX_CLAUSE_CHARS,
    MAX_LISTED,
    clean,
    html_body,
    listed_clauses,
    subject_of,
    template,
    text_body,
    wrap,
)
from ._mime import Part, envelope_address, fold, from_header, multipart
from ._templates import CONFIRM_HTML
from .notice import ChangeNotice, Recipient, SiteLike, sender_domain

if TYPE_CHECKING:
    from .dkim import DkimSigner

__all__ = [
    "MAX_CLAUSE_CHARS",
    "MAX_LISTED",
    "RenderedChange",
    "build_confirmation",
    "build_message",
    "envelope_address",
    "message_id",
    "render_change",
]


def message_id(notice: ChangeNotice, subscriber: str | int) -> str:
    """``<pw.{revision[:12]}.{hash16}@{domain}>``, the same for every build of one (change,
    subscriber) pair and different for any other, so a crash-and-resend repeats it exactly."""
    digest = hashlib.sha256(
        f"{subscriber}\x00{notice.policy}\x00{notice.revision}".encode()
    ).hexdigest()[:16]
    return f"<pw.{notice.revision[:12]}.{digest}@{notice.domain}>"


def _message_id(notice: ChangeNotice, recipient: Recipient) -> str:
    if recipient.message_id:
        return f"<{recipient.message_id}@{notice.domain}>"
    return message_id(notice, recipient.subscriber)


def _list_id(notice: ChangeNotice) -> bytes:
    """``List-Id: "Site: Title" <policy.domain>``; the phrase is what mail clients show."""
    phrase = clean(f"{notice.site_name}: {notice.policy_title}")
    if phrase.isascii():
        quoted = phrase.replace("\\", "\\\\").replace('"', '\\"')
        value = f'"{quoted}"'
    else:
        value = Header(phrase, "utf-8", header_name="List-Id").encode(linesep="\r\n")
    return f"List-Id: {value} <{notice.list_id}>\r\n".encode("ascii")


# -- the rendered change and its copies ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RenderedChange:
    """A change rendered once, ready to be stamped for each recipient by :func:`build_message`."""

    notice: ChangeNotice
    subject: str
    _text: Part = field(repr=False)
    _html: Part = field(repr=False)
    _fixed: bytes = field(repr=False)  # headers that are the same for every copy but From
    _tail: bytes = field(repr=False)  # MIME-Version .. X-Policywatch-Change
    _boundary: str = field(repr=False)
    _senders: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    def text_body(self, recipient: Recipient) -> str:
        """The text/plain body one recipient gets (for previews and tests)."""
        return self._text.text(recipient.unsubscribe_url, recipient.opt_out_url or "")

    def html_body(self, recipient: Recipient) -> str:
        """The text/html body one recipient gets (for previews and tests)."""
        return self._html.text(recipient.unsubscribe_url, recipient.opt_out_url or "")


def render_change(notice: ChangeNotice) -> RenderedChange:
    """Render both bodies and the shared headers of a change, once for all its recipients."""
    listed, more = listed_clauses(notice)
    subject = subject_of(notice)
    text = Part.build("plain", text_body(notice, listed, more))
    html_part = Part.build("html", html_body(notice, listed, more))
    boundary = (
        "=_pw_" + hashlib.sha256(f"{notice.policy}\x00{notice.revision}".encode()).hexdigest()[:24]
    )
    fixed = b"Date: " + format_datetime(notice.date.astimezone(UTC)).encode("ascii") + b"\r\n"
    subject_line = fold("Subject", subject)
    tail = b"".join(
        [
            b"MIME-Version: 1.0\r\n",
            f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'.encode("ascii"),
            _list_id(notice),
            f"List-Archive: <{notice.policy_url}>\r\n".encode("ascii"),
            b"Auto-Submitted: auto-generated\r\n",
            b"Precedence: bulk\r\n",
            f"X-Policywatch-Change: {notice.policy}/{notice.revision}\r\n".encode("ascii"),
        ]
    )
    return RenderedChange(
        notice=notice,
        subject=subject,
        _text=text,
        _html=html_part,
        _fixed=fixed + subject_line,
        _tail=tail,
        _boundary=boundary,
    )


def build_message(
    rendered: RenderedChange,
    recipient: Recipient,
    *,
    sender: str,
    dkim: DkimSigner | None = None,
) -> bytes:
    """The complete message (CRLF line ends, ready for SMTP DATA) for one recipient.

    ``sender`` is the configured ``Name <address>``. With ``dkim``, the message is signed (see
    :class:`policywatch.mail.DkimSigner`). A material change needs ``recipient.opt_out_url``: the
    site promised readers a way to object to the new uses, so a copy without it is refused.
    """
    notice = rendered.notice
    opt_out = ""
    if notice.material:
        if recipient.opt_out_url is None:
            raise InputError(
                f"recipient {recipient.email!r}: a material change needs an opt-out link"
            )
        opt_out = recipient.opt_out_url
    from_line = rendered._senders.get(sender)
    if from_line is None:
        from_line = rendered._senders[sender] = from_header(sender)
    to = envelope_address(recipient.email)
    head = b"".join(
        [
            rendered._fixed,
            from_line,
            f"To: {to}\r\n"
            f"Message-ID: {_message_id(notice, recipient)}\r\n"
            f"List-Unsubscribe: <{recipient.unsubscribe_url}>\r\n"
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n".encode("ascii"),
            rendered._tail,
            b"\r\n",
        ]
    )
    body = multipart(
        rendered._boundary,
        [
            rendered._text.encode(recipient.unsubscribe_url, opt_out),
            rendered._html.encode(recipient.unsubscribe_url, opt_out),
        ],
    )
    data = head + body
    return dkim.sign(data) if dkim is not None else data


# -- double opt-in ---------------------------------------------------------------------------

_SCOPES = {
    "all": "You would get an email for every change of substance.",
    "material": "You would get an email only for material changes (new uses of your data, or "
    "fewer rights and choices).",
}


def build_confirmation(
    site: SiteLike,
    recipient_email: str,
    confirm_url: str,
    policies: Sequence[str],
    *,
    sender: str,
    scope: str = "all",
    date: datetime | None = None,
    dkim: DkimSigner | None = None,
) -> bytes:
    """The double opt-in email: one link to the confirmation page, which confirms on POST only.

    ``policies`` are the titles asked for. The link opens a page with a button because corporate
    link scanners fetch every link in a message: a confirming GET would subscribe addresses
    whose owners never asked. The Message-ID derives from ``confirm_url`` (its token), so a
    resend repeats it; ``date`` defaults to now. Carries no List-Unsubscribe: it is not a list
    message, and nothing is sent again unless the page's button is pressed.
    """
    if scope not in _SCOPES:
        raise InputError(f"subscription scope {scope!r} (expected 'all' or 'material')")
    if not policies:
        raise InputError("a confirmation needs at least one policy")
    parts = confirm_url.startswith(("https://", "http://"))
    if not parts or any(c in confirm_url for c in " \t\r\n<>\"'"):
        raise InputError(f"confirm_url {confirm_url[:80]!r} is not an http(s) URL")
    domain = sender_domain(sender)
    to = envelope_address(recipient_email)
    name = clean(site.name)
    titles = [clean(p) for p in policies]
    when = (date or datetime.now(UTC)).astimezone(UTC)
    subject = f"{name}: confirm your subscription to policy changes"
    text = "\n".join(
        [
            wrap(f"Someone, hopefully you, asked to receive an email when {name} changes:"),
            "",
            *[wrap(t, "    ", first="  - ") for t in titles],
            "",
            wrap(_SCOPES[scope]),
            "",
            "To confirm, open this page and press its button:",
            confirm_url,
            "",
            wrap(
                "Nothing changes until you press the button. If you did not ask for this, "
                "ignore this email: you will not hear from us again."
            ),
        ]
    )
    html_text = template(CONFIRM_HTML).render(
        subject=subject, site=name, policies=titles, scope=_SCOPES[scope], confirm_url=confirm_url
    )
    digest = hashlib.sha256(confirm_url.encode()).hexdigest()
    boundary = "=_pw_" + digest[:24]
    head = b"".join(
        [
            b"Date: " + format_datetime(when).encode("ascii") + b"\r\n",
            fold("Subject", subject),
            from_header(sender),
            f"To: {to}\r\n".encode("ascii"),
            f"Message-ID: <pw.confirm.{digest[:16]}@{domain}>\r\n".encode("ascii"),
            b"MIME-Version: 1.0\r\n",
            f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'.encode("ascii"),
            b"Auto-Submitted: auto-generated\r\n",
            b"\r\n",
        ]
    )
    body = multipart(
        boundary,
        [Part.build("plain", text).encode("", ""), Part.build("html", html_text).encode("", "")],
    )
    data = head + body
    return dkim.sign(data) if dkim is not None else data
