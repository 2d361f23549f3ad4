"""Turn a loaded runbook (dr_orchestrator.runbook models) into the planner's input.

Read through attributes only (no pydantic import), so the planner core stays on
plain data. Playbook steps are expanded here, so a plan lists exactly the steps
that will run and its estimate counts them; a playbook that cannot be expanded
stays one step (with its own estimate) and the plan carries a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from dr_orchestrator.errors import DRError
from dr_orchestrator.planning.inputs import PlanInput, ServiceInput, new_service_input
from dr_orchestrator.planning.model import PlannedStep, new_planned_step

MAX_PLAYBOOK_DEPTH = 8  # playbooks may call playbooks; a loop must not hang the planner


def seconds(value: Any) -> float | None:
    """timedelta / number / None -> float seconds / None."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def step_estimate(step: Any) -> float:
    if _has_method(step.__class__, "expected_duration"):
        expected = step.expected_duration()
        return expected.total_seconds() if type(expected) is timedelta else seconds(expected) or 0.0
    return seconds(getattr(step, "estimate", None)) or 0.0


def step_label(step: Any) -> str:
    if _has_method(step.__class__, "label"):
        label = step.label()
        return label if type(label) is str else str(label)
    return str(getattr(step, "name", None) or getattr(step, "kind", "step"))


@cache
def _has_method(cls: Any, name: str) -> bool:
    """Asked of the class once: a missing attribute on a pydantic model instance takes its slow
    __getattr__ path (~3 µs), which 20,000 steps would pay on every plan."""
    return callable(getattr(cls, name, None))


def _planned(service: str, index: int, step: Any, origin: str | None, measured: Mapping[str, float]) -> PlannedStep:
    label = step_label(step)
    key = f"{service}/{label}" if measured else ""
    timeout = getattr(step, "timeout", None)
    return new_planned_step(
        service=service,
        index=index,
        name=label,
        kind=str(getattr(step, "kind", "step")),
        estimate_s=measured[key] if key in measured else step_estimate(step),
        measured=key in measured,
        timeout_s=timeout.total_seconds() if type(timeout) is timedelta else seconds(timeout),
        retries=int(getattr(step, "retries", 0) or 0),
        on_failure=str(getattr(step, "on_failure", "abort")),
        playbook=origin,
        spec=step,
    )


def runbook_file(runbook: Any) -> str:
    path = getattr(runbook, "path", None)
    return str(path) if path is not None else "<runbook>"


class _Expander:
    """Expands playbook steps with the runbook package's `expand_playbook`, when it exists."""

    def __init__(self, runbook: Any) -> None:
        self.runbook = runbook
        self.warnings: list[str] = []
        self.expand: Callable[..., Any] | None
        try:
            from dr_orchestrator.runbook import expand_playbook
        except ImportError:  # the runbook package predates playbooks
            self.expand = None
        else:
            self.expand = expand_playbook
        base = getattr(runbook, "base_dir", None)
        self.base_dir = Path(base) if base is not None else Path.cwd()

    def flatten(
        self, steps: list[Any], origin: str | None, where: str, depth: int = 0
    ) -> list[tuple[Any, str | None]]:
        """[(step, playbook step it came from)] with every playbook step replaced by its steps."""
        out: list[tuple[Any, str | None]] = []
        for step in steps:
            if getattr(step, "kind", None) != "playbook" or self.expand is None:
                out.append((step, origin))
                continue
            label = step_label(step) if origin is None else f"{origin}/{step_label(step)}"
            if depth >= MAX_PLAYBOOK_DEPTH:
                self.warnings.append(f"{where}: playbooks nested deeper than {MAX_PLAYBOOK_DEPTH}; "
                                     f"not expanding {label!r}")
                out.append((step, origin))
                continue
            try:
                inner = list(self.expand(self.runbook, step, self.base_dir))
            except (DRError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
                self.warnings.append(f"{where}: playbook step {label!r} not expanded: {exc}")
                out.append((step, origin))
                continue
            out.extend(self.flatten(inner, label, where, depth + 1))
        return out


def plan_input(runbook: Any, action: str, measured: Mapping[str, float] | None = None) -> PlanInput:
    """The services of `runbook` with the steps of `action`, in runbook order.

    Positions are not looked up here (that costs per service); issues ask the runbook
    for the few they need.
    """
    expander = _Expander(runbook)
    measured = measured or {}
    recovery_site_for = getattr(runbook, "recovery_site_for", None)
    default_recovery: list[str | None] = []  # memo: the same for every service without its own
    services: dict[str, ServiceInput] = {}
    for name, svc in runbook.services.items():
        raw_steps = getattr(svc, action, None) or ()
        if any(getattr(step, "kind", None) == "playbook" for step in raw_steps):
            flat = expander.flatten(list(raw_steps), None, f"service {name!r} {action}")
        else:  # (nearly always: nothing to expand)
            flat = [(step, None) for step in raw_steps]
        steps = tuple([_planned(name, i, step, origin, measured) for i, (step, origin) in enumerate(flat)])
        recovery = getattr(svc, "recovery_site", None)
        if recovery is None and callable(recovery_site_for):
            if not default_recovery:
                default_recovery.append(recovery_site_for(name))
            recovery = default_recovery[0]
        services[name] = new_service_input(
            name=name,
            depends_on=tuple(getattr(svc, "depends_on", ()) or ()),
            steps=steps,
            rto_s=seconds(getattr(svc, "rto", None)),
            site=getattr(svc, "site", None),
            recovery_site=recovery,
        )
    return PlanInput(
        services=services,
        rto_s=seconds(getattr(runbook, "rto", None)),
        file=runbook_file(runbook),
        warnings=tuple(expander.warnings),
    )
