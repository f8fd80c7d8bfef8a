"""JSON under /api: schemas, the policywatch.diff/1 document, JSON 404s, /healthz."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from conftest import Site, requires_pipeline
from policywatch.models import CATEGORIES

pytestmark = requires_pipeline

REVISION_KEYS = {
    "policy",
    "revision",
    "date",
    "kind",
    "material",
    "summary",
    "categories",
    "restores",
}


async def get_json(client: TestClient, path: str, status: int = 200) -> Any:
    response = await client.get(path)
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    assert response.charset == "utf-8"
    return await response.json()


async def test_policies(client: TestClient) -> None:
    doc = await get_json(client, "/api/policies")
    assert doc["schema"] == "policywatch.policies/1"
    by_id = {p["id"]: p for p in doc["policies"]}
    assert list(by_id) == ["privacy", "terms", "hostile", "cookies"]  # config order
    privacy = by_id["privacy"]
    assert privacy["title"] == "Privacy policy"
    assert privacy["revisions"] == 4
    assert privacy["source"] is None  # a local file's path is not published
    assert set(privacy["latest"]) == REVISION_KEYS
    assert privacy["links"]["feed"] == "/feeds/privacy.atom"
    assert by_id["cookies"]["latest"] is None and by_id["cookies"]["revisions"] == 0


async def test_revisions_follow_the_log_schema(client: TestClient, recorded: Site) -> None:
    doc = await get_json(client, "/api/policies/privacy/revisions")
    assert doc["schema"] == "policywatch.log/1"
    revs = doc["revisions"]
    assert [r["revision"] for r in revs] == list(reversed(recorded.revisions["privacy"]))
    assert all(set(r) == REVISION_KEYS for r in revs)
    assert [r["kind"] for r in revs] == ["editorial", "editorial", "change", "first"]
    assert [r["material"] for r in revs] == [False, False, True, False]
    assert revs[0]["restores"] == recorded.revisions["privacy"][1]
    assert set(revs[2]["categories"]) <= set(CATEGORIES) and revs[2]["categories"]
    empty = await get_json(client, "/api/policies/cookies/revisions")
    assert empty["revisions"] == []


async def test_one_revision_with_its_text(client: TestClient, recorded: Site) -> None:
    v1, v2, _, _ = recorded.revisions["privacy"]
    doc = await get_json(client, f"/api/policies/privacy/revisions/{v2[:10]}")
    assert doc["schema"] == "policywatch.revision/1"
    assert doc["revision"] == v2 and doc["previous"] == v1
    assert "We delete your order history after five years." in doc["text"]


async def test_diff_is_the_contract_schema(client: TestClient, recorded: Site) -> None:
    v1, v2, _, _ = recorded.revisions["privacy"]
    doc = await get_json(client, f"/api/policies/privacy/diff?from={v1}&to={v2}")
    assert doc["schema"] == "policywatch.diff/1"
    assert doc["old"]["revision"] == v1 and doc["new"]["revision"] == v2
    assert doc["material"] is True
    assert set(doc["stats"]) == {"added", "removed", "modified", "moved", "editorial", "unchanged"}
    kinds = {c["kind"] for c in doc["changes"]}
    assert {"added", "modified", "moved"} <= kinds
    for change in doc["changes"]:
        assert change["kind"] in {"added", "removed", "modified", "moved", "editorial"}
        assert (change["old"] is None) == (change["kind"] == "added")
        assert (change["new"] is None) == (change["kind"] == "removed")
        for side in (change["old"], change["new"]):
            if side is not None:
                assert set(side) >= {"index", "section", "text"}
        assert set(change["categories"]) <= set(CATEGORIES)
        if change["kind"] == "modified":
            assert {op for op, _ in change["words"]} <= {"=", "-", "+"}
    default = await get_json(client, "/api/policies/privacy/diff")
    assert default["new"]["revision"] == recorded.revisions["privacy"][3]


async def test_unknown_things_are_json_404s(client: TestClient) -> None:
    for path in (
        "/api/policies/nope/revisions",
        "/api/policies/privacy/revisions/ffffff",
        "/api/policies/privacy/diff?to=latest~9",
        "/api/policies/terms/diff",
        "/api/nothing-here",
    ):
        doc = await get_json(client, path, status=404)
        assert doc["error"]["status"] == 404, path


async def test_api_answers_304_on_a_match(client: TestClient) -> None:
    first = await client.get("/api/policies")
    again = await client.get("/api/policies", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status == 304


async def test_healthz(client: TestClient) -> None:
    doc = await get_json(client, "/healthz")
    assert doc["status"] == "ok" and doc["archive"] == "ok"
