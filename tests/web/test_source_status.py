"""A failing source shows on the public pages and in the API, and stops showing once it reads.

A real web source (tests/pagesite.py) answers 503 or hostile headers between real
``Tracker.check()`` runs; the real app is asked with ``aiohttp_client``, pages fetched (and
cached, with their ETags) before the failure included.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

import pagesite as _pagesite
from conftest import MISSING, ClientMaker, active_content
from pagesite import Page, PageSite
from policywatch.config import Config, load_config
from policywatch.tracker import CheckReport, Tracker

pagesite = _pagesite.pagesite

pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)}")

WEB_POLICY = (
    "<!doctype html><html><body><main><h1>Privacy</h1>"
    "<p>We record the name and postal address you give us at checkout.</p>"
    "<p>We keep invoices for seven years because the tax office requires it.</p>"
    "<p>We send your postal address to the carrier that delivers your order to your door.</p>"
    "<p>You may ask us for a copy of what we hold about you, or ask us to correct it.</p>"
    "</main></body></html>"
)
NOTICE = "could not read this policy's source"
HOSTILE_TYPE = "application/x-<script>alert(1)</script>"


@pytest.fixture
def site(tmp_path: Path, pagesite: PageSite) -> Iterator[Config]:
    (tmp_path / "terms.md").write_text("# Terms\n\nOrders bind once confirmed by email.\n")
    (tmp_path / "config.toml").write_text(
        '[site]\nname = "Example Co."\nbase_url = "https://policies.example.com"\n\n'
        '[fetch]\ntimeout = "2s"\nretries = 0\n\n'
        f'[[policy]]\nid = "privacy"\ntitle = "Privacy policy"\nsource = "{pagesite.url("/p")}"\n'
        'select = ["main"]\n\n'
        '[[policy]]\nid = "terms"\ntitle = "Terms"\nsource = "terms.md"\n'
    )
    pagesite.pages["/p"] = Page(WEB_POLICY)
    config = load_config(tmp_path / "config.toml")
    report = check(config)
    assert all(r.status == "first" for r in report.results), [r.error for r in report.results]
    yield config


def check(config: Config, ids: Sequence[str] = ()) -> CheckReport:
    """A check as ``policywatch check`` (another process) runs it: its own tracker."""
    tracker = Tracker(config)
    try:
        return tracker.check(ids)
    finally:
        tracker.close()


async def get(client: TestClient, path: str, etag: str | None = None) -> tuple[int, str, str]:
    headers = {"If-None-Match": etag} if etag else {}
    resp = await client.get(path, headers=headers)
    return resp.status, await resp.text(), resp.headers.get("ETag", "")


async def test_a_failing_source_shows_on_cached_pages_and_goes_away(
    site: Config, pagesite: PageSite, aiohttp_client: ClientMaker
) -> None:
    from policywatch.web import create_app

    client = await aiohttp_client(create_app(site))
    before = {}
    for path in ("/", "/policies/privacy", "/api/policies"):
        status, body, etag = await get(client, path)
        assert status == 200 and NOTICE not in body
        before[path] = etag
        assert (await get(client, path, etag))[0] == 304  # cached, validated by the tip
    api = json.loads((await get(client, "/api/policies"))[1])
    privacy = next(p for p in api["policies"] if p["id"] == "privacy")
    assert privacy["source"] == pagesite.url("/p")  # the existing key is unchanged
    assert privacy["source_status"]["failures"] == 0
    assert privacy["source_status"]["last_error"] is None

    pagesite.pages["/p"] = Page("down for maintenance", status=503)
    for n in (1, 2):
        (result, _) = (await asyncio.to_thread(check, site)).results
        assert result.status == "error"
        if n == 1:  # the second check is refused by the back-off: the streak stays 1
            assert "503" in (result.error or "")

    for path in ("/", "/policies/privacy"):
        # the archive tip did not move, yet the old validator no longer matches
        status, body, etag = await get(client, path, before[path])
        assert status == 200 and etag != before[path], path
        assert NOTICE in body, path
        assert "1 time in a row" in body and "503" in body
        assert "The text shown is the last one recorded." in body
        assert "Next attempt after" in body
        assert body.count(NOTICE) == 1  # the local policy reads fine: no notice for it
        assert active_content(body) == []
        assert (await get(client, path, etag))[0] == 304
    # pages that do not show the notice keep their validators
    status, body, _ = await get(client, "/policies/terms")
    assert status == 200 and NOTICE not in body

    status, body, etag = await get(client, "/api/policies", before["/api/policies"])
    assert status == 200 and etag != before["/api/policies"]
    policies = {p["id"]: p for p in json.loads(body)["policies"]}
    src = policies["privacy"]["source_status"]
    assert src["failures"] == 1 and "503" in src["last_error"]
    assert src["last_run"] and src["backoff_until"] and src["next_run"]
    assert src["next_run"] >= src["backoff_until"]
    assert policies["terms"]["source_status"]["failures"] == 0
    assert policies["privacy"]["latest"]["kind"] == "first"  # the last text stays published

    # the source reads again
    pagesite.pages["/p"] = Page(WEB_POLICY)
    # explicit ids ignore the back-off
    (result,) = (await asyncio.to_thread(check, site, ["privacy"])).results
    assert result.status == "unchanged", result.error
    for path in ("/", "/policies/privacy"):
        status, body, _ = await get(client, path)
        assert status == 200 and NOTICE not in body, path
    policies = {p["id"]: p for p in json.loads((await get(client, "/api/policies"))[1])["policies"]}
    assert policies["privacy"]["source_status"]["failures"] == 0
    assert policies["privacy"]["source_status"]["last_error"] is None


async def test_a_hostile_error_is_escaped_and_a_local_error_is_not_published(
    site: Config, pagesite: PageSite, tmp_path: Path, aiohttp_client: ClientMaker
) -> None:
    from policywatch.web import create_app

    # the server chooses its Content-Type, which the error message quotes
    pagesite.pages["/p"] = Page(WEB_POLICY + "\n", content_type=HOSTILE_TYPE)  # a new ETag
    (tmp_path / "terms.md").unlink()  # the local source goes away
    report = await asyncio.to_thread(check, site)
    assert all(r.status == "error" for r in report.results), report
    private = next(r.error for r in report.results if r.policy == "terms")
    assert private is not None and str(tmp_path) in private

    client = await aiohttp_client(create_app(site))
    for path in ("/", "/policies/privacy", "/policies/terms"):
        status, body, _ = await get(client, path)
        assert status == 200 and NOTICE in body
        assert "<script>" not in body and active_content(body) == []
        assert str(tmp_path) not in body  # a path on this host is nobody's business
    body = (await get(client, "/policies/privacy"))[1]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "details are in the server" in (await get(client, "/policies/terms"))[1]

    raw = (await get(client, "/api/policies"))[1]
    assert "<script>" not in raw and str(tmp_path) not in raw
    policies = {p["id"]: p for p in json.loads(raw)["policies"]}
    assert "<script>alert(1)</script>" in policies["privacy"]["source_status"]["last_error"]
    assert "details are in the server" in policies["terms"]["source_status"]["last_error"]
