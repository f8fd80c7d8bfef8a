"""The pages a reader reaches from the subscribe form and from the links in emails.

Thin handlers over :mod:`policywatch.subscriptions`: parse, call it in a worker thread, render.
CSRF without cookies: every state change is a POST to a URL holding a signed token, which a
third-party page cannot know; the subscribe form, which has no token, is rate-limited instead
(and only ever sends a confirmation email). These pages set no cookie and never redirect: RFC
8058's one-click POST must be answered by the URL itself, and a mail client's POST follows no
redirect. Token pages are ``no-store`` and send no ``Referer``, since their URL is a capability.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import hdrs, web

from ..errors import InputError
from ..subscriptions import (
    TooManyRequests,
    confirm,
    optout_details,
    record_optout,
    subscribe_request,
    subscriber_for,
    unsubscribe,
)
from ..tracker import Tracker
from .clients import client_address
from .typedefs import ACCOUNTS, ASSETS, CONFIG, PUBLISHER, TEMPLATES

__all__ = [
    "blocking",
    "confirm_form",
    "confirm_post",
    "masked",
    "optout_form",
    "optout_post",
    "subscribe_form",
    "subscribe_post",
    "unsubscribe_form",
    "unsubscribe_post",
]

T = TypeVar("T")

#: the most repeated fields the subscribe form takes (more is not a person filling it in)
_MAX_FIELDS = 64


async def blocking(request: web.Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn(tracker, *args, **kwargs)`` in a worker thread, the database opened once."""
    accounts = request.app[ACCOUNTS]

    def run() -> T:
        with accounts.store_lock:
            accounts.tracker.store  # noqa: B018  (opened and migrated on first use)
        return fn(accounts.tracker, *args, **kwargs)

    return await asyncio.to_thread(run)


def masked(email: str | None) -> str:
    """``a…@example.org``: enough for the owner to recognise, not enough to harvest."""
    if not email:
        return "(an erased address)"
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}…@{domain}"


def page(
    request: web.Request, template: str, *, status: int = 200, token: bool = False, **context: Any
) -> web.Response:
    app = request.app
    html = (
        app[TEMPLATES]
        .get_template(template)
        .render(site=app[CONFIG].site, asset_version=app[ASSETS].version, **context)
    )
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    response.headers[hdrs.CACHE_CONTROL] = "no-store"
    if token:
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Robots-Tag"] = "noindex"
    return response


def _action(request: web.Request) -> str:
    return request.path


# -- subscribe ------------------------------------------------------------------------------------


def _form_page(
    request: web.Request, form: dict[str, Any], error: str | None, status: int
) -> web.Response:
    policies = request.app[CONFIG].policies
    return page(request, "subscribe.html", status=status, form=form, error=error, policies=policies)


async def subscribe_form(request: web.Request) -> web.Response:
    """``GET /subscribe``: the form, with every policy (the policy pages carry a short one)."""
    empty = {"email": "", "policies": [], "scope": "all", "categories": []}
    return _form_page(request, empty, None, 200)


def _strings(values: list[Any]) -> list[str]:
    return [v for v in values[:_MAX_FIELDS] if isinstance(v, str)]


async def subscribe_post(request: web.Request) -> web.Response:
    """``POST /subscribe``: the same answer for every address (see :mod:`subscriptions`)."""
    data = await request.post()
    email = data.get("email")
    form = {
        "email": email.strip() if isinstance(email, str) else "",
        "policies": _strings(data.getall("policy", [])),
        "scope": data.get("scope") if isinstance(data.get("scope"), str) else "all",
        "categories": _strings(data.getall("category", [])),
    }
    accounts = request.app[ACCOUNTS]
    try:
        message = await blocking(
            request,
            subscribe_request,
            form["email"],
            form["policies"],
            form["scope"] or "all",
            form["categories"] or None,
            client=client_address(
                request.remote, request.headers.getall("X-Forwarded-For", []), accounts.proxies
            ),
            limits=accounts.limits,
        )
    except TooManyRequests as exc:
        response = _form_page(request, form, str(exc), 429)
        response.headers[hdrs.RETRY_AFTER] = str(exc.retry_after)
        return response
    except InputError as exc:
        return _form_page(request, form, str(exc), 400)
    if message is not None:
        accounts.confirmations.submit(message)
    return page(request, "subscribed.html", email=form["email"])


