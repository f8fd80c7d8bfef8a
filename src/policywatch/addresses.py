"""Email addresses as people type them, checked before anything is stored.

email-validator checks the syntax (RFC 5321/5322 with internationalised domains) and normalises
the domain; deliverability (a DNS lookup) is not checked: subscribing must not touch the network,
and a confirmation email is the real test of an address.
"""

from __future__ import annotations

from .errors import InputError

__all__ = ["valid_email"]


def valid_email(address: str) -> str:
    """The normalised address, or :class:`InputError` saying what is wrong with it."""
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InputError(f"{address!r} is not a valid email address: {exc}") from None
    return str(result.normalized)
