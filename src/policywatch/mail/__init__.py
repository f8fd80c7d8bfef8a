"""Change emails: build them once per change, stamp them per recipient, send them over SMTP.

::

    Diff + Revision -ChangeNotice.from_diff-> ChangeNotice -render_change-> RenderedChange
    RenderedChange + Recipient -build_message-> bytes -OutgoingMessage-> Mailer.send -> SendResult

This package works from plain values: the store decides who gets what (one outbox row per change
and recipient) and holds the tokens inside the links; nothing here touches the database.

Header decisions (RFC numbers in brackets):

- ``List-Unsubscribe: <https://…>`` with exactly one https URL and ``List-Unsubscribe-Post:
  List-Unsubscribe=One-Click`` [8058]; no ``mailto:``, which would need a mailbox to process.
- ``List-Id: "Site Title" <{policy}.{domain}>`` [2919], one list per policy so a reader can filter
  each; ``List-Archive`` points at the policy's page [2369].
- ``Auto-Submitted: auto-generated`` [3834] and ``Precedence: bulk`` (not standard, but what many
  vacation responders still look at; RFC 3834 §2 allows them to stay silent for it).
- ``Date`` is the change's date and ``Message-ID`` is ``<pw.{rev12}.{hash16}@{domain}>`` with the
  hash over (subscriber, policy, revision): the same bytes on every build, so a resend after a
  crash repeats the id. ``X-Policywatch-Change: {policy}/{revision}`` names the change.
- ``multipart/alternative``: text/plain then text/html, UTF-8, quoted-printable (base64 for a
  part that is mostly non-Latin text), every line well under 998 octets, CRLF throughout.
- Editorial-only and first revisions are never emailed: :meth:`ChangeNotice.from_diff` raises
  :class:`policywatch.errors.InputError` for them; check :func:`notifiable` first.
"""

from .dkim import SIGNED_HEADERS, DkimSigner, dkim_available
from .message import (
    MAX_CLAUSE_CHARS,
    MAX_LISTED,
    RenderedChange,
    build_confirmation,
    build_message,
    envelope_address,
    message_id,
    render_change,
)
from .notice import (
    CATEGORY_LABELS,
    ChangeNotice,
    NoticeClause,
    Recipient,
    SiteLike,
    notifiable,
    plain_reason,
    sender_domain,
)
from .smtp import Mailer, OutgoingMessage, RateLimiter, SendResult, SendStatus, SmtpMailer

__all__ = [
    "CATEGORY_LABELS",
    "MAX_CLAUSE_CHARS",
    "MAX_LISTED",
    "SIGNED_HEADERS",
    "ChangeNotice",
    "DkimSigner",
    "Mailer",
    "NoticeClause",
    "OutgoingMessage",
    "RateLimiter",
    "Recipient",
    "RenderedChange",
    "SendResult",
    "SendStatus",
    "SiteLike",
    "SmtpMailer",
    "build_confirmation",
    "build_message",
    "dkim_available",
    "envelope_address",
    "message_id",
    "notifiable",
    "plain_reason",
    "render_change",
    "sender_domain",
]
