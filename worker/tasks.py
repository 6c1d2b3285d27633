"""Celery tasks: thin wrappers that parse arguments and call one function."""

from __future__ import annotations

import zlib
from datetime import timedelta
from typing import Any

import structlog

from reconciler.errors import RuleRefusal
from storage import outbox, pipeline_samples, receipts, tenants, trace_retention
from storage.clock import as_utc, utcnow
from storage.db import unit_of_work
from storage.reconcile_store import last_started
from worker import mail
from worker.celery_app import app
from worker.connections import get_engine, redis_client
from worker.metrics import hooks as metrics_hooks
from worker.pipeline import TenantBusy, drain, is_transient
from worker.publish import kick, kick_key
from worker.reconcile_jobs import AlreadyRunning, run_reconcile
from worker.settings import get_settings

log = structlog.get_logger(__name__)
MAX_COUNTDOWN = 600  # the longest retry wait, well inside Redis' visibility timeout


class TransientTaskError(Exception):
    """Makes Celery retry the task (autoretry_for): waits of up to 2, 4, 8 ... s, capped
    at MAX_COUNTDOWN, each drawn at random below its bound (full jitter), at most
    settings.max_task_retries times; after that the events stay pending and the relay's
    stalled check re-kicks the tenant."""


# Another task holds the tenant and drains it until nothing is pending; this one looks
# again shortly, for what may arrive just after that task's last claim.
BUSY_RETRY_SECONDS = 0.2


@app.task(
    name="scimsync.apply_tenant",
    autoretry_for=(TransientTaskError,),
    retry_backoff=2,
    retry_backoff_max=MAX_COUNTDOWN,
    retry_jitter=True,
    max_retries=get_settings().max_task_retries,
)
def apply_tenant(tenant_id: str) -> dict[str, Any]:
    settings = get_settings()
    structlog.contextvars.bind_contextvars(tenant_id=tenant_id)
    try:
        redis_client().delete(kick_key(tenant_id))
    except Exception as exc:  # the claim below is what matters; the key only dedupes
        log.warning("kick_key_delete_failed", error=str(exc))
    try:
        result = drain(
            get_engine(),
            tenant_id,
            batch_size=settings.apply_batch_size,
            time_budget=settings.apply_time_budget_seconds,
            max_attempts=settings.max_task_retries,
            write_slice=settings.apply_sqlite_write_slice_seconds,
        )
    except TenantBusy:
        _kick_quietly(tenant_id, countdown=BUSY_RETRY_SECONDS)
        return {"busy": True}
    except Exception as exc:
        if is_transient(exc):
            metrics_hooks.retried(tenant_id, 1)
            raise TransientTaskError(str(exc)) from exc
        raise
    metrics_hooks.applied(tenant_id, result.applied, utcnow())
    metrics_hooks.dead_lettered(tenant_id, len(result.dead))
    if result.more:
        _kick_quietly(tenant_id)
    if result.failed:
        metrics_hooks.retried(tenant_id, len(result.failed))
        raise TransientTaskError(f"{len(result.failed)} event(s) failed; trying again later")
    return {"applied": len(result.applied), "dead": len(result.dead)}


def _kick_quietly(tenant_id: str, countdown: float | None = None) -> None:
    """Queue more work for the tenant; with Redis down the relay's stalled check does it."""
    try:
        kick(tenant_id, force=True, countdown=countdown)
    except Exception as exc:
        log.warning("kick_failed", tenant_id=tenant_id, error=str(exc))


@app.task(name="scimsync.relay", ignore_result=True)
def relay() -> dict[str, int]:
    """Republish what Redis never got, and re-kick tenants whose message was lost."""
    settings = get_settings()
    now = utcnow()
    with unit_of_work(get_engine(), write=False) as conn:
        unpublished = outbox.unpublished(
            conn, older_than=now - timedelta(seconds=settings.relay_grace_seconds)
        )
        stalled = outbox.stalled_tenants(
            conn, published_before=now - timedelta(seconds=settings.stuck_event_seconds)
        )
        waiting = outbox.waiting_tenants(
            conn, received_before=now - timedelta(seconds=settings.relay_grace_seconds)
        )
    lost = {tenant for _, tenant in unpublished} | set(stalled)
    for tenant_id in lost:
        kick(tenant_id, force=True)
    # Deduplicated: a no-op while an apply for the tenant is queued.
    kicked = len(lost) + sum(kick(tenant_id) for tenant_id in set(waiting) - lost)
    if unpublished:
        with unit_of_work(get_engine()) as conn:
            outbox.mark_published(conn, [event_id for event_id, _ in unpublished], utcnow())
        log.info("relay_republished", events=len(unpublished), tenants=len(lost))
    return {"republished": len(unpublished), "kicked": kicked}


@app.task(name="scimsync.reconcile_tenant", ignore_result=True, acks_late=True)
def reconcile_tenant(tenant_id: str, source: str = "mirror") -> dict[str, Any]:
    """A scheduled run: `source` is "mirror", or "configured" for the source the operator
    set for this tenant (SCIMSYNC_RECONCILE_SOURCES, keyed by tenant id). Anything else is
    refused before a run is recorded: whoever can queue tasks (Flower, the broker) must
    not point a worker at a host or a file, nor at another tenant's directory."""
    structlog.contextvars.bind_contextvars(tenant_id=tenant_id)
    chosen = resolve_task_source(tenant_id, source)
    if chosen is None:
        log.warning("reconcile_source_refused", requested=str(source)[:40])
        return {"refused": "a task names 'mirror' or 'configured', never a URL or a path"}
    if not reconcile_due(tenant_id):
        return {"skipped": "not due"}  # another beat already had it run
    try:
        return run_reconcile(tenant_id, source=chosen)
    except AlreadyRunning:
        return {"skipped": "already running"}
    except RuleRefusal as exc:  # SCIM turned off after the beat queued the run
        return {"skipped": exc.code}


