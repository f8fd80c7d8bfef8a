"""What every page and API handler does around its own data: validators, 304, cache, render.

A handler names its canonical key (what, besides the archive state, its answer depends on) and
a blocking ``build`` function; :func:`html_page` / :func:`json_page` do the rest. The archive tip
is read first (one cheap round trip in a worker thread), so an unchanged page is answered 304
before anything is read, diffed or rendered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import hdrs, web

from .reader import Stamp
from .responses import dumps, make_etag, not_modified, not_modified_response, set_validators
from .status import SourceBoard
from .typedefs import ASSETS, CONFIG, PAGES, STAMPS, TEMPLATES

__all__ = ["html_page", "json_page", "json_sources_page", "revision_name"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: a revision name longer than this is not one (ids are 40 hex digits, dates 10 characters)
NAME_MAX = 100


def revision_name(value: str | None) -> str | None:
    """A revision name from a URL, stripped; None when absent; 404 when absurdly long."""
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > NAME_MAX:
        raise web.HTTPNotFound()
    return value


#: which sources' state an answer shows: none, the failing ones' notices, or all of it
Sources = Literal["none", "notices", "full"]


async def _cached(
    request: web.Request,
    key: tuple[object, ...],
    build: Callable[[Stamp], bytes],
    content_type: str,
    sources: Sources = "none",
) -> web.Response:
    app = request.app
    stamp = await app[STAMPS].get()
    assets = app[ASSETS]
    parts: tuple[object, ...] = (assets.version, stamp.tip, content_type, *key)
    modified = max(stamp.updated or EPOCH, assets.modified)
    if sources != "none":
        # a failed check changes the state file, not the tip: without this, a page cached
        # before the failure would be served (or answered 304) forever after it
        board = stamp.sources
        parts += ("sources", board.notices if sources == "notices" else board.full)
        modified = max(modified, board.updated or EPOCH)
    etag = make_etag(*parts)
    if not_modified(request, etag, modified):
        response = not_modified_response(etag, modified)
        response.headers[hdrs.CACHE_CONTROL] = "no-cache"
        return response
    pages = app[PAGES]
    body = pages.get(etag)
    if body is None:
        body = await asyncio.to_thread(build, stamp)
        pages.put(etag, body)
    response = web.Response(body=body, content_type=content_type, charset="utf-8")
    set_validators(response, etag, modified)
    # always revalidate: a new revision can land at any time, and a 304 costs little
    response.headers[hdrs.CACHE_CONTROL] = "no-cache"
    return response


async def html_page(
    request: web.Request,
    template: str,
    key: tuple[object, ...],
    context: Callable[[], Mapping[str, Any]],
    *,
    sources: bool = False,
) -> web.Response:
    """Render ``template`` with what ``context()`` returns (called in a worker thread).

    ``sources`` True: the page shows failing sources' notices (the template gets ``sources``,
    a :class:`~policywatch.web.status.SourceBoard` read with the validator's stamp).
    """
    app = request.app
    env = app[TEMPLATES]
    base = {"site": app[CONFIG].site, "asset_version": app[ASSETS].version}

    def build(stamp: Stamp) -> bytes:
        values = dict(context())
        return (
            env.get_template(template)
            .render(**base, sources=stamp.sources, **values)
            .encode("utf-8")
        )

    mode: Sources = "notices" if sources else "none"
    return await _cached(request, (template, *key), build, "text/html", mode)


async def json_page(
    request: web.Request, key: tuple[object, ...], document: Callable[[], Any]
) -> web.Response:
    """Serialise what ``document()`` returns (called in a worker thread): compact, UTF-8."""

    def build(stamp: Stamp) -> bytes:
        return dumps(document())

    return await _cached(request, key, build, "application/json")


async def json_sources_page(
    request: web.Request, key: tuple[object, ...], document: Callable[[SourceBoard], Any]
) -> web.Response:
    """:func:`json_page` for an answer that includes every source's state: ``document`` gets
    the board read with the validator, so the bytes cached under an ETag match it."""

    def build(stamp: Stamp) -> bytes:
        return dumps(document(stamp.sources))

    return await _cached(request, key, build, "application/json", "full")
