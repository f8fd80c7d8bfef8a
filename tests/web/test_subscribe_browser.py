"""A reader's round trip in a real browser: the form, the confirmation email's page and its
button, the opt-out page and its button; no script anywhere, nothing scrolls sideways."""

from __future__ import annotations

from typing import Any

import pytest
import test_browser
import test_subscribers
from test_subscribers import Env, links

import smtpfixture as _smtpfixture
import storefixture

pytestmark = test_browser.pytestmark

browser = test_browser.browser
smtp_server = _smtpfixture.smtp_server
database_url = storefixture.database_url
make_env = test_subscribers.make_env
env = test_subscribers.env


async def visit(w: Any, env: Env, path: str, name: str) -> None:
    response = await w.page.goto(str(env.client.make_url(path)))
    assert response is not None and response.status == 200, path
    font = await w.page.evaluate("getComputedStyle(document.body).fontFamily")
    assert "system-ui" in font, path  # the stylesheet applied
    width = await w.page.evaluate("document.documentElement.scrollWidth")
    viewport = w.page.viewport_size["width"]
    assert width <= viewport, f"{path} scrolls sideways ({width}px > {viewport}px)"
    await w.page.screenshot(path=test_browser.shot(name), full_page=True)


@pytest.mark.parametrize("width", [1280, 390])
async def test_subscribe_confirm_and_object_in_a_browser(
    browser: Any, env: Env, width: int
) -> None:
    w = await test_browser.open_page(browser, viewport={"width": width, "height": 900})
    await visit(w, env, "/subscribe", f"subscribe-{width}")
    await w.page.fill("#email", "ann@example.org")
    await w.page.check("input[name=scope][value=material]")
    await w.page.click("button[type=submit]")
    await w.page.wait_for_selector("text=Check your inbox")
    (message,) = await env.mail()
    confirm = links(message)["confirm"]
    await visit(w, env, confirm, f"confirm-{width}")
    await w.page.click("button[type=submit]")
    await w.page.wait_for_selector("text=Subscription confirmed")
    await w.page.screenshot(path=test_browser.shot(f"confirmed-{width}"), full_page=True)
    subscriber = env.tracker.store.find_subscriber("ann@example.org")
    assert subscriber is not None and subscriber.status == "confirmed"

    await env.send_change()
    change_mail = (await env.mail())[-1]
    opt_out = links(change_mail)["opt-out"]
    await visit(w, env, opt_out, f"opt-out-{width}")
    await w.page.click("button[type=submit]")
    await w.page.wait_for_selector("text=Your objection is recorded")
    await w.page.screenshot(path=test_browser.shot(f"opted-out-{width}"), full_page=True)
    assert len(env.tracker.store.optouts()) == 1
    unsubscribe = links(change_mail)["unsubscribe"]
    await visit(w, env, unsubscribe, f"unsubscribe-{width}")
    await w.page.click("button[type=submit]")
    await w.page.wait_for_selector("text=You are unsubscribed")
    assert w.problems == []
