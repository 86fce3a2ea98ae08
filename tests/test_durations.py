"""parse_duration: the configuration's durations ("30d", "12h", "90m", "45s", "2w", seconds)."""

from __future__ import annotations

import pytest

from lurkcoin.core.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("", 0),
        ("   ", 0),
        ("0", 0),
        ("45", 45),
        ("45s", 45),
        ("90m", 5_400),
        ("12h", 43_200),
        ("30d", 2_592_000),
        ("2w", 1_209_600),
        (" 3 D ", 259_200),  # spaces around and before the unit; any case
        ("999999999999", 999_999_999_999),  # twelve digits
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["d", "1y", "1.5h", "-1h", "1h30m", "1000000000000", "h1", "1 h h", "１h"]
)
def test_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(
        ValueError, match=r"^expected a duration such as \"30d\", \"12h\", \"90m\" or \"45s\"$"
    ):
        parse_duration(text)
