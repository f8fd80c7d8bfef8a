"""The factory and what every response carries: security headers, error formats, health."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp.test_utils import TestClient

from conftest import PRIVACY_V1, ClientMaker, Site, requires_pipeline, write_config
from policywatch.web.app import CSP

pytestmark = requires_pipeline


def assert_secure(headers: object, path: str) -> None:
    h = dict(headers)  # type: ignore[call-overload]
    assert h["Content-Security-Policy"] == CSP, path
    assert "script-src" not in CSP and "default-src 'none'" in CSP
    assert h["X-Content-Type-Options"] == "nosniff", path
    assert h["Referrer-Policy"] == "same-origin", path
    assert h["X-Frame-Options"] == "DENY", path
    assert h["Strict-Transport-Security"].startswith("max-age="), path  # base_url is https


async def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    for path, status in (
        ("/", 200),
        ("/policies/privacy", 200),
        ("/api/policies", 200),
        ("/feeds/all.atom", 200),
        ("/healthz", 200),
        ("/static/site.css", 200),
        ("/policies/nope", 404),
        ("/api/policies/nope/revisions", 404),
        ("/nowhere", 404),
    ):
        response = await client.get(path)
        assert response.status == status, path
        assert_secure(response.headers, path)
    first = await client.get("/")
    cached = await client.get("/", headers={"If-None-Match": first.headers["ETag"]})
    assert cached.status == 304
    assert_secure(cached.headers, "/ (304)")
    post = await client.post("/policies/privacy")
    assert post.status == 405
    assert_secure(post.headers, "POST (405)")
    assert "GET" in post.headers["Allow"]


async def test_pages_link_only_their_own_stylesheet(client: TestClient) -> None:
    html = await (await client.get("/")).text()
    assert 'rel="stylesheet" href="/static/site.css?v=' in html
    assert "style=" not in html and "<style" not in html  # the CSP would refuse inline styles
    css = await client.get(html.split('rel="stylesheet" href="')[1].split('"')[0])
    assert css.status == 200 and css.content_type == "text/css"
    assert "immutable" in css.headers["Cache-Control"]


async def test_many_concurrent_requests_all_complete(client: TestClient) -> None:
    """Worker threads share git's cat-file process: unserialised, two reads hang each other."""
    paths = ["/healthz", "/feeds/all.atom", "/", "/policies/privacy", "/api/policies"] * 12

    async def fetch(path: str) -> int:
        response = await client.get(path)
        await response.read()
        return response.status

    statuses = await asyncio.wait_for(asyncio.gather(*(fetch(p) for p in paths)), timeout=30)
    assert statuses == [200] * len(paths)


async def test_head_requests(client: TestClient) -> None:
    response = await client.head("/policies/privacy")
    assert response.status == 200
    assert response.headers["ETag"]


async def test_an_unreadable_archive_is_503_not_a_crash(
    tmp_path: Path, aiohttp_client: ClientMaker
) -> None:
    from policywatch.web import create_app

    write_config(tmp_path, [("privacy", "Privacy policy")])
    Site(tmp_path).write("privacy", PRIVACY_V1)
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "stranger.txt").write_text("not a git repository")
    client = await aiohttp_client(create_app(Site(tmp_path).config()))
    health = await client.get("/healthz")
    assert health.status == 503
    assert (await health.json())["status"] == "error"
    page = await client.get("/")
    assert page.status == 503
    assert "cannot be read" in await page.text()
    api = await client.get("/api/policies")
    assert api.status == 503 and (await api.json())["error"]["status"] == 503


async def test_an_empty_archive_serves_empty_pages(
    tmp_path: Path, aiohttp_client: ClientMaker
) -> None:
    from policywatch.web import create_app

    write_config(tmp_path, [("privacy", "Privacy policy")])
    Site(tmp_path).write("privacy", PRIVACY_V1)
    client = await aiohttp_client(create_app(Site(tmp_path).config()))
    assert (await client.get("/")).status == 200
    assert (await client.get("/policies/privacy")).status == 200
    assert (await client.get("/feeds/all.atom")).status == 200
    assert (await client.get("/policies/privacy/diff")).status == 404
    assert (await client.get("/healthz")).status == 200


async def test_a_shared_tracker_is_not_closed_by_the_app(
    recorded: Site, aiohttp_client: ClientMaker
) -> None:
    from policywatch.tracker import Tracker
    from policywatch.web import create_app

    tracker = Tracker(recorded.config())
    try:
        client = await aiohttp_client(create_app(recorded.config(), tracker=tracker))
        assert (await client.get("/")).status == 200
        await client.close()
        assert tracker.log("privacy")  # still usable after the app shut down
    finally:
        tracker.archive.close()
