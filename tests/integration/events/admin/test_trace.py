"""`GET /api/v1/workspaces/{tenant_id}/trace?q=`: the story of a person over HTTP, paged,
in order, with causes, never a secret; other tenants' tokens see nothing."""

from __future__ import annotations

from typing import Any

from tests.support.trace_story import assert_story, tell
from tests.support.workspace import make_tenant


def test_the_api_tells_a_persons_story_page_by_page(
    api: Any, engine: Any, service_env: Any
) -> None:
    story = tell(api, engine)
    url = f"/api/v1/workspaces/{story.tenant.id}/trace"
    headers = story.tenant.admin_headers
    entries: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"q": "alice@acme.test", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        response = api.get(url, params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        entries += body["entries"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages > 1 and len(entries) == body["total"]
    assert_story(entries)
    create = entries[0]
    assert create["refs"]["request_id"] == "req-create-alice"
    assert create["refs"]["method"] == "POST" and create["refs"]["status"] == 201
    assert create["refs"]["lag_seconds"] >= 0
    clash = next(e for e in entries if e["refs"].get("request_id") == "req-clash-alice")
    assert clash["kind"] == "refused" and clash["refs"]["status"] == 409
    assert "→ 409 refused" in clash["what"] and "nothing changed" in clash["what"]
    assert clash["cause"] == "it would break a uniqueness rule of the workspace"
    assert body["summary"].startswith("Active since")
    whole = api.get(url, params={"q": story.alice, "limit": 500}, headers=headers).text
    for secret in (story.password, story.tenant.scim_token, story.tenant.admin_token):
        assert secret not in whole


def test_unknown_people_and_other_tenants_tokens(api: Any, engine: Any, service_env: Any) -> None:
    story = tell(api, engine)
    url = f"/api/v1/workspaces/{story.tenant.id}/trace"
    missing = api.get(url, params={"q": "nobody@acme.test"}, headers=story.tenant.admin_headers)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    other = make_tenant(engine, name="Other", domains=("other.test",), owner_email=None)
    stranger = api.get(url, params={"q": "alice@acme.test"}, headers=other.admin_headers)
    assert stranger.status_code == 401
    bad = api.get(
        url, params={"q": "alice@acme.test", "cursor": "x"}, headers=story.tenant.admin_headers
    )
    assert bad.status_code == 400
