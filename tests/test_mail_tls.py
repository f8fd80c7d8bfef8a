"""SMTP over STARTTLS and implicit TLS against a real aiosmtpd server with a throwaway CA.

The certificate is always verified: a test trusts its CA through ``[mail] ca_file``, never by
turning verification off. The failures that matter are the quiet ones: a relay whose certificate
nobody vouches for, or a STARTTLS that is not on offer, must stop the run before a password or a
message crosses the wire, and must not blame (suppress) the recipients.
"""

from __future__ import annotations

import gc
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import smtpfixture
from policywatch.config import Config, load_config
from policywatch.errors import ConfigError
from policywatch.mail import OutgoingMessage, SendResult, SmtpMailer
from smtpfixture import SmtpServer, TlsFiles

smtp_auth_server = smtpfixture.smtp_auth_server
smtp_starttls_server = smtpfixture.smtp_starttls_server
smtp_tls_server = smtpfixture.smtp_tls_server
tls_files = smtpfixture.tls_files

CREDENTIALS = {
    "POLICYWATCH_SMTP_USERNAME": smtpfixture.USERNAME,
    "POLICYWATCH_SMTP_PASSWORD": smtpfixture.PASSWORD,
}

# aiosmtplib leaves the plain TCP transport under a TLS session for the garbage collector when the
# session ends abnormally (we close the client; the library dropped its reference). The warning
# would surface at a random later collection, in whatever test runs then: collect after every test
# of this module, and ignore exactly that warning here.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture(autouse=True)
def _collect_leaked_transports() -> Iterator[None]:
    yield
    gc.collect()


def write_config(root: Path, server: SmtpServer, security: str, extra: str = "") -> Path:
    (root / "policy.md").write_text("# Policy\n\nWe keep logs for 30 days.\n")
    path = root / "config.toml"
    path.write_text(
        f"""
[mail]
host = "{server.host}"
port = {server.port}
sender = "Example Co. <privacy@example.com>"
security = "{security}"
rate = 10000
connections = 2
{extra}

[[policy]]
id = "example"
title = "Example"
source = "policy.md"
"""
    )
    return path


def configure(
    root: Path,
    server: SmtpServer,
    security: str,
    extra: str = "",
    environ: Mapping[str, str] = CREDENTIALS,
) -> Config:
    return load_config(write_config(root, server, security, extra), environ=environ)


def trust(root: Path, ca: Path) -> str:
    """Copy ``ca`` beside the config and name it relatively, as a site would."""
    (root / "certs").mkdir(exist_ok=True)
    shutil.copy(ca, root / "certs" / "relay-ca.pem")
    return 'ca_file = "certs/relay-ca.pem"'


def messages(count: int) -> list[OutgoingMessage]:
    return [
        OutgoingMessage(
            key=n,
            recipient=f"reader{n}@example.org",
            data=(
                f"From: privacy@example.com\r\nTo: reader{n}@example.org\r\n"
                f"Subject: change {n}\r\n\r\nBody {n}.\r\n"
            ).encode(),
        )
        for n in range(1, count + 1)
    ]


async def send(config: Config, count: int = 3) -> tuple[list[str], list[SendResult]]:
    async with SmtpMailer(config.mail, timeout=10, local_hostname="pw.test") as mailer:
        results = await mailer.send(messages(count))
    assert all(not r.suppress for r in results)  # a TLS failure never blames an address
    return [r.status for r in results], results


async def test_starttls_logs_in_and_delivers_encrypted(
    tmp_path: Path, smtp_starttls_server: SmtpServer, tls_files: TlsFiles
) -> None:
    config = configure(tmp_path, smtp_starttls_server, "starttls", trust(tmp_path, tls_files.ca))
    assert config.mail.ca_file == tmp_path.resolve() / "certs" / "relay-ca.pem"
    statuses, _ = await send(config)
    assert statuses == ["ok"] * 3
    assert sorted(smtp_starttls_server.recipients()) == [
        f"reader{n}@example.org" for n in (1, 2, 3)
    ]
    assert all(a.tls for a in smtp_starttls_server.arrived)
    # one login per connection, each after STARTTLS
    assert smtp_starttls_server.auth_commands
    assert all(smtp_starttls_server.auth_commands)
    assert len(smtp_starttls_server.auth_commands) == smtp_starttls_server.connections


