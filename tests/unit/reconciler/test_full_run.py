"""The full run's safety valve: one threshold, for the planned run and a mirror repair."""

from __future__ import annotations

import pytest

from reconciler.full_run import DEFAULT_SAFETY_RATIO, ReconcileReport, SafetyValve


@pytest.mark.parametrize(
    ("destructive", "members", "trips"),
    [(20, 100, False), (21, 100, True), (0, 0, False), (1, 0, True), (1, 5, False)],
)
def test_the_valve_trips_past_its_share_of_the_members(
    destructive: int, members: int, trips: bool
) -> None:
    assert SafetyValve(0.2).trips(destructive, members) is trips


def test_a_halted_report_says_what_would_have_happened() -> None:
    report = ReconcileReport("t1", dry_run=False, destructive=30, members=40)

    SafetyValve(0.5).halt(report)

    assert report.outcome == "halted"
    assert report.detail is not None
    assert "30 of 40 members" in report.detail and "over 50%" in report.detail
    assert "nothing applied" in report.detail
    assert SafetyValve().ratio == DEFAULT_SAFETY_RATIO
