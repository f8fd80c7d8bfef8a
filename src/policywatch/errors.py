"""The one exception tree of policywatch.

Catch :class:`PolicywatchError` to catch everything policywatch raises on purpose; anything else
(``TypeError``, ``KeyError`` ...) is a bug and is left to crash so that it gets fixed::

    PolicywatchError          base
    ├── ConfigError           bad config.toml / environment: exit 2 before anything is written
    ├── InputError            a file or argument the user named is unusable (missing, binary,
    │                         too big, undecodable, malformed front matter): exit 2
    ├── SourceError           one policy failed, the others go on (exit 1)
    │   ├── FetchError        .url .status .transient
    │   └── ExtractError      selectors matched nothing, the text is empty or not the policy
    ├── RevisionNotFound      a revision name that resolves to nothing: exit 2, HTTP 404
    ├── ArchiveError          git failed: fatal, the run stops
    ├── StoreError            database failed: fatal
    ├── DeliveryError         SMTP; .permanent decides between retry and give up
    └── TokenError            unknown, forged or expired token: HTTP 404

Library errors are re-raised as ours with ``raise ... from exc`` so no adapter leaks GitPython,
aiohttp or SQLAlchemy exceptions to callers.
"""

from __future__ import annotations

__all__ = [
    "ArchiveError",
    "ConfigError",
    "DeliveryError",
    "ExtractError",
    "FetchError",
    "InputError",
    "PolicywatchError",
    "RevisionNotFound",
    "SourceError",
    "StoreError",
    "TokenError",
]


class PolicywatchError(Exception):
    """Base of every error policywatch raises on purpose."""

    #: process exit code the CLI uses for this error
    exit_code: int = 1


class ConfigError(PolicywatchError):
    """The configuration is unusable; nothing has been written.

    ``path`` is the config file, ``key`` the dotted key at fault (or None for the whole file) and
    ``expected`` a short description of what would be accepted.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        key: str | None = None,
        expected: str | None = None,
    ) -> None:
        self.path = path
        self.key = key
        self.expected = expected
        parts = []
        if path:
            parts.append(str(path))
        if key:
            parts.append(key)
        prefix = ": ".join(parts)
        text = f"{prefix}: {message}" if prefix else message
        if expected:
            text += f" (expected {expected})"
        super().__init__(text)


class InputError(PolicywatchError):
    """A file or argument named by the user cannot be used as a policy document."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class SourceError(PolicywatchError):
    """Reading one policy's source failed; the run goes on with the other policies."""

    def __init__(self, message: str, *, policy: str | None = None) -> None:
        self.policy = policy
        super().__init__(message)


class FetchError(SourceError):
    """The source could not be fetched. ``transient`` says whether retrying later may help."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        transient: bool = False,
        policy: str | None = None,
    ) -> None:
        self.url = url
        self.status = status
        self.transient = transient
        super().__init__(message, policy=policy)


class ExtractError(SourceError):
    """The source was read but did not yield the policy text (no match, empty, error page)."""


class RevisionNotFound(PolicywatchError):
    """A revision name (id prefix, date, ``latest~N``) that resolves to nothing."""

    exit_code = 2

    def __init__(self, message: str, *, policy: str | None = None, name: str | None = None) -> None:
        self.policy = policy
        self.name = name
        super().__init__(message)


class ArchiveError(PolicywatchError):
    """The git archive failed; fatal for the run."""


class StoreError(PolicywatchError):
    """The database failed; fatal for the run."""


class DeliveryError(PolicywatchError):
    """Sending an email failed. ``permanent`` errors suppress the address; others are retried."""

    def __init__(self, message: str, *, permanent: bool = False, fatal: bool = False) -> None:
        self.permanent = permanent
        #: the sender itself is broken (auth, relay refusing everything): stop, suppress nobody
        self.fatal = fatal
        super().__init__(message)


class TokenError(PolicywatchError):
    """An unknown, forged or expired token."""
