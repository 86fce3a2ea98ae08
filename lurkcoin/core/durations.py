"""Durations in the configuration: "30d", "12h", "90m", "45s", "2w" or plain seconds."""

from __future__ import annotations

import re

_DURATION = re.compile(r"([0-9]{1,12})\s*([smhdw]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> int:
    """Whole seconds; "" or "0" is 0 (the setting is off)."""
    if not text.strip():
        return 0
    m = _DURATION.fullmatch(text.strip().lower())
    if m is None:
        raise ValueError('expected a duration such as "30d", "12h", "90m" or "45s"')
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]
