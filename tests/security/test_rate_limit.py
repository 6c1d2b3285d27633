"""Per-tenant rate limiting: the bucket maths on a real Redis, then the HTTP behaviour."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from events.hooks.routes import signature_header
from events.rate_limit import BUCKET_SCRIPT, Limit, RateLimiter, bucket_key, limit_for, take
from storage import tenants
from storage.db import unit_of_work
from tests.security.conftest import assert_scim_error, row_counts
from tests.support.workspace import TenantHandle, issue_webhook_secret, user_body
from worker.metrics.pipeline import RATE_LIMITED
from worker.settings import get_settings


def _defaults() -> Limit:
    settings = get_settings()
    return Limit(settings.rate_limit_per_second, settings.rate_limit_burst)


# --- the bucket ---------------------------------------------------------------------------


def test_a_full_bucket_allows_a_burst_then_refuses(redis_client: Any) -> None:
    limit = Limit(per_second=2, burst=3)
    decisions = [take(redis_client, "b", limit, now=100.0) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[2].tokens == pytest.approx(0)
    assert decisions[3].retry_after == pytest.approx(0.5)  # one token at 2/s


def test_tokens_come_back_at_the_rate_and_never_above_the_burst(redis_client: Any) -> None:
    limit = Limit(per_second=2, burst=3)
    for _ in range(3):
        take(redis_client, "b", limit, now=100.0)
    assert not take(redis_client, "b", limit, now=100.4).allowed  # 0.8 token
    assert take(redis_client, "b", limit, now=100.5).allowed  # 1 token, spent
    after_a_long_pause = take(redis_client, "b", limit, now=1000.0)
    assert after_a_long_pause.allowed and after_a_long_pause.tokens == pytest.approx(2)


def test_a_clock_going_backwards_refills_nothing(redis_client: Any) -> None:
    limit = Limit(per_second=10, burst=1)
    assert take(redis_client, "b", limit, now=50.0).allowed
    assert not take(redis_client, "b", limit, now=40.0).allowed
    assert take(redis_client, "b", limit, now=50.1).allowed


def test_a_refund_gives_a_token_back_up_to_the_burst(redis_client: Any) -> None:
    limit = Limit(per_second=1, burst=2)
    take(redis_client, "b", limit, now=10.0)
    take(redis_client, "b", limit, now=10.0)
    assert take(redis_client, "b", limit, cost=-1, now=10.0).tokens == pytest.approx(1)
    assert take(redis_client, "b", limit, cost=-5, now=10.0).tokens == pytest.approx(2)


def test_the_default_limit_lets_an_entra_tenant_through_with_room(
    redis_client: Any, service_env: Any
) -> None:
    """Entra sends up to 25 requests a second; a minute of that must never see a 429,
    nor twice that rate (a second sync job)."""
    limit = limit_for({}, _defaults())
    assert limit is not None
    for n in range(60 * 50):
        assert take(redis_client, "entra", limit, now=1000 + n / 50).allowed


def test_concurrent_takes_never_spend_a_token_twice(redis_url: str, redis_client: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import redis

    limit = Limit(per_second=0.001, burst=25)

    def hammer(_: int) -> int:
        client = redis.Redis.from_url(redis_url)
        try:
            return sum(take(client, "shared", limit).allowed for _ in range(10))
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sum(pool.map(hammer, range(8))) == 25


def test_the_script_runs_by_sha_and_the_bucket_expires(redis_client: Any) -> None:
    import hashlib

    sha = hashlib.sha1(BUCKET_SCRIPT.encode()).hexdigest()
    take(redis_client, bucket_key("t1"), Limit(per_second=10, burst=20))
    assert redis_client.script_exists(sha) == [True]
    assert 0 < redis_client.pttl(bucket_key("t1")) <= 3000  # full again after 2 s anyway
    assert bucket_key("t1") == "scimsync:ratelimit:t1"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rate=st.floats(0.5, 50),
    burst=st.integers(1, 20),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=40),
)
def test_allowed_requests_never_exceed_burst_plus_rate_times_time(
    redis_client: Any, rate: float, burst: int, gaps: list[float]
) -> None:
    key = f"prop:{rate}:{burst}:{len(gaps)}:{sum(gaps)}"
    redis_client.delete(key)
    now, allowed = 1000.0, 0
    for gap in gaps:
        now += gap
        allowed += take(redis_client, key, Limit(rate, burst), now=now).allowed
    assert allowed <= burst + rate * (now - 1000.0) + 1e-6


# --- which limit applies --------------------------------------------------------------------


def test_limits_come_from_settings_and_tenant_options(service_env: Any) -> None:
    defaults = get_settings()
    limiter = RateLimiter(redis.Redis(), _defaults())
    assert limiter.limit_for({}) == Limit(defaults.rate_limit_per_second, defaults.rate_limit_burst)
    assert defaults.rate_limit_per_second >= 50  # Entra's 25/s with room
    assert limiter.limit_for({"rate_limit_per_second": 5}) == Limit(5, 20)  # same 4 s of burst
    assert limiter.limit_for({"rate_limit_per_second": 5, "rate_limit_burst": 7}) == Limit(5, 7)
    assert limiter.limit_for({"rate_limit_per_second": 0}) is None
    assert limiter.limit_for({"rate_limit_per_second": "fast"}) == limiter.limit_for({})


# --- over HTTP ------------------------------------------------------------------------------


def _limit(engine: Engine, tenant: TenantHandle, per_second: float, burst: int) -> None:
    with unit_of_work(engine) as conn:
        tenants.set_options(
            conn, tenant.id, {"rate_limit_per_second": per_second, "rate_limit_burst": burst}
        )


def _rate_limited_count(tenant_id: str) -> float:
    samples = next(iter(RATE_LIMITED.collect())).samples
    return sum(
        s.value
        for s in samples
        if s.name.endswith("_total") and s.labels.get("tenant") == tenant_id
    )


def test_a_burst_past_the_limit_gets_429_and_changes_nothing(
    api: Any, engine: Engine, tenant: TenantHandle, other: TenantHandle
) -> None:
    _limit(engine, tenant, per_second=0.05, burst=3)  # one token back every 20 s
    for n in range(3):
        created = api.post(
            f"{tenant.scim_base}/Users",
            json=user_body(f"u{n}@acme.test"),
            headers=tenant.scim_headers,
        )
        assert created.status_code == 201, created.text
    before, refused_before = row_counts(engine), _rate_limited_count(tenant.id)
    for n in range(3):
        refused = api.post(
            f"{tenant.scim_base}/Users",
            json=user_body(f"late{n}@acme.test"),
            headers=tenant.scim_headers,
        )
        body = assert_scim_error(refused, 429)
        assert 1 <= int(refused.headers["Retry-After"]) <= 21
        assert "per second" in body["detail"]
    listing = api.get(f"{tenant.scim_base}/Users", headers=tenant.scim_headers)
    assert listing.status_code == 429  # reads count too
    assert row_counts(engine) == before
    assert _rate_limited_count(tenant.id) == refused_before + 4
    # Another tenant has its own bucket.
    assert api.get(f"{other.scim_base}/Users", headers=other.scim_headers).status_code == 200


def test_requests_without_a_valid_token_spend_nothing(
    api: Any, engine: Engine, tenant: TenantHandle, other: TenantHandle
) -> None:
    _limit(engine, tenant, per_second=0.05, burst=2)
    for headers in ({}, {"Authorization": "Bearer nope"}, other.scim_headers) * 3:
        assert api.get(f"{tenant.scim_base}/Users", headers=headers).status_code == 401
    for _ in range(2):
        assert api.get(f"{tenant.scim_base}/Users", headers=tenant.scim_headers).status_code == 200


def test_webhooks_share_the_tenant_bucket_and_bad_signatures_spend_nothing(
    api: Any, engine: Engine, tenant: TenantHandle
) -> None:
    with unit_of_work(engine) as conn:
        secret = issue_webhook_secret(conn, tenant.id)
    _limit(engine, tenant, per_second=0.05, burst=2)
    url = f"/hooks/v1/{tenant.id}/events"

    def push(n: int, key: str = secret) -> Any:
        body = b'{"id": "e%d", "type": "user.upserted", "data": {"userName": "w%d@acme.test"}}' % (
            n,
            n,
        )
        header = signature_header(key, int(time.time()), body)
        return api.post(
            url,
            content=body,
            headers={"X-Scimsync-Signature": header, "Content-Type": "application/json"},
        )

    for n in range(5):
        assert push(n, key="whk_forged").status_code == 401
    assert push(1).status_code == 200
    assert api.get(f"{tenant.scim_base}/Users", headers=tenant.scim_headers).status_code == 200
    before = row_counts(engine)
    refused = push(2)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert row_counts(engine) == before


class _Warnings:
    def __init__(self) -> None:
        self.events: list[str] = []

    def warning(self, event: str, **_: Any) -> None:
        self.events.append(event)


def test_an_unreachable_redis_lets_requests_through_with_a_warning(
    api: Any, engine: Engine, tenant: TenantHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from events import rate_limit

    warnings = _Warnings()
    monkeypatch.setattr(rate_limit, "log", warnings)
    _limit(engine, tenant, per_second=0.05, burst=1)
    runtime = api.app.state.runtime
    nobody = redis.Redis.from_url("redis://127.0.0.1:1/0")  # nothing listens
    limiter = dataclasses.replace(runtime.limiter, client=nobody)
    monkeypatch.setattr(api.app.state, "runtime", dataclasses.replace(runtime, limiter=limiter))
    for n in range(3):
        created = api.post(
            f"{tenant.scim_base}/Users",
            json=user_body(f"r{n}@acme.test"),
            headers=tenant.scim_headers,
        )
        assert created.status_code == 201, created.text
    assert warnings.events == ["rate_limit_unavailable"] * 3
