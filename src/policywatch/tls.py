"""The TLS client contexts policywatch makes: certificates are always verified.

One place for both uses of a configured ``ca_file``: ``[mail] ca_file`` *replaces* the system's
trust store (a relay with a private CA should not also be trusted on a certificate any public CA
would issue for its name), ``[fetch] ca_file`` is *added* to it (the other sources are public
sites). A file that is not PEM is a configuration error naming its key.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from .errors import ConfigError

__all__ = ["verifying_context"]


def verifying_context(ca_file: Path | None, *, key: str, system_store: bool) -> ssl.SSLContext:
    """A client context trusting ``ca_file`` (with the system's store too if ``system_store``),
    or the system's store alone without one."""
    try:
        if ca_file is None:
            return ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if not system_store:
            return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        context.load_verify_locations(cafile=str(ca_file))
        return context
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"cannot load {ca_file}: {exc}", key=key, expected="a PEM file of CA certificates"
        ) from None
