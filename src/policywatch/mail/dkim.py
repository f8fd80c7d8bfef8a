"""Optional DKIM signing (RFC 6376) with dkimpy, installed by the ``dkim`` extra.

RFC 8058 asks that ``List-Unsubscribe`` and ``List-Unsubscribe-Post`` be covered by a DKIM
signature: a one-click URL that a relay could rewrite would let it unsubscribe anyone. Most sites
sign at their relay (OpenDKIM, the provider); this signer is for sites that send straight to a
smarthost that does not.

dkimpy implements RSA in pure Python: one signature costs a few milliseconds, which caps a
signing sender at a few hundred messages a second per core (see bench/mail.md). Signing is
relaxed/relaxed so that a relay re-folding a header or trimming trailing space does not break it.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["SIGNED_HEADERS", "DkimSigner", "dkim_available"]

#: signed when present; a listed header that is absent is signed as absent, so it cannot be
#: added on the way (List-Unsubscribe on a confirmation, for one)
SIGNED_HEADERS: tuple[str, ...] = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "list-id",
    "mime-version",
    "content-type",
    "auto-submitted",
)


def _module() -> Any | None:
    # imported by name: dkimpy is optional and has no type stubs
    try:
        return importlib.import_module("dkim")
    except ImportError:
        return None


def dkim_available() -> bool:
    """Whether dkimpy is installed (``pip install 'policywatch[dkim]'``)."""
    return _module() is not None


class DkimSigner:
    """Signs finished messages for ``domain`` with the key published at ``selector._domainkey``.

    Built once at start-up: a missing dkimpy or an unusable key is a :class:`ConfigError` then,
    not a failure on the first of ten thousand messages.
    """

    def __init__(
        self,
        *,
        domain: str,
        selector: str,
        private_key: bytes,
        headers: Sequence[str] = SIGNED_HEADERS,
    ) -> None:
        dkim = _module()
        if dkim is None:
            raise ConfigError(
                "DKIM signing needs dkimpy",
                key="mail.dkim",
                expected="pip install 'policywatch[dkim]', or no DKIM key",
            )
        self._dkim = dkim
        self.domain = domain
        self.selector = selector
        self._key = private_key
        self._headers = [h.lower().encode("ascii") for h in headers]
        if b"from" not in self._headers:
            raise ConfigError("From must be signed", key="mail.dkim", expected="'from' in headers")
        try:  # fail now on a bad key, selector or domain
            self.sign(b"From: a@" + domain.encode() + b"\r\nSubject: t\r\n\r\nt\r\n")
        except (dkim.DKIMException, ValueError, UnicodeError) as exc:
            raise ConfigError(
                f"cannot sign with this DKIM key: {exc}",
                key="mail.dkim",
                expected="an RSA private key in PEM form, a selector and a domain",
            ) from exc

    @classmethod
    def from_file(cls, path: str | Path, *, domain: str, selector: str) -> DkimSigner:
        try:
            key = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the DKIM key: {exc.strerror}",
                path=str(path),
                key="mail.dkim",
                expected="a readable PEM file",
            ) from exc
        return cls(domain=domain, selector=selector, private_key=key)

    def sign(self, message: bytes) -> bytes:
        """``message`` with a ``DKIM-Signature`` header in front."""
        signature: bytes = self._dkim.sign(
            message,
            self.selector.encode("ascii"),
            self.domain.encode("ascii"),
            self._key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=self._headers,
            linesep=b"\r\n",
        )
        return signature + message

    def __repr__(self) -> str:
        return f"DkimSigner(domain={self.domain!r}, selector={self.selector!r})"
