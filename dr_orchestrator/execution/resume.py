"""Continue a run from its journal: what is done stays done.

The journal is folded into a RunState; the executor then walks the same plan and
skips every step that succeeded. A step with a start but no outcome (the process
was killed) or an `interrupted` outcome (Ctrl-C) is *in flight*: with
`on_failure: rollback` it is rolled back together with the service's completed
steps; otherwise it runs again (a fresh set of attempts). The plan is rebuilt from
the runbook and must hash to the journal's plan hash: resuming a different plan
would skip the wrong steps.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from dr_orchestrator.errors import BadInput
from dr_orchestrator.execution import events as ev
from dr_orchestrator.execution.clock import Clock
from dr_orchestrator.execution.executor import plan_metadata
from dr_orchestrator.execution.journal import JOURNAL_NAME, Journal, read_journal, repair_tail
from dr_orchestrator.execution.redact import Redactor
from dr_orchestrator.execution.state import RunState
from dr_orchestrator.planning.model import Plan


def plan_hash(plan: Plan) -> str:
    """Identity of a plan: its action, waves, services and steps (kinds, names, policies)."""
    doc = {"action": plan.action, "waves": [list(w.services) for w in plan.waves],
           "services": plan_metadata(plan),
           "specs": [_spec_doc(s.spec) for s in plan.steps()]}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _spec_doc(spec: Any) -> Any:
    dump = getattr(spec, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    return spec


def load_state(run_dir: Path) -> tuple[list[ev.Event], RunState]:
    events = read_journal(run_dir / JOURNAL_NAME)
    if not events or events[0].type != ev.RUN_STARTED:
        raise BadInput(f"{run_dir / JOURNAL_NAME} does not start with a run_started event",
                       "the journal is damaged; the run cannot be resumed")
    return events, RunState.from_events(events)


def reopen_journal(run_dir: Path, events: list[ev.Event], state: RunState, clock: Clock,
                   redactor: Redactor, fsync: bool = True) -> Journal:
    """Append to an existing journal; time continues from the original run start."""
    repair_tail(run_dir / JOURNAL_NAME)
    elapsed = clock.wall() - state.started_ts
    t0 = elapsed if elapsed >= state.last_t else state.last_t
    return Journal(run_dir / JOURNAL_NAME, clock, redactor, t0=t0,
                   next_seq=(events[-1].seq + 1) if events else 1, fsync=fsync)


def check_resumable(state: RunState, plan: Plan) -> None:
    if state.finished:
        raise BadInput(f"run {state.run_id} already finished ({state.status})",
                       "start a new run; `dro show RUN_ID` prints this one")
    current = plan_hash(plan)
    if current != state.plan_hash:
        raise BadInput(
            f"the plan changed since run {state.run_id} started (plan {current}, journal {state.plan_hash})",
            "resume with the runbook as it was when the run started (or start a new run)")
