"""Cron expressions (5 fields, evaluated in UTC) via croniter."""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import croniter

from dr_orchestrator.errors import BadInput


def check(expr: str) -> str:
    if len(expr.split()) != 5 or not croniter.is_valid(expr):
        raise BadInput(f"invalid cron schedule {expr!r}", "use 5 fields: minute hour day-of-month month weekday")
    return expr


def next_after(expr: str, t: datetime) -> datetime:
    """The first fire time strictly after `t`."""
    return croniter(check(expr), t.astimezone(UTC)).get_next(datetime).astimezone(UTC)


def previous_at_or_before(expr: str, t: datetime) -> datetime:
    """The last fire time at or before `t`."""
    t = t.astimezone(UTC)
    if croniter.match(check(expr), t) and t.second == 0 and t.microsecond == 0:
        return t
    return croniter(expr, t).get_prev(datetime).astimezone(UTC)


def missed(expr: str, last_run: datetime | None, now: datetime) -> bool:
    """True when a fire time passed since `last_run` (the machine was down or busy then)."""
    if last_run is None:
        return False
    return previous_at_or_before(expr, now) > last_run
