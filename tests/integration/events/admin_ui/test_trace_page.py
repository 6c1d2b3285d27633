"""The Timeline page (`/workspaces/{t}/trace?q=`): the workspace admin reads a person's
story from the Members page, in order, with causes, and never a secret; a row of the
Members and Groups pages links to it; another workspace's admin sees nothing."""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

from tests.support.trace_story import assert_story, tell
from tests.support.workspace import make_tenant

ROW = re.compile(
    r'<tr data-kind="(?P<kind>\w+)">\s*<td[^>]*>[^<]*</td>\s*<td>(?P<what>.*?)</td>\s*'
    r"<td>(?P<cause>.*?)</td>",
    re.S,
)
TAG = re.compile(r"<[^>]+>")


def entries_of(page: str) -> list[dict[str, str]]:
    def text(fragment: str) -> str:
        return html_lib.unescape(TAG.sub("", fragment)).strip()

    return [
        {"kind": m["kind"], "what": text(m["what"]), "cause": text(m["cause"])}
        for m in ROW.finditer(page)
    ]


def test_the_admin_follows_a_member_row_to_her_timeline(
    api: Any, engine: Any, service_env: Any
) -> None:
    story = tell(api, engine)
    tenant = story.tenant
    members_page = api.get(f"/workspaces/{tenant.id}/members", headers=tenant.admin_headers).text
    assert ">Timeline</a>" in members_page  # the navigation bar
    links = re.findall(rf'href="(/workspaces/{tenant.id}/trace\?q=[^"]+)"', members_page)
    assert len(links) >= 2  # one per member row (the Owner and the active IdP users)
    alice_row = re.search(r'<tr data-email="alice@acme.test">.*?</tr>', members_page, re.S)
    assert alice_row, members_page
    link = re.search(r'href="(/workspaces/[^"]+/trace\?q=[^"]+)"', alice_row.group(0))
    assert link, alice_row.group(0)

    page = api.get(html_lib.unescape(link.group(1)), headers=tenant.admin_headers)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Active since" in page.text  # the summary on top
    assert_story(entries_of(page.text))
    for secret in (story.password, tenant.scim_token, tenant.admin_token):
        assert secret not in page.text

    groups_page = api.get(f"/workspaces/{tenant.id}/groups", headers=tenant.admin_headers).text
    group_link = re.search(
        r'href="(/workspaces/[^"]+/trace\?q=[^"]+)"[^>]*>Sales \(SCIM\)<', groups_page
    )
    assert group_link, groups_page
    group_page = api.get(html_lib.unescape(group_link.group(1)), headers=tenant.admin_headers)
    assert group_page.status_code == 200
    assert 'data-subject="group"' in group_page.text and "+1 members" in group_page.text


def test_a_search_that_finds_nobody_and_a_bad_cursor_say_so(
    api: Any, engine: Any, service_env: Any
) -> None:
    story = tell(api, engine)
    url = f"/workspaces/{story.tenant.id}/trace"
    headers = story.tenant.admin_headers
    empty = api.get(url, headers=headers)
    assert empty.status_code == 200 and 'name="q"' in empty.text
    hostile = "<script>alert(1)</script>" + "é" * 2_000  # URL-encoded: 12 KB
    missing = api.get(url, params={"q": hostile}, headers=headers)
    assert missing.status_code == 404 and 'id="trace-missing"' in missing.text
    assert "<script>alert(1)" not in missing.text  # escaped, and the query is capped
    bad = api.get(url, params={"q": "alice@acme.test", "cursor": "x"}, headers=headers)
    assert bad.status_code == 400 and "cursor" in bad.text
    second = api.get(url, params={"q": story.alice, "cursor": "3"}, headers=headers)
    assert second.status_code == 200 and "entries, oldest first" in second.text


def test_another_workspaces_admin_and_a_stranger_see_the_login_page(
    api: Any, engine: Any, service_env: Any
) -> None:
    story = tell(api, engine)
    url = f"/workspaces/{story.tenant.id}/trace?q=alice@acme.test"
    other = make_tenant(engine, name="Other", domains=("other.test",), owner_email=None)
    for headers in (other.admin_headers, {}):
        refused = api.get(url, headers=headers)
        assert refused.status_code == 401
        assert "alice@acme.test" not in refused.text and 'name="token"' in refused.text
