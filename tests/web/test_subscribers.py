"""The subscription pages and the opt-out API over HTTP, with a real SMTP server and a real
database: subscribe, confirm, unsubscribe (RFC 8058 one-click), object, and read the ledger."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from email.message import EmailMessage
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

import smtpfixture as _smtpfixture
import storefixture
from conftest import ClientMaker, Elements, Site, active_content, requires_pipeline
from policywatch.config import DatabaseConfig
from policywatch.errors import ConfigError
from policywatch.mail import SmtpMailer
from policywatch.subscriptions import Limits
from policywatch.tracker import Tracker
from policywatch.web import create_app
from policywatch.web.typedefs import ACCOUNTS
from smtpfixture import SmtpServer

smtp_server = _smtpfixture.smtp_server
database_url = storefixture.database_url

pytestmark = requires_pipeline

LINK = re.compile(
    r"https://policies\.example\.com(/(?:confirm|unsubscribe|opt-out)/[A-Za-z0-9_-]+)"
)
TOKEN = "t" * 24  # an API token long enough to be accepted


@dataclass
class Env:
    client: TestClient
    app: web.Application
    tracker: Tracker
    smtp: SmtpServer
    site: Site

    async def post_form(self, path: str, data: Any, **kwargs: Any) -> Any:
        return await self.client.post(path, data=data, allow_redirects=False, **kwargs)

    async def mail(self) -> list[EmailMessage]:
        """Wait for the confirmations in flight; every message the SMTP server got so far."""
        await self.app[ACCOUNTS].confirmations.join()
        return [a.message() for a in self.smtp.arrived]

    async def send_change(self) -> None:
        """Record privacy's material change (v1 -> v2) and email it to the subscribers."""
        store = self.tracker.store
        v1, v2 = self.site.revisions["privacy"][:2]
        revision = self.tracker.archive.resolve("privacy", v2)
        store.fan_out(store.record_change(revision, previous=v1))
        mailer = SmtpMailer(self.tracker.config.mail)
        try:
            report = await self.tracker.notifier.send(mailer, owner="test")
        finally:
            await mailer.close()
        assert report.fatal is None


def links(message: EmailMessage) -> dict[str, str]:
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()  # type: ignore[attr-defined]
    return {m.group(1).split("/")[1]: m.group(1) for m in LINK.finditer(text)}


MakeEnv = Callable[..., Any]


@pytest.fixture
async def make_env(
    recorded: Site,
    smtp_server: SmtpServer,
    database_url: str,
    aiohttp_client: ClientMaker,
) -> AsyncIterator[MakeEnv]:
    trackers: list[Tracker] = []

    async def make(**kwargs: Any) -> Env:
        config = recorded.config()
        config = replace(
            config,
            mail=replace(config.mail, host="127.0.0.1", port=smtp_server.port),
            database=DatabaseConfig(url=database_url),
        )
        tracker = Tracker(config)
        trackers.append(tracker)
        app = create_app(config, tracker=tracker, **kwargs)
        client = await aiohttp_client(app)
        return Env(client, app, tracker, smtp_server, recorded)

    yield make
    for tracker in trackers:
        tracker.close()
        tracker.archive.close()


@pytest.fixture
async def env(make_env: MakeEnv) -> Env:
    result: Env = await make_env()
    return result


def assert_private(response: Any) -> None:
    """A page behind a token: not cached, not referred, no cookie, no redirect."""
    assert response.status < 300 or response.status >= 400
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Set-Cookie" not in response.headers


def form_posting_to(html: str, action: str) -> dict[str, str | None]:
    (form,) = Elements(html).find("form", method="post", action=action)
    return form


# -- subscribe and confirm ------------------------------------------------------------------------


