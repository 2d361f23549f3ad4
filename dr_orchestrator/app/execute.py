"""Use cases: failover, rebuild, failback, resume, runs, show.

Wiring only: load and plan the runbook, pick the run directory, take the plan lock,
open the journal (and its mirror at the action site's storage), run the executor,
release everything. The choreography of each action lives in the runbook's steps;
docs/execution.md explains the failback sequence as steps.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dr_orchestrator.errors import BadInput
from dr_orchestrator.execution import events as ev
from dr_orchestrator.execution.clock import Clock, SystemClock
from dr_orchestrator.execution.context import RunContext
from dr_orchestrator.execution.executor import Executor
from dr_orchestrator.execution.journal import JOURNAL_NAME, Journal, Mirror, read_journal, run_dir
from dr_orchestrator.execution.locks import PlanLock
from dr_orchestrator.execution.redact import Redactor
from dr_orchestrator.execution.resume import check_resumable, load_state, plan_hash, reopen_journal
from dr_orchestrator.execution.state import RunState
from dr_orchestrator.execution.steps import Registry, default_registry
from dr_orchestrator.execution.steps.base import spec_get
from dr_orchestrator.planning.model import Plan, Wave

STATE_DIR_ENV = "DRO_STATE_DIR"


@dataclass
class ExecuteOptions:
    action: str = "failover"
    services: tuple[str, ...] = ()
    from_site: str | None = None
    to_site: str | None = None
    rebuild_host: str | None = None
    parallel: int = 4
    auto_approve: bool = False
    dry_run: bool = False
    state_dir: Path | None = None
    mirror: bool = True
    listeners: list[Callable[[Any], None]] = field(default_factory=list)
    on_state: Callable[[RunState], None] | None = None  # called with the live state before running
    clock: Clock | None = None
    registry: Registry | None = None
    prompt: Callable[[str], bool] | None = None  # approval prompt (default: input() on the terminal)


@dataclass
class ExecutionResult:
    run_id: str
    state: RunState
    run_dir: Path | None
    dry_run: list[dict[str, Any]] | None = None  # what would run, for --dry-run (may be empty)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state.ok() if self.dry_run is None else True


def default_state_dir(runbook_path: str | Path | None = None) -> Path:
    env = os.environ.get(STATE_DIR_ENV)
    if env:
        return Path(env)
    if runbook_path is not None:
        return Path(runbook_path).resolve().parent / ".dro"
    return Path.cwd() / ".dro"


def new_run_id(action: str) -> str:
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{action}-{secrets.token_hex(3)}"


# --- planning the run ---------------------------------------------------------------


def make_plan(runbook: Any, opts: ExecuteOptions) -> Plan:
    from dr_orchestrator.planning import build_plan

    services = list(opts.services)
    if opts.from_site or opts.to_site:
        sites = getattr(runbook, "sites", {})
        for site in (opts.from_site, opts.to_site):
            if site is not None and site not in sites:
                raise BadInput(f"unknown site {site!r}", f"sites: {', '.join(sorted(sites))}")
        if opts.from_site and not services:
            services = [n for n, s in runbook.services.items() if s.site == opts.from_site]
            if not services:
                raise BadInput(f"no service runs at site {opts.from_site!r}")
    plan = build_plan(runbook, opts.action, services or None)
    if opts.action == "rebuild" and opts.rebuild_host:
        plan = rebuild_subplan(plan, opts.rebuild_host)
    return plan


def _targets(step: Any, host: str) -> bool:
    ref = spec_get(step.spec, "host")
    return ref is None or ref == host or str(ref).split("/")[-1] == host.split("/")[-1]


def rebuild_subplan(plan: Plan, host: str) -> Plan:
    """Only the services with rebuild steps for `host`, only the steps that run there
    (or name no host: they run on it); shell steps stay local."""
    services = {}
    for name, sp in plan.services.items():
        mine = tuple(s for s in sp.steps if _targets(s, host))
        named = [s for s in mine if spec_get(s.spec, "host") is not None]
        if named or (mine and all(spec_get(s.spec, "host") is None for s in sp.steps)):
            services[name] = replace(sp, steps=mine, depends_on=tuple(
                d for d in sp.depends_on if d in plan.services))
    if not services:
        raise BadInput(f"no rebuild steps for host {host!r}",
                       "give the host's services `rebuild:` steps with `host:` set to it")
    for name, sp in list(services.items()):
        services[name] = replace(sp, depends_on=tuple(d for d in sp.depends_on if d in services))
    waves = tuple(Wave(w.index, tuple(n for n in w.services if n in services)) for w in plan.waves)
    return replace(plan, services=services, waves=tuple(w for w in waves if w.services),
                   critical_path=tuple(n for n in plan.critical_path if n in services))


def describe_plan(plan: Plan, ctx: RunContext, registry: Registry) -> list[dict[str, Any]]:
    """What a run would do, step by step (rendered commands, hosts); touches nothing."""
    ctx.registry = registry
    out = []
    for wave in plan.waves:
        for name in wave.services:
            sp = plan.services[name]
            for step in sp.steps:
                try:
                    text = registry.get(step.kind).describe(step, ctx)
                except Exception as exc:  # show the problem instead of failing the dry run
                    text = f"{step.kind}: cannot render ({exc})"
                out.append({"wave": wave.index, "service": name, "step": step.key, "kind": step.kind,
                            "timeout_s": step.timeout_s, "retries": step.retries,
                            "on_failure": step.on_failure, "action": ctx.redactor.redact(text)})
    return out


# --- running ----------------------------------------------------------------------------


def make_context(runbook: Any, plan: Plan, opts: ExecuteOptions, run_id: str, rdir: Path | None,
             clock: Clock, started_wall: float) -> RunContext:
    ctx = RunContext(action=opts.action, run_id=run_id, runbook=runbook, plan=plan, clock=clock,
                     redactor=Redactor(), run_dir=rdir, auto_approve=opts.auto_approve,
                     dry_run=opts.dry_run, rebuild_host=opts.rebuild_host,
                     site_override=opts.to_site, started_wall=started_wall)
    if opts.prompt is not None:
        ctx.prompt = opts.prompt
    if runbook is not None and getattr(runbook, "repository_password", None) is not None:
        from dr_orchestrator.app.passwords import repository_password

        ctx.repository_password = lambda _data_class: str(repository_password(runbook))
    return ctx


def _mirror(runbook: Any, plan: Plan, ctx: RunContext, journal: Journal, run_id: str) -> None:
    from dr_orchestrator.app.locations import runs_url
    from dr_orchestrator.storage.registry import open_backend

    sites = [ctx.site_for(sp.name) for sp in plan.ordered_services()]
    site = next((s for s in sites if s), None)
    if site is None:
        return
    try:
        site_model = runbook.sites[site]
        from dr_orchestrator.execution.steps.shell import resolve_value

        options = {k: resolve_value(v, ctx) for k, v in (site_model.storage_options or {}).items()}
        backend = open_backend(runs_url(runbook, site), options)
    except Exception as exc:  # best-effort: a run must not depend on the mirror
        journal.emit(ev.WARNING, message=f"journal mirror at site {site} unavailable: {exc}")
        return

    def warn(message: str) -> None:
        with contextlib.suppress(OSError):  # the journal may already be closed
            journal.emit(ev.WARNING, message=message)

    journal.mirror = Mirror(backend, f"{run_id}/{JOURNAL_NAME}", journal.path, warn=warn)


def run_plan(runbook: Any, plan: Plan, opts: ExecuteOptions, ctx: RunContext, journal: Journal,
         state: RunState | None, start_meta: dict[str, Any] | None,
         lock_dir: Path | PlanLock) -> RunState:
    """Run the executor; `lock_dir` is where to take the plan lock, or a lock already held."""
    registry = opts.registry or default_registry()
    if isinstance(lock_dir, PlanLock):
        lock = lock_dir
    else:
        lock = PlanLock(lock_dir / f"{plan_hash(plan)}.lock", ctx.run_id)
        lock.acquire()
    try:
        executor = Executor(plan, ctx, journal, registry, opts.parallel, state=state)
        if opts.on_state is not None:
            opts.on_state(executor.state)
            if opts.prompt is not None:  # the live display supplies a prompt that pauses it
                ctx.prompt = opts.prompt
        for listener in opts.listeners:
            journal.listeners.append(listener)
        if start_meta is not None:
            executor.start(**start_meta)
        else:
            journal.emit(ev.RUN_RESUMED, run_id=ctx.run_id, pid=os.getpid())
        if lock.took_over:
            journal.emit(ev.WARNING, message=f"took over a stale lock of run {lock.took_over.get('run_id')}")
        if opts.mirror and runbook is not None:
            _mirror(runbook, plan, ctx, journal, ctx.run_id)
        return executor.execute()
    finally:
        ctx.close()
        journal.close()
        lock.release()


def execute(runbook_path: str | Path, opts: ExecuteOptions) -> ExecutionResult:
    from dr_orchestrator.runbook import load_runbook

    runbook = load_runbook(runbook_path)
    plan = make_plan(runbook, opts)
    clock = opts.clock or SystemClock()
    run_id = new_run_id(opts.action)
    if opts.dry_run:
        ctx = make_context(runbook, plan, opts, run_id, None, clock, clock.wall())
        return ExecutionResult(run_id, RunState(run_id=run_id, action=opts.action), None,
                               dry_run=describe_plan(plan, ctx, opts.registry or default_registry()),
                               warnings=list(plan.warnings))
    state_dir = opts.state_dir or default_state_dir(runbook_path)
    rdir = run_dir(state_dir, run_id)
    lock = PlanLock(state_dir / "locks" / f"{plan_hash(plan)}.lock", run_id)
    lock.acquire()  # before the journal exists: a refused run leaves nothing behind
    try:
        ctx = make_context(runbook, plan, opts, run_id, rdir, clock, clock.wall())
        journal = Journal(rdir / JOURNAL_NAME, clock, ctx.redactor)
    except BaseException:
        lock.release()
        raise
    meta = {"runbook": str(Path(runbook_path).resolve()), "plan_hash": plan_hash(plan), "pid": os.getpid(),
            "options": {"services": list(opts.services), "from_site": opts.from_site,
                        "to_site": opts.to_site, "rebuild_host": opts.rebuild_host,
                        "parallel": opts.parallel}}
    state = run_plan(runbook, plan, opts, ctx, journal, None, meta, lock)
    return ExecutionResult(run_id, state, rdir, warnings=list(plan.warnings))


def resume(run_id: str, opts: ExecuteOptions) -> ExecutionResult:
    """Continue run `run_id` from its journal (same runbook, same plan)."""
    from dr_orchestrator.runbook import load_runbook

    state_dir = opts.state_dir or default_state_dir()
    rdir = run_dir(state_dir, run_id)
    events, state = load_state(rdir)
    saved = state.options
    opts = replace(opts, action=state.action, services=tuple(saved.get("services") or ()),
                   from_site=saved.get("from_site"), to_site=saved.get("to_site"),
                   rebuild_host=saved.get("rebuild_host"))
    runbook = load_runbook(state.runbook)
    plan = make_plan(runbook, opts)
    check_resumable(state, plan)
    clock = opts.clock or SystemClock()
    lock = PlanLock(state_dir / "locks" / f"{plan_hash(plan)}.lock", run_id)
    lock.acquire()  # before touching the journal: another process may be resuming it
    try:
        events, state = load_state(rdir)  # re-read under the lock
        check_resumable(state, plan)
        ctx = make_context(runbook, plan, opts, run_id, rdir, clock, state.started_ts)
        journal = reopen_journal(rdir, events, state, clock, ctx.redactor)
    except BaseException:
        lock.release()
        raise
    state = run_plan(runbook, plan, opts, ctx, journal, state, None, lock)
    return ExecutionResult(run_id, state, rdir)


def list_runs(state_dir: Path | None = None) -> list[dict[str, Any]]:
    root = (state_dir or default_state_dir()) / "runs"
    out = []
    for path in sorted(root.glob(f"*/{JOURNAL_NAME}")) if root.exists() else []:
        with contextlib.suppress(BadInput):
            events = read_journal(path)
            if not events or events[0].type != ev.RUN_STARTED:
                continue
            state = RunState.from_events(events)
            out.append({"run_id": state.run_id, "action": state.action, "started": state.started_ts,
                        "status": state.status if state.finished else "unfinished",
                        "ok": state.ok() if state.finished else None,
                        "duration_s": round(state.duration_s(), 3), "runbook": state.runbook,
                        "services": len(state.services)})
    return out


def show_run(run_id: str, state_dir: Path | None = None) -> RunState:
    return load_state(run_dir(state_dir or default_state_dir(), run_id))[1]


def exit_code(state: RunState) -> int:
    return 0 if state.ok() else 1


__all__ = ["ExecuteOptions", "ExecutionResult", "execute", "list_runs", "resume", "show_run"]


