"""Use case: `dro drill` — the failover plan in isolation, always cleaned up, with reports.

Sequence: load + plan (failover) → rewrite onto drill targets (refuse production
targets) → check the data to restore exists and is within its RPO → run the plan with
the normal executor and journal → record achieved RTO per service and RPO per data
class → clean up every drill target (also after a failed step, SIGINT or SIGTERM) →
write Markdown/HTML/JSON/JUnit reports and append the results to the drill history.
The drill targets are written to the run directory before anything runs, so a
crashed drill can be cleaned later with `dro drill --cleanup RUN_ID`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from dr_orchestrator.app import execute as app_exec
from dr_orchestrator.app.locations import history_backend
from dr_orchestrator.drill import cleanup as drill_cleanup
from dr_orchestrator.drill import history
from dr_orchestrator.drill.isolation import DrillTarget, isolate
from dr_orchestrator.errors import BadInput, DRError
from dr_orchestrator.execution import events as ev
from dr_orchestrator.execution.clock import SystemClock
from dr_orchestrator.execution.context import RunContext
from dr_orchestrator.execution.executor import plan_metadata
from dr_orchestrator.execution.journal import JOURNAL_NAME, Journal, run_dir
from dr_orchestrator.execution.resume import plan_hash
from dr_orchestrator.execution.state import RunState
from dr_orchestrator.reporting import Objective, Report, build_report, write_reports

TARGETS_FILE = "drill-targets.json"


class DrillInterrupted(BaseException):
    """SIGINT/SIGTERM arrived: the drill stops, cleans up, and reports.

    A BaseException (like KeyboardInterrupt) so no step handler mistakes it for a step
    failure: it unwinds the executor, which records the step in flight as interrupted.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass
class DrillOptions:
    services: tuple[str, ...] = ()
    report_dir: Path | None = None
    state_dir: Path | None = None
    parallel: int = 4
    auto_approve: bool = False
    listeners: list[Any] = field(default_factory=list)
    on_state: Any = None  # called with the live RunState before the run (progress display)


@dataclass
class DrillResult:
    run_id: str
    report: Report
    reports: dict[str, Path]
    cleanup: list[drill_cleanup.CleanupResult]
    history_key: str | None
    state: RunState
    preflight: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.report.passed and all(c.ok for c in self.cleanup)


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """Turn SIGTERM (and SIGINT) into an exception in the main thread so `finally` cleans up."""
    def handler(signum: int, _frame: FrameType | None) -> None:
        raise DrillInterrupted(f"drill interrupted by {signal.Signals(signum).name}",
                               "drill targets were cleaned up; run the drill again")

    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for s in previous:
            signal.signal(s, handler)
    except ValueError:  # not the main thread (tests): no handlers, no harm
        previous = {}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _restored_data_classes(plan: Any) -> dict[str, list[str]]:
    """data class -> services whose restore steps use it."""
    out: dict[str, list[str]] = {}
    for sp in plan.services.values():
        for step in sp.steps:
            if step.kind == "restore":
                out.setdefault(str(step.spec.data_class), []).append(sp.name)
    return out


def _preflight(runbook: Any, plan: Any) -> tuple[list[str], dict[str, float]]:
    """Does every data class the drill restores have a snapshot at the site it restores from?

    Returns problems (missing data: the drill cannot pass) and each class's RPO target.
    """
    from dr_orchestrator.app import sources as app_sources
    from dr_orchestrator.app.passwords import PASSWORD_ENV, repository_password

    problems: list[str] = []
    targets: dict[str, float] = {}
    password = repository_password(runbook, required=False)
    for data_class, services in sorted(_restored_data_classes(plan).items()):
        dc = runbook.data_classes.get(data_class)
        if dc is None:
            continue
        targets[data_class] = dc.rpo.total_seconds()
        site = runbook.recovery_site_for(services[0])
        if not password:
            problems.append(f"cannot check data class {data_class!r}: {PASSWORD_ENV} is not set")
            continue
        try:
            repo = app_sources.open_repository(runbook, data_class, password, site=site)
            try:
                app_sources.pick_snapshot(repo, data_class, "latest")
            finally:
                with contextlib.suppress(Exception):
                    repo.close()
        except DRError as exc:
            problems.append(f"data class {data_class!r} has nothing to restore at site {site!r}: {exc.message}")
    return problems, targets


