"""Executor overhead: a plan of 500 no-op steps across 50 services, timed end to end.

    .venv/bin/python bench/executor_overhead.py                  (default matrix, 3 repeats)
    .venv/bin/python bench/executor_overhead.py --services 50 --steps 10 --repeat 5

Each step's handler returns at once, so everything measured is orchestration: the
executor's bookkeeping, the watchdog thread each step with a timeout gets (every
runbook step has one: 30 min by default), the thread pool of each wave, and the
journal — 2 events per step (started, succeeded) plus 2 per service, each written and
fdatasync'ed before the executor goes on. The 50 services form 5 waves of 10 (each
service depends on one of the previous wave), run with --parallel 1 and 4. The journal
lives in a temp dir on the same disk as the repository (or --dir).
Goal: under 5 ms per step, journal fsync included.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dr_orchestrator.execution.clock import SystemClock  # noqa: E402
from dr_orchestrator.execution.context import RunContext  # noqa: E402
from dr_orchestrator.execution.executor import Executor  # noqa: E402
from dr_orchestrator.execution.journal import Journal  # noqa: E402
from dr_orchestrator.execution.resume import plan_hash  # noqa: E402
from dr_orchestrator.execution.steps import Registry  # noqa: E402
from dr_orchestrator.execution.steps.base import BaseHandler, StepContext, StepOutput  # noqa: E402
from dr_orchestrator.planning.inputs import PlanInput, ServiceInput  # noqa: E402
from dr_orchestrator.planning.model import Plan, PlannedStep  # noqa: E402
from dr_orchestrator.planning.planner import plan_from_input  # noqa: E402


class NoOp(BaseHandler):
    kind = "noop"

    def run(self, step: PlannedStep, ctx: StepContext) -> StepOutput:
        return StepOutput()


def make_plan(services: int, steps: int, waves: int, timeout: float | None) -> Plan:
    per_wave = max(1, services // waves)
    inputs = {}
    for i in range(services):
        name = f"svc{i:03d}"
        wave = i // per_wave
        deps = (f"svc{(wave - 1) * per_wave + i % per_wave:03d}",) if wave else ()
        planned = tuple(PlannedStep(service=name, index=j, name=f"step{j}", kind="noop", estimate_s=1.0,
                                    timeout_s=timeout, spec={"kind": "noop"}) for j in range(steps))
        inputs[name] = ServiceInput(name=name, depends_on=deps, steps=planned, rto_s=3600.0)
    return plan_from_input(PlanInput(services=inputs, rto_s=3600.0), "failover")


def run_once(plan: Plan, parallel: int, fsync: bool, base: Path) -> float:
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        clock = SystemClock()
        ctx = RunContext(run_id="bench", clock=clock, run_dir=Path(tmp), started_wall=clock.wall())
        journal = Journal(Path(tmp) / "journal.jsonl", clock, ctx.redactor, fsync=fsync)
        registry = Registry({"noop": NoOp()})
        start = time.perf_counter()
        ex = Executor(plan, ctx, journal, registry, parallel)
        ex.start(runbook="bench", plan_hash=plan_hash(plan))
        state = ex.execute()
        elapsed = time.perf_counter() - start
        journal.close()
        assert state.ok() and len(state.completed()) == len(plan.steps())
        return elapsed


def fdatasync_ms(base: Path, n: int = 100) -> float:
    """The disk's floor: one small append + fdatasync, as the journal does per durable event."""
    with tempfile.NamedTemporaryFile(dir=base) as fh:
        start = time.perf_counter()
        for _ in range(n):
            fh.write(b"x" * 200 + b"\n")
            fh.flush()
            os.fdatasync(fh.fileno())
        return (time.perf_counter() - start) / n * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", type=int, default=50)
    ap.add_argument("--steps", type=int, default=10, help="steps per service")
    ap.add_argument("--waves", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=ROOT / "bench", help="where the journal is written")
    args = ap.parse_args()
    total_steps = args.services * args.steps
    print(f"{total_steps} no-op steps, {args.services} services in {args.waves} waves; "
          f"median of {args.repeat} runs; journal in {args.dir}")
    print(f"disk floor: append + fdatasync = {fdatasync_ms(args.dir):.2f} ms")
    print(f"{'parallel':>8} {'timeout':>8} {'fsync':>6} {'total s':>9} {'ms/step':>8}")
    for parallel, timeout, fsync in ((1, 1800.0, True), (4, 1800.0, True), (4, None, True),
                                     (4, 1800.0, False)):
        plan = make_plan(args.services, args.steps, args.waves, timeout)
        times = [run_once(plan, parallel, fsync, args.dir) for _ in range(args.repeat)]
        med = statistics.median(times)
        print(f"{parallel:>8} {'30m' if timeout else 'none':>8} {'yes' if fsync else 'no':>6} "
              f"{med:>9.3f} {med / total_steps * 1000:>8.2f}")


if __name__ == "__main__":
    main()