async def test_subscribe_then_confirm_with_the_button_only(env: Env) -> None:
    page = await env.client.get("/subscribe")
    assert page.status == 200
    assert Elements(await page.text()).find("form", method="post", action="/subscribe")
    response = await env.post_form(
        "/subscribe", {"email": "Ann@Example.org", "policy": "privacy", "scope": "material"}
    )
    assert response.status == 200
    assert "Check your inbox" in await response.text()
    assert "Set-Cookie" not in response.headers
    (message,) = await env.mail()
    assert message["To"] == "ann@example.org"
    assert "confirm your subscription" in message["Subject"]
    confirm = links(message)["confirm"]
    store = env.tracker.store
    # the page a link scanner would fetch: a button, and nothing changes
    for _ in range(2):
        shown = await env.client.get(confirm)
        assert shown.status == 200
        assert_private(shown)
        html = await shown.text()
        assert "Privacy policy" in html and "only material changes" in html
        assert form_posting_to(html, confirm)
        assert active_content(html) == []
    subscriber = store.find_subscriber("ann@example.org")
    assert subscriber is not None and subscriber.status == "pending"
    done = await env.post_form(confirm, {})
    assert done.status == 200
    assert_private(done)
    assert "Subscription confirmed" in await done.text()
    subscriber = store.find_subscriber("ann@example.org")
    assert subscriber is not None and subscriber.status == "confirmed"
    assert [(s.policy, s.scope, s.pending) for s in subscriber.subscriptions] == [
        ("privacy", "material", False)
    ]
    again = await env.post_form(confirm, {})  # twice: the same answer, nothing changes
    assert again.status == 200 and "Subscription confirmed" in await again.text()
    assert "Nothing to confirm" in await (await env.client.get(confirm)).text()


async def test_the_answer_does_not_depend_on_the_address(make_env: MakeEnv) -> None:
    """No enumeration: whoever the address belongs to, the page is the same."""
    env = await make_env(limits=Limits(per_client=100))
    store = env.tracker.store
    store.subscribe("confirmed@example.org", confirmed=True, source="admin")
    store.subscribe("pending@example.org", confirmed=False, source="web")
    gone = store.subscribe("left@example.org", confirmed=True, source="admin")
    store.unsubscribe(gone.id)
    store.suppress("bounced@example.org", "bounce")
    store.forget("erased@example.org")
    pages = set()
    for local in ("new", "confirmed", "pending", "left", "bounced", "erased", "nobody.at.all"):
        address = f"{local}@example.org"
        response = await env.post_form("/subscribe", {"email": address})
        assert response.status == 200, address
        pages.add((await response.text()).replace(address, "ADDRESS"))
        assert set(response.headers) == set(
            (await env.post_form("/subscribe", {"email": "x@example.org"})).headers
        )
    assert len(pages) == 1
    got = sorted(m["To"] for m in await env.mail())
    # ... but nobody who asked never to be contacted again gets anything
    assert "bounced@example.org" not in got and "erased@example.org" not in got
    assert "new@example.org" in got and "left@example.org" in got


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "an email address is required"),
        ({"email": "   "}, "an email address is required"),
        ({"email": "ann"}, "is not a valid email address"),
        ({"email": "ann@example.org", "policy": "nope"}, "unknown policy"),
        ({"email": "ann@example.org", "scope": "weekly"}, "scope must be"),
        ({"email": "ann@example.org", "category": "gossip"}, "unknown category"),
    ],
)
async def test_malformed_input_gets_a_clear_form_error(
    env: Env, data: dict[str, str], message: str
) -> None:
    response = await env.post_form("/subscribe", data)
    assert response.status == 400
    html = await response.text()
    assert message in html
    assert Elements(html).find("form", method="post", action="/subscribe")
    if data.get("email", "").strip():
        assert f'value="{data["email"]}"' in html  # what was typed is kept
    assert env.tracker.store.list_subscribers() == []
    assert await env.mail() == []