def _create_databases(iso: Any) -> list[str]:
    """Restores need their drill database to exist: create each (empty) before the run."""
    problems = []
    resolve = _resolve(iso.runbook)
    for target in iso.targets:
        if target.kind != "database":
            continue
        dsn = resolve(target.location) if target.location.startswith(("env:", "file:")) else target.location
        try:
            drill_cleanup.create_database(dsn)
        except (RuntimeError, OSError, DRError) as exc:
            problems.append(f"cannot create drill database for {target.describe()}: {exc}")
    return problems


def _rpo_objectives(state: RunState, targets: dict[str, float]) -> list[Objective]:
    achieved: dict[str, float] = {}
    for rec in state.steps.values():
        dc, age = rec.details.get("data_class"), rec.details.get("snapshot_age_s")
        if rec.kind == "restore" and dc is not None and age is not None:
            achieved[str(dc)] = max(achieved.get(str(dc), 0.0), float(age))
    return [Objective("RPO", dc, target, achieved.get(dc),
                      "age of the restored snapshot" if dc in achieved else "nothing was restored")
            for dc, target in sorted(targets.items())]


def _teardown(iso: Any, exec_opts: Any, run_id: str, rdir: Path) -> list[drill_cleanup.CleanupResult]:
    """Undo every completed drill step that has rollback steps (stop started processes …),
    newest first — the drill equivalent of a service rollback."""
    from dr_orchestrator.execution.executor import substep
    from dr_orchestrator.execution.steps import default_registry
    from dr_orchestrator.execution.steps.base import StepContext

    path = rdir / JOURNAL_NAME
    if not path.exists():
        return []
    state = RunState.from_events(_read_events(rdir))
    done = sorted((r for r in state.steps.values() if r.status == "succeeded"),
                  key=lambda r: r.ended_t or 0.0, reverse=True)
    steps = {s.key: s for s in iso.plan.steps()}
    clock = SystemClock()
    ctx = app_exec.make_context(iso.runbook, iso.plan, exec_opts, run_id, rdir, clock, clock.wall())
    registry = default_registry()
    ctx.registry = registry
    out: list[drill_cleanup.CleanupResult] = []
    try:
        for rec in done:
            step = steps.get(rec.key)
            specs = getattr(step.spec, "rollback", None) if step is not None else None
            if step is None or not specs:
                continue
            target = DrillTarget("teardown", "", f"{rec.key} (rollback steps)")
            try:
                for index, spec in enumerate(specs):
                    sub = substep(step, spec, f"teardown{index}")
                    deadline = clock.monotonic() + (sub.timeout_s or 120.0)
                    registry.get(sub.kind).run(sub, StepContext(ctx, sub, 1, deadline))
                out.append(drill_cleanup.CleanupResult(target, True))
            except Exception as exc:  # every teardown is attempted; failures are reported
                out.append(drill_cleanup.CleanupResult(target, False, ctx.redactor.redact(str(exc))))
    finally:
        ctx.close()
    return out


def _runner_for(runbook: Any) -> Any:
    ctx = RunContext(runbook=runbook, action="failover")

    def get(host_ref: str) -> Any:
        return ctx.runner(host_ref, "")

    return get


def _resolve(runbook: Any) -> Any:
    from dr_orchestrator.runbook.secrets import SecretRef

    return lambda ref: SecretRef(ref).resolve(runbook.base_dir)


