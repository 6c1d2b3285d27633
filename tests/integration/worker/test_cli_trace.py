"""`scimsync trace`: one person's story told by the command line, in order, with causes,
and never a secret."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from tests.support.trace_story import assert_story, tell
from worker.cli import main


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_trace_tells_a_persons_story_in_order_with_causes(
    api: Any, engine: Any, service_env: Any
) -> None:
    story = tell(api, engine)
    for who in ("alice@acme.test", "ALICE@acme.test", story.alice, "00u-alice"):
        result = run("trace", story.tenant.id, who, "--json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert data["subject"]["scim_id"] == story.alice
        assert_story(data["entries"])
    assert data["summary"].startswith("Active since"), data["summary"]
    assert "billed; in 1 group(s)" in data["summary"]
    text = run("trace", story.tenant.id, "alice@acme.test").output
    assert "Okta PATCH /scim/v2/" in text and "[rule 4]" in text
    for secret in (story.password, story.tenant.scim_token, story.tenant.admin_token):
        assert secret not in result.output and secret not in text


def test_trace_of_a_group_and_of_nobody(api: Any, engine: Any, service_env: Any) -> None:
    story = tell(api, engine)
    data = json.loads(run("trace", story.tenant.id, "sales", "--json").output)
    assert data["subject"]["kind"] == "group"
    assert "'Sales (SCIM)' has 1 member(s)" in data["summary"]
    assert any("appeared in the workspace as 'Sales (SCIM)'" in e["what"] for e in data["entries"])
    missing = run("trace", story.tenant.id, "nobody@acme.test", "--json")
    assert missing.exit_code == 1
    assert json.loads(missing.output)["error"] == "not_found"
