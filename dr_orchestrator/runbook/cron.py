"""Backup schedules: is a cron expression valid, and how far apart can two backups be?"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported on first use: a runbook without schedules never pays for it
    from croniter import croniter

_FIELDS = "minute hour day-of-month month day-of-week"
_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
# Slow path (L, W, # fields): croniter is ~0.1 ms per fire time, so cap the walk.
_MAX_FIRES = 2000
_MAX_SPAN = timedelta(days=5 * 366)


@lru_cache(maxsize=1024)
def cron_error(expr: str) -> str | None:
    """Why `expr` is not a valid 5-field cron expression, or None."""
    text = expr.strip()
    if text in _MACROS:
        return None
    fields = text.split()
    if len(fields) != 5:
        return f"a schedule has 5 fields ({_FIELDS}), '{expr}' has {len(fields)}"
    from croniter import croniter

    try:
        croniter(text, datetime(2025, 1, 1))
    except Exception as exc:  # croniter raises several unrelated types for bad input
        return f"invalid cron expression '{expr}': {exc}"
    if max_interval(text) == NEVER:
        return f"schedule '{expr}' never fires (no such date)"
    return None


# Weekdays fall on the same dates again every 28 years: that span shows every gap a
# day-of-week/day-of-month/month pattern can have (29 February included).
CALENDAR_YEARS = 28


@lru_cache(maxsize=1024)
def max_interval(expr: str, start: date = date(2024, 1, 1), years: int = CALENDAR_YEARS) -> timedelta:
    """The longest time between two consecutive fire times in [start, start + years)
    (the worst-case backup gap)."""
    from croniter import croniter

    cron = croniter(expr.strip(), datetime(start.year, start.month, start.day))
    fields = cron.expanded
    special = getattr(cron, "nth_weekday_of_month", None) or any(
        not isinstance(v, int) and v != "*" for field in fields for v in field)
    end = date(start.year + years, start.month, start.day)
    return _by_iteration(cron) if special else _by_days(fields, start, end)


NEVER = timedelta.max  # a schedule with no fire time (the 31st of February)


def _by_days(fields: list[list[int | str]], start: date, end: date) -> timedelta:
    """Fast path: every fire day has the same times of day, so the worst gap is either
    inside a day or between the last fire of one fire day and the first of the next
    (10,000 calendar days take a few milliseconds)."""
    minutes = list(range(60)) if fields[0] == ["*"] else [int(v) for v in fields[0]]
    hours = list(range(24)) if fields[1] == ["*"] else [int(v) for v in fields[1]]
    times = sorted(h * 60 + m for h in hours for m in minutes)
    dom_any, dow_any = fields[2] == ["*"], fields[4] == ["*"]
    doms = {int(v) for v in fields[2] if v != "*"}
    months = None if fields[3] == ["*"] else {int(v) for v in fields[3]}
    dows = {int(v) % 7 for v in fields[4] if v != "*"}
    gap = max((b - a for a, b in zip(times, times[1:], strict=False)), default=0)
    day = start
    previous: date | None = None
    while day < end:
        if _fires(day, dom_any, dow_any, doms, months, dows):
            if previous is not None:
                between = (day - previous).days * 1440 - times[-1] + times[0]
                gap = max(gap, between)
            previous = day
        day += timedelta(days=1)
    return timedelta(minutes=gap) if previous is not None else NEVER


def _fires(day: date, dom_any: bool, dow_any: bool, doms: set[int], months: set[int] | None,
           dows: set[int]) -> bool:
    if months is not None and day.month not in months:
        return False
    dom_ok = dom_any or day.day in doms
    dow_ok = dow_any or (day.isoweekday() % 7) in dows
    if not dom_any and not dow_any:
        return dom_ok or dow_ok  # cron: both restricted means either may match
    return dom_ok and dow_ok


def _by_iteration(cron: croniter) -> timedelta:
    try:
        previous: datetime = cron.get_next(datetime)
    except Exception:  # croniter gives up on dates that never come
        return NEVER
    first = previous
    longest = timedelta(0)
    for _ in range(_MAX_FIRES):
        current: datetime = cron.get_next(datetime)
        longest = max(longest, current - previous)
        previous = current
        if current - first > _MAX_SPAN:
            break
    return longest


def suggest_schedule(rpo: timedelta) -> str:
    """A schedule that meets `rpo` (for hints)."""
    minutes = int(rpo.total_seconds() // 60)
    if minutes < 1:
        return "* * * * *"
    if minutes < 60:
        step = max(d for d in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) if d <= minutes)
        return f"*/{step} * * * *" if step > 1 else "* * * * *"
    hours = minutes // 60
    if hours < 24:
        step = max(d for d in (1, 2, 3, 4, 6, 8, 12) if d <= hours)
        return f"0 */{step} * * *" if step > 1 else "0 * * * *"
    return "0 2 * * *"
