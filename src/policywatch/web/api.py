"""JSON under ``/api``: the same data as the pages, versioned by a ``schema`` key.

Diffs are serialised by :func:`policywatch.render.diff_to_dict`, the project's one serialiser of
``policywatch.diff/1``; revisions use the ``policywatch.log/1`` fields.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from ..errors import ArchiveError
from ..models import Revision
from .reader import PolicyInfo
from .responses import json_response
from .typedefs import PUBLISHER
from .views import json_page, revision_name

__all__ = ["diff", "health", "policies", "revision", "revisions"]

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


def _policy_dict(info: PolicyInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "title": info.title,
        "source": info.url,
        "revisions": info.count,
        "latest": revision_dict(info.latest) if info.latest is not None else None,
        "links": {
            "html": f"/policies/{info.id}",
            "revisions": f"/api/policies/{info.id}/revisions",
            "feed": f"/feeds/{info.id}.atom",
        },
    }


async def policies(request: web.Request) -> web.Response:
    publisher = request.app[PUBLISHER]

    def document() -> dict[str, Any]:
        return {
            "schema": "policywatch.policies/1",
            "policies": [_policy_dict(p) for p in publisher.policies()],
        }

    return await json_page(request, ("api-policies",), document)


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
    """200 when the archive can be read; never cached (it is asked to find out *now*)."""
    publisher = request.app[PUBLISHER]
    try:
        checks = await asyncio.to_thread(publisher.healthy)
    except ArchiveError as exc:
        log.error("healthz: %s", exc)  # the details (paths, git's words) stay in the log
        body = {"status": "error", "archive": "error", "detail": "the archive cannot be read"}
        response = json_response(body, status=503)
    else:
        response = json_response({"status": "ok", **checks})
    response.headers["Cache-Control"] = "no-store"
    return response
