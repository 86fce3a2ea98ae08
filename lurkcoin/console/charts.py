"""Bar charts as SVG shapes, computed on the server (no script, no external asset).

The template draws what ``bar_chart`` returns; the numbers behind each
chart are printed in a table beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

WIDTH, HEIGHT = 720, 160
LEFT = 8  # room before the first bar
TOP = 14  # room above the tallest bar for its label


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    bars: list[Bar]
    peak_label: str
    first_label: str
    last_label: str


def day_label(day: int) -> str:
    return datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%d")


def bar_chart(
    title: str,
    days: Sequence[int],
    values: Sequence[int],
    render: Callable[[int], str] = str,
) -> Chart:
    """One bar per day, scaled to the largest value (a flat line of zeros when all are 0)."""
    peak = max(values, default=0)
    slot = (WIDTH - LEFT) / max(len(values), 1)
    usable = HEIGHT - TOP
    bars = []
    for i, (day, value) in enumerate(zip(days, values, strict=True)):
        height = usable * value / peak if peak else 0.0
        bars.append(
            Bar(
                x=round(LEFT + i * slot, 2),
                y=round(HEIGHT - height, 2),
                width=round(max(slot * 0.8, 0.5), 2),
                height=round(height, 2),
                title=f"{day_label(day)}: {render(value)}",
            )
        )
    return Chart(
        title,
        WIDTH,
        HEIGHT,
        bars,
        render(peak),
        day_label(days[0]) if days else "",
        day_label(days[-1]) if days else "",
    )
