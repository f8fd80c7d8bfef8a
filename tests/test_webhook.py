"""The opt-out webhook against a real local receiver: signed, in order, retried, never lost."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from click.testing import CliRunner

import storefixture
from policywatch.cli import cli
from policywatch.config import load_config
from policywatch.models import Revision
from policywatch.tracker import Tracker
from policywatch.webhook import OptoutWebhook, sign_body, webhook_secret

database_url = storefixture.database_url

ServerMaker = Callable[..., Awaitable[TestServer]]


@dataclass
class Receiver:
    """The site's own system: answers ``statuses`` in turn (then 200) and keeps what it got."""

    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="ok" if status < 300 else "nope")

    def ids(self) -> list[int]:
        return [json.loads(body)["optout"]["id"] for _, body in self.received]


@pytest.fixture
async def receiver(aiohttp_server: ServerMaker) -> tuple[Receiver, str]:
    box = Receiver()
    app = web.Application()
    app.router.add_post("/hook", box.handle)
    server = await aiohttp_server(app)
    return box, str(server.make_url("/hook"))


def make_tracker(site: Path, url: str) -> Tracker:
    config = site / "config.toml"
    config.write_text(config.read_text() + f'\n[optouts]\nwebhook = "{url}"\n')
    return Tracker(load_config(config))


@pytest.fixture
def site_db(site: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("POLICYWATCH_DATABASE_URL", database_url)
    yield site


def object(tracker: Tracker, *addresses: str) -> None:
    """Record one objection per address to a material change."""
    store = tracker.store
    change = store.record_change(
        Revision(
            policy="privacy",
            id="b" * 40,
            date=datetime(2026, 7, 1, tzinfo=UTC),
            kind="change",
            material=True,
            summary="shares data with advertisers",
            categories=("third-party-sharing",),
        ),
        previous="a" * 40,
    )
    for address in addresses:
        subscriber = store.subscribe(address, confirmed=True, source="admin")
        store.record_optout(subscriber.id, change, None, "email-link")


async def test_each_objection_is_posted_signed_and_a_500_is_retried(
    site_db: Path, receiver: tuple[Receiver, str]
) -> None:
    box, url = receiver
    tracker = make_tracker(site_db, url)
    try:
        object(tracker, "ann@example.org", "bob@example.org")
        box.statuses = [500]
        hook = OptoutWebhook(tracker, owner="test", retries=(0.01,))
        async with aiohttp.ClientSession() as session:
            report = await hook.deliver(session)
        assert report.delivered == 2 and report.error is None
        assert box.ids() == [1, 1, 2]  # the first refused once, then taken
        secret = webhook_secret(tracker)
        for headers, body in box.received:
            expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            assert headers["X-Policywatch-Signature"] == f"sha256={expected}"
            assert headers["Content-Type"] == "application/json"
            document = json.loads(body)
            assert document["schema"] == "policywatch.optout/1"
            assert headers["X-Policywatch-Delivery"] == str(document["optout"]["id"])
        entry = json.loads(box.received[-1][1])["optout"]
        assert entry["email"] == "bob@example.org"
        assert entry["categories"] == ["third-party-sharing"]
        assert entry["channel"] == "email-link" and entry["policy"] == "privacy"
        # nothing is posted twice
        async with aiohttp.ClientSession() as session:
            assert (await hook.deliver(session)).delivered == 0
        assert len(box.received) == 3
    finally:
        tracker.close()


async def test_a_receiver_that_stays_down_gets_everything_later(
    site_db: Path, receiver: tuple[Receiver, str]
) -> None:
    box, url = receiver
    tracker = make_tracker(site_db, url)
    now = [0.0]
    try:
        object(tracker, "ann@example.org")
        box.statuses = [503, 503]
        hook = OptoutWebhook(tracker, owner="test", retries=(0.01,), clock=lambda: now[0])
        assert hook.due()
        async with aiohttp.ClientSession() as session:
            report = await hook.deliver(session)
            assert report.delivered == 0 and report.error and "503" in report.error
            assert not hook.due()  # backing off
            now[0] += 31
            assert hook.due()
            object(tracker, "bob@example.org")  # recorded meanwhile
            assert (await hook.deliver(session)).delivered == 2
        assert box.ids() == [1, 1, 1, 2]  # twice refused, then both in order
        assert hook.failures == 0
        # a second process starting afresh finds nothing left to send
        other = OptoutWebhook(tracker, owner="other")
        async with aiohttp.ClientSession() as session:
            assert (await other.deliver(session)).delivered == 0
    finally:
        tracker.close()


async def test_one_process_delivers_at_a_time(
    site_db: Path, receiver: tuple[Receiver, str]
) -> None:
    _, url = receiver
    tracker = make_tracker(site_db, url)
    try:
        object(tracker, "ann@example.org")
        assert tracker.store.acquire_lock("optouts-webhook", "elsewhere", timedelta(minutes=1))
        async with aiohttp.ClientSession() as session:
            report = await OptoutWebhook(tracker, owner="here").deliver(session)
        assert report.skipped and report.delivered == 0
    finally:
        tracker.close()


def test_the_cli_prints_the_secret_receivers_verify_with(site: Path) -> None:
    result = CliRunner().invoke(cli, ["optouts", "--webhook-secret"])
    assert result.exit_code == 0, result.output
    secret = result.output.strip()
    assert len(secret) == 64 and int(secret, 16) >= 0
    assert (
        sign_body(secret, b"{}")
        == "sha256=" + hmac.new(secret.encode(), b"{}", hashlib.sha256).hexdigest()
    )
    tracker = Tracker(load_config(site / "config.toml"))
    assert webhook_secret(tracker) == secret
    assert tracker.signer.sign("x", 1)  # the signing secret itself is not what was printed
    assert secret.encode() not in (site / "policywatch.secret").read_bytes()


def test_notify_delivers_new_objections_too(site_db: Path) -> None:
    """Without serve (a cron'd notify), objections still reach the site's systems."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    bodies: list[bytes] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        tracker = make_tracker(site_db, f"http://127.0.0.1:{server.server_address[1]}/")
        try:
            object(tracker, "ann@example.org")
        finally:
            tracker.close()
        result = CliRunner().invoke(cli, ["notify"])
        assert result.exit_code == 0, result.output
        assert "opt-out webhook: delivered 1" in result.output
        assert "delivered 0" in CliRunner().invoke(cli, ["notify"]).output
    finally:
        server.shutdown()
        server.server_close()
    assert [json.loads(b)["optout"]["email"] for b in bodies] == ["ann@example.org"]
