"""`/dashboard/trace`: the operator's search, behind the operator token, HTML and JSON."""

from __future__ import annotations

from typing import Any

from tests.support.trace_story import assert_story, tell
from tests.support.workspace import make_tenant

OPERATOR = {"Authorization": "Bearer op-test-token"}


def test_the_dashboard_trace_needs_the_operator_token_and_tells_the_story(
    api: Any, engine: Any, service_env: Any
) -> None:
    story = tell(api, engine)
    params = {"tenant": story.tenant.id, "q": "alice@acme.test"}
    assert api.get("/dashboard/trace", params={**params, "format": "json"}).status_code == 401
    assert (
        api.get(
            "/dashboard/trace",
            params={**params, "format": "json"},
            headers=story.tenant.admin_headers,
        ).status_code
        == 401
    )
    data = api.get("/dashboard/trace", params={**params, "format": "json"}, headers=OPERATOR).json()
    assert_story(data["entries"])
    html = api.get("/dashboard/trace", params=params, headers=OPERATOR)
    assert html.status_code == 200 and "Active since" in html.text
    assert 'data-kind="refused"' in html.text
    for secret in (story.password, story.tenant.scim_token, story.tenant.admin_token):
        assert secret not in html.text and secret not in str(data)
    box = api.get("/dashboard", headers=OPERATOR).text
    assert 'action="/dashboard/trace"' in box and story.tenant.id in box
    nobody = api.get("/dashboard/trace", params={**params, "q": "nobody"}, headers=OPERATOR)
    assert nobody.status_code == 404 and "nobody" in nobody.text


def test_tenants_made_in_the_same_minute_have_different_labels_in_the_search(
    api: Any, engine: Any, service_env: Any
) -> None:
    """Ids are time-ordered (UUIDv7): their first characters are the minute they were made,
    so the search box labels a tenant by the random end of its id."""
    made = [make_tenant(engine, name="Same", domains=(f"s{i}.test",)) for i in range(3)]
    box = api.get("/dashboard", headers=OPERATOR).text
    labels = {f"Same ({t.id[-8:]})" for t in made}
    assert len(labels) == 3 and all(label in box for label in labels), box[:2000]