def resolve_task_source(tenant_id: str, source: object) -> str | None:
    """What a task's `source` argument means, or None when it must be refused."""
    if source == "mirror":
        return "mirror"
    if source == "configured":
        return get_settings().reconcile_sources.get(tenant_id)
    return None


def reconcile_due(tenant_id: str, *, now: Any = None) -> bool:
    """Due when the last real run started longer ago than the interval plus the tenant's
    jitter (a stable share of the jitter window, so tenants spread over the hour)."""
    settings = get_settings()
    now = now or utcnow()
    with unit_of_work(get_engine(), write=False) as conn:
        last = last_started(conn, tenant_id)
    if last is None:
        return True
    jitter = zlib.crc32(tenant_id.encode()) % max(settings.reconcile_jitter_seconds, 1)
    interval = settings.reconcile_interval_seconds + jitter
    return bool((now - as_utc(last)).total_seconds() >= interval)


@app.task(name="scimsync.schedule_reconciles", ignore_result=True)
def schedule_reconciles() -> dict[str, int]:
    """Beat, every minute: queue a full reconcile for each SCIM tenant that is due."""
    with unit_of_work(get_engine(), write=False) as conn:
        enabled = [t.id for t in tenants.list_all(conn) if t.scim_enabled]
    due = [t for t in enabled if reconcile_due(t)]
    configured = get_settings().reconcile_sources
    for tenant_id in due:
        reconcile_tenant.delay(tenant_id, "configured" if tenant_id in configured else "mirror")
    return {"queued": len(due)}


@app.task(
    name="scimsync.deliver_invitation",
    autoretry_for=mail.TRANSIENT_MAIL_ERRORS,
    retry_backoff=2,
    retry_backoff_max=MAX_COUNTDOWN,
    retry_jitter=True,
    max_retries=get_settings().mail_max_retries,
)
def deliver_invitation(tenant_id: str, invitation_id: str) -> dict[str, Any]:
    """Mail one invitation (SMTP, or an .eml file in the embedded default); retried with
    backoff while the mail server is unreachable."""
    structlog.contextvars.bind_contextvars(tenant_id=tenant_id)
    done = mail.deliver_invitation(get_engine(), get_settings(), tenant_id, invitation_id)
    return {"sent": done is not None, "invitation_id": invitation_id}


def queue_invitation(tenant_id: str, invitation_id: str) -> None:
    """Called after the admin's transaction commits (the API's `Runtime.send_invitation`)."""
    deliver_invitation.delay(tenant_id, invitation_id)


@app.task(name="scimsync.purge_trace", ignore_result=True)
def purge_trace(*, now: Any = None, batch: int = 5000) -> dict[str, int]:
    """Beat, hourly: drop trace rows (applied events, audit rows, trace refs) older than
    SCIMSYNC_TRACE_RETENTION_DAYS, one committed batch at a time."""
    days = get_settings().trace_retention_days
    if days == 0:
        return {"events": 0, "audit_rows": 0, "trace_refs": 0}
    cutoff = (now or utcnow()) - timedelta(days=days)
    total = trace_retention.Purged()
    while True:
        with unit_of_work(get_engine()) as conn:
            purged = trace_retention.purge_batch(conn, cutoff, batch)
        total.events += purged.events
        total.audit_rows += purged.audit_rows
        total.trace_refs += purged.trace_refs
        if purged.total == 0:
            break
    if total.total:
        log.info("trace_purged", **vars(total), cutoff=cutoff.isoformat())
    return vars(total)


@app.task(name="scimsync.sample_pipeline", ignore_result=True)
def sample_pipeline(*, now: Any = None) -> int:
    """Beat, every SCIMSYNC_PIPELINE_SAMPLE_SECONDS: one sample of every tenant's pipeline
    for the dashboard's trends; samples past retention go in the same transaction."""
    settings = get_settings()
    at = now or utcnow()
    with unit_of_work(get_engine()) as conn:
        samples = pipeline_samples.take(
            conn, now=at, interval=timedelta(seconds=settings.pipeline_sample_seconds)
        )
        pipeline_samples.record(conn, samples)
        pipeline_samples.purge(conn, at - timedelta(hours=settings.pipeline_sample_retention_hours))
    log.debug("pipeline_sampled", tenants=len(samples))
    return len(samples)


@app.task(name="scimsync.purge_webhook_receipts", ignore_result=True)
def purge_webhook_receipts(*, now: Any = None, batch: int = 5000) -> dict[str, int]:
    """Beat: drop webhook receipts older than SCIMSYNC_WEBHOOK_RECEIPT_RETENTION_SECONDS
    (the replay window), one committed batch at a time."""
    cutoff = (now or utcnow()) - timedelta(seconds=get_settings().webhook_receipt_retention_seconds)
    total = 0
    while True:
        with unit_of_work(get_engine()) as conn:
            purged = receipts.purge_batch(conn, cutoff, batch)
        total += purged
        if purged < batch:
            break
    if total:
        log.info("webhook_receipts_purged", receipts=total)
    return {"receipts": total}
