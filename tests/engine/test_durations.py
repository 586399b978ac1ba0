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


@pytest.mark.parametrize("text, seconds", [
    ("90s", 90), ("10m", 600), ("1h30m", 5400), ("2.5h", 9000), ("1d", 86400), ("45", 45), (" 10M ", 600),
])
def test_a_written_duration_parses_to_seconds(text: str, seconds: float) -> None:
    from engine.durations import parse_duration

    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "10x", "1h30", "-5m", "0s", "nan", "inf"])
def test_a_bad_duration_says_what_is_expected(text: str) -> None:
    from engine.durations import parse_duration

    with pytest.raises(ValueError, match="must be a duration such as"):
        parse_duration(text)
