"""Operations routes: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from events import guard
from events.runtime import Runtime, runtime

router = APIRouter()


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(rt: Runtime = Depends(runtime)) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        with rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unreachable"
    try:
        rt.redis.ping()
        checks["redis"] = "ok"
    except Exception:
        checks["redis"] = "unreachable"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


def _metrics_allowed(request: Request, token: str | None) -> bool:
    if not token:  # an empty value configures nothing
        return True
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    presented = presented.strip()
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.encode(), token.encode())


@router.get("/metrics")
def metrics(request: Request, rt: Runtime = Depends(runtime)) -> Response:
    """Prometheus' scrape; with SCIMSYNC_METRICS_TOKEN set, only for whoever holds it."""
    if not _metrics_allowed(request, rt.settings.metrics_token):
        guard.refused(request, rt)
    body, content_type = rt.render_metrics()
    return Response(body, media_type=content_type)
