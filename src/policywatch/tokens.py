"""Signed tokens for the links in emails: confirm, unsubscribe, opt-out.

A token carries a purpose-bound subject id (a subscriber, an outbox row) and an optional expiry,
never an email address: links end up in logs, proxies and forwarded mails. Layout, before
URL-safe base64 without padding (39 characters)::

    version (1) | expires, unix seconds, 0 = never (4, big-endian) | subject (8) | MAC (16)

The MAC is HMAC-SHA256 over ``purpose NUL version|expires|subject``, truncated to 128 bits. The
purpose is inside the MAC, not the token, so an unsubscribe token can never be replayed as a
confirmation. Verification tries every secret (key rotation: the first signs, the others keep
old links working) and compares in constant time; expiry is checked only after the MAC, so a
forger learns nothing from the error.

Secrets: ``POLICYWATCH_SECRET`` (one or more secrets separated by white space, the first signs)
overrides the secret file; otherwise :func:`load_secrets` reads (or creates, mode 0600) a file
holding one secret per line, newest first. A secret is any text of at least 32 characters; its
UTF-8 bytes are the key. To rotate, put a new line first and drop the old one once the links
signed with it may expire (unsubscribe links never do: keep old secrets for as long as you
want old emails' unsubscribe links to work).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import re
import secrets as _secrets
import struct
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from .errors import ConfigError, TokenError

__all__ = [
    "MIN_SECRET_LENGTH",
    "SECRET_ENV",
    "TokenSigner",
    "load_or_create_secret",
    "load_secrets",
]

SECRET_ENV = "POLICYWATCH_SECRET"
MIN_SECRET_LENGTH = 32

_VERSION = 1
_HEADER = struct.Struct(">BIQ")
_MAC_SIZE = 16
_RAW_SIZE = _HEADER.size + _MAC_SIZE
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_MAX_EXPIRY = 2**32 - 1
_MAX_SUBJECT = 2**63 - 1


class TokenSigner:
    """Signs and verifies tokens with a list of secrets: the first signs, all verify."""

    def __init__(self, secrets: Sequence[bytes]) -> None:
        if not secrets:
            raise ConfigError("no token secret", key=SECRET_ENV, expected="at least one secret")
        for secret in secrets:
            if len(secret) < MIN_SECRET_LENGTH:
                raise ConfigError(
                    f"a token secret is {len(secret)} bytes long",
                    key=SECRET_ENV,
                    expected=f"at least {MIN_SECRET_LENGTH} bytes",
                )
        self._secrets = tuple(bytes(s) for s in secrets)

    def sign(self, purpose: str, subject_id: int, *, expires: datetime | None = None) -> str:
        """A URL-safe token for ``subject_id``, valid for ``purpose`` only, until ``expires``."""
        if not purpose:
            raise ValueError("a token needs a purpose")
        if not 0 <= subject_id <= _MAX_SUBJECT:
            raise ValueError(f"subject id out of range: {subject_id}")
        stamp = 0
        if expires is not None:
            if expires.tzinfo is None:
                raise ValueError(f"naive expiry {expires!r}: pass an aware datetime")
            stamp = min(max(int(expires.timestamp()), 1), _MAX_EXPIRY)
        header = _HEADER.pack(_VERSION, stamp, subject_id)
        raw = header + _mac(self._secrets[0], purpose, header)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def verify(self, token: str, purpose: str, *, now: datetime | None = None) -> int:
        """The subject id of a valid token; :class:`TokenError` for anything else."""
        raw = _decode(token)
        header, mac = raw[: _HEADER.size], raw[_HEADER.size :]
        version, stamp, subject_id = _HEADER.unpack(header)
        # every secret is tried, even after a match, so timing does not reveal which one signed
        valid = False
        for secret in self._secrets:
            valid |= hmac.compare_digest(mac, _mac(secret, purpose, header))
        if not valid or version != _VERSION:
            raise TokenError(f"invalid {purpose} token")
        moment = now or datetime.now(UTC)
        if stamp and moment.timestamp() >= stamp:
            expired = datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")
            raise TokenError(f"{purpose} token expired at {expired}")
        return int(subject_id)


def _mac(secret: bytes, purpose: str, header: bytes) -> bytes:
    message = purpose.encode("utf-8") + b"\0" + header
    return hmac.new(secret, message, hashlib.sha256).digest()[:_MAC_SIZE]


def _decode(token: str) -> bytes:
    """Strict base64url: one spelling per token (the decoder would skip stray characters)."""
    if not isinstance(token, str) or not _TOKEN.match(token):
        raise TokenError("malformed token")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise TokenError("malformed token") from None
    if len(raw) != _RAW_SIZE or base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
        raise TokenError("malformed token")
    return raw


def load_secrets(path: Path, *, environ: Mapping[str, str] | None = None) -> tuple[bytes, ...]:
    """Every token secret, signing secret first: from ``POLICYWATCH_SECRET`` or ``path``.

    The file is created with one fresh random secret when missing. An existing file readable by
    other users is refused: whoever reads it can unsubscribe, confirm and opt out anyone.
    """
    env = os.environ if environ is None else environ
    value = env.get(SECRET_ENV)
    if value is not None:
        return _parse(value.split(), source=SECRET_ENV, key=SECRET_ENV)
    if not path.exists():
        _create(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the token secret: {exc}", path=str(path)) from exc
    if os.name == "posix" and mode & 0o077:
        raise ConfigError(
            f"the token secret file is accessible to other users (mode {mode & 0o777:o})",
            path=str(path),
            expected=f"mode 600: chmod 600 {path}",
        )
    lines = [line.strip() for line in text.splitlines()]
    return _parse([line for line in lines if line and not line.startswith("#")], source=str(path))


def load_or_create_secret(path: Path, *, environ: Mapping[str, str] | None = None) -> bytes:
    """The signing secret (the first of :func:`load_secrets`)."""
    return load_secrets(path, environ=environ)[0]


def _parse(values: Sequence[str], *, source: str, key: str | None = None) -> tuple[bytes, ...]:
    path = None if key else source
    if not values:
        raise ConfigError("no token secret", path=path, key=key, expected="one secret per line")
    for value in values:
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"a token secret is only {len(value)} characters long",
                path=path,
                key=key,
                expected=f"at least {MIN_SECRET_LENGTH} characters",
            )
    return tuple(v.encode("utf-8") for v in values)


def _create(path: Path) -> None:
    """Write a new secret atomically: a crash leaves no file, and a racing process's file wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{_secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(_secrets.token_urlsafe(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        # a process that created the file meanwhile wins: both then read the same secret
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot create the token secret: {exc}", path=str(path)) from exc
    finally:
        tmp.unlink(missing_ok=True)
