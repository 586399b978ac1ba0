"""The one duration format of the CLI and the TUI."""

from __future__ import annotations

import pytest

from engine.durations import format_duration


@pytest.mark.parametrize("seconds, text", [
    (0, "0s"), (5, "5s"), (59.4, "59s"), (59.6, "1m00s"), (65, "1m05s"), (3599, "59m59s"),
    (3600, "1h00m"), (2 * 3600 + 3 * 60 + 59, "2h03m"), (47 * 3600 + 59 * 60, "47h59m"),
    (48 * 3600, "2d00h"), (3 * 86400 + 4 * 3600, "3d04h"),
])
def test_durations_read_in_their_two_largest_units(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_an_unknown_duration_shows_the_callers_placeholder() -> None:
    assert format_duration(None) == "—"
    assert format_duration(None, missing="-") == "-"
