"""Subscribing, confirming, unsubscribing and objecting, as a library (the web tests drive the
same through HTTP): a real site, a real database, a real SMTP server."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

import smtpfixture as _smtpfixture
import storefixture
from policywatch.cli import cli
from policywatch.config import load_config
from policywatch.errors import InputError, TokenError
from policywatch.mail import OutgoingMessage, SmtpMailer
from policywatch.subscriptions import (
    ConfirmationSender,
    Limits,
    TooManyRequests,
    client_key,
    confirm,
    optout_details,
    record_optout,
    subscribe_request,
    subscriber_for,
    unsubscribe,
)
from policywatch.tracker import Tracker
from smtpfixture import SmtpServer

smtp_server = _smtpfixture.smtp_server
database_url = storefixture.database_url

REPO_ROOT = Path(__file__).resolve().parent.parent
REVISED = REPO_ROOT / "docs" / "examples" / "privacy-2026-07.md"
LINK = re.compile(r"https?://[^\s\"<>]+/(confirm|unsubscribe|opt-out)/([A-Za-z0-9_-]+)")


def cli_run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def tracker(
    site: Path, smtp_server: SmtpServer, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Tracker]:
    monkeypatch.setenv("POLICYWATCH_DATABASE_URL", database_url)
    config = site / "config.toml"
    text = config.read_text().replace("port = 25", f"port = {smtp_server.port}")
    config.write_text(text.replace('host = "localhost"', 'host = "127.0.0.1"'))
    tracker = Tracker(load_config(config))
    try:
        yield tracker
    finally:
        tracker.close()


def links(data: bytes) -> dict[str, str]:
    """The tokens of the links in a message, by purpose (text part)."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()  # type: ignore[attr-defined]
    return {m.group(1): m.group(2) for m in LINK.finditer(text)}


def confirmation(tracker: Tracker, address: str, **kwargs: object) -> OutgoingMessage:
    message = subscribe_request(tracker, address, client="192.0.2.1", **kwargs)  # type: ignore[arg-type]
    assert message is not None
    return message


def test_a_request_waits_for_the_button_then_takes_effect(tracker: Tracker) -> None:
    message = confirmation(tracker, " Ann@Example.ORG ", policies=["privacy"], scope="material")
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    assert parsed["To"] == "ann@example.org"
    assert "confirm" in parsed["Subject"]
    token = links(message.data)["confirm"]
    pending = subscriber_for(tracker, token, "confirm")
    assert pending.status == "pending"
    assert [(s.policy, s.scope, s.pending) for s in pending.subscriptions] == [
        ("privacy", "material", True)
    ]
    confirmed = confirm(tracker, token)
    assert confirmed.status == "confirmed"
    assert [(s.policy, s.pending) for s in confirmed.subscriptions] == [("privacy", False)]
    assert confirm(tracker, token) == confirmed  # twice: nothing changes


def test_every_known_kind_of_address_gets_the_same_treatment(tracker: Tracker) -> None:
    """What the requester sees cannot depend on the address: the web page is the same, and
    nobody who asked never to be mailed again gets a confirmation."""
    cli_run("subscribers", "add", "old@example.org")
    left = confirm(tracker, links(confirmation(tracker, "left@example.org").data)["confirm"])
    unsubscribe(tracker, tracker.signer.sign("unsubscribe", left.id))
    for address in ("new@example.org", "old@example.org", "left@example.org"):
        assert subscribe_request(tracker, address, client="192.0.2.1") is not None
    tracker.store.suppress("bounced@example.org", "complaint")
    cli_run("subscribers", "forget", "gone@example.org")
    for address in ("bounced@example.org", "gone@example.org"):
        assert subscribe_request(tracker, address, client="192.0.2.1") is None
    for address in ("bounced@example.org", "gone@example.org"):
        kept = tracker.store.find_subscriber(address)
        assert kept is None or kept.email is None  # at most a hash, never the address again
    # the confirmed reader keeps receiving what they had until they confirm a change
    old = tracker.store.find_subscriber("old@example.org")
    assert old is not None and old.status == "confirmed"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"email": ""}, "required"),
        ({"email": "ann"}, "not a valid email"),
        ({"email": "ann@@example.org"}, "not a valid email"),
        ({"policies": ["nope"]}, "unknown policy 'nope'"),
        ({"scope": "some"}, "scope must be"),
        ({"categories": ["gossip"]}, "unknown category 'gossip'"),
    ],
)
def test_malformed_requests_are_refused_with_a_reason(
    tracker: Tracker, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"email": "ann@example.org", **kwargs}
    with pytest.raises(InputError, match=message):
        subscribe_request(tracker, client="192.0.2.1", **args)  # type: ignore[arg-type]
    assert tracker.store.list_subscribers() == []


