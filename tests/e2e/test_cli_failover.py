"""`dro failover` as a user runs it: dry run, summary and exit codes, and the crash test —
the process SIGKILLed in the middle of a wave, then `dro resume`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

# Each step appends its name to the marker file when it starts, then sleeps: a name
# appearing twice means the step ran twice.
RUNBOOK = """\
apiVersion: dr-orchestrator/v1
kind: Runbook
metadata: {{name: crash-test}}
rto: 10m
sites:
  primary: {{role: primary, storage: "file://{tmp}/primary", hosts: {{app: {{local: true}}}}}}
  recovery: {{role: recovery, storage: "file://{tmp}/recovery", hosts: {{app: {{local: true}}}}}}
services:
{services}
"""

STEP = ('      - {{kind: shell, name: {name}, retries: 1, retry_delay: 1s, command: [bash, -c, '
        '\'echo "$1" >> "$2"; sleep "$3"\', marker, "{svc}.{name}", "{markers}", "{sleep}"]}}')


def write_runbook(tmp: Path, markers: Path, sleep: float = 0.6) -> Path:
    layout = {"db": ([], 3), "cache": ([], 3), "queue": ([], 3), "api": (["db", "cache", "queue"], 3),
              "web": (["api"], 2)}
    blocks = []
    for svc, (deps, n) in layout.items():
        lines = [f"  {svc}:", "    site: primary", "    rto: 5m"]
        if deps:
            lines.append(f"    depends_on: [{', '.join(deps)}]")
        lines.append("    failover:")
        lines += [STEP.format(name=f"s{i}", svc=svc, markers=markers, sleep=sleep) for i in range(n)]
        blocks.append("\n".join(lines))
    path = tmp / "runbook.yaml"
    path.write_text(RUNBOOK.format(tmp=tmp, services="\n".join(blocks)))
    return path


def dro_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "dr_orchestrator.cli.main", *args]


def run_dro(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(dro_argv(*args), cwd=cwd, capture_output=True, text=True, timeout=300)


def journal_events(state_dir: Path) -> tuple[str, list[dict]]:
    runs = list((state_dir / "runs").glob("*/journal.jsonl"))
    if not runs:
        return "", []
    lines = runs[0].read_text().splitlines()
    events = []
    for line in lines:
        with contextlib.suppress(ValueError):
            events.append(json.loads(line))
    return runs[0].parent.name, events


def test_dry_run_prints_commands_and_touches_nothing(tmp_path):
    markers = tmp_path / "markers"
    runbook = write_runbook(tmp_path, markers)
    out = run_dro("failover", str(runbook), "--dry-run", "--json", "--state-dir", str(tmp_path / "st"),
                  cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["dry_run"] is True and len(data["steps"]) == 14
    first = data["steps"][0]
    assert first["action"].startswith("local: bash -c") and "db.s0" in first["action"]
    assert not markers.exists() and not (tmp_path / "st").exists()
    assert not (tmp_path / "recovery").exists()


def test_failed_step_exits_1_with_summary(tmp_path):
    runbook = tmp_path / "rb.yaml"
    runbook.write_text(RUNBOOK.format(tmp=tmp_path, services=(
        "  db:\n    site: primary\n    rto: 1m\n    failover:\n"
        "      - {kind: shell, name: boom, command: [bash, -c, 'exit 3']}\n"
        "  web:\n    site: primary\n    depends_on: [db]\n    failover:\n"
        "      - {kind: shell, name: never, command: ['true']}\n")))
    out = run_dro("failover", str(runbook), "--state-dir", str(tmp_path / "st"), cwd=tmp_path)
    assert out.returncode == 1
    assert "db" in out.stdout and "failed" in out.stdout and "skipped" in out.stdout
    assert "exited with 3" in out.stdout + out.stderr
    listed = run_dro("runs", "--json", "--state-dir", str(tmp_path / "st"), cwd=tmp_path)
    runs = json.loads(listed.stdout)
    assert len(runs) == 1 and runs[0]["status"] == "failed"
    shown = run_dro("show", runs[0]["run_id"], "--json", "--state-dir", str(tmp_path / "st"), cwd=tmp_path)
    assert json.loads(shown.stdout)["services"][0]["steps"][0]["error"].startswith("command exited with 3")


def test_rto_missed_exits_1(tmp_path):
    runbook = tmp_path / "rb.yaml"
    runbook.write_text(RUNBOOK.format(tmp=tmp_path, services=(
        "  db:\n    site: primary\n    rto: 1s\n    failover:\n"
        "      - {kind: wait, name: slow, duration: 2s}\n")))
    out = run_dro("failover", str(runbook), "--state-dir", str(tmp_path / "st"), cwd=tmp_path)
    assert out.returncode == 1
    assert "MISSED" in out.stdout and "RTO missed: db" in out.stderr


@pytest.mark.timeout(300)
def test_sigkill_mid_wave_then_resume(tmp_path):
    markers = tmp_path / "markers"
    runbook = write_runbook(tmp_path, markers)
    state_dir = tmp_path / "state"
    proc = subprocess.Popen(dro_argv("failover", str(runbook), "--parallel", "3", "--state-dir",
                                     str(state_dir)), cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    # kill while the first wave (db, cache, queue in parallel) is half done
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run_id, events = journal_events(state_dir)
        done = {e["step"] for e in events if e["type"] == "step_succeeded"}
        running = {e["step"] for e in events if e["type"] == "step_started"} - done
        if len(done) >= 4 and running:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # What each step's command had written when the kill landed: a step journalled as started
    # may not have reached its first line yet on a loaded machine.
    at_kill = Counter(markers.read_text().split()) if markers.exists() else Counter()
    run_id, events = journal_events(state_dir)
    completed = {e["step"] for e in events if e["type"] == "step_succeeded"}
    started = {e["step"] for e in events if e["type"] == "step_started"}
    in_flight = started - completed
    assert len(completed) >= 4 and in_flight, "the kill must land mid-wave"
    assert not any(e["type"] == "run_finished" for e in events)
    out = run_dro("resume", run_id, "--state-dir", str(state_dir), "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    summary = json.loads(out.stdout)
    assert summary["ok"] and summary["resumes"] == 1

    counts = Counter(markers.read_text().split())
    key_to_marker = {k: f"{k.split('/')[0]}.{k.split('/')[2]}" for k in started}
    for key in completed:
        assert counts[key_to_marker[key]] == 1, f"completed step {key} ran again"
    for key in in_flight:  # interrupted, then run again (once) by resume
        assert counts[key_to_marker[key]] == at_kill[key_to_marker[key]] + 1, key
    # end state equals an uninterrupted run
    clean_markers = tmp_path / "clean-markers"
    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    clean_rb = write_runbook(clean_dir, clean_markers, sleep=0)
    ref = run_dro("failover", str(clean_rb), "--parallel", "3", "--state-dir", str(clean_dir / "st"),
                  "--json", cwd=clean_dir)
    assert ref.returncode == 0
    reference = json.loads(ref.stdout)
    assert set(Counter(clean_markers.read_text().split())) == set(counts)
    assert [(s["name"], s["status"], [x["status"] for x in s["steps"]]) for s in summary["services"]] == \
        [(s["name"], s["status"], [x["status"] for x in s["steps"]]) for s in reference["services"]]
    # the journal tells the story: interrupted steps, one resume, one finish
    _, after = journal_events(state_dir)
    types = [e["type"] for e in after]
    assert types.count("run_resumed") == 1 and types[-1] == "run_finished"
    assert types.count("step_interrupted") == len(in_flight)
