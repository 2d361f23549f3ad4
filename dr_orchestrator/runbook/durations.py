"""Durations (`30s`, `15m`, `1h30m`, `7d`) and sizes (`16MiB`) as they are written in runbooks.

A bare number is refused for a duration: in a DR plan `30` could mean seconds or
minutes, and guessing wrong silently breaks an RTO. Sizes accept a bare integer
(bytes), which is unambiguous.
"""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?(ms|s|m|h|d|w)\s*)+$"
_DURATION_RE = re.compile(DURATION_PATTERN)

_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2,
    "g": 1000**3, "gb": 1000**3, "t": 1000**4, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}
SIZE_PATTERN = r"^\s*\d+(\.\d+)?\s*([kKmMgGtT]i?[bB]?|[bB])?\s*$"
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_duration(value: Any) -> timedelta:
    """`1h30m` → timedelta(hours=1, minutes=30). Raises ValueError with a readable message."""
    if type(value) is str:  # (the usual case first: 20,000 steps in a big runbook)
        return _parse_text(value)
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected a duration such as '30s', '15m' or '1h30m', got {type(value).__name__}")
    if isinstance(value, int | float):
        raise ValueError(f"duration {value!r} has no unit; write e.g. '{value}s' or '{value}m'")
    return _parse_text(value)


@lru_cache(maxsize=4096)  # a big runbook repeats the same few spellings ('5s', '1h') thousands of times
def _parse_text(value: str) -> timedelta:
    text = value.strip().replace(" ", "")
    if not text or not _DURATION_RE.match(text):
        raise ValueError(f"invalid duration {value!r}; write e.g. '30s', '15m', '1h30m' or '7d' "
                         f"(units: ms, s, m, h, d, w)")
    total = timedelta(0)
    for number, unit in _PART.findall(text):
        total += _UNITS[unit] * float(number)
    return total


def format_duration(value: timedelta) -> str:
    """Shortest exact spelling: timedelta(seconds=5400) → '1h30m'."""
    ms = round(value.total_seconds() * 1000)
    if ms == 0:
        return "0s"
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    out = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, ms = divmod(ms, size)
        if count:
            out.append(f"{count}{unit}")
    return sign + "".join(out)


def parse_size(value: Any) -> int:
    """`16MiB` → 16777216 bytes; a bare integer is bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as '16MiB'")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a size such as '16MiB', got {type(value).__name__}")
    match = _SIZE_RE.match(value)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _SIZE_UNITS:
        raise ValueError(f"invalid size {value!r}; write e.g. '512KiB', '16MiB' or '2GB'")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def format_size(value: int) -> str:
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value >= size and value % size == 0:
            return f"{value // size}{unit}"
    return str(value)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN,
                    "description": "duration such as 30s, 15m, 1h30m, 7d"}),
]

Size = Annotated[
    int,
    BeforeValidator(parse_size),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0},
                              {"type": "string", "pattern": SIZE_PATTERN}],
                    "description": "size such as 16MiB, 2GB or a number of bytes"}),
]
