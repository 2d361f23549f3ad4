"""Durations, sizes, secret references, literal-secret detection, cron gaps, YAML scalars."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from croniter import croniter
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dr_orchestrator.errors import BadInput
from dr_orchestrator.runbook import fastyaml
from dr_orchestrator.runbook.cron import cron_error, max_interval, suggest_schedule
from dr_orchestrator.runbook.durations import format_duration, format_size, parse_duration, parse_size
from dr_orchestrator.runbook.secrets import SecretRef, literal_secret_reason
from dr_orchestrator.runbook.yamlpos import _parse_slow, parse_yaml


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("15m", 900), ("1h30m", 5400), ("7d", 604800), ("2w", 1209600), ("500ms", 0.5),
    ("1.5h", 5400), (" 1h 30m ", 5400),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize(("value", "fragment"), [
    (30, "has no unit"), ("15 minutes", "invalid duration"), ("", "invalid duration"),
    ("1x", "invalid duration"), (True, "expected a duration"), ([1], "expected a duration"),
])
def test_parse_duration_rejects(value: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_duration(value)


@given(st.integers(min_value=0, max_value=10**9))
def test_duration_round_trip(ms: int) -> None:
    delta = timedelta(milliseconds=ms)
    assert parse_duration(format_duration(delta)) == delta


def test_sizes() -> None:
    assert parse_size("16MiB") == 16 * 1024**2
    assert parse_size("2GB") == 2 * 10**9
    assert parse_size(512) == 512
    assert format_size(16 * 1024**2) == "16MiB"
    with pytest.raises(ValueError, match="invalid size"):
        parse_size("16 parsecs")


def test_secret_refs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRO_TEST_SECRET", "s3cret-value")
    ref = SecretRef("env:DRO_TEST_SECRET")
    assert ref.resolve() == "s3cret-value"
    assert "s3cret" not in repr(ref) and "s3cret" not in str(ref)
    (tmp_path / "pw").write_text("from-file\n")
    assert SecretRef("file:pw").resolve(tmp_path) == "from-file"
    assert SecretRef("file:pw").path(tmp_path) == tmp_path / "pw"
    monkeypatch.delenv("DRO_TEST_SECRET")
    with pytest.raises(BadInput, match="DRO_TEST_SECRET is not set"):
        ref.resolve()
    with pytest.raises(BadInput, match="cannot read"):
        SecretRef("file:missing").resolve(tmp_path)
    with pytest.raises(ValueError, match="not a literal value"):
        SecretRef("hunter2")


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("password", "hunter2", "'password' holds a literal value"),
    ("dsn", "postgresql://app:pw@db/app", "contains a password"),
    ("dsn", "host=db user=app password=pw", "password="),
    ("conn", "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc==", "accountkey="),
    ("key", "-----BEGIN OPENSSH PRIVATE KEY-----", "private key"),
    ("id", "AKIAIOSFODNN7EXAMPLE", "AWS access key id"),
    (None, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS secret access key"),
])
def test_literal_secrets_are_found(key: str | None, value: str, reason: str) -> None:
    found = literal_secret_reason(key, value)
    assert found is not None and reason.lower() in found.lower()


@pytest.mark.parametrize(("key", "value"), [
    ("password", "env:PGPASSWORD"), ("password", "file:secrets/pw"), ("dsn", "postgresql://app@db/app"),
    ("password", "${pw}"), ("url", "https://example.com/a?b=c"), ("path", "/srv/shop/uploads/2024"),
    ("sha", "3f786850e387550fdab836ed7e6dc881de23001b"), ("name", "restore-orders"),
])
def test_no_false_alarm(key: str, value: str) -> None:
    assert literal_secret_reason(key, value) is None


@pytest.mark.parametrize(("expr", "gap"), [
    ("*/5 * * * *", timedelta(minutes=5)), ("0 */6 * * *", timedelta(hours=6)),
    ("0 2 * * *", timedelta(days=1)), ("* 9-17 * * 1-5", timedelta(days=2, hours=15, minutes=1)),
    ("0 0 1 * *", timedelta(days=31)), ("0 0 29 2 *", timedelta(days=1461)),
    ("0 0 * * 5#3", timedelta(days=35)), ("@hourly", timedelta(hours=1)),
    ("0 0 * 1-6 0", timedelta(days=196)),  # last Sunday of June to the first of January
])
def test_max_interval(expr: str, gap: timedelta) -> None:
    assert cron_error(expr) is None
    assert max_interval(expr) == gap


# Sparse fields keep the croniter walk over five years short (it costs ~0.1 ms a fire).
MINUTES = st.sampled_from(["0", "30", "7"])
HOURS = st.sampled_from(["0", "12", "3,15", "23"])
DOMS = st.sampled_from(["*", "1", "1,15", "10-20", "31", "29"])
MONTHS = st.sampled_from(["*", "*/3", "2", "1-6"])
DOWS = st.sampled_from(["*", "0", "1-5", "6", "2,4"])


@settings(max_examples=15, deadline=None)
@given(MINUTES, HOURS, DOMS, MONTHS, DOWS)
def test_max_interval_matches_croniter(minute: str, hour: str, dom: str, month: str, dow: str) -> None:
    """The fast day-pattern computation agrees with walking croniter's fire times."""
    expr = f"{minute} {hour} {dom} {month} {dow}"
    assume(cron_error(expr) is None)  # e.g. the 31st of February never comes
    it = croniter(expr, datetime(2024, 1, 1))
    previous = it.get_next(datetime)
    longest = timedelta(0)
    while True:
        current = it.get_next(datetime)
        if current.year >= 2030:
            break
        longest = max(longest, current - previous)
        previous = current
    assert max_interval(expr, date(2024, 1, 1), 6) == longest


