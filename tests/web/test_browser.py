"""The pages in a real browser (Debian's Chromium, driven by Playwright; never downloaded).

Screenshots go to ``test-artifacts/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from conftest import Site, requires_pipeline

CHROMIUM = Path(os.environ.get("POLICYWATCH_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    requires_pipeline,
    # CI sets POLICYWATCH_REQUIRE_BROWSER so a missing browser fails instead of skipping quietly
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("POLICYWATCH_REQUIRE_BROWSER"),
        reason=f"no Chromium at {CHROMIUM}",
    ),
]

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if os.environ.get("POLICYWATCH_REQUIRE_BROWSER"):
        import playwright.async_api as playwright
    else:
        playwright = pytest.importorskip("playwright.async_api")
    async with playwright.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


class Watched:
    """A page plus every console error, uncaught exception and failed request it produced."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"pageerror: {exc}"))
        page.on("requestfailed", lambda req: self.problems.append(f"failed: {req.url}"))

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")


async def open_page(browser: Any, **options: Any) -> Watched:
    context = await browser.new_context(**options)
    return Watched(await context.new_page())


def shot(name: str) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / f"{name}.png")


async def test_pages_render_cleanly(browser: Any, client: TestClient, recorded: Site) -> None:
    v1, v2, _, _ = recorded.revisions["privacy"]
    pages = {
        "index": "/",
        "policy": "/policies/privacy",
        "revision": f"/policies/privacy/revisions/{v1}",
        "diff-inline": f"/policies/privacy/diff?from={v1}&to={v2}",
        "diff-side": f"/policies/privacy/diff?from={v1}&to={v2}&view=side",
        "diff-editorial": "/policies/privacy/diff",
        "category": "/categories/third-party-sharing",
        "not-found": "/policies/nope",
    }
    w = await open_page(browser, viewport={"width": 1280, "height": 900})
    for name, path in pages.items():
        response = await w.page.goto(str(client.make_url(path)))
        assert response is not None
        assert response.status == (404 if name == "not-found" else 200), path
        # the stylesheet applied (the CSP allows it): the body font is not the UA default
        font = await w.page.evaluate("getComputedStyle(document.body).fontFamily")
        assert "system-ui" in font, path
        await w.page.screenshot(path=shot(f"desktop-{name}"), full_page=True)
    expected_404 = [p for p in w.problems if "404" in p]
    assert len(expected_404) <= 1  # the not-found page itself
    assert [p for p in w.problems if "404" not in p] == []

    mobile = await open_page(browser, viewport={"width": 390, "height": 844}, is_mobile=True)
    for name in ("policy", "diff-side"):
        await mobile.page.goto(str(client.make_url(pages[name])))
        width = await mobile.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{name} scrolls sideways on a phone ({width}px)"
        await mobile.page.screenshot(path=shot(f"mobile-{name}"), full_page=True)
    assert mobile.problems == []

    printed = await open_page(browser, viewport={"width": 900, "height": 1200})
    await printed.page.emulate_media(media="print")
    await printed.page.goto(str(client.make_url(pages["diff-inline"])))
    assert not await printed.page.is_visible("form.compare")
    assert not await printed.page.is_visible(".view-toggle")
    await printed.page.screenshot(path=shot("print-diff"), full_page=True)


async def test_diff_views_toggle_without_javascript(
    browser: Any, client: TestClient, recorded: Site
) -> None:
    v1, v2, _, _ = recorded.revisions["privacy"]
    w = await open_page(browser, java_script_enabled=False)
    await w.page.goto(str(client.make_url(f"/policies/privacy/diff?from={v1}&to={v2}")))
    assert await w.page.locator("article.change").count() > 0
    assert await w.page.locator(".sbs-row").count() == 0
    await w.page.get_by_role("link", name="Side by side").click()
    await w.page.wait_for_url("**view=side")
    assert await w.page.locator(".sbs-row").count() > 0
    assert await w.page.locator("article.change").count() == 0
    current = w.page.locator('.view-toggle a[aria-current="page"]')
    assert await current.inner_text() == "Side by side"
    await w.page.get_by_role("link", name="Inline").click()
    await w.page.wait_for_url(lambda url: "view=side" not in url)
    assert await w.page.locator("article.change").count() > 0
    # the compare form works without script too
    await w.page.select_option("#from", v1)
    await w.page.select_option("#to", recorded.revisions["privacy"][2])
    await w.page.get_by_role("button", name="Compare").click()
    await w.page.wait_for_url(f"**to={recorded.revisions['privacy'][2]}**")
    assert "Material change" in await w.page.locator("#meaning-heading + p").inner_text()
    assert w.problems == []


async def test_skip_link_is_the_first_stop(browser: Any, client: TestClient) -> None:
    w = await open_page(browser)
    await w.page.goto(str(client.make_url("/policies/privacy")))
    await w.page.keyboard.press("Tab")
    focused = await w.page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to content"
    assert await w.page.is_visible(".skip-link")
    await w.page.keyboard.press("Enter")
    assert await w.page.evaluate("location.hash") == "#main"


async def test_a_hostile_policy_never_runs(
    browser: Any, client: TestClient, recorded: Site
) -> None:
    v1, v2 = recorded.revisions["hostile"]
    w = await open_page(browser, viewport={"width": 1280, "height": 900})
    calls: list[str] = []
    await w.page.context.expose_binding("pwnedHook", lambda source, *a: calls.append("called"))
    await w.page.add_init_script("window.__before = document.title;")
    for name, path in (
        ("hostile-policy", "/policies/hostile"),
        ("hostile-revision", f"/policies/hostile/revisions/{v1}"),
        ("hostile-diff", f"/policies/hostile/diff?from={v1}&to={v2}"),
        ("hostile-side", f"/policies/hostile/diff?from={v1}&to={v2}&view=side"),
        ("hostile-index", "/"),
    ):
        await w.page.goto(str(client.make_url(path)))
        # give any handler a chance: hover everything, click the policy's links
        for element in await w.page.locator(".policy-text a, .policy-text b").all():
            await element.hover()
        title = await w.page.title()
        assert "pwned" not in title, path
        assert await w.page.evaluate("typeof window.pwned") == "undefined", path
        await w.page.screenshot(path=shot(name), full_page=True)
    links = [await a.get_attribute("href") for a in await w.page.locator("a").all()]
    assert not any((h or "").lower().startswith("javascript:") for h in links)
    assert calls == []
    # a refused resource would be a CSP report; none may come from policy text either
    assert [p for p in w.problems if "Content Security Policy" in p] == []
