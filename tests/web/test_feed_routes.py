"""/feeds/*.atom: bytes from feeds.py, validators, 304s, and the file ``check`` wrote."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from email.utils import format_datetime

from aiohttp.test_utils import TestClient

from atomcheck import check_feed
from conftest import ClientMaker, Site, requires_pipeline

pytestmark = requires_pipeline


async def test_feeds_are_valid_atom_built_from_the_archive(
    client: TestClient, recorded: Site
) -> None:
    for path in ("/feeds/all.atom", "/feeds/privacy.atom", "/feeds/cookies.atom"):
        response = await client.get(path)
        assert response.status == 200, path
        assert response.content_type == "application/atom+xml"
        body = await response.read()
        assert check_feed(body) == [], path
    privacy = await (await client.get("/feeds/privacy.atom")).text()
    v1, v2, _, _ = recorded.revisions["privacy"]
    assert f"/policies/privacy/diff?from={v1}&amp;to={v2}" in privacy


async def test_feed_validators_and_304(client: TestClient) -> None:
    first = await client.get("/feeds/all.atom")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"') and not etag.startswith("W/")  # strong: the bytes' hash
    assert first.headers["Access-Control-Allow-Origin"] == "*"
    for headers in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"nope", {etag}'},
        {"If-None-Match": "*"},
        {"If-Modified-Since": modified},
    ):
        again = await client.get("/feeds/all.atom", headers=headers)
        assert again.status == 304, headers
        assert await again.read() == b""
        assert again.headers["ETag"] == etag
    stale = await client.get("/feeds/all.atom", headers={"If-None-Match": '"other"'})
    assert stale.status == 200
    older = format_datetime(datetime(2001, 1, 1, tzinfo=UTC), usegmt=True)
    assert (await client.get("/feeds/all.atom", headers={"If-Modified-Since": older})).status == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110)
    both = await client.get(
        "/feeds/all.atom", headers={"If-None-Match": '"other"', "If-Modified-Since": modified}
    )
    assert both.status == 200


async def test_the_file_check_wrote_is_served_as_is(
    recorded: Site, aiohttp_client: ClientMaker
) -> None:
    from policywatch.web import create_app

    config = recorded.config()
    config.feeds.dir.mkdir(parents=True, exist_ok=True)
    data = b'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"/>\n'
    path = config.feeds.dir / "terms.atom"
    path.write_bytes(data)
    os.utime(path, (1_700_000_000, 1_700_000_000))
    try:
        client = await aiohttp_client(create_app(config))
        response = await client.get("/feeds/terms.atom")
        assert await response.read() == data
        assert response.headers["Last-Modified"] == "Tue, 14 Nov 2023 22:13:20 GMT"
        # rewritten: the next request sees the new bytes and a new tag
        path.write_bytes(data.replace(b"/>", b"></feed>"))
        newer = await client.get(
            "/feeds/terms.atom", headers={"If-None-Match": response.headers["ETag"]}
        )
        assert newer.status == 200
        assert newer.headers["ETag"] != response.headers["ETag"]
        # the other feeds are still built from the archive
        assert (await client.get("/feeds/privacy.atom")).status == 200
    finally:
        path.unlink()


async def test_unknown_feeds_are_404(client: TestClient) -> None:
    for path in ("/feeds/nope.atom", "/feeds/all-page-3.atom", "/feeds/ALL.atom", "/feeds/all.rss"):
        assert (await client.get(path)).status == 404, path