def test_cron_errors_and_suggestions() -> None:
    assert "has 3" in (cron_error("* * *") or "")
    assert "out of range" in (cron_error("61 * * * *") or "")
    assert "never" in (cron_error("0 0 31 2 *") or "")
    for rpo in (timedelta(minutes=1), timedelta(minutes=15), timedelta(hours=4), timedelta(days=2)):
        assert max_interval(suggest_schedule(rpo)) <= rpo


YAML = """\
a: yes
b: 1:30
c: 2024-01-01
d: 0o17
e: 1e3
f: !!str 12
g: [1, 2.5, true, null, ~, "x", 'y']
h: |
  literal
i:
base: &b {x: 1}
j: *b
"""


def test_yaml_scalars_follow_yaml_1_2_on_both_paths() -> None:
    expected = {"a": "yes", "b": "1:30", "c": "2024-01-01", "d": 15, "e": 1000.0, "f": "12",
                "g": [1, 2.5, True, None, None, "x", "y"], "h": "literal\n", "i": None,
                "base": {"x": 1}, "j": {"x": 1}}
    slow, _, issues = _parse_slow(YAML, "t.yaml")
    assert issues == [] and slow == expected
    fast = fastyaml.parse(YAML)
    assert fast is fastyaml.UNSUPPORTED or fast == expected
    data, smap, _ = parse_yaml(YAML, "t.yaml")
    assert data == expected
    assert smap.value(("g", 2)) == ("t.yaml", 7, 13)  # positions computed on demand
    assert smap.key(("h",)) == ("t.yaml", 8, 1)


def test_examples_parse_identically_on_both_paths() -> None:
    root = Path(__file__).parents[3]
    files = [*root.glob("runbooks/**/*.yaml"), *root.glob("playbooks/*.yaml")]
    assert len(files) >= 7
    for path in files:
        text = path.read_text()
        slow, _, issues = _parse_slow(text, path.name)
        assert not issues
        fast = fastyaml.parse(text)
        assert fast is fastyaml.UNSUPPORTED or fast == slow, path


# Plain scalars where YAML 1.2 and a naive YAML → JSON conversion disagree, plus ordinary ones.
_TRICKY = ["~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "FALSE", "yes", "no", "on",
           "0", "-0", "007", "-012", "+4", "+.5", "-.5", ".5", "3.", "1e3", "1E5", "-1.5e-3", "1_000",
           "0x1f", "0o17", "0b101", ".inf", "-.inf", ".nan", "nan", "inf", "NaN", "1.5.3", "10.0.0.1",
           "12:30", "2024-01-01", "5s", "svc-007", "a b", "x#y", "http://h:80/p", "-x", "é", "日本", "😀",
           "\\ud83d", "\\t", "it''s"]
_KEYS = ["a", "b-c", "1", "007", "true", "~", "x.y", "k"]


@st.composite
def _yaml_docs(draw: st.DrawFn) -> str:
    """A mapping of plain, quoted and flow-list values written the way people write runbooks."""
    lines = []
    for key in draw(st.lists(st.sampled_from(_KEYS), min_size=1, max_size=6)):
        style = draw(st.sampled_from(["plain", "dq", "sq", "flow", "block", "nested"]))
        value = draw(st.sampled_from(_TRICKY))
        if style == "plain":
            lines.append(f"{key}: {value}")
        elif style == "dq":
            lines.append(f'{key}: "{value}"')
        elif style == "sq":
            lines.append(f"{key}: '{value}'")
        elif style == "flow":
            items = draw(st.lists(st.sampled_from(_TRICKY), max_size=4))
            lines.append(f"{key}: [{', '.join(items)}]")
        elif style == "block":
            lines.append(f"{key}:")
            lines += [f"  - {v}" for v in draw(st.lists(st.sampled_from(_TRICKY), min_size=1, max_size=3))]
        else:
            lines.append(f"{key}:\n  inner: {value}\n  other: \"{value}\"")
    return "\n".join(lines) + "\n"


@settings(max_examples=400, deadline=None)
@given(_yaml_docs())
def test_fast_yaml_path_agrees_with_the_reference_path(text: str) -> None:
    """rapidyaml (JSON or tree walk) gives exactly what the PyYAML path gives, or declines."""
    slow, _, issues = _parse_slow(text, "t.yaml")
    fast = fastyaml.parse(text)
    if issues:  # duplicate keys, invalid YAML: only the reference path may answer
        assert fast is fastyaml.UNSUPPORTED
        return
    assert fast is fastyaml.UNSUPPORTED or _same(fast, slow), text


def _same(a: object, b: object) -> bool:
    """Equality that also tells 1 from 1.0 and True from 1, and treats nan as equal to nan."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)  # type: ignore[index]
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    if isinstance(a, float) and a != a:
        return b != b
    return a == b


def test_large_plain_runbooks_take_the_json_path() -> None:
    """The point of the JSON path: a big ordinary runbook must not fall back to the tree walk."""
    text = "services:\n" + "".join(f"  svc-{i:04d}:\n    site: primary\n    depends_on: [svc-{i - 1:04d}]\n"
                                   f"    rto: 5m\n    port: {8000 + i}\n" for i in range(1, 200))
    import ryml

    tree = ryml.parse_in_arena(text.encode())
    assert fastyaml._json_safe(ryml.emit_json_malloc(tree, tree.root_id()))
    assert fastyaml.parse(text) == _parse_slow(text, "t.yaml")[0]
