"""Every IdP fixture names the document it comes from; one copied verbatim names its URL,
and the README's table of verified IdPs lists it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.events.ingest.dialects.replay import FIXTURES

README = FIXTURES.parents[2] / "README.md"
ALL = sorted(FIXTURES.glob("*/*.json"))


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_fixture_names_its_source(path: Path) -> None:
    fixture = json.loads(path.read_text())
    assert fixture.get("source"), path.name
    if fixture.get("verbatim"):
        assert str(fixture.get("source_url", "")).startswith("https://"), path.name
    assert f"{path.parent.name}/{path.name}" in README.read_text(), path.name


def test_every_idp_has_fixtures() -> None:
    idps = {p.parent.name for p in ALL}
    assert idps == {"entra", "okta", "google", "onelogin", "jumpcloud", "ping"}
