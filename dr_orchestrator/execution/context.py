"""What a run shares with its step handlers: runbook, clock, redactor, hosts, prompts.

`RunContext` is built once per run (and again on resume). Everything external a
handler needs goes through it, so tests can swap a piece (connect, prompt, repository
opener) without monkeypatching modules.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dr_orchestrator.errors import BadInput
from dr_orchestrator.execution.clock import Clock, SystemClock
from dr_orchestrator.execution.redact import Redactor


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _default_prompt(message: str) -> bool:
    answer = input(f"{message} [y/N] ")
    return answer.strip().lower() in ("y", "yes")


@dataclass
class RunContext:
    action: str = "failover"
    run_id: str = ""
    runbook: Any = None
    plan: Any = None
    clock: Clock = field(default_factory=SystemClock)
    redactor: Redactor = field(default_factory=Redactor)
    run_dir: Path | None = None
    started_wall: float = 0.0  # wall time the run started (RPO ages are taken there)
    auto_approve: bool = False
    dry_run: bool = False
    rebuild_host: str | None = None  # `dro rebuild --host`: steps without a host run on it
    site_override: str | None = None  # `--to SITE`: where the action's steps run
    interactive: Callable[[], bool] = _stdin_is_tty
    prompt: Callable[[str], bool] = _default_prompt
    connect: Callable[[Any], Any] | None = None  # HostSpec -> Runner; default remote.connect
    repository_password: Callable[[str], str] | None = None  # data class -> password
    emit: Callable[..., Any] = lambda *a, **k: None  # journal emit, set by the executor
    registry: Any = None  # the handler registry, for sub-steps (playbook, rollback steps)
    _runners: dict[str, Any] = field(default_factory=dict)
    _runner_lock: threading.Lock = field(default_factory=threading.Lock)
    _tempfiles: list[str] = field(default_factory=list)

    # --- variables and secrets ------------------------------------------------

    @property
    def base_dir(self) -> Path:
        base = getattr(self.runbook, "base_dir", None)
        return Path(base) if base is not None else Path.cwd()

    def variables(self) -> dict[str, str]:
        """The runbook's variables as strings (what shell/ssh steps get in their env)."""
        raw = getattr(self.runbook, "variables", None) or {}
        return {str(k): _scalar(v) for k, v in raw.items()}

    def secret(self, value: Any) -> str:
        """Resolve a SecretRef (registering the value for redaction); strings pass through."""
        resolve = getattr(value, "resolve", None)
        if callable(resolve):
            resolved = str(resolve(self.base_dir))
            self.redactor.add(resolved)
            return resolved
        return str(value)

    # --- hosts -----------------------------------------------------------------

    def site_for(self, service: str) -> str | None:
        if self.site_override:
            return self.site_override
        action_site = getattr(self.runbook, "action_site", None)
        if not callable(action_site) or service not in getattr(self.runbook, "services", {}):
            return None
        site = action_site(service, self.action)
        return str(site) if site is not None else None

    def host_spec(self, ref: str, service: str) -> Any:
        """A runbook host reference (`HOST` or `SITE/HOST`) -> remote.HostSpec."""
        from dr_orchestrator.remote.base import HostSpec

        resolve = getattr(self.runbook, "resolve_host", None)
        found = resolve(ref, self.site_for(service)) if callable(resolve) else None
        if found is None:
            raise BadInput(f"unknown host {ref!r} for service {service!r}",
                           "hosts are `HOST` (at the site the action runs at) or `SITE/HOST`")
        site, host = found
        if getattr(host, "local", False):
            return HostSpec(local=True, name=f"{site}/{ref.split('/')[-1]}")
        known = getattr(host, "known_hosts", None)
        if known and not os.path.isabs(os.path.expanduser(known)):
            known = str(self.base_dir / known)
        return HostSpec(address=host.address, port=host.port, user=host.user,
                        key_path=self._key_path(host.key), known_hosts=known,
                        accept_unknown=bool(getattr(host, "insecure_accept_unknown_host_key", False)),
                        name=f"{site}/{ref.split('/')[-1]}")

    def _key_path(self, key: Any) -> str | None:
        if key is None:
            return None
        if getattr(key, "scheme", None) == "file":
            return str(key.path(self.base_dir))
        # env: key material -> a private temp file for the run, removed at close()
        material = self.secret(key)
        fd, path = tempfile.mkstemp(prefix="dro-key-")
        with os.fdopen(fd, "w") as fh:
            fh.write(material if material.endswith("\n") else material + "\n")
        self._tempfiles.append(path)
        return path

    def runner(self, ref: str, service: str) -> Any:
        """A connected Runner for a host reference (one per host per run, reused)."""
        spec = self.host_spec(ref, service)
        key = f"{spec.name}|{spec.address}|{spec.port}|{spec.local}"
        with self._runner_lock:
            found = self._runners.get(key)
            if found is not None:
                return found
            connect = self.connect
            if connect is None:
                from dr_orchestrator.remote import connect as remote_connect  # type: ignore[attr-defined]

                connect = remote_connect
            runner = connect(spec)
            self._runners[key] = runner
            return runner

    def close(self) -> None:
        with self._runner_lock:
            for runner in self._runners.values():
                with contextlib.suppress(Exception):
                    runner.close()
            self._runners.clear()
        for path in self._tempfiles:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._tempfiles.clear()


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
