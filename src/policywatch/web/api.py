"""JSON under ``/api``: the same data as the pages, versioned by a ``schema`` key.

Diffs are serialised by :func:`policywatch.render.diff_to_dict`, the project's one serialiser of
``policywatch.diff/1``; revisions use the ``policywatch.log/1`` fields.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from typing import Any

from aiohttp import hdrs, web

from ..errors import ArchiveError, StoreError
from ..models import Revision
from ..tracker import Tracker
from .reader import PolicyInfo
from .responses import json_response
from .status import SourceBoard
from .typedefs import ACCOUNTS, HEALTH, PUBLISHER
from .views import json_page, json_sources_page, revision_name

__all__ = ["diff", "health", "optouts", "policies", "revision", "revisions"]

#: the most ledger entries one /api/optouts answer carries (page with ?after=)
OPTOUTS_PAGE = 1000

log = logging.getLogger(__name__)


def revision_dict(r: Revision) -> dict[str, Any]:
    return {
        "policy": r.policy,
        "revision": r.id,
        "date": r.date.isoformat(),
        "kind": r.kind,
        "material": r.material,
        "summary": r.summary,
        "categories": list(r.categories),
        "restores": r.restores,
    }


def _policy_dict(info: PolicyInfo, board: SourceBoard) -> dict[str, Any]:
    """``source`` is the public URL (a string or null, as before); ``source_status`` is how
    reading it goes (null for a policy no longer configured)."""
    view = board.get(info.id)
    return {
        "id": info.id,
        "title": info.title,
        "source": info.url,
        "revisions": info.count,
        "latest": revision_dict(info.latest) if info.latest is not None else None,
        "source_status": view.as_dict() if view is not None else None,
        "links": {
            "html": f"/policies/{info.id}",
            "revisions": f"/api/policies/{info.id}/revisions",
            "feed": f"/feeds/{info.id}.atom",
        },
    }


async def policies(request: web.Request) -> web.Response:
    publisher = request.app[PUBLISHER]

    def document(board: SourceBoard) -> dict[str, Any]:
        return {
            "schema": "policywatch.policies/1",
            "policies": [_policy_dict(p, board) for p in publisher.policies()],
        }

    return await json_sources_page(request, ("api-policies",), document)


async def revisions(request: web.Request) -> web.Response:
    publisher = request.app[PUBLISHER]
    policy_id = request.match_info["policy"]

    def document() -> dict[str, Any]:
        return {
            "schema": "policywatch.log/1",
            "policy": policy_id,
            "revisions": [revision_dict(r) for r in publisher.history(policy_id)],
        }

    return await json_page(request, ("api-revisions", policy_id), document)


async def revision(request: web.Request) -> web.Response:
    publisher = request.app[PUBLISHER]
    policy_id = request.match_info["policy"]
    name = revision_name(request.match_info["rev"]) or "latest"

    def document() -> dict[str, Any]:
        rev, text = publisher.revision(policy_id, name)
        before = publisher.previous(rev)
        return {
            "schema": "policywatch.revision/1",
            **revision_dict(rev),
            "previous": before.id if before is not None else None,
            "text": text,
        }

    return await json_page(request, ("api-revision", policy_id, name), document)


async def diff(request: web.Request) -> web.Response:
    from ..render import diff_to_dict

    publisher = request.app[PUBLISHER]
    policy_id = request.match_info["policy"]
    old = revision_name(request.query.get("from"))
    new = revision_name(request.query.get("to"))

    def document() -> dict[str, Any]:
        return diff_to_dict(publisher.compare(policy_id, old, new).diff)

    return await json_page(request, ("api-diff", policy_id, old, new), document)


async def health(request: web.Request) -> web.Response:
    """200 when the archive can be read and the database answers; never cached (it is asked
    to find out *now*). The details (paths, drivers' words) stay in the log."""
    from .subscribers import blocking

    publisher = request.app[PUBLISHER]
    body: dict[str, Any] = {"status": "ok"}
    try:
        body.update(await asyncio.to_thread(publisher.healthy))
    except ArchiveError as exc:
        log.error("healthz: %s", exc)
        body.update(status="error", archive="error", detail="the archive cannot be read")
    try:
        await blocking(request, lambda tracker: tracker.store.ping())
    except StoreError as exc:
        log.error("healthz: %s", exc)
        body.update(status="error", database="error")
        body.setdefault("detail", "the database cannot be reached")
    else:
        body["database"] = "ok"
    for name, probe in request.app[HEALTH].items():
        state, healthy = probe()
        body[name] = state
        if not healthy:
            log.error("healthz: %s: %s", name, state)
            body["status"] = "error"
            body.setdefault("detail", f"the {name} is {state}")
    response = json_response(body, status=200 if body["status"] == "ok" else 503)
    response.headers["Cache-Control"] = "no-store"
    return response


def _authorised(request: web.Request, token: str) -> bool:
    """A bearer token, compared in constant time (hashes first, so even its length stays
    secret)."""
    scheme, _, given = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return False
    want = hashlib.sha256(token.encode("utf-8")).digest()
    got = hashlib.sha256(given.strip().encode("utf-8")).digest()
    return hmac.compare_digest(want, got)


def _whole(value: str | None, name: str, default: int, maximum: int | None = None) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or len(value) > 18:
        raise web.HTTPBadRequest(reason=f"{name} must be a whole number >= 0")
    number = int(value)
    return min(number, maximum) if maximum is not None else number


async def optouts(request: web.Request) -> web.Response:
    """``GET /api/optouts?after=ID``: the opt-out ledger for the site's own systems.

    Needs ``Authorization: Bearer $POLICYWATCH_API_TOKEN``; without that variable the route
    does not exist (404), so a site that never set it exposes nothing. Entries come in ledger
    order; poll with ``after`` set to the ``next`` of the previous answer.
    """
    from ..subscriptions import optout_dict
    from .subscribers import blocking

    accounts = request.app[ACCOUNTS]
    if accounts.api_token is None:
        raise web.HTTPNotFound()
    if not _authorised(request, accounts.api_token):
        raise web.HTTPUnauthorized(headers={hdrs.WWW_AUTHENTICATE: 'Bearer realm="policywatch"'})
    after = _whole(request.query.get("after"), "after", 0)
    limit = max(1, _whole(request.query.get("limit"), "limit", OPTOUTS_PAGE, OPTOUTS_PAGE))
    policy = request.query.get("policy") or None

    def read(tracker: Tracker) -> list[Any]:
        return tracker.store.optouts(after=after, policy=policy, limit=limit)

    entries = await blocking(request, read)
    body = {
        "schema": "policywatch.optouts/1",
        "optouts": [optout_dict(o) for o in entries],
        "next": entries[-1].id if entries else after,
    }
    response = json_response(body)
    response.headers[hdrs.CACHE_CONTROL] = "no-store"
    return response
