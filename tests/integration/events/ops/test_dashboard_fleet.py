"""Issue 20, the dashboard at a glance: a fleet table (one row per tenant, linking to its
own page), trends of the last hour from beat's pipeline samples, names instead of UUIDs,
and durations under a second in milliseconds."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text

from storage.clock import utcnow
from storage.schema import pipeline_samples
from tests.integration.events.ops.test_dashboard import (
    OPERATOR,
    apply,
    make_dead_letter,
    push_users,
)
from tests.support.workspace import make_tenant


def sample_pipeline(**options: Any) -> int:
    from worker.tasks import sample_pipeline as task  # see test_trace_retention.py: why here

    return task(**options)


def samples(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(pipeline_samples)).scalar_one())


def test_beat_samples_every_tenant_and_the_page_draws_the_last_hour(
    api: Any, engine: Any, service_env: Any
) -> None:
    acme = make_tenant(engine)
    other = make_tenant(engine, name="Globex", domains=("globex.test",), owner_email=None)
    for _ in range(3):  # three ticks of beat while users arrive and are applied
        push_users(api, acme, *(f"u{samples(engine)}-{i}@acme.test" for i in range(3)))
        apply(engine, acme)
        assert sample_pipeline() == 2
    assert samples(engine) == 6  # both tenants, every tick
    summary = api.get("/dashboard/api/summary", headers=OPERATOR).json()
    by_id = {t["id"]: t for t in summary["tenants"]}
    trends = {line["figure"]: line for line in by_id[acme.id]["trends"]}
    assert set(trends) == {"lag_p50_seconds", "lag_p99_seconds", "queue_depth", "applied"}
    assert trends["applied"]["samples"] == 3 and trends["applied"]["points"]
    assert trends["applied"]["last"] == "9"  # applied in the minute before the last tick
    assert trends["lag_p99_seconds"]["samples"] == 3
    quiet = {line["figure"]: line for line in by_id[other.id]["trends"]}
    assert quiet["applied"]["samples"] == 3 and quiet["applied"]["last"] == "0"
    assert (
        quiet["lag_p99_seconds"]["samples"] == 0 and quiet["lag_p99_seconds"]["last"] == "no data"
    )
    html = api.get("/dashboard", headers=OPERATOR).text
    section = html.split(f'data-tenant="{acme.id}"', 1)[1]
    assert re.search(r'data-trend="applied" data-samples="3"', section)
    assert '<polyline points="' in section

    # Retention: a sample older than SCIMSYNC_PIPELINE_SAMPLE_RETENTION_HOURS goes at the
    # next tick; and the page draws only the last hour.
    sample_pipeline(now=utcnow() + timedelta(hours=25))
    assert samples(engine) == 2


def test_the_fleet_table_has_a_row_per_tenant_and_each_links_to_its_page(
    api: Any, engine: Any, service_env: Any
) -> None:
    tenants = [
        make_tenant(engine, name=f"Tenant {n}", domains=(f"t{n}.test",), owner_email=None)
        for n in range(4)
    ]
    sick = tenants[0]
    with engine.begin() as conn:  # tenant 0's IdP pushes to a domain it owns
        conn.execute(
            text("UPDATE tenants SET sso_domains = :d WHERE id = :t"),
            {"d": '["acme.test"]', "t": sick.id},
        )
    make_dead_letter(api, engine, sick, "alice@acme.test")
    html = api.get("/dashboard", headers=OPERATOR).text
    rows = re.findall(r'<tr data-fleet-tenant="([^"]+)" class="([^"]*)">', html)
    assert {tenant_id for tenant_id, _ in rows} == {t.id for t in tenants}
    assert dict(rows)[sick.id] == "bad" and dict(rows)[tenants[1].id] == ""
    # four tenants: the overview is the table; each tenant's figures are on its own page
    assert 'class="tenant' not in html
    assert f'href="/dashboard?tenant={sick.id}"' in html
    one = api.get(f"/dashboard?tenant={sick.id}", headers=OPERATOR).text
    assert f'data-tenant="{sick.id}"' in one and 'id="fleet"' not in one
    # the dead letter names the person, not only a UUID, and links to her timeline
    letter = re.search(r"<tr data-dead-letter=.*?</tr>", one, re.S)
    assert letter and "<strong>alice@acme.test</strong>" in letter.group(0)
    assert "/dashboard/trace?tenant=" in letter.group(0)
    events = re.search(r'<table data-table="recent-events">.*?</table>', one, re.S)
    assert events and "alice@acme.test" in events.group(0)
    fleet = api.get("/dashboard/api/summary", headers=OPERATOR).json()["fleet"]
    assert {f["id"]: f["healthy"] for f in fleet}[sick.id] is False
    assert {f["id"]: f["dead_letters"] for f in fleet}[sick.id] == 1


def test_a_lag_under_a_second_reads_in_milliseconds(
    api: Any, engine: Any, service_env: Any
) -> None:
    tenant = make_tenant(engine)
    push_users(api, tenant, "fast@acme.test")
    with engine.begin() as conn:  # applied 20 ms after it arrived
        conn.execute(
            text(
                "UPDATE change_events SET state = 'applied', applied_at = received_at"
                " WHERE tenant_id = :t"
            ),
            {"t": tenant.id},
        )
    from events.ops.formats import age

    assert age(0.02) == "20 ms" and age(0.0) == "0 ms" and age(1.5) == "1.5 s"
    html = api.get(f"/dashboard?tenant={tenant.id}", headers=OPERATOR).text
    lag = re.search(
        r'data-figure="pipeline.lag_p99_seconds" data-value="[^"]*">\s*<div class="value">([^<]+)<',
        html,
    )
    assert lag and lag.group(1) == "0 ms", html[:200]
