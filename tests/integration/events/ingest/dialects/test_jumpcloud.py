"""jumpcloud: recorded provisioning sequences replayed through HTTP and the worker's apply path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.integration.events.ingest.dialects.replay import fixtures, replay_fixture


@pytest.mark.parametrize("path", fixtures("jumpcloud"), ids=lambda p: p.stem)
def test_jumpcloud_sequence_reaches_the_expected_workspace(
    api: Any, engine: Engine, path: Path
) -> None:
    replay_fixture(api, engine, path)
