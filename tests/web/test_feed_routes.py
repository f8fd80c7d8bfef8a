"""/feeds/*.atom: the files ``check`` wrote (or the same bytes built), validators, 304s."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from aiohttp.test_utils import TestClient

from atomcheck import check_feed
from conftest import (
    PRIVACY_V1,
    PRIVACY_V2,
    TERMS_V1,
    ClientMaker,
    Site,
    requires_pipeline,
    write_config,
)
from policywatch.feeds import feed_etag

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


async def test_the_files_check_wrote_are_served_as_they_are(
    recorded: Site, client: TestClient
) -> None:
    feeds_dir = recorded.config().feeds.dir
    files = sorted(feeds_dir.glob("*.atom"))
    assert {f.name for f in files} >= {"all.atom", "privacy.atom", "terms.atom"}
    for path in files:
        response = await client.get(f"/feeds/{path.name}")
        assert await response.read() == path.read_bytes(), path.name
        modified = datetime.fromtimestamp(int(path.stat().st_mtime), UTC)
        assert response.headers["Last-Modified"] == format_datetime(modified, usegmt=True)


async def test_a_rewritten_file_is_picked_up(tmp_path: Path, aiohttp_client: ClientMaker) -> None:
    from policywatch.web import create_app

    write_config(tmp_path, [("privacy", "Privacy policy")])
    site = Site(tmp_path)
    site.record("privacy", PRIVACY_V1)
    path = site.config().feeds.dir / "privacy.atom"
    os.utime(path, (1_700_000_000, 1_700_000_000))
    client = await aiohttp_client(create_app(site.config()))
    first = await client.get("/feeds/privacy.atom")
    assert first.headers["Last-Modified"] == "Tue, 14 Nov 2023 22:13:20 GMT"
    site.record("privacy", PRIVACY_V2)  # check rewrites the file
    newer = await client.get(
        "/feeds/privacy.atom", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert newer.status == 200
    assert await newer.read() == path.read_bytes()


async def test_without_the_files_the_same_bytes_are_built(
    tmp_path: Path, aiohttp_client: ClientMaker
) -> None:
    """A feed built in memory equals the file ``check`` writes: same bytes, same ETag, so a
    reader's cached copy stays valid whichever way the server answered."""
    from policywatch.web import create_app

    write_config(tmp_path, [("privacy", "Privacy policy"), ("terms", "Terms of service")])
    site = Site(tmp_path)
    site.record("privacy", PRIVACY_V1)
    site.record("privacy", PRIVACY_V2)
    site.record("terms", TERMS_V1)
    feeds_dir = site.config().feeds.dir
    written = {p.name: p.read_bytes() for p in feeds_dir.glob("*.atom")}
    shutil.rmtree(feeds_dir)
    client = await aiohttp_client(create_app(site.config()))
    for name, data in written.items():
        response = await client.get(f"/feeds/{name}")
        assert await response.read() == data, name
        assert response.headers["ETag"] == feed_etag(data)


async def test_unknown_feeds_are_404(client: TestClient) -> None:
    for path in ("/feeds/nope.atom", "/feeds/all-page-3.atom", "/feeds/ALL.atom", "/feeds/all.rss"):
        assert (await client.get(path)).status == 404, path
