"""The public archive as an aiohttp application: ``create_app(config) -> web.Application``.

The factory wires state (typed :mod:`~policywatch.web.typedefs` keys), the one error middleware,
the security headers and the archive's lifetime (``cleanup_ctx``); handlers stay thin in
:mod:`pages` and :mod:`api`. Nothing here touches git directly: reads go through
:class:`~policywatch.web.reader.Publisher` in worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from ..config import Config
from ..errors import ArchiveError, ConfigError, RevisionNotFound, StoreError, TokenError
from ..models import CATEGORIES
from ..subscriptions import LIMITS, ConfirmationSender, Limits
from ..tracker import Tracker
from .clients import networks
from .present import CATEGORY_INFO, CHANGE_LABELS, revision_label
from .reader import Publisher, Stamps
from .responses import PageCache, json_response
from .routes import setup_routes
from .typedefs import (
    ACCOUNTS,
    ASSETS,
    CONFIG,
    HEALTH,
    PAGES,
    PUBLISHER,
    STAMPS,
    TEMPLATES,
    Accounts,
    Assets,
)

if TYPE_CHECKING:
    from ..mail import Mailer

__all__ = ["API_TOKEN_ENV", "CSP", "create_app"]

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TEMPLATE_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

#: no script may run at all; styles and images only from us; forms post only to us
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
_COMMON_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
#: the API and the feeds are public data meant for other tools, including in-browser ones
_SHARED_PREFIXES = ("/api/", "/feeds/")
#: ... except the opt-out ledger: personal data, for the site's own servers only
_PRIVATE_PREFIXES = ("/api/optouts",)
#: the bearer token of /api/optouts (unset: the route answers 404)
API_TOKEN_ENV = "POLICYWATCH_API_TOKEN"
_MIN_API_TOKEN = 16


def create_app(
    config: Config,
    *,
    tracker: Tracker | None = None,
    mailer: Mailer | None = None,
    limits: Limits = LIMITS,
) -> web.Application:
    """The web app for one site. ``tracker`` lets the caller share its own (and keep owning it:
    the app then does not close its archive nor its database). ``mailer`` sends confirmation
    emails (default: one SMTP connection to ``[mail]``); ``limits`` rate-limits the subscribe
    form. ``POLICYWATCH_API_TOKEN`` (16 characters at least) enables ``/api/optouts``.
    """
    owned = tracker is None
    tracker = tracker if tracker is not None else Tracker(config)
    app = web.Application(middlewares=[error_middleware])
    app[CONFIG] = config
    app[PUBLISHER] = publisher = Publisher(tracker)
    app[STAMPS] = Stamps(publisher)
    app[TEMPLATES] = _templates()
    app[PAGES] = PageCache()
    app[ASSETS] = _assets(config)
    if mailer is None:
        from ..mail import SmtpMailer

        mailer = SmtpMailer(dataclasses.replace(config.mail, connections=1))
    app[ACCOUNTS] = Accounts(
        tracker=tracker,
        confirmations=ConfirmationSender(mailer),
        limits=limits,
        api_token=_api_token(),
        proxies=networks(config.site.trusted_proxies),
    )
    app[HEALTH] = {}
    app.on_response_prepare.append(_security_headers)
    app.cleanup_ctx.append(_archive_ctx(owned))
    app.cleanup_ctx.append(_accounts_ctx(owned))
    setup_routes(app, STATIC_DIR)
    return app


def _api_token() -> str | None:
    token = os.environ.get(API_TOKEN_ENV, "").strip() or None
    if token is not None and len(token) < _MIN_API_TOKEN:
        raise ConfigError(
            f"the API token is {len(token)} characters long",
            key=API_TOKEN_ENV,
            expected=f"at least {_MIN_API_TOKEN} random characters",
        )
    return token


def _accounts_ctx(owned: bool) -> Callable[[web.Application], AsyncIterator[None]]:
    async def accounts(app: web.Application) -> AsyncIterator[None]:
        """Run the confirmation sender while the app runs; close the database last if ours."""
        sender = app[ACCOUNTS].confirmations
        sender.start()
        yield
        await sender.close()
        if owned:
            await asyncio.to_thread(app[ACCOUNTS].tracker.close)

    return accounts


def _archive_ctx(owned: bool) -> Callable[[web.Application], AsyncIterator[None]]:
    async def archive(app: web.Application) -> AsyncIterator[None]:
        """Open the archive before the first request; close it (its ``cat-file`` processes) last.

        A broken archive does not stop the server: pages answer 503 and ``/healthz`` says why,
        which is what a supervisor or a load balancer can act on.
        """
        publisher = app[PUBLISHER]
        try:
            await asyncio.to_thread(publisher.stamp)
        except ArchiveError as exc:
            log.error("the archive cannot be read: %s", exc)
        yield
        if owned:
            await asyncio.to_thread(publisher.close)

    return archive


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,  # every template, whatever its extension: policy text is hostile
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["day"] = _day
    env.filters["iso"] = _iso
    env.filters["minute"] = _minute
    env.filters["short"] = lambda rev: str(rev)[:12]
    env.globals["CATEGORIES"] = CATEGORIES
    env.globals["CATEGORY_INFO"] = CATEGORY_INFO
    env.globals["CHANGE_LABELS"] = CHANGE_LABELS
    env.globals["revision_label"] = revision_label
    return env


def _day(when: datetime | None) -> str:
    return "" if when is None else when.astimezone(UTC).strftime("%Y-%m-%d")


def _minute(when: datetime | None) -> str:
    return "" if when is None else when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(when: datetime | None) -> str:
    return "" if when is None else when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _assets(config: Config) -> Assets:
    digest = hashlib.sha256()
    try:
        digest.update(version("policywatch").encode())
    except PackageNotFoundError:
        digest.update(b"unknown")
    newest = 0.0
    for path in sorted([*TEMPLATE_DIR.rglob("*"), *STATIC_DIR.rglob("*")]):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
            newest = max(newest, path.stat().st_mtime)
    site = config.site
    policies = [(p.id, p.title, p.source) for p in config.policies]
    digest.update(json.dumps([site.name, site.base_url, policies]).encode())
    with contextlib.suppress(OSError):
        newest = max(newest, config.path.stat().st_mtime)
    return Assets(digest.hexdigest()[:16], datetime.fromtimestamp(int(newest), UTC))


def wants_json(request: web.BaseRequest) -> bool:
    """The route decides the error format, not the Accept header: API clients get JSON."""
    return request.path == "/healthz" or request.path.startswith("/api/")


def error_response(
    request: web.Request, status: int, title: str, detail: str | None = None
) -> web.Response:
    if wants_json(request):
        body = {"error": {"status": status, "title": title, "detail": detail}}
        return json_response(body, status=status)
    app = request.app
    html = (
        app[TEMPLATES]
        .get_template("error.html")
        .render(
            site=app[CONFIG].site,
            asset_version=app[ASSETS].version,
            status=status,
            title=title,
            detail=detail,
        )
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place domain errors become HTTP answers (HTML or JSON according to the route).

    Bugs (TypeError, KeyError ...) are not caught: aiohttp logs them and answers a bare 500.
    """
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(request, exc.status, exc.reason)
        for name in (hdrs.ALLOW, hdrs.WWW_AUTHENTICATE, hdrs.RETRY_AFTER):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    except (RevisionNotFound, TokenError) as exc:
        response = error_response(request, 404, "Not Found", str(exc))
        if isinstance(exc, TokenError):
            response.headers["Referrer-Policy"] = "no-referrer"
        return response
    except ArchiveError as exc:
        log.error("archive error on %s: %s", request.path, exc)
        return error_response(
            request, 503, "Service Unavailable", "The archive cannot be read right now."
        )
    except StoreError as exc:
        log.error("database error on %s: %s", request.path, exc)
        return error_response(
            request, 503, "Service Unavailable", "The database cannot be reached right now."
        )


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response, errors, 304s and static files included (a signal, not a middleware,
    so that nothing can bypass it)."""
    headers = response.headers
    for name, value in _COMMON_HEADERS.items():
        headers.setdefault(name, value)
    path = request.path
    if path.startswith(_SHARED_PREFIXES) and not path.startswith(_PRIVATE_PREFIXES):
        headers.setdefault("Access-Control-Allow-Origin", "*")
        headers.setdefault("Cross-Origin-Resource-Policy", "cross-origin")
    else:
        headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    if path.startswith("/static/"):
        # asset URLs carry ?v=<hash of the files>: a new deploy is a new URL
        headers.setdefault(hdrs.CACHE_CONTROL, "public, max-age=31536000, immutable")
    if request.app[CONFIG].site.base_url.startswith("https://"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
