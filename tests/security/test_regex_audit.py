"""Issue 16 item 1: no regular expression of the service backtracks on request data.

Every compiled pattern is found twice over: the `re.Pattern` objects held at module level
by every module of the four packages (and of scim2-models, which parses filters and paths
for us), and every literal pattern written in a `re.*` call in the packages' source (a
pattern compiled inside a function is not a module attribute). Each is run with `search`,
`match` and `fullmatch` against an adversarial corpus: long runs of the characters and
pairs that make overlapping quantifiers backtrack, behind prefixes that reach the pattern's
interesting part and before a suffix that makes the match fail at the very end. A linear
pattern answers each in well under a millisecond; the email-shape pattern this replaced
took seconds on one of them.
"""

from __future__ import annotations

import ast
import importlib
import itertools
import pkgutil
import re
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("events", "reconciler", "storage", "worker", "scim2_models")
# Alembic's environment and revisions run at migration time, never on a request.
SKIPPED = ("storage.migrations",)
RUN = 8_000  # characters per adversarial run: a quadratic pattern needs ~0.15 s or more
BUDGET_SECONDS = 0.05  # CPU per (pattern, input, method): ~500x what a linear pattern takes
# Patterns never applied to request data, and why (each is quadratic under `search`).
NOT_ON_REQUEST_DATA = {
    # Turns the models' own snake_case field names into aliases, when a class is defined.
    "scim2_models.utils._UNDERSCORE_ALPHANUMERIC",
}

PREFIXES = ("", "a", "a@", "a@b", "(scim", "( scim ", "urn:a", "bulkId:", "/Users/", "a.b@")
UNITS = (".", "a", " ", "@", "-", "0", "_", ":", "/", "\t", "(", "a.", "a-", ". ", "@.", "a@", "-a")
SUFFIXES = ("", "@", "!", "\n", " x", "\x00")


def _modules(package_name: str) -> list[ModuleType]:
    package = importlib.import_module(package_name)
    found = [package]
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
        if not info.name.startswith(SKIPPED):
            found.append(importlib.import_module(info.name))
    return found


def _module_patterns(package_name: str) -> dict[str, re.Pattern[str]]:
    patterns = {}
    for module in _modules(package_name):
        for attr, value in vars(module).items():
            name = f"{module.__name__}.{attr}"
            if (
                isinstance(value, re.Pattern)
                and isinstance(value.pattern, str)
                and name not in NOT_ON_REQUEST_DATA
            ):
                patterns[name] = value
    return patterns


_RE_CALLS = {"compile", "match", "search", "fullmatch", "sub", "subn", "split", "findall"}


def _source_patterns() -> dict[str, re.Pattern[str]]:
    """Literal patterns in `re.<call>("...")` anywhere in the packages' own source."""
    patterns = {}
    for package in PACKAGES[:-1]:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "re"
                    and node.func.attr in _RE_CALLS
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    continue
                flags = 0
                for keyword in node.keywords:
                    if keyword.arg == "flags" and isinstance(keyword.value, ast.Attribute):
                        flags |= getattr(re, keyword.value.attr)
                if len(node.args) > 1 and isinstance(node.args[-1], ast.Attribute):
                    flags |= getattr(re, node.args[-1].attr, 0)
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                patterns[where] = re.compile(node.args[0].value, flags)
    return patterns


def _corpus() -> list[str]:
    return [
        prefix + unit * (RUN // len(unit)) + suffix
        for prefix, unit, suffix in itertools.product(PREFIXES, UNITS, SUFFIXES)
    ]


def _slow(pattern: re.Pattern[str]) -> list[str]:
    slow = []
    for text in _corpus():
        for method in (pattern.search, pattern.match, pattern.fullmatch):
            started = time.process_time()
            method(text)
            spent = time.process_time() - started
            if spent > BUDGET_SECONDS:
                slow.append(f"{method.__name__}({text[:12]!r}...{text[-4:]!r}): {spent:.3f} s")
        if len(slow) >= 3:
            break
    return slow


def _assert_linear(patterns: dict[str, re.Pattern[str]]) -> None:
    slow = {name: found for name, p in patterns.items() if (found := _slow(p))}
    assert not slow, "patterns that backtrack:\n" + "\n".join(
        f"{name} = {patterns[name].pattern!r}: {found}" for name, found in slow.items()
    )


def test_the_audit_finds_the_patterns_it_must(service_env: Any) -> None:
    """The walk is not vacuous: it sees module-level and literal patterns of each kind."""
    found = {name: p for package in PACKAGES for name, p in _module_patterns(package).items()}
    assert "worker.logging._SECRET_KEYS" in found
    assert "events.body._UNSTORABLE" in found
    assert "scim2_models.path.expressions._URN_RE" in found
    assert any(where.startswith("reconciler/rules.py:") for where in _source_patterns())


# Modules are imported under the test settings (service_env), never at collection: the
# Celery app reads its broker URL when first imported.
@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_level_pattern_is_linear(package: str, service_env: Any) -> None:
    _assert_linear(_module_patterns(package))


def test_every_literal_pattern_in_the_source_is_linear() -> None:
    _assert_linear(_source_patterns())