@pytest.mark.parametrize("trusted", [True, False])
async def test_behind_a_proxy_each_reader_has_a_limit_of_their_own(
    make_env: MakeEnv, recorded: Site, trusted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test client connects from 127.0.0.1, as a reverse proxy on the same host does: its
    X-Forwarded-For is believed by default, so two readers are two clients; with
    ``trusted_proxies = []`` it is ignored and everyone behind the proxy shares one limit."""
    if not trusted:
        config = recorded.config()
        site = replace(config.site, trusted_proxies=())
        monkeypatch.setattr(recorded, "config", lambda: replace(config, site=site))
    env = await make_env(limits=Limits(per_client=1, per_address=5))

    async def ask(email: str, client: str) -> int:
        response = await env.post_form(
            "/subscribe", {"email": email}, headers={"X-Forwarded-For": client}
        )
        return int(response.status)

    assert await ask("ann@example.org", "203.0.113.9") == 200
    assert await ask("bob@example.org", "198.51.100.7") == (200 if trusted else 429)
    assert await ask("cid@example.org", "203.0.113.9") == 429  # ann's client, again


async def test_a_client_asking_too_often_is_told_to_wait(make_env: MakeEnv) -> None:
    env = await make_env(limits=Limits(per_client=2, per_address=1))
    for n in range(2):
        response = await env.post_form("/subscribe", {"email": "ann@example.org"})
        assert response.status == 200, n
    refused = await env.post_form("/subscribe", {"email": "bob@example.org"})
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "3600"
    assert "try again later" in await refused.text()
    # the address limit is silent: the second request for ann was answered, but not mailed
    assert [m["To"] for m in await env.mail()] == ["ann@example.org"]


async def test_the_policy_page_form_subscribes(env: Env) -> None:
    html = await (await env.client.get("/policies/privacy")).text()
    (form,) = Elements(html).find("form", method="post", action="/subscribe")
    assert form is not None
    response = await env.post_form(
        "/subscribe", {"policy": "privacy", "email": "ann@example.org", "scope": "all"}
    )
    assert response.status == 200
    (message,) = await env.mail()
    assert "Privacy policy" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


# -- unsubscribe ----------------------------------------------------------------------------------


async def test_one_click_unsubscribe(env: Env) -> None:
    store = env.tracker.store
    ann = store.subscribe("ann@example.org", confirmed=True, source="admin")
    await env.send_change()
    (message,) = await env.mail()
    url = message["List-Unsubscribe"].strip("<>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = url.removeprefix("https://policies.example.com")
    shown = await env.client.get(path)
    assert shown.status == 200
    assert_private(shown)
    html = await shown.text()
    assert "a…@example.org" in html and "ann@example.org" not in html
    assert Elements(html).find("input", name="List-Unsubscribe", value="One-Click")
    assert form_posting_to(html, path)
    assert store.subscriber(ann.id).status == "confirmed"  # type: ignore[union-attr]
    # what a mail provider sends (RFC 8058 section 3.2): no cookie, no redirect, 200
    for _ in range(2):
        response = await env.client.post(
            path,
            data="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            allow_redirects=False,
        )
        assert response.status == 200
        assert_private(response)
        assert "You are unsubscribed" in await response.text()
    left = store.subscriber(ann.id)
    assert left is not None and left.status == "unsubscribed"
    # the page of an unsubscribed address says so, and offers nothing to press
    assert "You are unsubscribed" in await (await env.client.get(path)).text()


async def test_an_unsubscribed_address_gets_nothing_more_even_if_queued(env: Env) -> None:
    store = env.tracker.store
    store.subscribe("ann@example.org", confirmed=True, source="admin")
    bob = store.subscribe("bob@example.org", confirmed=True, source="admin")
    v1, v2 = env.site.revisions["privacy"][:2]
    store.fan_out(store.record_change(env.tracker.archive.resolve("privacy", v2), previous=v1))
    token = env.tracker.signer.sign("unsubscribe", bob.id)  # the link in bob's earlier emails
    response = await env.post_form(f"/unsubscribe/{token}", {"List-Unsubscribe": "One-Click"})
    assert response.status == 200
    await env.send_change()  # sends what is queued
    assert [m["To"] for m in await env.mail()] == ["ann@example.org"]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("prefix", ["/confirm", "/unsubscribe", "/opt-out"])
async def test_forged_and_malformed_tokens_are_404(env: Env, method: str, prefix: str) -> None:
    forged = env.tracker.signer.sign("something-else", 1)
    for token in (forged, "A" * 39, "not-a-token", "x" * 65):
        response = await env.client.request(method, f"{prefix}/{token}", allow_redirects=False)
        assert response.status == 404, (prefix, token)
        assert "Set-Cookie" not in response.headers
    assert env.tracker.store.list_subscribers() == []


# -- opt out --------------------------------------------------------------------------------------


async def test_objecting_to_a_material_change(env: Env) -> None:
    store = env.tracker.store
    store.subscribe("ann@example.org", confirmed=True, source="admin")
    await env.send_change()
    (message,) = await env.mail()
    found = links(message)
    opt_out = found["opt-out"]
    shown = await env.client.get(opt_out)
    assert shown.status == 200
    assert_private(shown)
    html = await shown.text()
    assert "advertising partners" in html  # the new use, in the policy's words
    assert "shares data with someone new" in html  # why it matters, in plain words
    assert form_posting_to(html, opt_out)
    assert active_content(html) == []
    assert store.optouts() == []  # looking changes nothing
    for _ in range(2):  # a double click is one objection
        response = await env.post_form(opt_out, {})
        assert response.status == 200
        assert_private(response)
        assert "Your objection is recorded" in await response.text()
    (entry,) = store.optouts()
    change = store.find_change("privacy", env.site.revisions["privacy"][1])
    assert change is not None
    assert (entry.email, entry.channel, entry.change_id) == (
        "ann@example.org",
        "email-link",
        change.id,
    )
    assert entry.revision == change.revision and entry.categories == change.categories
    assert "third-party-sharing" in entry.categories
    # unsubscribing afterwards withdraws nothing
    assert (await env.post_form(found["unsubscribe"], {})).status == 200
    assert [o.id for o in store.optouts()] == [entry.id]


# -- the ledger API -------------------------------------------------------------------------------


async def test_the_optouts_api_needs_its_token(
    make_env: MakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = await make_env()
    assert (await env.client.get("/api/optouts")).status == 404  # not enabled: not there
    monkeypatch.setenv("POLICYWATCH_API_TOKEN", TOKEN)
    env = await make_env()
    store = env.tracker.store
    store.subscribe("ann@example.org", confirmed=True, source="admin")
    store.subscribe("bob@example.org", confirmed=True, source="admin")
    await env.send_change()
    for message in await env.mail():
        assert (await env.post_form(links(message)["opt-out"], {})).status == 200
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-wrong-token"},
        {"Authorization": TOKEN},
    ):
        refused = await env.client.get("/api/optouts", headers=headers)
        assert refused.status == 401, headers
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await refused.json())["error"]["status"] == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    response = await env.client.get("/api/optouts", headers=auth)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "Access-Control-Allow-Origin" not in response.headers  # personal data
    document = await response.json()
    assert document["schema"] == "policywatch.optouts/1"
    rows = document["optouts"]
    assert sorted(r["email"] for r in rows) == ["ann@example.org", "bob@example.org"]
    assert {r["channel"] for r in rows} == {"email-link"}
    assert document["next"] == rows[-1]["id"]
    later = await (await env.client.get(f"/api/optouts?after={rows[0]['id']}", headers=auth)).json()
    assert [r["id"] for r in later["optouts"]] == [rows[1]["id"]]
    empty = await (
        await env.client.get(f"/api/optouts?after={document['next']}", headers=auth)
    ).json()
    assert empty["optouts"] == [] and empty["next"] == document["next"]
    assert (await env.client.get("/api/optouts?after=-1", headers=auth)).status == 400
    monkeypatch.setenv("POLICYWATCH_API_TOKEN", "short")
    with pytest.raises(ConfigError, match="POLICYWATCH_API_TOKEN"):
        await make_env()


# -- health ---------------------------------------------------------------------------------------


async def test_healthz_checks_the_database(
    env: Env, recorded: Site, aiohttp_client: ClientMaker
) -> None:
    body = await (await env.client.get("/healthz")).json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["archive"] == "ok"
    broken = DatabaseConfig(url="sqlite:////nonexistent/x/pw.db")
    config = replace(recorded.config(), database=broken)
    tracker = Tracker(config)
    try:
        client = await aiohttp_client(create_app(config, tracker=tracker))
        response = await client.get("/healthz")
        assert response.status == 503
        body = await response.json()
        assert body["database"] == "error" and body["archive"] == "ok"
        assert "nonexistent" not in await response.text()  # the details stay in the log
        subscribe = await client.post("/subscribe", data={"email": "ann@example.org"})
        assert subscribe.status == 503
    finally:
        tracker.archive.close()
