"""What an operator sees when a `scimsync` command fails: one line naming the fix, a
documented exit code, JSON with `--json`, and never a token or a person's email."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from tests.support.workspace import make_tenant, user_body
from worker.cli import main
from worker.cli.errors import classify

ROOT = Path(__file__).parents[3]


def scimsync(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """The installed command as an operator runs it: its own process, its own logging."""
    return subprocess.run(
        [sys.executable, "-c", "from worker.cli import main; main()", *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_failing_reconcile_leaks_neither_the_token_nor_any_email(
    service_env: dict[str, str], live_server: str, engine: Any
) -> None:
    tenant = make_tenant(engine)
    emails = [f"person{i}@acme.test" for i in range(20)]
    with httpx.Client(base_url=live_server, headers=tenant.scim_headers) as idp:
        for email in emails:
            assert idp.post(f"{tenant.scim_base}/Users", json=user_body(email)).status_code == 201
    wrong_token = "scim_wrongtoken_" + "x" * 40
    done = scimsync(
        "reconcile",
        tenant.id,
        "--source",
        f"scim:{live_server}{tenant.scim_base}",
        env={**service_env, "SCIMSYNC_RECONCILE_SOURCE_TOKEN": wrong_token},
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert wrong_token not in output and tenant.scim_token not in output
    assert not [e for e in emails if e in output], output
    assert "Traceback" not in output and len(output.splitlines()) <= 12, output
    assert "401" in output


def test_a_missing_source_file_is_one_line(service_env: dict[str, str], engine: Any) -> None:
    tenant = make_tenant(engine)
    done = scimsync("reconcile", tenant.id, "--source", "file:/missing.json", env=service_env)
    assert done.returncode != 0
    assert "/missing.json" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "SCIMSYNC_DATABASE_URL" not in done.stderr


def test_debug_prints_a_plain_traceback_without_local_variables(
    service_env: dict[str, str], engine: Any
) -> None:
    done = scimsync("--debug", "tenant", "limits", "no-such-tenant", env=service_env)
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "locals" not in done.stderr.lower() and "│" not in done.stderr  # no rich frames
    assert done.stderr.strip().splitlines()[-1].startswith("Error: ")


def test_outside_the_project_the_database_error_names_the_fix(tmp_path: Path) -> None:
    env = {"SCIMSYNC_VAR_DIR": str(tmp_path / "nowhere"), "SCIMSYNC_LOG_FORMAT": "json"}
    done = scimsync("sso", "remove", "nope", env=env, cwd=tmp_path)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("Error: ") and "scimsync db upgrade" in line, line


@pytest.fixture
def cli(service_env: Any, engine: Any, redis_client: Any) -> Any:
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args))


def test_usage_errors_exit_2_and_json_errors_are_json(cli: Any) -> None:
    usage = cli("dlq", "replay", "not-a-number")
    assert usage.exit_code == 2 and usage.stderr.startswith("Error: ")
    as_json = json.loads(cli("dlq", "replay", "not-a-number", "--json").stdout)
    assert as_json["error"] == "usage" and as_json["exit_code"] == 2
    refused = json.loads(cli("sso", "remove", "nope", "--json").stdout)
    assert refused == {
        "error": "not_found",
        "detail": refused["detail"],
        "fix": "list the workspaces with `scimsync tenant list`",
        "exit_code": 1,
    }


def test_version(cli: Any) -> None:
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.startswith("scimsync, version ")


def test_enabling_scim_twice_points_to_rotate_token(cli: Any) -> None:
    created = json.loads(
        cli("tenant", "create", "--name", "T", "--sso-domain", "t.test", "--json").stdout
    )
    assert cli("scim", "enable", created["id"]).exit_code == 0
    again = cli("scim", "enable", created["id"])
    assert again.exit_code == 1 and "scimsync scim rotate-token" in again.stderr


def test_an_unexpected_error_shows_its_type_not_its_message() -> None:
    error = classify(ValueError("alice@acme.test scim_secret_token"))
    assert "ValueError" in error.line() and "alice" not in error.line()
    assert "secret" not in error.line() and "--debug" in error.line()


def test_a_reconcile_of_a_workspace_without_scim_is_refused_before_a_run(
    cli: Any, tmp_path: Path
) -> None:
    """Without SCIM the apply refuses every change, so a run would report the same drift
    on every run and repair none of it: the operator is told to enable SCIM instead."""
    created = json.loads(
        cli("tenant", "create", "--name", "T", "--sso-domain", "t.test", "--json").stdout
    )
    export = tmp_path / "export.ndjson"
    export.write_text(json.dumps({**user_body("ann@t.test"), "id": "src-ann"}) + "\n")

    refused = cli("reconcile", created["id"], "--source", f"file:{export}", "--json")

    assert refused.exit_code == 1
    assert json.loads(refused.stdout)["error"] == "scim_disabled"
    assert "scimsync scim enable" in json.loads(refused.stdout)["fix"]
    assert json.loads(cli("reconcile", "list", created["id"], "--json").stdout) == []
    assert cli("scim", "enable", created["id"]).exit_code == 0
    imported = cli("reconcile", created["id"], "--source", f"file:{export}", "--json")
    assert json.loads(imported.stdout)["outcome"] == "imported", imported.output
    again = cli("reconcile", created["id"], "--source", f"file:{export}", "--json")
    assert json.loads(again.stdout)["outcome"] == "in_sync", again.output
    members = json.loads(cli("members", created["id"], "--json").stdout)
    assert "ann@t.test" in json.dumps(members)
