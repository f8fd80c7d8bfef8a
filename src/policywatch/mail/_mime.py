"""The MIME plumbing of change emails, written by hand for speed and checked by the tests.

The :mod:`email` package takes about a millisecond to serialise a message; stamping ten thousand
copies of one change must not. Headers that vary per copy are plain ASCII by construction
(validated addresses, URLs, hex ids); those that may carry non-ASCII text (Subject, From,
List-Id) are folded once per change by :mod:`email`'s own header machinery.
"""

from __future__ import annotations

import binascii
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.policy import SMTP
from email.utils import formataddr, parseaddr

from ..errors import InputError
from ._bodies import OPT_OUT, UNSUBSCRIBE, clean

__all__ = ["Part", "envelope_address", "fold", "from_header", "multipart"]

_CRLF = "\r\n"
# a dot-atom local part (RFC 5322); quoted local parts are legal but rare enough to refuse
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def envelope_address(address: str) -> str:
    """An address as SMTP and the ``To`` header carry it: ASCII, the domain in IDNA form.

    A non-ASCII local part would need SMTPUTF8 end to end, which most relays do not offer; such
    an address is refused here (subscriptions should refuse it first).
    """
    addr = address.strip()
    if "<" in addr or " " in addr:  # "Name <user@domain>"; parseaddr is slow, so only then
        addr = parseaddr(addr)[1] or addr
    local, at, domain = addr.rpartition("@")
    if not at or not _LOCAL_PART.match(local) or len(local) > 64:
        raise InputError(f"email address {address!r} is not a plain ASCII address")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise InputError(f"email address {address!r}: the domain is not valid") from exc
    if not _DOMAIN.match(domain):
        raise InputError(f"email address {address!r}: the domain is not valid")
    return f"{local}@{domain.lower()}"


def fold(name: str, value: str) -> bytes:
    """A header folded to 78 columns, RFC 2047-encoded where it is not ASCII."""
    folded: str = SMTP.header_factory(name, value).fold(policy=SMTP)
    return folded.encode("ascii")


def from_header(sender: str) -> bytes:
    """``From`` with the display name quoted as RFC 5322 requires ("Example Co." has a dot)."""
    name, addr = parseaddr(sender)
    if not addr or "@" not in addr:
        raise InputError(f"mail sender {sender!r} is not an address (expected Name <user@domain>)")
    addr = envelope_address(addr)
    name = clean(name)
    if not name:
        return f"From: {addr}\r\n".encode("ascii")
    if name.isascii():
        return f"From: {formataddr((name, addr))}\r\n".encode("ascii")
    return fold("From", f"{name} <{addr}>")


@dataclass(frozen=True, slots=True)
class Part:
    """One ``text/*`` part, encoded once; only its placeholder lines are re-encoded per copy.

    Quoted-printable encodes each line independently (its soft breaks never cross a line end),
    so the encoded body is the concatenation of encoded lines and the fixed runs between the
    placeholder lines are encoded ahead of time. Base64 has no such property; a part that is
    mostly non-Latin text (where QP would triple its size) is encoded whole for each copy.
    """

    headers: bytes
    template: str
    is_html: bool
    qp: bool
    # QP only: encoded runs (bytes) interleaved with placeholder lines (str, CRLF-terminated)
    segments: tuple[bytes | str, ...]

    @classmethod
    def build(cls, subtype: str, body: str) -> Part:
        lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        template = "".join(line + _CRLF for line in lines)
        raw = template.encode()
        qp_size = len(binascii.b2a_qp(raw, istext=True))
        b64_size = len(raw) * 4 // 3 * 78 // 76
        qp = qp_size <= b64_size
        segments: list[bytes | str] = []
        if qp:
            run: list[str] = []
            for line in lines:
                if UNSUBSCRIBE in line or OPT_OUT in line:
                    if run:
                        segments.append(_qp("".join(run)))
                        run = []
                    segments.append(line + _CRLF)
                else:
                    run.append(line + _CRLF)
            if run:
                segments.append(_qp("".join(run)))
        cte = "quoted-printable" if qp else "base64"
        headers = (
            f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {cte}\r\n\r\n"
        ).encode("ascii")
        return cls(headers, template, subtype == "html", qp, tuple(segments))

    def encode(self, unsubscribe: str, opt_out: str) -> bytes:
        if self.is_html:
            unsubscribe = html.escape(unsubscribe, quote=True)
            opt_out = html.escape(opt_out, quote=True)
        if self.qp:
            out = [self.headers]
            for seg in self.segments:
                if isinstance(seg, bytes):
                    out.append(seg)
                else:
                    out.append(_qp(seg.replace(UNSUBSCRIBE, unsubscribe).replace(OPT_OUT, opt_out)))
            return b"".join(out)
        text = self.template.replace(UNSUBSCRIBE, unsubscribe).replace(OPT_OUT, opt_out)
        encoded = binascii.b2a_base64(text.encode(), newline=False)
        lines = [encoded[i : i + 76] for i in range(0, len(encoded), 76)]
        return self.headers + b"\r\n".join(lines) + b"\r\n"

    def text(self, unsubscribe: str, opt_out: str) -> str:
        if self.is_html:
            unsubscribe = html.escape(unsubscribe, quote=True)
            opt_out = html.escape(opt_out, quote=True)
        return self.template.replace(UNSUBSCRIBE, unsubscribe).replace(OPT_OUT, opt_out)


def _qp(text: str) -> bytes:
    return binascii.b2a_qp(text.encode(), istext=True)


def multipart(boundary: str, parts: Sequence[bytes]) -> bytes:
    delim = f"--{boundary}\r\n".encode("ascii")
    return b"".join([delim + p for p in parts]) + f"--{boundary}--\r\n".encode("ascii")
