"""How the workflow spells a duration for the emails' context."""

from __future__ import annotations

from datetime import timedelta

import pytest

from workflows.facts import iso_duration


@pytest.mark.parametrize(
    ("value", "spelled"),
    [
        (timedelta(days=14), "P14D"),
        (timedelta(hours=2), "PT2H"),
        (timedelta(days=1, hours=12), "P1DT12H"),
        (timedelta(minutes=90), "PT1H30M"),
        (timedelta(seconds=5), "PT5S"),
        (timedelta(0), "PT0S"),
        # Where pydantic's own ISO 8601 output differs (P1Y35D, PT1.5S), ours stays as it was.
        (timedelta(days=400), "P400D"),
        (timedelta(seconds=1.5), "PT1S"),
    ],
)
def test_iso_duration(value: timedelta, spelled: str) -> None:
    assert iso_duration(value) == spelled
