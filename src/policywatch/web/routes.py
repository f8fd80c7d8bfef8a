"""The URL table (CONTRACT.md "HTTP"), in one place."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from . import api, pages, subscribers

__all__ = ["setup_routes"]

_POLICY = "{policy:[a-z0-9][a-z0-9-]*}"
_REV = "{rev:[^/]+}"
_TOKEN = "{token:[A-Za-z0-9_-]{1,64}}"


def setup_routes(app: web.Application, static_dir: Path) -> None:
    r = app.router
    r.add_get("/", pages.index, name="index")
    r.add_get(f"/policies/{_POLICY}", pages.policy, name="policy")
    r.add_get(f"/policies/{_POLICY}/revisions/{_REV}", pages.revision, name="revision")
    r.add_get(f"/policies/{_POLICY}/diff", pages.diff, name="diff")
    r.add_get("/categories", pages.categories, name="categories")
    r.add_get("/categories/{category:[a-z-]+}", pages.category, name="category")
    r.add_get("/feeds/{name:[a-z0-9-]+}.atom", pages.feed, name="feed")
    r.add_get("/subscribe", subscribers.subscribe_form, name="subscribe-form")
    r.add_post("/subscribe", subscribers.subscribe_post, name="subscribe")
    r.add_get(f"/confirm/{_TOKEN}", subscribers.confirm_form, name="confirm-form")
    r.add_post(f"/confirm/{_TOKEN}", subscribers.confirm_post, name="confirm")
    r.add_get(f"/unsubscribe/{_TOKEN}", subscribers.unsubscribe_form, name="unsubscribe-form")
    r.add_post(f"/unsubscribe/{_TOKEN}", subscribers.unsubscribe_post, name="unsubscribe")
    r.add_get(f"/opt-out/{_TOKEN}", subscribers.optout_form, name="opt-out-form")
    r.add_post(f"/opt-out/{_TOKEN}", subscribers.optout_post, name="opt-out")
    r.add_get("/api/optouts", api.optouts, name="api-optouts")
    r.add_get("/api/policies", api.policies, name="api-policies")
    r.add_get(f"/api/policies/{_POLICY}/revisions", api.revisions, name="api-revisions")
    r.add_get(f"/api/policies/{_POLICY}/revisions/{_REV}", api.revision, name="api-revision")
    r.add_get(f"/api/policies/{_POLICY}/diff", api.diff, name="api-diff")
    r.add_get("/healthz", api.health, name="healthz")
    r.add_static("/static/", static_dir, name="static")
