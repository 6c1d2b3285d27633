"""Issue 16 item 11: the dependencies are locked with hashes, CI audits them, and the
audit neither passes having checked nothing nor hides an outage behind a green build."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[3]
AUDIT = ROOT / ".ci" / "audit"
ENTRY = re.compile(
    r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)((?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})+)", re.M
)


def locked(name: str) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of a lock file."""
    text = (ROOT / "requirements" / name).read_text()
    entries = {
        m[1].lower().replace("_", "-"): (m[2], m[3].count("--hash=")) for m in ENTRY.finditer(text)
    }
    pinned_lines = [line for line in text.splitlines() if re.match(r"^[A-Za-z0-9]", line)]
    assert len(entries) == len(pinned_lines), "an entry without a sha256 hash"
    return entries


def declared(extra: str | None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + (project["optional-dependencies"][extra] if extra else [])
    return [Requirement(dep) for dep in deps]


@pytest.mark.parametrize(("lock", "extra"), [("runtime.lock", None), ("dev.lock", "dev")])
def test_every_declared_dependency_is_locked_with_hashes_at_its_pin(
    lock: str, extra: str | None
) -> None:
    entries = locked(lock)
    for requirement in declared(extra):
        name = requirement.name.lower().replace("_", "-")
        assert name in entries, f"{name} is not in requirements/{lock}: run `make lock`"
        version, hashes = entries[name]
        assert requirement.specifier.contains(version), (name, version, str(requirement))
        assert hashes >= 1
    text = (ROOT / "requirements" / lock).read_text()
    assert "--index-url" not in text and "--find-links" not in text  # nothing machine-local


def test_the_runtime_lock_is_the_dev_lock_s_versions() -> None:
    dev = locked("dev.lock")
    for name, (version, _) in locked("runtime.lock").items():
        assert dev[name][0] == version, name


def test_installs_and_the_image_check_the_hashes_and_ci_audits() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet --require-hashes -r requirements/dev.lock" in makefile
    assert "--no-deps" in makefile
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "--require-hashes --wheel-dir /wheels -r requirements/runtime.lock" in dockerfile
    assert "pip wheel --no-cache-dir --no-deps" in dockerfile
    assert ".venv/bin/python .ci/audit" in (ROOT / ".ci" / "run").read_text()


# --- .ci/audit against a stand-in pip-audit (the network edge) -------------------------


def fake_pip_audit(tmp_path: Path, outcomes: list[str]) -> Path:
    """A pip-audit that answers `outcomes` in turn: clean, vulnerable, skipped, offline."""
    reports = {
        "clean": '{"dependencies": [{"name": "a", "version": "1", "vulns": []}]}',
        "vulnerable": '{"dependencies": [{"name": "a", "version": "1", "vulns": '
        '[{"id": "GHSA-1", "fix_versions": ["2"]}]}]}',
        "skipped": '{"dependencies": [{"name": "a", "skip_reason": "Dependency not found on '
        'PyPI and could not be audited: a (1)"}]}',
    }
    (tmp_path / "outcomes").write_text("\n".join(outcomes))
    script = tmp_path / "pip-audit"
    script.write_text(
        "#!" + sys.executable + "\n"
        "import sys, pathlib\n"
        f"state = pathlib.Path({str(tmp_path)!r})\n"
        "calls = state / 'calls'\n"
        "n = int(calls.read_text()) if calls.exists() else 0\n"
        "calls.write_text(str(n + 1))\n"
        "outcome = (state / 'outcomes').read_text().splitlines()[n]\n"
        f"reports = {reports!r}\n"
        "if outcome == 'offline':\n"
        "    sys.exit('requests.exceptions.ConnectionError: Failed to resolve pypi.org')\n"
        "out = sys.argv[sys.argv.index('-o') + 1]\n"
        "pathlib.Path(out).write_text(reports[outcome])\n"
    )
    script.chmod(0o755)
    return script


def run_audit(tmp_path: Path, outcomes: list[str], **env: str) -> tuple[int, str, int]:
    tool = fake_pip_audit(tmp_path, outcomes)
    done = subprocess.run(
        [sys.executable, str(AUDIT)],
        env={**os.environ, "PIP_AUDIT": str(tool), "SCIMSYNC_AUDIT_BACKOFF_SECONDS": "0", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    calls = int((tmp_path / "calls").read_text())
    return done.returncode, done.stdout, calls


def test_audit_passes_a_clean_lock(tmp_path: Path) -> None:
    assert run_audit(tmp_path, ["clean"])[0] == 0


def test_audit_fails_on_a_known_vulnerability_naming_it(tmp_path: Path) -> None:
    code, out, _ = run_audit(tmp_path, ["vulnerable"])
    assert code == 1 and "VULNERABLE a 1: GHSA-1 (fixed in: 2)" in out


def test_a_hiccup_is_retried(tmp_path: Path) -> None:
    code, out, calls = run_audit(tmp_path, ["offline", "skipped", "clean"])
    assert code == 0 and calls == 3 and "retrying" in out


@pytest.mark.parametrize("outage", ["offline", "skipped"])
def test_an_outage_fails_loudly_never_passes_having_checked_nothing(
    tmp_path: Path, outage: str
) -> None:
    # "skipped": pip-audit itself exits 0 when PyPI answers "not found" for everything.
    code, out, calls = run_audit(tmp_path, [outage] * 3)
    assert code == 3 and calls == 3
    assert "VULNERABILITY AUDIT NOT PERFORMED" in out


def test_an_offline_ci_opts_out_knowingly(tmp_path: Path) -> None:
    code, out, _ = run_audit(tmp_path, ["offline"] * 3, SCIMSYNC_CI_AUDIT="warn")
    assert code == 0 and "VULNERABILITY AUDIT NOT PERFORMED" in out and "warn" in out
    (tmp_path / "again").mkdir()
    code, _, _ = run_audit(tmp_path / "again", ["vulnerable"], SCIMSYNC_CI_AUDIT="warn")
    assert code == 1  # warn never hides a vulnerability found
