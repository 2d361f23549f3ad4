"""Security of execution against real sshd: no injection, host keys verified, secrets hidden."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dr_orchestrator.app.execute import ExecuteOptions, execute

HEAD = """\
apiVersion: dr-orchestrator/v1
kind: Runbook
metadata: {{name: security}}
variables:
  evil1: "x; touch {tmp}/pwned1 #"
  evil2: "$(touch {tmp}/pwned2)"
  evil3: "`touch {tmp}/pwned3` && touch {tmp}/pwned4"
sites:
  primary: {{role: primary, storage: "file://{tmp}/primary", hosts: {{app: {{local: true}}}}}}
  recovery:
    role: recovery
    storage: "file://{tmp}/recovery"
    hosts:
      app: {{address: 127.0.0.1, port: {port}, user: root, key: "file:{key}", known_hosts: "{known}"}}
services:
"""


def runbook(tmp: Path, ssh: dict, body: str, known: str | None = None) -> Path:
    path = tmp / "rb.yaml"
    path.write_text(HEAD.format(tmp=tmp, port=ssh["ports"][1], key=ssh["key"],
                                known=known or ssh["known_hosts"]) + body)
    return path


def test_runbook_values_cannot_inject_commands(tmp_path, ssh_server):
    body = """\
  app:
    site: primary
    failover:
      - {kind: shell, name: local-argv, command: [echo, "${evil1}", "${evil2}", "${evil3}"]}
      - {kind: shell, name: local-string, command: 'echo "$evil1" "$evil2" "$evil3"'}
      - {kind: ssh, name: remote-argv, host: app, command: [echo, "${evil1}", "${evil2}", "${evil3}"]}
      - {kind: ssh, name: remote-string, host: app, command: 'echo "$evil1" "$evil2" "$evil3"'}
      - {kind: check, name: remote-check, type: command, host: app, command: [test, -n, "${evil2}"]}
      - {kind: check, name: local-check, type: command, command: [echo, "${evil3}"], expect: "${evil3}"}
"""
    result = execute(runbook(tmp_path, ssh_server, body), ExecuteOptions(state_dir=tmp_path / "st"))
    assert result.state.ok(), json.dumps(result.state.summary())[:2000]
    assert not list(tmp_path.glob("pwned*"))  # nothing extra ran, locally or on the host
    out = result.run_dir / "output"
    expected = f"x; touch {tmp_path}/pwned1 # $(touch {tmp_path}/pwned2) `touch {tmp_path}/pwned3`"
    for name in ("app__0__local-argv", "app__1__local-string", "app__2__remote-argv", "app__3__remote-string"):
        assert expected in (out / f"{name}.log").read_text(), name


def test_unknown_host_key_is_refused_and_not_retried(tmp_path, ssh_server):
    empty = tmp_path / "known_hosts_empty"
    empty.write_text("")
    body = f"""\
  app:
    site: primary
    failover:
      - {{kind: ssh, name: touch, host: app, retries: 3, retry_delay: 1s,
         command: [touch, "{tmp_path}/should-not-exist"]}}
"""
    result = execute(runbook(tmp_path, ssh_server, body, known=str(empty)),
                     ExecuteOptions(state_dir=tmp_path / "st"))
    rec = result.state.steps["app/0/touch"]
    assert rec.status == "failed" and rec.attempts == 1
    assert "host key" in (rec.error or "").lower()
    assert not (tmp_path / "should-not-exist").exists()
    assert empty.read_text() == ""  # nothing learnt


def test_secrets_absent_from_journal_output_and_reports(tmp_path, ssh_server):
    secret = "s3cr3t-Token-" + os.urandom(6).hex()
    body = """\
  app:
    site: primary
    rto: 1m
    failover:
      - {kind: shell, name: use-token, env: {TOKEN: "env:DRO_IT_SECRET"},
         command: 'echo "token=$TOKEN"; echo "again $TOKEN" >&2'}
      - {kind: shell, name: fail-with-token, env: {TOKEN: "env:DRO_IT_SECRET"}, on_failure: continue,
         command: 'echo "bad token $TOKEN" >&2; exit 4'}
"""
    rb = runbook(tmp_path, ssh_server, body)
    env = dict(os.environ, DRO_IT_SECRET=secret)
    out = subprocess.run([sys.executable, "-m", "dr_orchestrator.cli.main", "failover", str(rb), "--json",
                          "--state-dir", str(tmp_path / "st")], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 1  # the second step fails on purpose
    data = json.loads(out.stdout)
    steps = data["services"][0]["steps"]
    assert steps[0]["status"] == "succeeded" and "bad token ***" in steps[1]["error"]
    assert secret not in out.stdout and secret not in out.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".log")]
    assert any(p.name == "journal.jsonl" for p in written) and len(written) >= 3  # journal, mirror, logs
    for path in written:
        text = path.read_text()
        assert secret not in text, path
    assert "token=***" in (Path(data["run_dir"]) / "output" / "app__0__use-token.log").read_text()
    from dr_orchestrator.app.execute import show_run
    from dr_orchestrator.reporting import build_report
    from dr_orchestrator.reporting.render import render_html, render_json, render_junit, render_markdown

    report = build_report(show_run(data["run_id"], tmp_path / "st"))
    for render in (render_markdown, render_html, render_json, render_junit):
        assert secret not in render(report)


def test_values_pasted_into_shell_strings_are_refused(tmp_path, ssh_server):
    """`${var}` is substituted by the loader even inside a shell string: such a line is
    refused before anything runs, locally and over SSH."""
    body = """\
  app:
    site: primary
    failover:
      - {kind: shell, name: pasted-local, on_failure: continue, command: 'echo ${evil1}'}
      - {kind: ssh, name: pasted-remote, host: app, on_failure: continue, command: 'echo ${evil2}'}
      - {kind: check, name: pasted-check, type: command, host: app, on_failure: continue,
         command: 'test -n ${evil3}'}
"""
    result = execute(runbook(tmp_path, ssh_server, body), ExecuteOptions(state_dir=tmp_path / "st"))
    steps = result.state.steps
    for key in ("app/0/pasted-local", "app/1/pasted-remote", "app/2/pasted-check"):
        assert steps[key].status == "failed" and steps[key].attempts == 1
        assert "appears inside a shell command string" in (steps[key].error or "")
    assert not list(tmp_path.glob("pwned*"))