def drill(runbook_path: str | Path, opts: DrillOptions) -> DrillResult:
    from dr_orchestrator.runbook import load_runbook

    runbook = load_runbook(runbook_path)
    exec_opts = app_exec.ExecuteOptions(action="failover", services=opts.services, parallel=opts.parallel,
                                        auto_approve=opts.auto_approve, state_dir=opts.state_dir,
                                        listeners=list(opts.listeners), on_state=opts.on_state)
    plan = app_exec.make_plan(runbook, exec_opts)
    iso = isolate(runbook, plan)  # raises ValidationFailed (exit 2) before anything runs
    problems, rpo_targets = _preflight(iso.runbook, iso.plan)
    if not problems:
        problems += _create_databases(iso)

    state_dir = opts.state_dir or app_exec.default_state_dir(runbook_path)
    run_id = app_exec.new_run_id("drill")
    rdir = run_dir(state_dir, run_id)
    rdir.mkdir(parents=True, exist_ok=True)
    _write_targets(rdir, runbook_path, iso.targets)

    clock = SystemClock()
    ctx = app_exec.make_context(iso.runbook, iso.plan, exec_opts, run_id, rdir, clock, clock.wall())
    journal = Journal(rdir / JOURNAL_NAME, clock, ctx.redactor)
    meta: dict[str, Any] = {"runbook": str(Path(runbook_path).resolve()), "plan_hash": plan_hash(iso.plan),
                            "pid": os.getpid(),
                            "options": {"services": list(opts.services), "drill": True, "parallel": opts.parallel}}
    results: list[drill_cleanup.CleanupResult] = []
    try:
        with _signals_raise():
            try:
                if problems:  # no data to restore: the drill fails before touching anything
                    journal.emit(ev.RUN_STARTED, run_id=run_id, action="drill", rto_s=iso.plan.rto_s,
                                 services=plan_metadata(iso.plan), **meta)
                    for p in problems:
                        journal.emit(ev.WARNING, message=p)
                    journal.emit(ev.RUN_FINISHED, status="failed", ok=False, reason="preflight")
                    journal.close()
                else:
                    app_exec.run_plan(iso.runbook, iso.plan, exec_opts, ctx, journal, None, meta,
                                  state_dir / "locks")
            finally:
                results = _teardown(iso, exec_opts, run_id, rdir) + drill_cleanup.clean_all(
                    iso.targets, _runner_for(iso.runbook), _resolve(iso.runbook))
    except DrillInterrupted as exc:
        problems.append(exc.message)
    final = RunState.from_events(_read_events(rdir))
    report = build_report(final, rpo=_rpo_objectives(final, rpo_targets),
                          cleanup=[r.to_dict() for r in results], title=f"DR drill of {Path(runbook_path).name}")
    report.action = "drill"
    report.warnings.extend(p for p in problems if p not in report.warnings)
    paths = write_reports(report, opts.report_dir or rdir / "report")
    key = None
    try:
        backend = history_backend(runbook)
        if backend is not None:
            key = history.append(backend, report)
    except DRError as exc:
        report.warnings.append(f"drill history not recorded: {exc.message}")
    return DrillResult(run_id, report, paths, results, key, final, problems)


def _read_events(rdir: Path) -> list[Any]:
    from dr_orchestrator.execution.journal import read_journal

    return read_journal(rdir / JOURNAL_NAME)


def _write_targets(rdir: Path, runbook_path: str | Path, targets: list[DrillTarget]) -> None:
    path = rdir / TARGETS_FILE
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        json.dump({"runbook": str(Path(runbook_path).resolve()), "targets": [t.to_dict() for t in targets]}, f,
                  indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def cleanup_run(run_id: str, state_dir: Path | None = None) -> list[drill_cleanup.CleanupResult]:
    """`dro drill --cleanup RUN_ID`: undo what a crashed drill left — first the rollback steps of
    its completed steps (stop what it started), then its recorded targets."""
    from dr_orchestrator.execution.journal import read_journal
    from dr_orchestrator.runbook import load_runbook

    rdir = run_dir(state_dir or app_exec.default_state_dir(), run_id)
    path = rdir / TARGETS_FILE
    if not path.exists():
        raise BadInput(f"no drill {run_id!r} under {rdir.parent}",
                       "list runs with `dro runs`; pass --state-dir if the drill used another one")
    data = json.loads(path.read_text())
    runbook = load_runbook(data["runbook"])
    services: tuple[str, ...] = ()
    if (rdir / JOURNAL_NAME).exists():
        state = RunState.from_events(read_journal(rdir / JOURNAL_NAME))
        services = tuple(state.options.get("services") or ())
    opts = app_exec.ExecuteOptions(action="failover", services=services)
    iso = isolate(runbook, app_exec.make_plan(runbook, opts))  # the drill hosts live in the drill runbook
    targets = [DrillTarget(**t) for t in data["targets"]]
    return _teardown(iso, opts, run_id, rdir) + drill_cleanup.clean_all(
        targets, _runner_for(iso.runbook), _resolve(iso.runbook))


def load_history(runbook_path: str | Path, limit: int | None = None) -> list[history.DrillRecord]:
    from dr_orchestrator.runbook import load_runbook

    backend = history_backend(load_runbook(runbook_path))
    return [] if backend is None else history.load(backend, limit)
