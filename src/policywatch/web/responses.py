"""Validators, conditional requests and the rendered-page cache.

Every page and API answer is a pure function of (archive tip, templates and static files,
config, the canonical request): its ETag is a hash of exactly that, computed before any work,
so a revalidation costs one ``cat-file`` round trip and no rendering. The rendered bytes are kept
in a byte-bounded LRU under the same tag, so a popular diff page is rendered once per archive
state, not once per reader.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from aiohttp import hdrs, web

__all__ = [
    "PageCache",
    "dumps",
    "json_response",
    "make_etag",
    "not_modified",
    "not_modified_response",
    "set_validators",
]


_JSON_MARKUP = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def dumps(document: Any) -> bytes:
    """Compact UTF-8 JSON with ``<``, ``>`` and ``&`` escaped (``\\u003c``...).

    The data is unchanged for any JSON parser, but policy text full of ``<script>`` never
    reaches the wire as markup, whoever sniffs, embeds or mislabels the answer.
    """
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return text.translate(_JSON_MARKUP).encode("utf-8")


def json_response(document: Any, *, status: int = 200) -> web.Response:
    return web.Response(
        body=dumps(document), status=status, content_type="application/json", charset="utf-8"
    )


def make_etag(*parts: object) -> str:
    """A weak validator (quoted): pages are equal in meaning, not necessarily byte for byte
    across aiohttp versions or compression, which is what ``W/`` says."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).hexdigest()[:32]
    return f'W/"{digest}"'


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def not_modified(request: web.BaseRequest, etag: str, last_modified: datetime | None) -> bool:
    """RFC 9110 §13.2.2: If-None-Match (weak comparison) wins; If-Modified-Since only counts
    when the request has no If-None-Match."""
    if request.method not in ("GET", "HEAD"):
        return False
    inm = request.headers.get(hdrs.IF_NONE_MATCH)
    if inm is not None:
        wanted = _opaque(etag)
        tags = (t.strip() for t in inm.split(","))
        return any(t == "*" or _opaque(t) == wanted for t in tags)
    if last_modified is None:
        return False
    since = request.if_modified_since
    return since is not None and last_modified.replace(microsecond=0) <= since


def set_validators(
    response: web.StreamResponse, etag: str, last_modified: datetime | None
) -> web.StreamResponse:
    response.headers[hdrs.ETAG] = etag
    if last_modified is not None:
        response.last_modified = last_modified.astimezone(UTC)
    return response


def not_modified_response(etag: str, last_modified: datetime | None) -> web.Response:
    response = web.Response(status=304)
    set_validators(response, etag, last_modified)
    return response


class PageCache:
    """Rendered bodies by ETag, least recently used first out, bounded by total bytes.

    Only touched from the event loop, so it needs no lock.
    """

    def __init__(self, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0

    def get(self, key: str) -> bytes | None:
        body = self._data.get(key)
        if body is not None:
            self._data.move_to_end(key)
        return body

    def put(self, key: str, body: bytes) -> None:
        if len(body) > self.max_bytes // 4:
            return  # one huge page must not flush everything else
        old = self._data.pop(key, None)
        if old is not None:
            self._bytes -= len(old)
        self._data[key] = body
        self._bytes += len(body)
        while self._bytes > self.max_bytes:
            _, dropped = self._data.popitem(last=False)
            self._bytes -= len(dropped)

    def keys(self) -> Iterable[str]:
        return self._data.keys()