def test_rate_limits_per_address_are_silent_and_per_client_are_not(tracker: Tracker) -> None:
    limits = Limits(per_address=2, per_client=3)
    for _ in range(2):
        assert subscribe_request(tracker, "ann@example.org", client="192.0.2.1", limits=limits)
    # a third request for the same address: the same answer, but no third email
    assert subscribe_request(tracker, "ann@example.org", client="192.0.2.9", limits=limits) is None
    assert subscribe_request(tracker, "bob@example.org", client="192.0.2.1", limits=limits)
    with pytest.raises(TooManyRequests) as raised:
        subscribe_request(tracker, "cat@example.org", client="192.0.2.1", limits=limits)
    assert raised.value.retry_after == 3600
    # one IPv6 host is one client, whichever address of its /64 it uses
    for n in range(3):
        subscribe_request(tracker, f"v6-{n}@example.org", client=f"2001:db8::{n}", limits=limits)
    with pytest.raises(TooManyRequests):
        subscribe_request(tracker, "v6@example.org", client="2001:db8::ff", limits=limits)
    assert client_key("2001:db8::1") == client_key("2001:db8::2") != client_key("2001:db9::1")
    assert client_key("::ffff:192.0.2.1") == client_key("192.0.2.1")


def test_tokens_are_bound_to_their_purpose_and_expire(tracker: Tracker) -> None:
    token = links(confirmation(tracker, "ann@example.org").data)["confirm"]
    with pytest.raises(TokenError):
        unsubscribe(tracker, token)  # a confirm token is not an unsubscribe token
    subscriber_id = tracker.signer.verify(token, "confirm")
    expired = tracker.signer.sign(
        "confirm", subscriber_id, expires=datetime.now(UTC) - timedelta(seconds=1)
    )
    with pytest.raises(TokenError, match="expired"):
        confirm(tracker, expired)
    with pytest.raises(TokenError):
        confirm(tracker, tracker.signer.sign("confirm", 999_999))  # nobody
    with pytest.raises(TokenError):
        confirm(tracker, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))


async def send_queued(tracker: Tracker) -> None:
    mailer = SmtpMailer(tracker.config.mail)
    try:
        report = await tracker.notifier.send(mailer, owner="test")
    finally:
        await mailer.close()
    assert report.fatal is None


def material_change(site: Path, tracker: Tracker) -> None:
    tracker.check()
    (site / "policies" / "privacy.md").write_text(REVISED.read_text())
    (result,) = tracker.check().results
    assert result.material


async def test_an_objection_is_recorded_once_and_survives_unsubscribing(
    site: Path, tracker: Tracker, smtp_server: SmtpServer
) -> None:
    cli_run("subscribers", "add", "ann@example.org")
    material_change(site, tracker)
    await send_queued(tracker)
    (arrived,) = smtp_server.arrived
    tokens = links(arrived.data)
    details = optout_details(tracker, tokens["opt-out"])
    assert details.title == "Privacy policy" and details.change.material
    assert details.uses and all(u.reasons for u in details.uses)
    assert any("advertising partners" in u.text for u in details.uses)
    assert any(
        r.startswith("shares data with someone new") for u in details.uses for r in u.reasons
    )
    first = record_optout(tracker, tokens["opt-out"], "email-link")
    again = record_optout(tracker, tokens["opt-out"], "web")  # a double click, another channel
    assert again == first
    assert first.channel == "email-link" and first.email == "ann@example.org"
    assert first.categories == details.categories == details.change.categories
    assert first.revision == details.change.revision
    left = unsubscribe(tracker, tokens["unsubscribe"])
    assert left.status == "unsubscribed"
    assert unsubscribe(tracker, tokens["unsubscribe"]).unsubscribed_at == left.unsubscribed_at
    assert [o.id for o in tracker.store.optouts()] == [first.id]
    # objecting after unsubscribing still works: it is not a subscription
    assert record_optout(tracker, tokens["opt-out"]) == first


async def test_unsubscribing_cancels_what_is_already_queued(
    site: Path, tracker: Tracker, smtp_server: SmtpServer
) -> None:
    cli_run("subscribers", "add", "ann@example.org", "bob@example.org")
    bob = tracker.store.find_subscriber("bob@example.org")
    assert bob is not None
    material_change(site, tracker)  # queued for both
    unsubscribe(tracker, tracker.signer.sign("unsubscribe", bob.id))
    await send_queued(tracker)
    assert smtp_server.recipients() == ["ann@example.org"]


async def test_confirmations_are_sent_in_the_background_and_retried(
    tracker: Tracker, smtp_server: SmtpServer
) -> None:
    sender = ConfirmationSender(SmtpMailer(tracker.config.mail), retries=(0.05, 0.05))
    sender.start()
    try:
        smtp_server.rcpt_replies["ann@example.org"] = "451 4.3.0 Try again later"
        sender.submit(confirmation(tracker, "ann@example.org"))
        sender.submit(confirmation(tracker, "bob@example.org"))
        await sender.join()
        assert smtp_server.recipients() == ["bob@example.org"]
        assert sender.dropped == 1  # two retries, then given up
        smtp_server.rcpt_replies["cat@example.org"] = "451 4.3.0 Try again later"
        sender.submit(confirmation(tracker, "cat@example.org"))
        await asyncio.sleep(0.02)
        del smtp_server.rcpt_replies["cat@example.org"]  # the relay recovers
        await sender.join()
        assert smtp_server.recipients() == ["bob@example.org", "cat@example.org"]
        assert sender.sent == 2
    finally:
        await sender.close()
