"""A real aiohttp server on 127.0.0.1 that misbehaves on demand, for testing the HTTP fetcher.

Import the ``http_site`` fixture into a test module (``from sitefixture import http_site``). The
server records every request it sees (path, headers, start time) and the peak number of requests
in flight, so tests assert on what actually crossed the wire instead of on a mocked client.

Routes (all relative, so redirects stay on this server):

===========================  =================================================================
``/policy``                  200 HTML with ``ETag`` and ``Last-Modified``; 304 on a match of
                             ``If-None-Match`` (exact) or, without it, ``If-Modified-Since``
``/flaky``                   500 on the first request, 200 afterwards
``/down``                    always 503
``/busy?after=N``            429 with ``Retry-After: N`` on the first request, 200 afterwards
``/missing``                 404
``/slow?delay=S``            waits S seconds before the headers
``/slow-body?delay=S``       sends the headers and half the body, waits S seconds, then the rest
``/big?size=N``              N bytes with ``Content-Length``
``/big-chunked?size=N``      N bytes, chunked, no length
``/bomb?size=N``             a small gzip body that inflates to N bytes
``/r/{n}``                   relative redirects ``/r/n`` -> ``/r/n-1`` ... -> ``/policy``
``/to-ftp``                  302 to an ``ftp://`` URL
``/no-location``             302 without ``Location``
``/latin1``                  ``text/html; charset=ISO-8859-1`` with Latin-1 bytes
``/gzip``                    gzip-encoded HTML (``Content-Encoding: gzip``)
``/pdf``                     ``application/pdf``
``/octet``                   HTML served as ``application/octet-stream``
``/json``                    ``application/json``
``/cookie``                  sets a cookie
``/hold/{i}``                holds the request 60 ms (to measure concurrency and gaps)
===========================  =================================================================
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.typedefs import Handler

ETAG = '"policy-v1-7f3a"'
LAST_MODIFIED = "Wed, 01 May 2024 10:00:00 GMT"
POLICY_HTML = (
    b"<!doctype html><html><head><title>Privacy</title></head>"
    b"<body><main><h1>Privacy policy</h1><p>We keep what you send us.</p></main></body></html>"
)
LATIN1_HTML = "<html><body><p>Données personnelles, café</p></body></html>".encode("latin-1")
PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    path: str
    headers: dict[str, str]
    at: float


@dataclass
class Site:
    """The running server and what it observed."""

    base: str = ""
    requests: list[Seen] = field(default_factory=list)
    hits: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0

    def url(self, path: str) -> str:
        return self.base + path

    def seen(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    def count(self, path: str) -> int:
        return self.hits[path]


def _app(site: Site) -> web.Application:
    routes = web.RouteTableDef()

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        site.requests.append(Seen(request.path, dict(request.headers), time.monotonic()))
        site.hits[request.path] += 1
        site.in_flight += 1
        site.max_in_flight = max(site.max_in_flight, site.in_flight)
        try:
            return await handler(request)
        finally:
            site.in_flight -= 1

    @routes.get("/policy")
    async def policy(request: web.Request) -> web.StreamResponse:
        validators = {"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
        inm = request.headers.get("If-None-Match")
        if inm is not None:
            if inm == ETAG:
                return web.Response(status=304, headers=validators)
        elif request.headers.get("If-Modified-Since") == LAST_MODIFIED:
            return web.Response(status=304, headers=validators)
        return web.Response(
            body=POLICY_HTML, content_type="text/html", charset="utf-8", headers=validators
        )

    @routes.get("/flaky")
    async def flaky(request: web.Request) -> web.StreamResponse:
        if site.count("/flaky") == 1:
            return web.Response(status=500, text="oops")
        return web.Response(body=POLICY_HTML, content_type="text/html")

    @routes.get("/down")
    async def down(request: web.Request) -> web.StreamResponse:
        return web.Response(status=503, text="maintenance")

    @routes.get("/busy")
    async def busy(request: web.Request) -> web.StreamResponse:
        if site.count("/busy") == 1:
            return web.Response(status=429, headers={"Retry-After": request.query["after"]})
        return web.Response(body=POLICY_HTML, content_type="text/html")

    @routes.get("/missing")
    async def missing(request: web.Request) -> web.StreamResponse:
        return web.Response(status=404, text="not here")

    @routes.get("/slow")
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(float(request.query["delay"]))
        return web.Response(body=POLICY_HTML, content_type="text/html")

    @routes.get("/slow-body")
    async def slow_body(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        resp.content_length = len(POLICY_HTML)
        await resp.prepare(request)
        half = len(POLICY_HTML) // 2
        await resp.write(POLICY_HTML[:half])
        await asyncio.sleep(float(request.query["delay"]))
        await resp.write(POLICY_HTML[half:])
        return resp

    @routes.get("/big")
    async def big(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"a" * int(request.query["size"]), content_type="text/plain")

    @routes.get("/big-chunked")
    async def big_chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        left = int(request.query["size"])
        try:
            while left > 0:
                n = min(left, 8192)
                await resp.write(b"a" * n)
                left -= n
        except (ConnectionResetError, ConnectionError):
            return resp  # the client hung up, as it should past its cap
        return resp

    @routes.get("/bomb")
    async def bomb(request: web.Request) -> web.StreamResponse:
        body = gzip.compress(b"a" * int(request.query["size"]))
        return web.Response(
            body=body, headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"}
        )

    @routes.get("/r/{n}")
    async def chain(request: web.Request) -> web.StreamResponse:
        n = int(request.match_info["n"])
        target = "../policy" if n == 0 else f"{n - 1}"
        raise web.HTTPFound(target)

    @routes.get("/to-ftp")
    async def to_ftp(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("ftp://files.invalid/policy.txt")

    @routes.get("/no-location")
    async def no_location(request: web.Request) -> web.StreamResponse:
        return web.Response(status=302)

    @routes.get("/latin1")
    async def latin1(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=LATIN1_HTML, headers={"Content-Type": "text/html; charset=ISO-8859-1"}
        )

    @routes.get("/gzip")
    async def gzipped(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=gzip.compress(POLICY_HTML),
            headers={"Content-Encoding": "gzip", "Content-Type": "text/html; charset=utf-8"},
        )

    @routes.get("/pdf")
    async def pdf(request: web.Request) -> web.StreamResponse:
        return web.Response(body=PDF_BYTES, content_type="application/pdf")

    @routes.get("/octet")
    async def octet(request: web.Request) -> web.StreamResponse:
        return web.Response(body=POLICY_HTML, content_type="application/octet-stream")

    @routes.get("/json")
    async def json(request: web.Request) -> web.StreamResponse:
        return web.json_response({"policy": "none"})

    @routes.get("/cookie")
    async def cookie(request: web.Request) -> web.StreamResponse:
        resp = web.Response(body=POLICY_HTML, content_type="text/html")
        resp.set_cookie("session", "abc123", path="/")
        return resp

    @routes.get("/hold/{i}")
    async def hold(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.06)
        return web.Response(body=POLICY_HTML, content_type="text/html")

    app = web.Application(middlewares=[record])
    app.add_routes(routes)
    return app


@pytest.fixture
async def http_site() -> AsyncIterator[Site]:
    """A fresh server on 127.0.0.1 and a random port, stopped after the test."""
    site = Site()
    runner = web.AppRunner(_app(site), handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    host, port = runner.addresses[0][:2]
    site.base = f"http://{host}:{port}"
    try:
        yield site
    finally:
        await runner.cleanup()


@contextmanager
def serve_in_thread(app: web.Application) -> Iterator[str]:
    """Run ``app`` on 127.0.0.1 in a thread with its own event loop; yields its base URL.

    For tests whose code under test runs event loops of its own (``Tracker.check`` calls
    ``asyncio.run``), so the server cannot share theirs.
    """
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
    base: list[str] = []

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        base.append(f"http://{host}:{port}")

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield base[0]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


@pytest.fixture
def threaded_site() -> Iterator[Site]:
    """The same server in a thread of its own, for tests that run their own event loops."""
    site = Site()
    with serve_in_thread(_app(site)) as base:
        site.base = base
        yield site
