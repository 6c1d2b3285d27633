"""The provisioning trace's words: what changed, what stays hidden, the sentence on top."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconciler import trace
from reconciler.trace_words import changes, flatten

T0 = datetime(2026, 12, 3, 14, 2, tzinfo=UTC)


def test_changes_name_each_attribute_with_old_and_new_value() -> None:
    before = {"userName": "a@x.test", "active": True, "emails": [{"value": "a@x.test"}]}
    after = {**before, "active": False, "emails": [{"value": "b@x.test", "primary": True}]}
    assert changes(before, after) == ["active: true → false", "emails: a@x.test → b@x.test"]


def test_secret_looking_attributes_are_hidden_wherever_they_are() -> None:
    resource = {
        "password": "hunter2",
        "urn:ext:2.0:User": {"apiToken": "tok-123", "clientSecret": "s3"},
        "displayName": "A",
    }
    flat = flatten(resource)
    assert "hunter2" not in str(flat) and "tok-123" not in str(flat) and "s3" not in str(flat)
    assert flat["displayName"] == "A"


def _facts(events: list[trace.EventFact], actions: list[trace.ActionFact]) -> trace.TraceFacts:
    return trace.TraceFacts(
        subject=trace.Subject("person", "a@x.test", "u1", "m1", "email"),
        state=trace.CurrentState(True, "deactivated", True, ("Eng (SCIM)", "Ops", "Sales")),
        idp="okta",
        events=events,
        actions=actions,
        dead_letters=[],
    )


def test_the_sentence_on_top_says_since_when_why_billing_and_groups() -> None:
    event = trace.EventFact(7, "User", "u1", "patch", "scim", {"active": False}, T0, T0, "applied")
    action = trace.ActionFact(
        1,
        T0 + timedelta(seconds=1),
        "worker",
        "set_member_status",
        "member:m1",
        {"status": "deactivated"},
    )
    timeline = trace.build(_facts([event], [action]))
    assert timeline.summary.startswith(
        "Deactivated since 2026-12-03 14:02 UTC because Okta sent active=false"
    )
    assert timeline.summary.endswith("not billed; keeps 3 group(s).")
    assert [e.rule for e in timeline.entries] == [None, 4]


def test_pages_continue_where_the_last_one_stopped() -> None:
    events = [
        trace.EventFact(i, "User", "u1", "patch", "scim", {"n": i}, T0, None, "pending")
        for i in range(1, 6)
    ]
    timeline = trace.build(_facts(events, []))
    first = trace.page(timeline, None, 2)
    second = trace.page(timeline, first.next_cursor, 2)
    third = trace.page(timeline, second.next_cursor, 2)
    assert [len(p.entries) for p in (first, second, third)] == [2, 2, 1]
    assert third.next_cursor is None and first.total == 5
    assert "5 change(s) not applied yet" in timeline.summary
