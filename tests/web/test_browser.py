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


# WCAG 2.1 contrast of every visible text run against what is actually behind it: the background
# colours of its ancestors composed over the canvas, the text's own alpha and the opacity of its
# ancestors applied. Large text (24px, or 18.66px bold) needs 3:1, all other text 4.5:1.
CONTRAST = """
() => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(parseFloat);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const over = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a),
    g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a), a: 1,
  });
  const lum = ({r, g, b}) => {
    const f = (v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const canvas = parse(getComputedStyle(document.documentElement).backgroundColor);
  const base = canvas && canvas.a > 0 ? over(canvas, {r: 255, g: 255, b: 255, a: 1})
    : (matchMedia('(prefers-color-scheme: dark)').matches ? {r: 18, g: 18, b: 18, a: 1}
                                                          : {r: 255, g: 255, b: 255, a: 1});
  const behind = (el) => {
    const layers = [];
    for (let e = el; e && e !== document.documentElement; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let color = base;
    for (let i = layers.length - 1; i >= 0; i--) color = over(layers[i], color);
    return color;
  };
  const bad = [];
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent.trim();
    const el = walker.currentNode.parentElement;
    if (!text || seen.has(el)) continue;
    seen.add(el);
    const s = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (s.visibility !== 'visible' || box.width < 2 || box.height < 2) continue;
    let opacity = 1;
    for (let e = el; e; e = e.parentElement) opacity *= parseFloat(getComputedStyle(e).opacity);
    const back = behind(el);
    const fg = parse(s.color);
    const ink = over({...fg, a: fg.a * opacity}, back);
    const [hi, lo] = [lum(ink), lum(back)].sort((x, y) => y - x);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(s.fontSize);
    const need = size >= 24 || (parseInt(s.fontWeight) >= 700 && size >= 18.66) ? 3 : 4.5;
    if (ratio < need - 0.005) {
      const name = el.tagName.toLowerCase() + (el.className ? '.' + el.className : '');
      bad.push(`${name} "${text.slice(0, 30)}": ${ratio.toFixed(2)} < ${need}`);
    }
  }
  return bad;
}
"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_every_text_on_the_pages_has_enough_contrast(
    browser: Any, client: TestClient, recorded: Site, scheme: str
) -> None:
    """Measured, not assumed: people read policy changes on old phones in the sun."""
    v1, v2, _, _ = recorded.revisions["privacy"]
    paths = [
        "/",
        "/policies/privacy",
        f"/policies/privacy/revisions/{v1}",
        f"/policies/privacy/diff?from={v1}&to={v2}",
        f"/policies/privacy/diff?from={v1}&to={v2}&view=side",
        "/categories/third-party-sharing",
        "/subscribe",
    ]
    w = await open_page(browser, viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    problems: list[str] = []
    for path in paths:
        await w.page.goto(str(client.make_url(path)))
        problems += [f"{path}: {p}" for p in await w.page.evaluate(CONTRAST)]
    assert problems == []
    # and the measurement does see a low contrast: a grey close to the page's own background
    grey = "rgb(160, 160, 160)" if scheme == "light" else "rgb(80, 80, 80)"
    await w.page.evaluate(
        "(grey) => { const p = document.createElement('p'); p.className = 'probe';"
        " p.style.color = grey; p.textContent = 'faint';"
        " document.querySelector('main').append(p); }",
        grey,
    )
    flagged = await w.page.evaluate(CONTRAST)
    assert len(flagged) == 1 and flagged[0].startswith('p.probe "faint"'), flagged
