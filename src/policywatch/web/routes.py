"""The URL table (CONTRACT.md "HTTP"), in one place."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from . import api, pages

__all__ = ["setup_routes"]

_POLICY = "{policy:[a-z0-9][a-z0-9-]*}"
_REV = "{rev:[^/]+}"


def setup_routes(app: web.Application, static_dir: Path) -> None:
    r = app.router
    r.add_get("/", pages.index, name="index")
    r.add_get(f"/policies/{_POLICY}", pages.policy, name="policy")
    r.add_get(f"/policies/{_POLICY}/revisions/{_REV}", pages.revision, name="revision")
    r.add_get(f"/policies/{_POLICY}/diff", pages.diff, name="diff")
    r.add_get("/categories", pages.categories, name="categories")
    r.add_get("/categories/{category:[a-z-]+}", pages.category, name="category")
    r.add_get("/feeds/{name:[a-z0-9-]+}.atom", pages.feed, name="feed")
    r.add_get("/api/policies", api.policies, name="api-policies")
    r.add_get(f"/api/policies/{_POLICY}/revisions", api.revisions, name="api-revisions")
    r.add_get(f"/api/policies/{_POLICY}/revisions/{_REV}", api.revision, name="api-revision")
    r.add_get(f"/api/policies/{_POLICY}/diff", api.diff, name="api-diff")
    r.add_get("/healthz", api.health, name="healthz")
    r.add_static("/static/", static_dir, name="static")
