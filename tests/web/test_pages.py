"""The HTML pages a reader uses: what they show, their links, validators and 404s."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp.test_utils import TestClient

from conftest import (
    PRIVACY_V1,
    TERMS_V1,
    ClientMaker,
    Elements,
    Site,
    requires_pipeline,
    write_config,
)

pytestmark = requires_pipeline


async def get_html(client: TestClient, path: str, status: int = 200) -> str:
    response = await client.get(path)
    text = await response.text()
    assert response.status == status, text[:2000]
    assert response.content_type == "text/html"
    return text


async def test_index_lists_each_policy_with_its_last_change(client: TestClient) -> None:
    html = await get_html(client, "/")
    page = Elements(html)
    links = [a["href"] for a in page.find("a")]
    for pid in ("privacy", "terms", "hostile", "cookies"):
        assert f"/policies/{pid}" in links
    assert "/policies/privacy/diff" in links  # "what changed last"
    assert "Not recorded yet" in html  # cookies is configured but has no revision
    # the subscribe form offers every policy, both scopes
    assert page.find("form", method="post", action="/subscribe")
    assert {a["value"] for a in page.find("input", name="policy")} == {
        "privacy",
        "terms",
        "hostile",
        "cookies",
    }
    assert {a["value"] for a in page.find("input", name="scope")} == {"all", "material"}


async def test_policy_page_shows_current_text_timeline_and_subscribe_form(
    client: TestClient, recorded: Site
) -> None:
    html = await get_html(client, "/policies/privacy")
    page = Elements(html)
    v1, v2, v3, v4 = recorded.revisions["privacy"]
    # the current text, rendered from the archived Markdown (headings one level down)
    assert '<h3 id="s-sharing">Sharing</h3>' in html
    assert "We share your browsing history with advertising partners." in html
    # the timeline: newest first, material marked, editorial quieter, the restore labelled
    items = re.findall(r'<li class="(rev[^"]*)">', html)
    assert items == [
        "rev rev-editorial",
        "rev rev-editorial",
        "rev rev-change rev-material",
        "rev rev-first",
    ]
    assert "Material change" in html
    assert f'Restores the text of <a href="/policies/privacy/revisions/{v2}">' in html
    diff_links = [a["href"] for a in page.find("a") if "/diff?" in (a["href"] or "")]
    assert f"/policies/privacy/diff?from={v1}&to={v2}" in diff_links
    assert f"/policies/privacy/diff?from={v3}&to={v4}" in diff_links
    # the subscribe form: email, this policy, scope all|material, posting to /subscribe
    assert page.find("form", method="post", action="/subscribe")
    assert page.find("input", name="email", type="email")
    assert page.find("label", for_="email")
    assert page.find("input", type="hidden", name="policy", value="privacy")
    assert {a["value"] for a in page.find("input", name="scope")} == {"all", "material"}


async def test_configured_policy_without_revisions_has_a_page(client: TestClient) -> None:
    html = await get_html(client, "/policies/cookies")
    assert "has not been recorded yet" in html


async def test_revision_page_by_id_prefix_and_by_relative_name(
    client: TestClient, recorded: Site
) -> None:
    v1 = recorded.revisions["privacy"][0]
    by_id = await get_html(client, f"/policies/privacy/revisions/{v1[:8]}")
    assert "We delete your order history after two years." in by_id
    assert "First record" in by_id
    by_name = await get_html(client, "/policies/privacy/revisions/latest~3")
    assert "We delete your order history after two years." in by_name


async def test_diff_page_explains_the_material_change(client: TestClient, recorded: Site) -> None:
    v1, v2, _, _ = recorded.revisions["privacy"]
    html = await get_html(client, f"/policies/privacy/diff?from={v1}&to={v2}")
    meaning = html[html.index('id="meaning-heading"') : html.index("</section>")]
    assert "Material change" in meaning
    assert re.search(r"<li><a href=\"#change-\d+\">[^<]+</a>", meaning)  # reasons link to clauses
    # word highlights, category badges, the moved clause
    assert re.search(r"<del>two</del>", html) and re.search(r"<ins>five</ins>", html)
    assert '<a class="badge" href="/categories/third-party-sharing"' in html
    assert (
        "Moved from “Privacy policy › Information we collect” to “Privacy policy › Sharing”" in html
    )
    # toggle to side by side with a plain link, the current view marked
    page = Elements(html)
    current = [a["href"] for a in page.find("a") if a.get("aria-current") == "page"]
    assert current == [f"/policies/privacy/diff?from={v1}&to={v2}"]
    assert page.find("a", href=f"/policies/privacy/diff?from={v1}&to={v2}&view=side")


async def test_diff_page_side_by_side(client: TestClient, recorded: Site) -> None:
    v1, v2, _, _ = recorded.revisions["privacy"]
    html = await get_html(client, f"/policies/privacy/diff?from={v1}&to={v2}&view=side")
    assert html.count('class="sbs-old"') == html.count('class="sbs-new"') > 0
    old_side = html[html.index('class="sbs-old"') :]
    assert "<del>" in html and "<ins>" in html
    assert "<ins>" not in old_side[: old_side.index('class="sbs-new"')]
    current = [a["href"] for a in Elements(html).find("a") if a.get("aria-current") == "page"]
    assert current == [f"/policies/privacy/diff?from={v1}&to={v2}&view=side"]


async def test_diff_defaults_to_the_latest_change(client: TestClient, recorded: Site) -> None:
    _, _, v3, v4 = recorded.revisions["privacy"]
    html = await get_html(client, "/policies/privacy/diff")
    assert f"({v3[:12]})" in html and f"({v4[:12]})" in html
    assert "Only presentation changed" in html
    assert "editorial change" in html  # listed apart, in a <details>


async def test_category_pages(client: TestClient, recorded: Site) -> None:
    html = await get_html(client, "/categories/third-party-sharing")
    v1, v2, _, _ = recorded.revisions["privacy"]
    assert f"/policies/privacy/diff?from={v1}&amp;to={v2}" in html
    index = await get_html(client, "/categories")
    assert '<a href="/categories/third-party-sharing">Sharing</a>' in index
    await get_html(client, "/categories/not-a-category", status=404)


async def test_unknown_things_are_404_pages(client: TestClient) -> None:
    for path in (
        "/policies/nope",
        "/policies/privacy/revisions/ffffffff",
        "/policies/privacy/revisions/1999-01-01",
        "/policies/privacy/diff?from=deadbeef",
        "/policies/terms/diff",  # one revision: nothing to compare with
        "/no/such/page",
        "/policies/privacy/revisions/" + "a" * 200,
    ):
        html = await get_html(client, path, status=404)
        assert "<h1>Not Found</h1>" in html, path


async def test_pages_answer_304_until_the_archive_moves(
    tmp_path: Path, aiohttp_client: ClientMaker
) -> None:
    from policywatch.web import create_app

    write_config(tmp_path, [("privacy", "Privacy policy"), ("terms", "Terms of service")])
    site = Site(tmp_path)
    site.record("privacy", PRIVACY_V1)
    site.record("terms", TERMS_V1)
    client = await aiohttp_client(create_app(site.config()))
    first = await client.get("/policies/privacy")
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    assert first.headers["Cache-Control"] == "no-cache"
    again = await client.get("/policies/privacy", headers={"If-None-Match": etag})
    assert again.status == 304
    assert await again.read() == b""
    assert again.headers["ETag"] == etag
    since = await client.get(
        "/policies/privacy", headers={"If-Modified-Since": first.headers["Last-Modified"]}
    )
    assert since.status == 304
    other = await client.get("/policies/terms", headers={"If-None-Match": etag})
    assert other.status == 200  # another page, another tag

    site.record("terms", "# Terms of service\n\nThese terms are new.\n")
    moved = await client.get("/policies/privacy", headers={"If-None-Match": etag})
    assert moved.status == 200
    assert moved.headers["ETag"] != etag


async def test_the_diff_of_a_pair_is_computed_once(client: TestClient, recorded: Site) -> None:
    from policywatch.web.typedefs import PUBLISHER

    publisher = client.app[PUBLISHER]
    v1, v2, _, _ = recorded.revisions["privacy"]
    for query in (
        f"from={v1}&to={v2}",
        f"from={v1}&to={v2}&view=side",
        f"from={v1[:7]}&to={v2}",
        f"from={v1}&to={v2}",
    ):
        await get_html(client, f"/policies/privacy/diff?{query}")
    await client.get(f"/api/policies/privacy/diff?from={v1}&to={v2}")
    assert publisher.diff_cache.misses == 1
