"""A real local web site whose pages tests rewrite between checks (aiohttp, in its own thread).

``pages[path] = Page(body, status=..., content_type=...)``; the server answers with a strong ETag
derived from the body and honours ``If-None-Match`` with 304, like a well-behaved web server.
Every request is counted per path.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from sitefixture import serve_in_thread


@dataclass
class Page:
    body: bytes | str
    status: int = 200
    content_type: str = "text/html; charset=utf-8"

    def payload(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


@dataclass
class PageSite:
    base: str = ""
    pages: dict[str, Page] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    conditional: Counter[str] = field(default_factory=Counter)

    def url(self, path: str) -> str:
        return self.base + path


def _app(site: PageSite) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.path
        site.hits[path] += 1
        page = site.pages.get(path)
        if page is None:
            return web.Response(status=404, text="not found")
        body = page.payload()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match"):
            site.conditional[path] += 1
            if request.headers["If-None-Match"] == etag and page.status == 200:
                return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            status=page.status, body=body, headers={"ETag": etag, "Content-Type": page.content_type}
        )

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    return app


@pytest.fixture
def pagesite() -> Iterator[PageSite]:
    site = PageSite()
    with serve_in_thread(_app(site)) as base:
        site.base = base
        yield site
