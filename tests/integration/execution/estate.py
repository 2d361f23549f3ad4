"""A two-site estate on the real local servers, for execution integration tests.

Primary site: PostgreSQL :5433, sshd :2222. Recovery site: PostgreSQL :5434, sshd
:2223 (the "recovery host"). Repositories are local directories; every name carries
a uuid so parallel test runs never collide.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

PASSWORD = "it-repo-password-" + uuid.uuid4().hex[:6]


def psql(port: int, db: str, sql: str) -> str:
    out = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                          "-p", str(port), "-U", "postgres", "-d", db, "-c", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def make_tree(root: Path) -> dict[str, tuple[bytes, int]]:
    files = {"index.html": (b"<h1>shop</h1>\n", 0o644), "app/run.sh": (b"#!/bin/sh\necho ok\n", 0o755),
             "app/secret.conf": (b"key=value\n", 0o600), "static/big.bin": (os.urandom(300_000), 0o644)}
    for rel, (data, mode) in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
    os.chown(root / "app" / "secret.conf", OWNER, OWNER)  # restored with its ownership (we are root)
    (root / "current").symlink_to("app")
    return files


OWNER = 4321


def host(port: int, ssh: dict[str, Any]) -> str:
    return (f"{{address: 127.0.0.1, port: {port}, user: root, key: 'file:{ssh['key']}', "
            f"known_hosts: '{ssh['known_hosts']}'}}")


RUNBOOK = """\
apiVersion: dr-orchestrator/v1
kind: Runbook
metadata: {{name: it-{uid}}}
rto: 5m
variables:
  db: {db}
  restored: {restored}
sites:
  primary:
    role: primary
    storage: file://{tmp}/primary
    hosts: {{app: {primary_host}}}
  recovery:
    role: recovery
    storage: file://{tmp}/recovery
    hosts: {{app: {recovery_host}}}
data_classes:
  db:
    rpo: 1h
    schedule: "*/15 * * * *"
    source_site: primary
    replicate_to: [recovery]
    sources: [{{type: postgres, name: pg, dsn: "postgresql://postgres@127.0.0.1:5433/{db}"}}]
  db_dr:
    rpo: 1h
    schedule: "*/15 * * * *"
    source_site: recovery
    replicate_to: [primary]
    sources: [{{type: postgres, name: pg, dsn: "postgresql://postgres@127.0.0.1:5434/{db}"}}]
  www:
    rpo: 1h
    schedule: "*/15 * * * *"
    source_site: primary
    replicate_to: [recovery]
    sources: [{{type: paths, path: {www}}}]
services:
  db:
    site: primary
    rto: 2m
    failover:
      - {{kind: shell, name: create-db, command: [createdb, -h, 127.0.0.1, -p, "5434", -U, postgres, "${{db}}"]}}
      - {{kind: restore, name: restore-db, data_class: db,
         target: "postgresql://postgres@127.0.0.1:5434/{db}", timeout: 5m}}
      - {{kind: check, name: rows, type: sql, dsn: "postgresql://postgres@127.0.0.1:5434/{db}",
         query: "select count(*) from pgbench_accounts", expect: "{rows}", deadline: 30s, interval: 1s}}
    failback:
      - {{kind: shell, name: quiesce-recovery, command: [psql, -X, -q, -v, ON_ERROR_STOP=1, -h, 127.0.0.1,
         -p, "5434", -U, postgres, -d, "${{db}}", -c,
         "REVOKE CONNECT ON DATABASE \\"{db}\\" FROM PUBLIC; SELECT count(pg_terminate_backend(pid))
          FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"]}}
      - {{kind: shell, name: final-backup, command: ["${{python}}", -m, dr_orchestrator.cli.main, backup,
         "{runbook}", --data-class, db_dr]}}
      - {{kind: shell, name: ship-to-primary, command: ["${{python}}", -m, dr_orchestrator.cli.main,
         replicate, "{runbook}", --data-class, db_dr, --to, primary]}}
      - {{kind: restore, name: restore-at-primary, data_class: db_dr, from_site: primary,
         target: "postgresql://postgres@127.0.0.1:5433/{db}", timeout: 5m}}
      - {{kind: shell, name: switch-back, command: [bash, -c, 'echo primary > "$1"', switch, "{tmp}/active-site"]}}
      - {{kind: shell, name: reprotect-backup, command: ["${{python}}", -m, dr_orchestrator.cli.main, backup,
         "{runbook}", --data-class, db]}}
      - {{kind: shell, name: reprotect-replicate, command: ["${{python}}", -m, dr_orchestrator.cli.main,
         replicate, "{runbook}", --data-class, db, --to, recovery]}}
  files:
    site: primary
    rto: 2m
    failover:
      - {{kind: restore, name: restore-www, data_class: www, host: app, target: "{restored}"}}
      - {{kind: check, name: page, type: command, host: app, command: [test, -x, "{restored}{www}/app/run.sh"],
         deadline: 10s, interval: 1s}}
  web:
    site: primary
    depends_on: [db, files]
    rto: 3m
    failover:
      - {{kind: ssh, name: start-web, host: app, command: [bash, -c, 'echo started > "$1"', web, "{tmp}/web-started"]}}
      - {{kind: check, name: port, type: tcp, host: app, port: 2223, deadline: 10s}}
"""


def write_estate(tmp: Path, ssh: dict[str, Any], rows: int) -> dict[str, Any]:
    uid = uuid.uuid4().hex[:8]
    db = f"it_exec_{uid}"
    www = tmp / "www"
    files = make_tree(www)
    runbook = tmp / "runbook.yaml"
    ports = ssh["ports"]
    runbook.write_text(RUNBOOK.format(uid=uid, db=db, tmp=tmp, www=www, restored=tmp / "restored",
                                      rows=rows, runbook=runbook,
                                      primary_host=host(ports[0], ssh), recovery_host=host(ports[1], ssh)))
    return {"uid": uid, "db": db, "runbook": runbook, "www": www, "files": files,
            "restored": tmp / "restored", "python": sys.executable}


def drop_databases(db: str) -> None:
    for port in (5433, 5434):
        subprocess.run(["dropdb", "--if-exists", "--force", "-h", "127.0.0.1", "-p", str(port), "-U",
                        "postgres", db], capture_output=True)
