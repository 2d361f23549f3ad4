"""Bare-metal rebuild of one host from nothing but SSH: `dro rebuild --host`.

A playbook (Jinja2 variables) lays down directories and a configuration rendered from
a template, the data is restored onto the host with its modes, a service is started
and checked over HTTP. Steps of another host are left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.execution.estate import PASSWORD, host, make_tree

PLAYBOOK = """\
apiVersion: dr-orchestrator/v1
kind: Playbook
description: lay down an app directory, its config and start it
params:
  host: {required: true}
  dir: {required: true}
  port: {required: true}
steps:
  - {name: "directories on {{ host }}", kind: ssh, host: "{{ host }}", command: [mkdir, -p, "{{ dir }}/etc"]}
  - name: config from template
    kind: ssh
    host: "{{ host }}"
    command: [bash, -c, 'printf "listen=%s\\nroot=%s\\n" "$1" "$2" > "$2/etc/app.conf"', cfg, "{{ port }}", "{{ dir }}"]
  - name: start the service
    kind: ssh
    host: "{{ host }}"
    command: [bash, -c, 'nohup python3 -m http.server "$1" --bind 127.0.0.1 --directory "$2" >/dev/null 2>&1 &
              echo $! > "$2/pid"', start, "{{ port }}", "{{ dir }}"]
  - {name: service answers, kind: check, type: http, url: "http://127.0.0.1:{{ port }}/etc/app.conf",
     expect_status: 200, expect_body: "listen={{ port }}", deadline: 20s, interval: 500ms}
"""

RUNBOOK = """\
apiVersion: dr-orchestrator/v1
kind: Runbook
metadata: {{name: rebuild}}
variables: {{appdir: "{tmp}/host-app"}}
sites:
  primary:
    role: primary
    storage: "file://{tmp}/primary"
    hosts: {{app: {app}, db: {db}}}
  recovery: {{role: recovery, storage: "file://{tmp}/recovery"}}
data_classes:
  www:
    rpo: 1h
    schedule: "0 * * * *"
    source_site: primary
    sources: [{{type: paths, path: "{www}"}}]
services:
  web:
    site: primary
    rto: 2m
    rebuild:
      - {{kind: playbook, name: base, playbook: app-host, vars: {{host: app, dir: "${{appdir}}", port: {port}}}}}
      - {{kind: restore, name: data, data_class: www, host: app, target: "${{appdir}}/data"}}
      - {{kind: check, name: data-there, type: command, host: app,
         command: [test, -x, "${{appdir}}/data{www}/app/run.sh"]}}
  database:
    site: primary
    rebuild:
      - {{kind: ssh, name: db-only, host: db, command: [touch, "{tmp}/db-host-touched"]}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def rebuild_estate(tmp_path, ssh_server, monkeypatch):
    monkeypatch.setenv("DRO_PASSWORD", PASSWORD)
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "app-host.yaml").write_text(PLAYBOOK)
    files = make_tree(tmp_path / "www")
    port = free_port()
    rb = tmp_path / "runbook.yaml"
    rb.write_text(RUNBOOK.format(tmp=tmp_path, www=tmp_path / "www", port=port,
                                 app=host(ssh_server["ports"][0], ssh_server),
                                 db=host(ssh_server["ports"][1], ssh_server)))
    from dr_orchestrator.app.sources import backup_data_class
    from dr_orchestrator.runbook import load_runbook

    backup_data_class(load_runbook(rb), "www", PASSWORD)
    yield {"runbook": rb, "files": files, "port": port, "appdir": tmp_path / "host-app"}
    pid_file = tmp_path / "host-app" / "pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)


def test_rebuild_one_host_over_ssh(rebuild_estate, tmp_path):
    rb = rebuild_estate["runbook"]
    dry = subprocess.run([sys.executable, "-m", "dr_orchestrator.cli.main", "rebuild", str(rb), "--host", "app",
                          "--dry-run", "--json"], capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert dry.returncode == 0, dry.stderr
    import json

    planned = json.loads(dry.stdout)["steps"]
    assert [p["service"] for p in planned] == ["web"] * 6
    assert "config from template" in planned[1]["step"] and "ssh recovery" not in dry.stdout
    assert "printf" in planned[1]["action"] and "listen" in planned[1]["action"]
    assert not rebuild_estate["appdir"].exists()

    from dr_orchestrator.app.execute import ExecuteOptions, execute

    result = execute(rb, ExecuteOptions(action="rebuild", rebuild_host="app", state_dir=tmp_path / "st"))
    state = result.state
    assert state.ok(), state.summary()
    assert list(state.services) == ["web"]  # the other host's service is not part of it
    assert not (tmp_path / "db-host-touched").exists()
    appdir = rebuild_estate["appdir"]
    port = rebuild_estate["port"]
    assert (appdir / "etc" / "app.conf").read_text() == f"listen={port}\nroot={appdir}\n"
    data = Path(f"{appdir}/data{tmp_path}/www")
    for rel, (content, mode) in rebuild_estate["files"].items():
        assert (data / rel).read_bytes() == content
        assert (data / rel).stat().st_mode & 0o777 == mode
    steps = [s.name for s in state.steps.values()]
    assert steps[:4] == ["directories on app", "config from template", "start the service", "service answers"]
