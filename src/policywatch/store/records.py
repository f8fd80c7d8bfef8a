"""The plain values the store hands out, and the one way an address becomes a key.

Rows leave the store as frozen dataclasses with aware UTC datetimes and tuples, never as
SQLAlchemy rows, so callers (CLI, web, sender) cannot hold a connection open by accident.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from ..errors import InputError
from ..models import CATEGORIES

__all__ = [
    "CHANNELS",
    "ChangeRecord",
    "Channel",
    "OptOut",
    "OutboxItem",
    "OutboxStatus",
    "Scope",
    "Subscriber",
    "SubscriberStatus",
    "Subscription",
    "check_categories",
    "check_policy_id",
    "email_hash",
    "normalise_email",
    "notifies",
]

SubscriberStatus = Literal["pending", "confirmed", "unsubscribed", "suppressed", "forgotten"]
OutboxStatus = Literal["queued", "sending", "sent", "failed", "cancelled"]
Scope = Literal["all", "material"]
Channel = Literal["email-link", "web", "api", "admin"]

CHANNELS: tuple[str, ...] = get_args(Channel)
SCOPES: tuple[str, ...] = get_args(Scope)

#: a policy id as config.toml allows it, or ``*`` for every policy
_POLICY_ID = re.compile(r"\*|[a-z0-9-]+\Z")
#: deliberately loose: the address is checked for shape only; deliverability is the mailer's job
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+\Z")
_MAX_EMAIL = 254


def normalise_email(email: str) -> str:
    """The canonical form every lookup, uniqueness check and suppression hash uses.

    Trimmed and lower-cased as a whole. RFC 5321 lets the local part be case-sensitive, but no
    mainstream provider treats it so, and a suppression that ``Bob@x`` escapes by writing
    ``bob@x`` would break the promise to stop mailing someone.
    """
    value = email.strip().lower()
    if len(value) > _MAX_EMAIL or not _EMAIL.match(value):
        raise InputError(f"not an email address: {email!r}")
    return value


def email_hash(email: str) -> str:
    """SHA-256 (hex) of the normalised address: what survives erasure, to keep suppressing it.

    Unkeyed on purpose: a keyed hash would stop matching after a secret rotation, and
    suppressions must outlive every key. The cost is that a hash can be confirmed by someone who
    already knows the address (see docs/decisions/0003-database.md).
    """
    return hashlib.sha256(normalise_email(email).encode("utf-8")).hexdigest()


def check_policy_id(policy: str) -> str:
    if not _POLICY_ID.match(policy):
        raise InputError(f"not a policy id: {policy!r} (expected [a-z0-9-]+ or '*')")
    return policy


def check_categories(categories: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Validate category ids and return them de-duplicated in the contract's order."""
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise InputError(
            f"unknown categor{'ies' if len(unknown) > 1 else 'y'} {', '.join(map(repr, unknown))}"
            f" (expected some of: {', '.join(CATEGORIES)})"
        )
    return tuple(c for c in CATEGORIES if c in categories)


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """A recorded revision change: what the outbox fans out and the opt-out ledger refers to."""

    id: int
    policy: str
    revision: str
    previous_revision: str | None
    date: datetime
    kind: str
    material: bool
    categories: tuple[str, ...]
    summary: str
    restores: str | None
    created_at: datetime

    @property
    def notifies(self) -> bool:
        return notifies(self.kind, self.restores)


def notifies(kind: str, restores: str | None) -> bool:
    """Whether a change is anyone's news: never a first record, a technical re-extraction, an
    editorial edit or a flip-flop back to an earlier text."""
    return kind == "change" and restores is None


@dataclass(frozen=True, slots=True)
class Subscription:
    """One policy (or ``*``) a subscriber follows.

    ``pending`` rows were asked for through the web form and take effect only when the owner of
    the address confirms, so nobody can change another person's subscriptions by typing their
    address. ``categories`` None means every category.
    """

    policy: str
    scope: Scope
    categories: tuple[str, ...] | None
    pending: bool = False


@dataclass(frozen=True, slots=True)
class Subscriber:
    """``email`` is None once the subscriber is forgotten; ``email_hash`` stays."""

    id: int
    email: str | None
    email_hash: str
    status: SubscriberStatus
    source: str
    created_at: datetime
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None
    subscriptions: tuple[Subscription, ...] = ()


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One email to send (a change for a subscriber), leased to one sender until it expires.

    ``attempts`` counts claims, so it includes attempts a crashed sender never reported.
    ``message_id`` is the left-hand side of the Message-ID (the mailer adds ``@domain``); it is
    derived from the change and the subscriber, so a retry after a crash reuses it.
    """

    id: int
    change_id: int
    subscriber_id: int
    email: str | None
    policy: str
    revision: str
    material: bool
    message_id: str
    status: OutboxStatus
    attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    last_error: str | None
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class OptOut:
    """One entry of the append-only opt-out ledger.

    ``subscriber_id`` and ``email`` are None once the subscriber is forgotten; ``email_hash``
    lets the site still match the objection against an address it holds elsewhere.
    """

    id: int
    subscriber_id: int | None
    email: str | None
    email_hash: str
    policy: str
    revision: str
    change_id: int
    categories: tuple[str, ...]
    channel: Channel
    created_at: datetime
