"""Issue 16 item 2: the shipped deployment has no working default credential. In
production a process refuses to start with a placeholder or missing secret and names the
variable; the embedded default makes its own secrets under var_dir."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from worker.safety import (
    UnsafeSetting,
    check_startup,
    embedded_operator_token,
    flower_auth_problems,
    local_secret,
    secret_keys,
)
from worker.settings import Settings

EXAMPLE_ENV = Path(__file__).resolve().parents[3] / "deploy" / "scimsync.env.example"
STRONG = "op_" + "k" * 43


def example_env() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in EXAMPLE_ENV.read_text().splitlines()
        if line and not line.startswith("#")
    )
    return dict(pairs)


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_the_example_env_as_shipped_is_refused_naming_each_placeholder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_from(example_env(), monkeypatch)
    assert settings.environment == "production"
    with pytest.raises(UnsafeSetting) as refused:
        check_startup(settings)
    assert set(refused.value.variables) == {
        "SCIMSYNC_OPERATOR_TOKEN",
        "SCIMSYNC_SECRET_KEY",
        "SCIMSYNC_DATABASE_URL",
    }
    assert "SCIMSYNC_OPERATOR_TOKEN is a placeholder" in str(refused.value)
    assert "change-me" not in str(refused.value)  # the message never echoes a value
    assert flower_auth_problems(example_env(), production=True)[0][0] == "FLOWER_BASIC_AUTH"


def test_production_starts_once_every_secret_is_real(monkeypatch: pytest.MonkeyPatch) -> None:
    env = example_env() | {
        "SCIMSYNC_OPERATOR_TOKEN": STRONG,
        "SCIMSYNC_SECRET_KEY": "A" * 43 + "=",
        "SCIMSYNC_DATABASE_URL": "postgresql://scimsync:Tq8vW2pLx9@postgres:5432/scimsync",
    }
    check_startup(settings_from(env, monkeypatch))
    assert flower_auth_problems({"FLOWER_BASIC_AUTH": "ops:Tq8vW2pLx9zR"}, production=True) == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SCIMSYNC_OPERATOR_TOKEN", "short-but-real"),
        ("SCIMSYNC_OPERATOR_TOKEN", "CHANGE-ME-" + "x" * 40),
        ("SCIMSYNC_REDIS_URL", "redis://:changeme@redis:6379/0"),
        ("SCIMSYNC_DATABASE_URL", "postgresql://scimsync:scimsync@postgres/scimsync"),
        ("SCIMSYNC_SMTP_PASSWORD", "change-me"),
        ("SCIMSYNC_RECONCILE_SOURCE_TOKEN", "placeholder"),
        ("SCIMSYNC_METRICS_TOKEN", "change-me"),
    ],
)
def test_each_placeholder_is_named(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "SCIMSYNC_ENVIRONMENT": "production",
        "SCIMSYNC_OPERATOR_TOKEN": STRONG,
        "SCIMSYNC_SECRET_KEY": "A" * 43 + "=",
        variable: value,
    }
    with pytest.raises(UnsafeSetting) as refused:
        check_startup(settings_from(env, monkeypatch))
    assert refused.value.variables == [variable]


def test_development_is_not_asked_for_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from(
        {"SCIMSYNC_ENVIRONMENT": "development", "SCIMSYNC_OPERATOR_TOKEN": "x"}, monkeypatch
    )
    check_startup(settings)


def test_the_embedded_default_makes_its_secrets_once_private_and_reuses_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SCIMSYNC_OPERATOR_TOKEN", raising=False)
    settings = settings_from({"SCIMSYNC_VAR_DIR": str(tmp_path / "var")}, monkeypatch)
    keys = secret_keys(settings)
    token = embedded_operator_token(settings)
    assert token and token.startswith("op_") and len(token) > 40
    for name in ("secret.key", "operator-token"):
        mode = stat.S_IMODE((tmp_path / "var" / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    assert secret_keys(settings) == keys and embedded_operator_token(settings) == token
    assert sorted(p.name for p in (tmp_path / "var").iterdir()) == ["operator-token", "secret.key"]


def test_production_never_makes_a_secret_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SCIMSYNC_OPERATOR_TOKEN", raising=False)
    settings = settings_from(
        {"SCIMSYNC_ENVIRONMENT": "production", "SCIMSYNC_VAR_DIR": str(tmp_path)}, monkeypatch
    )
    with pytest.raises(UnsafeSetting, match="SCIMSYNC_SECRET_KEY"):
        secret_keys(settings)
    assert embedded_operator_token(settings) is None
    assert list(tmp_path.iterdir()) == []


def test_processes_starting_at_once_agree_on_one_secret(tmp_path: Path) -> None:
    seen: list[str] = []
    counter = iter(range(1000))

    def race() -> None:
        seen.append(local_secret(tmp_path / "secret.key", lambda: f"s{next(counter)}"))

    threads = [threading.Thread(target=race) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 1 and len(seen) == 16
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]