# -- confirm --------------------------------------------------------------------------------------


def _titles(request: web.Request) -> dict[str, str]:
    return {p.id: p.title for p in request.app[CONFIG].policies}


def _confirm_page(request: web.Request, subscriber: Any, state: str) -> web.Response:
    pending = [s for s in subscriber.subscriptions if s.pending]
    active = [s for s in subscriber.subscriptions if not s.pending]
    if subscriber.status not in ("pending", "confirmed", "unsubscribed"):
        state, pending, active = "nothing", [], []
    done = subscriber.status == "confirmed" and not pending
    if (state == "ask" and not pending) or (state == "done" and not done):
        state = "nothing"
    return page(
        request,
        "confirm.html",
        token=True,
        state=state,
        address=masked(subscriber.email),
        pending=pending,
        active=active if subscriber.status == "confirmed" else [],
        titles=_titles(request),
        action=_action(request),
    )


async def confirm_form(request: web.Request) -> web.Response:
    """``GET /confirm/{token}``: what would be confirmed, and a button. Changes nothing."""
    subscriber = await blocking(request, subscriber_for, request.match_info["token"], "confirm")
    return _confirm_page(request, subscriber, "ask")


async def confirm_post(request: web.Request) -> web.Response:
    subscriber = await blocking(request, confirm, request.match_info["token"])
    return _confirm_page(request, subscriber, "done")


# -- unsubscribe ----------------------------------------------------------------------------------


async def unsubscribe_form(request: web.Request) -> web.Response:
    """``GET /unsubscribe/{token}``: a button (mail scanners follow links; only POST acts)."""
    token = request.match_info["token"]
    subscriber = await blocking(request, subscriber_for, token, "unsubscribe")
    state = "ask" if subscriber.status in ("pending", "confirmed") else "done"
    return page(
        request,
        "unsubscribe.html",
        token=True,
        state=state,
        address=masked(subscriber.email),
        action=_action(request),
    )


async def unsubscribe_post(request: web.Request) -> web.Response:
    """RFC 8058 one-click (body ``List-Unsubscribe=One-Click``) and the page's button alike:
    200, no cookie, no redirect, and the same answer every time."""
    await request.read()  # whatever the body says, the token is the authority
    subscriber = await blocking(request, unsubscribe, request.match_info["token"])
    return page(
        request,
        "unsubscribe.html",
        token=True,
        state="done",
        address=masked(subscriber.email),
        action=_action(request),
    )


# -- opt out --------------------------------------------------------------------------------------


def _cached_diff(request: web.Request) -> Callable[[str, str, str], Any]:
    """The publisher's diff cache: a popular change is diffed once, not per reader."""
    publisher = request.app[PUBLISHER]

    def diff(policy: str, old: str, new: str) -> Any:
        archive = publisher.tracker.archive
        return publisher.diff(policy, archive.resolve(policy, old), archive.resolve(policy, new))[0]

    return diff


async def optout_form(request: web.Request) -> web.Response:
    """``GET /opt-out/{token}``: the new uses in plain words, and a button to object."""
    token = request.match_info["token"]
    details = await blocking(request, optout_details, token, diff=_cached_diff(request))
    return page(
        request, "optout.html", token=True, details=details, entry=None, action=_action(request)
    )


async def optout_post(request: web.Request) -> web.Response:
    """Record the objection (once, however often the button is pressed) and confirm it."""
    token = request.match_info["token"]

    def record(tracker: Tracker) -> tuple[Any, Any]:
        entry = record_optout(tracker, token, "email-link")
        return entry, optout_details(tracker, token, diff=_cached_diff(request))

    entry, details = await blocking(request, record)
    nudge = request.app[ACCOUNTS].nudge
    if nudge is not None:
        nudge()
    return page(
        request, "optout.html", token=True, details=details, entry=entry, action=_action(request)
    )