async def test_implicit_tls_logs_in_and_delivers(
    tmp_path: Path, smtp_tls_server: SmtpServer, tls_files: TlsFiles
) -> None:
    config = configure(tmp_path, smtp_tls_server, "tls", trust(tmp_path, tls_files.ca))
    statuses, _ = await send(config)
    assert statuses == ["ok"] * 3
    assert len(smtp_tls_server.arrived) == 3
    assert all(a.tls for a in smtp_tls_server.arrived)
    assert smtp_tls_server.auth_commands and all(smtp_tls_server.auth_commands)


async def test_wrong_password_over_tls_is_fatal(
    tmp_path: Path, smtp_tls_server: SmtpServer, tls_files: TlsFiles
) -> None:
    environ = {**CREDENTIALS, "POLICYWATCH_SMTP_PASSWORD": "wrong"}
    config = configure(tmp_path, smtp_tls_server, "tls", trust(tmp_path, tls_files.ca), environ)
    statuses, results = await send(config)
    assert statuses == ["fatal"] * 3
    assert "login failed" in results[0].reply
    assert smtp_tls_server.arrived == []


@pytest.mark.parametrize("security", ["starttls", "tls"])
@pytest.mark.parametrize("trusted", ["other_ca", "system store"])
async def test_certificate_from_an_untrusted_ca_is_fatal(
    tmp_path: Path,
    tls_files: TlsFiles,
    smtp_starttls_server: SmtpServer,
    smtp_tls_server: SmtpServer,
    security: str,
    trusted: str,
) -> None:
    server = smtp_starttls_server if security == "starttls" else smtp_tls_server
    extra = trust(tmp_path, tls_files.other_ca) if trusted == "other_ca" else ""
    config = configure(tmp_path, server, security, extra)
    statuses, results = await send(config)
    assert statuses == ["fatal"] * 3
    first = results[0]
    assert first.stage == "connect"
    # the message names the relay, the cause and what it was checked against
    assert f"TLS certificate of {server.host}:{server.port} not trusted" in first.reply
    assert "unable to get local issuer certificate" in first.reply
    if trusted == "other_ca":
        assert f"ca_file {config.mail.ca_file}" in first.reply
    else:
        assert "system trust store" in first.reply
    error = first.error
    assert error is not None and error.fatal and not error.permanent
    assert first.reply in str(error)
    assert all(r.reply.startswith("not attempted: TLS certificate") for r in results[1:])
    # nothing crossed: no password, no message
    assert server.auth_commands == []
    assert server.arrived == [] and server.mail_commands == 0


async def test_starttls_not_offered_is_fatal_and_never_logs_in_clear(
    tmp_path: Path, smtp_auth_server: SmtpServer
) -> None:
    """The server would happily take AUTH in clear: the client must not offer it one."""
    config = configure(tmp_path, smtp_auth_server, "starttls")
    statuses, results = await send(config)
    assert statuses == ["fatal"] * 3
    assert results[0].stage == "connect"
    assert "STARTTLS" in results[0].reply
    assert smtp_auth_server.auth_commands == []
    assert smtp_auth_server.arrived == [] and smtp_auth_server.mail_commands == 0


def test_ca_file_must_exist(tmp_path: Path) -> None:
    server = SmtpServer(port=2525)
    with pytest.raises(ConfigError) as info:
        configure(tmp_path, server, "starttls", 'ca_file = "certs/missing.pem"')
    assert info.value.key == "mail.ca_file"
    assert "missing.pem" in str(info.value)


def test_ca_file_that_is_not_pem_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    config = configure(tmp_path, SmtpServer(port=2525), "tls", 'ca_file = "ca.pem"')
    with pytest.raises(ConfigError) as info:
        SmtpMailer(config.mail)
    assert info.value.key == "mail.ca_file"


@pytest.mark.parametrize("key", ["username", "password"])
def test_credentials_are_not_accepted_from_the_file(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        configure(tmp_path, SmtpServer(port=2525), "tls", f'{key} = "secret"')
    assert info.value.key == f"mail.{key}"
