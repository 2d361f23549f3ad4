"""Forget policy with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dr_orchestrator.errors import BadInput
from dr_orchestrator.repository.retention import Policy, apply_policy, parse_duration
from dr_orchestrator.repository.snapshot import Snapshot

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def snaps(times: list[datetime], host: str = "h", tags: list[str] | None = None) -> list[Snapshot]:
    return [Snapshot(id=f"{host}{i:04d}", time=t, hostname=host, paths=["/d"], tags=tags or [], tree="00")
            for i, t in enumerate(times)]


def hourly(n: int) -> list[datetime]:
    return [NOW - timedelta(hours=i) for i in range(n)]


def kept(result: object) -> list[str]:
    return [s.id for s in result.keep]  # type: ignore[attr-defined]


def test_keep_last() -> None:
    s = snaps(hourly(5))
    r = apply_policy(s, Policy(keep_last=2), now=NOW)
    assert kept(r) == ["h0001", "h0000"]
    assert len(r.remove) == 3


def test_keep_hourly_daily_weekly_monthly_yearly() -> None:
    times = [NOW - timedelta(hours=6 * i) for i in range(4 * 400)]  # every 6 h for ~400 days
    s = snaps(times)
    r = apply_policy(s, Policy(keep_daily=7), now=NOW)
    assert len(r.keep) == 7
    days = {x.time.date() for x in r.keep}
    assert len(days) == 7 and max(days) == NOW.date()
    # newest snapshot of each day is the one kept
    for x in r.keep:
        assert x.time == max(y.time for y in s if y.time.date() == x.time.date())
    assert len(apply_policy(s, Policy(keep_hourly=3), now=NOW).keep) == 3
    assert len(apply_policy(s, Policy(keep_weekly=4), now=NOW).keep) == 4
    r = apply_policy(s, Policy(keep_monthly=6), now=NOW)
    assert sorted({(x.time.year, x.time.month) for x in r.keep})[-1] == (2026, 6) and len(r.keep) == 6
    r = apply_policy(s, Policy(keep_yearly=5), now=NOW)
    assert [x.time.year for x in r.keep] == [2025, 2026]


def test_keep_within_and_combination_reasons() -> None:
    s = snaps(hourly(48))
    r = apply_policy(s, Policy(keep_within=timedelta(hours=10), keep_last=1), now=NOW)
    assert len(r.keep) == 11
    assert r.reasons["h0000"] == ["last", "within"]


def test_groups_by_host_and_paths() -> None:
    s = snaps(hourly(3), host="a") + snaps(hourly(3), host="b")
    r = apply_policy(s, Policy(keep_last=1), now=NOW)
    assert sorted(kept(r)) == ["a0000", "b0000"]


def test_immutable_and_retained_snapshots_are_never_removed() -> None:
    s = snaps(hourly(10))
    r = apply_policy(s, Policy(keep_last=1, immutable_for=timedelta(hours=4, minutes=30)), now=NOW)
    assert len(r.keep) == 5
    s[9].retain_until = NOW + timedelta(days=1)
    r = apply_policy(s, Policy(keep_last=1), now=NOW)
    assert sorted(kept(r)) == ["h0000", "h0009"]
    assert r.reasons["h0009"] == ["retention"]


def test_keep_tag_and_empty_policy_refused() -> None:
    s = snaps(hourly(3)) + snaps([NOW - timedelta(days=30)], host="h", tags=["release"])
    s[-1].id = "tagged"
    r = apply_policy(s, Policy(keep_last=1, keep_tags=("release",)), now=NOW)
    assert "tagged" in kept(r)
    with pytest.raises(BadInput):
        apply_policy(s, Policy(), now=NOW)


@pytest.mark.parametrize(("text", "seconds"), [("7d", 7 * 86400), ("12h", 43200), ("1w2d", 9 * 86400),
                                               ("30m", 1800), ("1y", 365 * 86400)])
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "7", "d7", "7x", "7d junk"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(BadInput):
        parse_duration(text)
