"""Use cases: run the schedule (`dro schedule run`), one class once (`--once`), export it.

A run of data class C = backup (app.sources.backup_data_class, into the source site's
repository) then replication to every `replicate_to` site. Both are injectable so the
scheduler can be exercised without real sources.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dr_orchestrator.app import replication as app_repl
from dr_orchestrator.errors import BadInput
from dr_orchestrator.replication.options import Options
from dr_orchestrator.runbook.models import Runbook
from dr_orchestrator.scheduling import exports
from dr_orchestrator.scheduling.clock import Clock
from dr_orchestrator.scheduling.daemon import Job, JobResult, Scheduler
from dr_orchestrator.scheduling.state import StateStore

BackupFn = Callable[[Runbook, str, str], Any]  # (runbook, data class, password) -> Snapshot
ReplicateFn = Callable[[Runbook, str, str | None, threading.Event], list[app_repl.ClassReplication]]


def default_backup(runbook: Runbook, data_class: str, password: str) -> Any:
    from dr_orchestrator.app.sources import backup_data_class

    return backup_data_class(runbook, data_class, password)


def default_replicate(runbook: Runbook, data_class: str, password: str | None,
                      stop: threading.Event) -> list[app_repl.ClassReplication]:
    if not runbook.data_classes[data_class].replicate_to:
        return []
    return app_repl.replicate_data_class(runbook, data_class, password=password, base=Options(stop=stop))


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def class_job(runbook: Runbook, data_class: str, password: str, *, backup: BackupFn = default_backup,
              replicate: ReplicateFn = default_replicate) -> Job:
    dc = runbook.data_classes[data_class]

    def run(stop: threading.Event) -> JobResult:
        snap = backup(runbook, data_class, password)
        parts = [f"snapshot {str(getattr(snap, 'id', snap))[:8]}"]
        if stop.is_set():
            return JobResult(True, parts[0] + "; replication skipped (stopping)", abandoned=True)
        ok = True
        for r in replicate(runbook, data_class, password, stop):
            rep = r.report
            ok &= rep.ok
            parts.append(f"{r.target_site}: +{rep.counters.objects_copied} objects {_mib(rep.bytes_transferred)}"
                         + ("" if rep.ok else f" ({_problems(rep)})"))
            if rep.stopped:
                return JobResult(False, "; ".join(parts), abandoned=True)
        return JobResult(ok, "; ".join(parts))

    return Job(data_class, dc.schedule, run)


def _problems(rep: Any) -> str:
    out = []
    if rep.source_corrupt:
        out.append(f"{len(rep.source_corrupt)} corrupt source object(s)")
    if rep.failed:
        out.append(f"{len(rep.failed)} failed")
    if rep.snapshots_held_back:
        out.append(f"{len(rep.snapshots_held_back)} snapshot(s) held back")
    return ", ".join(out) or "incomplete"


def _classes(runbook: Runbook, data_classes: Sequence[str]) -> list[str]:
    for name in data_classes:
        if name not in runbook.data_classes:
            known = ", ".join(sorted(runbook.data_classes)) or "none"
            raise BadInput(f"unknown data class {name!r}", f"data classes in this runbook: {known}")
    return list(data_classes) or sorted(runbook.data_classes)


def build_scheduler(runbook: Runbook, password: str, *, data_classes: Sequence[str] = (),
                    backup: BackupFn = default_backup, replicate: ReplicateFn = default_replicate,
                    clock: Clock | None = None, state: StateStore | None = None,
                    log: Callable[[str], None] = print, stop: threading.Event | None = None,
                    catch_up: bool = True, grace: float | None = None) -> Scheduler:
    jobs = [class_job(runbook, c, password, backup=backup, replicate=replicate)
            for c in _classes(runbook, data_classes)]
    return Scheduler(jobs, state=state or StateStore.for_runbook(runbook.metadata.name), clock=clock, log=log,
                     stop=stop, catch_up=catch_up, grace=grace)


def install_stop_signals(stop: threading.Event, log: Callable[[str], None]) -> None:
    """SIGTERM/SIGINT → graceful stop (main thread only)."""
    def handler(signum: int, _frame: Any) -> None:
        log(f"received {signal.Signals(signum).name}: finishing or abandoning the object in flight")
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run(runbook_path: str, password: str | None, *, once: bool = False, data_classes: Sequence[str] = (),
        log: Callable[[str], None] = print, backup: BackupFn = default_backup,
        replicate: ReplicateFn = default_replicate, grace: float | None = None) -> int:
    """The `dro schedule run` use case. Returns the exit code (1 if a --once run failed)."""
    from dr_orchestrator.app.passwords import repository_password

    runbook = app_repl.load_runbook(runbook_path)
    password = password or str(repository_password(runbook))  # BadInput when neither is set
    stop = threading.Event()
    install_stop_signals(stop, log)
    sched = build_scheduler(runbook, password, data_classes=data_classes, backup=backup, replicate=replicate,
                            log=log, stop=stop, grace=grace)
    if not once:
        sched.run()
        return 0
    for name in sched.jobs:
        sched.launch(name, "once")
    sched.wait_idle()
    sched.stop.set()
    statuses = [sched.state.get(n).get("last_status") for n in sched.jobs]
    return 0 if all(s == "ok" for s in statuses) else 1


def export(runbook_path: str, target: str, out_dir: str, *, dro: str = "dro",
           image: str = "dr-orchestrator:latest") -> exports.Export:
    runbook = app_repl.load_runbook(runbook_path)
    classes = [exports.ClassSchedule(n, dc.schedule) for n, dc in sorted(runbook.data_classes.items())]
    if not classes:
        raise BadInput("the runbook has no data classes to schedule")
    path = str(Path(runbook_path).resolve()) if target in ("cron", "systemd") else runbook_path
    result = exports.export(target, runbook.metadata.name, path, classes, dro=dro, image=image)
    result.write(out_dir)
    return result


__all__ = ["build_scheduler", "class_job", "export", "run"]
