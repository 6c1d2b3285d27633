"""Per-tenant rate limiting: a token bucket in Redis, shared by every API replica.

Each tenant has a bucket (`scimsync:ratelimit:{tenant}`, a hash `{tokens, ts}`) holding
up to `burst` tokens, refilled at `per_second` tokens a second. A request takes one
token or is refused 429 with `Retry-After` = the time until a token is back. Refill and
take happen in one Lua script (EVALSHA), so concurrent requests on any number of
replicas never both spend the last token; the clock is Redis' own (`TIME`), so replicas
with skewed clocks agree.

Limits come from settings (`rate_limit_per_second`, `rate_limit_burst`, handed to the
`RateLimiter` by the composition root), overridable per tenant in `tenants.options`
(`scimsync tenant limits`). A tenant that sets only a rate
keeps the default burst-to-rate ratio (4 s of traffic with the defaults); a rate of 0 or
less means no limit. If Redis cannot be reached the request goes through (fail open):
provisioning that works beats throttling that is down.

Every route is limited after authentication, so no stranger can spend a tenant's
tokens. A request that takes a token and then never gets to do its work (its body is
over the limit, 413, or its client went away) gets the token back (`Refund`, called by
events/http_errors.py).

Failed authentications are charged to their source instead (the client's address, as
the server sees it): `failures` is that budget (settings `auth_failure_per_second`,
`auth_failure_burst`). Past it, a source's refused credentials are answered 429, and
for `Retry-After` seconds this process answers that source 429 before asking the
database, unless its credential is one it accepted within the last second.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import redis
import structlog

from reconciler.errors import RateLimited

log = structlog.get_logger(__name__)

# KEYS[1]: the bucket. ARGV: per_second, burst, cost, now in seconds ("" = Redis' clock).
# A negative cost gives tokens back. Numbers go back as strings: Lua would truncate them.
BUCKET_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if now == nil then
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
local allowed = tokens + 1e-9 >= cost  -- stored tokens carry 14 digits: forgive the rounding
local wait = 0
if allowed then
  tokens = math.max(0, math.min(burst, tokens - cost))
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed and 1 or 0, tostring(tokens), tostring(wait)}
"""


@dataclass(frozen=True)
class Limit:
    per_second: float
    burst: int


@dataclass(frozen=True)
class Decision:
    allowed: bool
    tokens: float  # left in the bucket after this decision
    retry_after: float  # seconds until a refused request would be allowed; 0 when allowed


def bucket_key(tenant_id: str) -> str:
    return f"scimsync:ratelimit:{tenant_id}"


def source_key(source: str) -> str:
    return f"scimsync:authfail:{source}"


MAX_BLOCKED_SOURCES = 10_000  # remembered in this process; past it, the expired are dropped


@lru_cache(maxsize=8)
def _bucket_script(client: redis.Redis) -> Any:
    """One Script per client: registering hashes the script text, every request would pay."""
    return client.register_script(BUCKET_SCRIPT)


def take(
    client: redis.Redis, key: str, limit: Limit, *, cost: float = 1.0, now: float | None = None
) -> Decision:
    """Spend `cost` tokens of the bucket at `key` if it holds them (atomic, in Redis)."""
    script = _bucket_script(client)  # EVALSHA, EVAL once after a flush
    args: list[str | float] = [
        limit.per_second,
        limit.burst,
        cost,
        "" if now is None else repr(now),
    ]
    allowed, tokens, wait = script(keys=[key], args=args)
    return Decision(bool(allowed), float(tokens), float(wait))


def limit_for(options: Mapping[str, Any], defaults: Limit) -> Limit | None:
    """The tenant's limit: its options over the defaults (settings); None when unlimited."""
    default_rate, default_burst = defaults.per_second, defaults.burst
    try:
        rate = float(options.get("rate_limit_per_second", default_rate))
        scaled = math.ceil(rate * default_burst / default_rate) if default_rate > 0 else 1
        burst = int(
            options.get(
                "rate_limit_burst", scaled if "rate_limit_per_second" in options else default_burst
            )
        )
    except (TypeError, ValueError):
        log.warning("rate_limit_option_invalid", options=dict(options))
        rate, burst = default_rate, default_burst
    if not math.isfinite(rate) or rate <= 0:
        return None
    return Limit(per_second=rate, burst=max(1, burst))


