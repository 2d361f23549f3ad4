"""Exports are parsed back: crontab fields, systemd sections, YAML that loads."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from croniter import croniter
from ruamel.yaml import YAML

from dr_orchestrator.errors import BadInput
from dr_orchestrator.scheduling.exports import ClassSchedule, export, on_calendar

CLASSES = [ClassSchedule("db", "*/15 * * * *"), ClassSchedule("files", "30 2 * * 1-5")]


def load_yaml_all(text: str) -> list:
    return list(YAML(typ="safe", pure=True).load_all(text))


def test_cron_lines(tmp_path: Path) -> None:
    exp = export("cron", "shop", "/etc/dro/shop.yaml", CLASSES)
    written = exp.write(tmp_path)
    text = written[0].read_text()
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "CRON_TZ=UTC"
    for line, cls in zip(lines[1:], CLASSES, strict=True):
        fields = line.split(None, 5)
        schedule = " ".join(fields[:5])
        assert schedule == cls.schedule and croniter.is_valid(schedule)
        argv = shlex.split(fields[5].split(">>")[0])
        assert argv == ["dro", "schedule", "run", "/etc/dro/shop.yaml", "--once", "--data-class", cls.name]
    assert "DRO_PASSWORD=" not in text.replace("DRO_PASSWORD must", "")


def test_systemd_units(tmp_path: Path) -> None:
    exp = export("systemd", "shop", "/etc/dro/shop.yaml", CLASSES)
    exp.write(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dro-shop-db.service", "dro-shop-db.timer", "dro-shop-files.service", "dro-shop-files.timer"]
    svc = configparser.ConfigParser(strict=False, interpolation=None)
    svc.optionxform = str  # type: ignore[assignment,method-assign]
    svc.read(tmp_path / "dro-shop-db.service")
    assert set(svc.sections()) == {"Unit", "Service"}
    assert svc["Service"]["Type"] == "oneshot"
    assert shlex.split(svc["Service"]["ExecStart"])[-3:] == ["--once", "--data-class", "db"]
    timer = configparser.ConfigParser(strict=False, interpolation=None)
    timer.optionxform = str  # type: ignore[assignment,method-assign]
    timer.read(tmp_path / "dro-shop-files.timer")
    assert set(timer.sections()) == {"Unit", "Timer", "Install"}
    assert timer["Timer"]["OnCalendar"] == "Mon,Tue,Wed,Thu,Fri *-*-* 02:30:00 UTC"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Timer"]["Unit"] == "dro-shop-files.service"


@pytest.mark.parametrize(("expr", "expected"), [
    ("*/15 * * * *", ["*-*-* *:00,15,30,45:00 UTC"]),
    ("0 2 * * *", ["*-*-* 02:00:00 UTC"]),
    ("0 0 1 * 0", ["*-*-01 00:00:00 UTC", "Sun *-*-* 00:00:00 UTC"]),  # cron ORs dom/dow
    ("5 4 * * 7", ["Sun *-*-* 04:05:00 UTC"]),
    ("0 1-3 * 6 *", ["*-06-* 01..03:00:00 UTC"]),
])
def test_on_calendar(expr: str, expected: list[str]) -> None:
    assert on_calendar(expr) == expected


def test_on_calendar_explains_what_it_cannot_convert(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="nth weekday"):
        on_calendar("0 0 * * 1#2")
    exp = export("systemd", "shop", "/r.yaml", [ClassSchedule("odd", "0 0 * * 1#2")])
    assert exp.files == {} and "odd" in exp.notes[0]


def test_github_actions_workflow(tmp_path: Path) -> None:
    exp = export("github-actions", "shop", "runbooks/shop.yaml", CLASSES)
    (path,) = exp.write(tmp_path)
    assert path.relative_to(tmp_path).as_posix() == ".github/workflows/dro-shop.yaml"
    (doc,) = load_yaml_all(path.read_text())
    assert sorted(c["cron"] for c in doc["on"]["schedule"]) == sorted(c.schedule for c in CLASSES)
    assert set(doc["jobs"]) == {"db", "files"}
    step = doc["jobs"]["db"]["steps"][-1]
    assert step["env"]["DRO_PASSWORD"] == "${{ secrets.DRO_PASSWORD }}"
    assert "--data-class db" in step["run"]
    assert "'*/15 * * * *'" in doc["jobs"]["db"]["if"]


def test_kubernetes_cronjobs(tmp_path: Path) -> None:
    exp = export("kubernetes", "shop", "runbooks/shop.yaml", CLASSES, image="registry/dro:1")
    (path,) = exp.write(tmp_path)
    docs = load_yaml_all(path.read_text())
    assert [d["kind"] for d in docs] == ["CronJob", "CronJob"]
    by_class = {d["metadata"]["labels"]["dro/data-class"]: d for d in docs}
    spec = by_class["files"]["spec"]
    assert spec["schedule"] == "30 2 * * 1-5" and spec["concurrencyPolicy"] == "Forbid"
    container = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry/dro:1"
    assert container["args"][-2:] == ["--data-class", "files"]
    env = {e["name"]: e for e in container["env"]}
    assert "secretKeyRef" in env["DRO_PASSWORD"]["valueFrom"]


def test_unknown_target() -> None:
    with pytest.raises(BadInput):
        export("nomad", "shop", "r.yaml", CLASSES)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("expr", ["*/15 * * * *", "30 2 * * 1-5", "0 0 1 * 0", "0 */6 1,15 * *", "5 4 * 1-3 7"])
def test_on_calendar_values_are_accepted_by_systemd(expr: str) -> None:
    for value in on_calendar(expr):
        r = subprocess.run(["systemd-analyze", "calendar", value], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert "Normalized form" in r.stdout
