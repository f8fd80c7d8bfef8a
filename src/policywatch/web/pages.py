"""HTML handlers: each names its canonical key and the data its template needs, nothing more.

Errors are not handled here: RevisionNotFound and friends propagate to the one error middleware.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import hdrs, web

from ..models import CATEGORIES
from .responses import not_modified, not_modified_response, set_validators
from .typedefs import PUBLISHER, STAMPS
from .views import html_page, revision_name

__all__ = [
    "categories",
    "category",
    "diff",
    "feed",
    "index",
    "policy",
    "revision",
]


async def index(request: web.Request) -> web.Response:
    publisher = request.app[PUBLISHER]

    def context() -> dict[str, Any]:
        return {"policies": publisher.policies()}

    return await html_page(request, "index.html", (), context, sources=True)


async def policy(request: web.Request) -> web.Response:
    publisher = request.app[PUBLISHER]
    policy_id = request.match_info["policy"]

    def context() -> dict[str, Any]:
        info = publisher.policy(policy_id)
        history = publisher.history(policy_id)
        latest = history[0] if history else None
        return {
            "policy": info,
            "history": history,
            "previous": {r.id: publisher.previous(r) for r in history},
            "text": publisher.text_html(latest) if latest is not None else None,
        }

    return await html_page(request, "policy.html", (policy_id,), context, sources=True)


async def revision(request: web.Request) -> web.Response:
    publisher = request.app[PUBLISHER]
    policy_id = request.match_info["policy"]
    name = revision_name(request.match_info["rev"]) or "latest"

    def context() -> dict[str, Any]:
        info = publisher.policy(policy_id)
        rev, _ = publisher.revision(policy_id, name)
        return {
            "policy": info,
            "revision": rev,
            "before": publisher.previous(rev),
            "after": publisher.following(rev),
            "text": publisher.text_html(rev),
        }

    return await html_page(request, "revision.html", (policy_id, name), context)


async def diff(request: web.Request) -> web.Response:
    """The diff page; ``?view=side`` switches to side by side (links, no script)."""
    publisher = request.app[PUBLISHER]
    policy_id = request.match_info["policy"]
    old = revision_name(request.query.get("from"))
    new = revision_name(request.query.get("to"))
    view = "side" if request.query.get("view") == "side" else "inline"

    def context() -> dict[str, Any]:
        compared = publisher.compare(policy_id, old, new)
        return {
            "policy": compared.policy,
            "compared": compared,
            "d": compared.view,
            "view": view,
            "history": publisher.history(policy_id),
        }

    return await html_page(request, "diff.html", (policy_id, old, new, view), context)


async def categories(request: web.Request) -> web.Response:
    publisher = request.app[PUBLISHER]

    def context() -> dict[str, Any]:
        return {"counts": publisher.category_counts()}

    return await html_page(request, "categories.html", (), context)


async def category(request: web.Request) -> web.Response:
    publisher = request.app[PUBLISHER]
    category_id = request.match_info["category"]
    if category_id not in CATEGORIES:
        raise web.HTTPNotFound()

    def context() -> dict[str, Any]:
        return {"category": category_id, "changes": publisher.category(category_id)}

    return await html_page(request, "category.html", (category_id,), context)


async def feed(request: web.Request) -> web.Response:
    """Atom bytes with a strong ETag and Last-Modified; 304 when the reader has them.

    The feed written by ``check`` is answered from the event loop (a ``stat``); a built one
    from the cache of this archive state; only a feed still to be built goes to a worker.
    """
    publisher = request.app[PUBLISHER]
    name = request.match_info["name"]
    doc = publisher.feed_file(name)
    if doc is None:
        stamp = await request.app[STAMPS].get()
        doc = publisher.built_feed(stamp, name)
    if doc is None:
        doc = await asyncio.to_thread(publisher.feed, name)
    if not_modified(request, doc.etag, doc.last_modified):
        response = not_modified_response(doc.etag, doc.last_modified)
    else:
        response = web.Response(body=doc.body, content_type="application/atom+xml", charset="utf-8")
        set_validators(response, doc.etag, doc.last_modified)
    response.headers[hdrs.CACHE_CONTROL] = "public, max-age=300"
    return response