@dataclass(frozen=True)
class RateLimiter:
    """Tenants' buckets in `client`; `defaults` from settings; `on_refused(tenant)` counts
    refusals (the request metrics)."""

    client: redis.Redis
    defaults: Limit
    on_refused: Callable[[str], None] = lambda tenant_id: None
    failures: Limit = Limit(per_second=1.0, burst=60)
    # source -> monotonic time until which its failures are refused without a lookup
    _blocked: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    def limit_for(self, options: Mapping[str, Any]) -> Limit | None:
        return limit_for(options, self.defaults)

    def enforce(self, tenant_id: str, options: Mapping[str, Any]) -> bool:
        """Take one token for the tenant or raise RateLimited; True when a token was taken."""
        limit = self.limit_for(options)
        if limit is None:
            return False
        try:
            decision = take(self.client, bucket_key(tenant_id), limit)
        except redis.RedisError as exc:
            log.warning("rate_limit_unavailable", tenant_id=tenant_id, error=str(exc))
            return False
        if decision.allowed:
            return True
        self.on_refused(tenant_id)
        raise RateLimited(
            f"too many requests: this tenant may send {limit.per_second:g} per second "
            f"(bursts of {limit.burst}); retry in {decision.retry_after:.1f} s",
            retry_after=decision.retry_after,
        )

    def charge(self, tenant_id: str, options: Mapping[str, Any], extra: int) -> None:
        """Take `extra` more tokens for a request that weighs more than one (a Bulk of n
        operations is charged n), or raise RateLimited. At most a full burst in all, so
        the largest request allowed still fits an idle bucket."""
        limit = self.limit_for(options)
        if limit is None or extra <= 0:
            return
        cost = float(min(extra, max(0, limit.burst - 1)))
        if cost <= 0:
            return
        try:
            decision = take(self.client, bucket_key(tenant_id), limit, cost=cost)
        except redis.RedisError as exc:
            log.warning("rate_limit_unavailable", tenant_id=tenant_id, error=str(exc))
            return
        if not decision.allowed:
            self.on_refused(tenant_id)
            raise RateLimited(
                f"too many requests: a request of {extra + 1} operations costs as many "
                f"tokens; retry in {decision.retry_after:.1f} s",
                retry_after=decision.retry_after,
            )

    def give_back(self, tenant_id: str, options: Mapping[str, Any]) -> None:
        limit = self.limit_for(options)
        if limit is None:
            return
        try:
            take(self.client, bucket_key(tenant_id), limit, cost=-1.0)
        except redis.RedisError as exc:
            log.warning("rate_limit_unavailable", tenant_id=tenant_id, error=str(exc))

    def source_blocked(self, source: str) -> float:
        """Seconds until `source` may try an unknown credential again (0: it may now)."""
        until = self._blocked.get(source)
        if until is None:
            return 0.0
        left = until - time.monotonic()
        if left <= 0:
            self._blocked.pop(source, None)
            return 0.0
        return left

    def refuse_blocked(self, source: str) -> None:
        """Raise RateLimited while `source` is over its failed-authentication budget."""
        left = self.source_blocked(source)
        if left > 0:
            self.on_refused("-")
            raise RateLimited(_too_many_failures(left), retry_after=left)

    def charge_failure(self, source: str) -> None:
        """One failed authentication from `source`: spend one of its budget, or raise
        RateLimited (and remember the source as blocked) when the budget is spent."""
        try:
            decision = take(self.client, source_key(source), self.failures)
        except redis.RedisError as exc:
            log.warning("rate_limit_unavailable", source=source, error=str(exc))
            return
        if decision.allowed:
            return
        if len(self._blocked) >= MAX_BLOCKED_SOURCES:
            now = time.monotonic()
            for stale in [s for s, until in self._blocked.items() if until <= now]:
                self._blocked.pop(stale, None)
            if len(self._blocked) >= MAX_BLOCKED_SOURCES:
                self._blocked.clear()
        self._blocked[source] = time.monotonic() + decision.retry_after
        log.info("authentication_failures_over_budget", source=source)
        self.on_refused("-")
        raise RateLimited(
            _too_many_failures(decision.retry_after), retry_after=decision.retry_after
        )


def _too_many_failures(retry_after: float) -> str:
    return f"too many failed authentications from this address; retry in {retry_after:.1f} s"


@dataclass(frozen=True)
class Refund:
    """Gives back the token a request took, if the request never gets to do its work."""

    limiter: RateLimiter
    tenant_id: str
    options: Mapping[str, Any]

    def __call__(self) -> None:
        self.limiter.give_back(self.tenant_id, self.options)
