"""What the HTTP app runs on: built once by the composition root, handed to every route.

`events/app.py` (`create_app`) builds one `Runtime` from the process's settings and
connections and puts it on `app.state.runtime`. Routes take it with the `runtime`
dependency (async: no trip through the thread pool); code that already has the
request (the SCIM authentication dependency, the body reader) uses `runtime_of`.
Nothing under events/ reads settings or opens connections on its own, so a test
builds an app around its own database, Redis and publisher.

The protocols below are what events/ needs of the process, no more; the worker
package provides them (settings, metrics, operator actions).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis
from fastapi import FastAPI, Request
from sqlalchemy import Engine

from events.credentials import CredentialCache
from events.ingest.service import Publisher
from events.rate_limit import RateLimiter
from storage.group_commit import GroupCommitter
from storage.sealed import Sealer


class ApiSettings(Protocol):
    """The settings the HTTP side reads (worker/settings.py holds them all)."""

    @property
    def base_url(self) -> str: ...
    @property
    def max_body_bytes(self) -> int: ...
    @property
    def max_json_depth(self) -> int: ...
    @property
    def request_body_timeout_seconds(self) -> float: ...
    @property
    def max_results(self) -> int: ...
    @property
    def default_page_size(self) -> int: ...
    @property
    def max_patch_operations(self) -> int: ...
    @property
    def max_bulk_operations(self) -> int: ...
    @property
    def max_filter_length(self) -> int: ...
    @property
    def operator_token(self) -> str | None: ...
    @property
    def metrics_token(self) -> str | None: ...
    @property
    def pipeline_sample_seconds(self) -> float: ...
    @property
    def group_commit_max_writes(self) -> int: ...


class RequestMetrics(Protocol):
    """The API's own figures (served by `/metrics`)."""

    def request(self, *, tenant: str, route: str, method: str, status: int, seconds: float) -> None:
        """One answered request; `tenant` is "-" until authenticated."""

    def rate_limited(self, tenant: str) -> None:
        """One request refused 429 by the tenant's rate limit."""

    def write_batch(self, writes: int) -> None:
        """One shared transaction of `writes` SCIM writes committed or failed (group commit)."""


class OperatorActions(Protocol):
    """What the operator dashboard asks of the pipeline (the CLI asks the same)."""

    def pipeline_status(self) -> list[dict[str, Any]]: ...

    def replay_dead_letters(self, ids: Sequence[int] | None) -> dict[str, Any]: ...


InvitationQueue = Callable[[str, str], None]
"""Queue the mail of invitation (tenant_id, invitation_id); called after commit only."""

MetricsRenderer = Callable[[], tuple[bytes, str]]
"""The `/metrics` body and its content type (blocking: SQL and Redis reads)."""


@dataclass(frozen=True)
class Runtime:
    settings: ApiSettings
    engine: Engine
    redis: redis.Redis
    publish: Publisher  # after commit only: see events/ingest/service.py
    limiter: RateLimiter
    metrics: RequestMetrics
    render_metrics: MetricsRenderer
    operations: OperatorActions
    send_invitation: InvitationQueue
    sealer: Sealer  # opens the tenants' webhook signing keys (storage/sealed.py)
    # SCIM tokens this process accepted in the last second (events/credentials.py).
    credentials: CredentialCache = field(default_factory=CredentialCache)
    # The SCIM writes' shared transactions (storage/group_commit.py), made from `engine` and
    # `publish` (so a runtime copied with another engine writes to that one).
    writes: GroupCommitter = field(init=False)

    def __post_init__(self) -> None:
        # A publisher that can gather (worker/publish.py BatchedPublisher) sends a group
        # commit's kicks in one round trip; any other is called once per write.
        gathering = getattr(self.publish, "gathering", None)
        committer = GroupCommitter(
            self.engine,
            max_writes=self.settings.group_commit_max_writes,
            around_callbacks=gathering,
            on_batch=self.metrics.write_batch,
        )
        object.__setattr__(self, "writes", committer)


def install(app: FastAPI, runtime: Runtime) -> None:
    app.state.runtime = runtime


def runtime_of(request: Request) -> Runtime:
    found: Runtime = request.app.state.runtime
    return found


async def runtime(request: Request) -> Runtime:
    """The FastAPI dependency: `rt: Runtime = Depends(runtime)`."""
    return runtime_of(request)
