"""Remove every drill target: restored directories and drill databases.

Cleanup runs in a `finally` after every drill (failed steps, SIGINT and SIGTERM
included) and again, from the journal, for a drill that crashed
(`dro drill --cleanup RUN_ID`). It only ever removes what the isolation step
recorded as a drill target — values of `drill.paths` and `drill.databases` — and
refuses anything that looks like a system root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from dr_orchestrator.drill.isolation import DrillTarget
from dr_orchestrator.errors import BadInput

PROTECTED = {"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/opt", "/proc", "/root", "/run", "/sbin",
             "/srv", "/sys", "/tmp", "/usr", "/var"}


@dataclass(frozen=True)
class CleanupResult:
    target: DrillTarget
    ok: bool
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target.describe(), "ok": self.ok, "error": self.error, **self.target.to_dict()}


def _check_path(path: str) -> str:
    norm = os.path.normpath(path)
    if not os.path.isabs(norm) or norm in PROTECTED or norm.count("/") < 2:
        raise BadInput(f"refusing to clean up {path!r}: too close to the filesystem root",
                       "make drill paths dedicated directories such as /srv/drill/app")
    return norm


def _pg_env(dsn: str) -> tuple[dict[str, str], str]:
    """libpq environment for a postgresql:// DSN (password never on a command line) and its database."""
    parts = urlsplit(dsn)
    env = dict(os.environ)
    if parts.hostname:
        env["PGHOST"] = parts.hostname
    if parts.port:
        env["PGPORT"] = str(parts.port)
    if parts.username:
        env["PGUSER"] = unquote(parts.username)
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
    env["PGDATABASE"] = "postgres"
    return env, unquote(parts.path.lstrip("/"))


def _psql(env: dict[str, str], sql: str, **variables: str) -> str:
    """Run SQL through psql's stdin; values go in as psql variables (`:'name'` literal, `:"name"`
    identifier), which psql quotes itself — no database name is ever pasted into SQL text."""
    argv = ["psql", "-v", "ON_ERROR_STOP=1", "-qAt"]
    for name, value in variables.items():
        argv += ["-v", f"{name}={value}"]
    proc = subprocess.run(argv, input=sql, env=env, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "psql failed")
    return proc.stdout.strip()


def create_database(dsn: str) -> bool:
    """Create a drill database (empty) unless it exists; True when it was created."""
    env, db = _pg_env(dsn)
    if not db or db in ("postgres", "template0", "template1"):
        raise BadInput(f"refusing to use database {db!r} as a drill target", "drill databases must be dedicated ones")
    if _psql(env, "SELECT 1 FROM pg_database WHERE datname = :'db';", db=db) == "1":
        return False
    _psql(env, 'CREATE DATABASE :"db";', db=db)
    return True


def drop_database(dsn: str) -> None:
    env, db = _pg_env(dsn)
    if not db or db in ("postgres", "template0", "template1"):
        raise BadInput(f"refusing to drop database {db!r}", "drill databases must be dedicated ones")
    _psql(env, 'DROP DATABASE IF EXISTS :"db" WITH (FORCE);', db=db)


def clean_target(target: DrillTarget, runner_for: Callable[[str], Any] | None = None,
                 resolve_secret: Callable[[str], str] | None = None) -> CleanupResult:
    try:
        if target.kind == "path":
            path = _check_path(target.location)
            if target.host is None:
                if os.path.lexists(path):
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path)
                    else:
                        os.unlink(path)
            else:
                if runner_for is None:
                    raise RuntimeError("no way to reach the drill host")
                result = runner_for(target.host).run(["rm", "-rf", "--", path], timeout=300)
                if result.exit_code != 0:
                    raise RuntimeError(f"rm exited {result.exit_code}: {result.stderr.strip()[:200]}")
        elif target.kind == "database":
            dsn = target.location
            if dsn.startswith(("env:", "file:")):
                if resolve_secret is None:
                    raise RuntimeError("cannot resolve the drill database reference")
                dsn = resolve_secret(dsn)
            drop_database(dsn)
        else:
            raise RuntimeError(f"unknown drill target kind {target.kind!r}")
        return CleanupResult(target, True)
    except Exception as exc:  # noqa: BLE001 - every target is attempted; failures are reported
        return CleanupResult(target, False, str(exc) or type(exc).__name__)


def clean_all(targets: list[DrillTarget], runner_for: Callable[[str], Any] | None = None,
              resolve_secret: Callable[[str], str] | None = None) -> list[CleanupResult]:
    """Attempt every target even when one fails; the results say which did not go."""
    return [clean_target(t, runner_for, resolve_secret) for t in targets]
