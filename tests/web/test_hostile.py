"""A policy full of markup (scripts, event handlers, javascript: links, iframes, SVG) stays
inert on every page, in every API answer and in the feeds."""

from __future__ import annotations

import json

from aiohttp.test_utils import TestClient
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from conftest import Site, active_content, requires_pipeline

pytestmark = requires_pipeline

ATOM = "{http://www.w3.org/2005/Atom}"


def pages(site: Site) -> list[str]:
    v1, v2 = site.revisions["hostile"]
    base = "/policies/hostile"
    return [
        "/",
        base,
        f"{base}/revisions/{v1}",
        f"{base}/revisions/{v2}",
        f"{base}/diff",
        f"{base}/diff?view=side",
        f"{base}/diff?from={v2}&to={v1}",
        "/categories",
        "/categories/third-party-sharing",
        # the names a reader types are echoed back in error pages
        "/policies/hostile/revisions/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/policies/hostile/diff?from=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    ]


async def test_pages_carry_no_active_content(client: TestClient, recorded: Site) -> None:
    for path in pages(recorded):
        response = await client.get(path)
        html = await response.text()
        assert response.status in (200, 404), path
        assert active_content(html) == [], path
        assert "<script" not in html.lower(), path


async def test_the_hostile_text_is_shown_as_text(client: TestClient) -> None:
    text = await (await client.get("/policies/hostile")).text()
    assert "&lt;script&gt;document.title='pwned-diff'&lt;/script&gt;" in text
    assert "&lt;iframe src=&quot;https://evil.invalid/&quot;&gt;" in text
    diff = await (await client.get("/policies/hostile/diff")).text()
    assert "document.title=&#39;pwned-diff&#39;" in diff


async def test_api_answers_escape_markup(client: TestClient, recorded: Site) -> None:
    v1, v2 = recorded.revisions["hostile"]
    for path in (
        "/api/policies",
        "/api/policies/hostile/revisions",
        f"/api/policies/hostile/revisions/{v2}",
        f"/api/policies/hostile/diff?from={v1}&to={v2}",
    ):
        response = await client.get(path)
        body = await response.text()
        assert response.status == 200, path
        # the data is intact, but no raw "<" reaches the wire (a sniffing or embedding
        # consumer cannot be tricked into markup)
        assert "<" not in body and ">" not in body, path
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    doc = json.loads(await (await client.get(f"/api/policies/hostile/revisions/{v2}")).text())
    assert "<script>document.title='pwned-diff'</script>" in doc["text"]


async def test_feed_content_is_inert_html(client: TestClient) -> None:
    for path in ("/feeds/hostile.atom", "/feeds/all.atom"):
        body = await (await client.get(path)).read()
        root = etree.fromstring(body)
        contents = [el.text or "" for el in root.iter(f"{ATOM}content")]
        assert contents, path
        for html in contents:
            assert active_content(html) == [], path
            assert "<script" not in html.lower(), path
