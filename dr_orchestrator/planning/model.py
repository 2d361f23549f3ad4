"""The plan: what the executor runs, what `dro plan` shows.

Pure data (frozen dataclasses, times in float seconds) so the executor, the
renderers and the tests need neither networkx nor the runbook models. The only
link back to the runbook is `PlannedStep.spec`, the original runbook `Step`
object, which the planner never looks inside beyond the scheduling fields.

Scheduling model (see planning/critical_path.py):
- A service starts as soon as all its dependencies have finished ("as soon as
  possible"); its steps run one after another. `start_s`/`finish_s` are offsets
  from the start of the plan under that model, i.e. the estimated time to
  recovery of a service is its `finish_s`.
- Waves are the coarse picture: wave N holds the services whose dependencies all
  sit in waves < N. An executor may run wave by wave or ASAP; both respect the
  dependencies.
- Collections are tuples (immutable); `services` is a dict keyed by service name
  in wave order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, TypeVar

ACTIONS = ("failover", "failback", "rebuild")

T = TypeVar("T")


def fast_constructor(cls: type[T]) -> Callable[..., T]:
    """A keyword-only constructor for the frozen dataclass `cls`: same fields, same defaults,
    the same TypeError for a missing or unknown field, ~2x cheaper than `cls(...)`.

    The generated `__init__` of a frozen dataclass stores every field through
    `object.__setattr__`; planning 10,000 services builds ~40,000 of these objects. Like
    dataclasses itself, this compiles a small function once per class, which fills the
    instance's `__dict__` in one step.
    """
    env: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    params, names = [], []
    for f in fields(cls):  # type: ignore[arg-type]
        if f.default_factory is not MISSING:
            raise TypeError(f"fast_constructor does not fill default factories ({cls.__name__}.{f.name})")
        names.append(f.name)
        if f.default is MISSING:
            params.append(f.name)
        else:
            env[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
    state = ", ".join(f"{name!r}: {name}" for name in names)
    source = (f"def new_{cls.__name__}(*, {', '.join(params)}):\n"
              f"    obj = _new(_cls)\n"
              f"    obj.__dict__.update({{{state}}})\n"
              f"    return obj\n")
    exec(source, env)  # noqa: S102 - compiled from the class's own field names, as dataclasses does
    return env[f"new_{cls.__name__}"]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class PlannedStep:
    """One step of one service, in the order it runs.

    Steps coming from a `playbook` step are already expanded here; `playbook`
    then names the runbook step they came from (None for a step written inline).
    """

    service: str
    index: int  # 0-based position within the service's plan
    name: str
    kind: str
    estimate_s: float
    timeout_s: float | None = None
    retries: int = 0
    on_failure: str = "abort"
    playbook: str | None = None
    measured: bool = False  # estimate_s is the median of recent drills, not the runbook's estimate
    spec: Any = field(default=None, compare=False, hash=False, repr=False)

    @property
    def key(self) -> str:
        """Stable id of the step within a plan: `service/index/name`."""
        return f"{self.service}/{self.index}/{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "kind": self.kind,
            "estimate_s": self.estimate_s,
            "timeout_s": self.timeout_s,
            "retries": self.retries,
            "on_failure": self.on_failure,
            "playbook": self.playbook,
            "measured": self.measured,
        }


@dataclass(frozen=True)
class ServicePlan:
    """A service's part of the plan and its estimated timing."""

    name: str
    steps: tuple[PlannedStep, ...]
    depends_on: tuple[str, ...]
    wave: int
    duration_s: float  # sum of the step estimates
    start_s: float  # earliest start: max(finish of dependencies)
    finish_s: float  # start_s + duration_s = estimated time to recovery
    rto_s: float | None = None
    site: str | None = None
    recovery_site: str | None = None
    critical: bool = False  # on the plan's critical path

    @property
    def rto_ok(self) -> bool | None:
        """True/False against the service RTO; None when the service has none."""
        if self.rto_s is None:
            return None
        return self.finish_s <= self.rto_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "wave": self.wave,
            "depends_on": list(self.depends_on),
            "site": self.site,
            "recovery_site": self.recovery_site,
            "duration_s": self.duration_s,
            "start_s": self.start_s,
            "finish_s": self.finish_s,
            "rto_s": self.rto_s,
            "rto_ok": self.rto_ok,
            "critical": self.critical,
            "steps": [s.to_dict() for s in self.steps],
        }


new_planned_step = fast_constructor(PlannedStep)
new_service_plan = fast_constructor(ServicePlan)


@dataclass(frozen=True)
class Wave:
    """Services that may run in parallel once every earlier wave is done."""

    index: int
    services: tuple[str, ...]


@dataclass(frozen=True)
class RtoFinding:
    """An estimate over an objective: a service's (service set) or the runbook's (None)."""

    service: str | None
    estimate_s: float
    rto_s: float

    def message(self) -> str:
        what = f"service {self.service!r}" if self.service else "the whole plan"
        return (f"estimated recovery of {what} takes {format_seconds(self.estimate_s)}, "
                f"over its RTO of {format_seconds(self.rto_s)}")


@dataclass(frozen=True)
class Plan:
    """A failover, failback or rebuild plan."""

    action: str
    waves: tuple[Wave, ...]
    services: dict[str, ServicePlan] = field(hash=False)
    critical_path: tuple[str, ...]  # service names, first to last
    estimated_total_s: float  # finish of the last service = critical path length
    rto_s: float | None = None  # the runbook's RTO
    requested: tuple[str, ...] = ()  # --service names of a partial plan; () = all
    findings: tuple[RtoFinding, ...] = ()  # estimates over an RTO
    warnings: tuple[str, ...] = ()  # anything else worth telling (e.g. unexpanded playbook)

    @property
    def rto_ok(self) -> bool | None:
        if self.rto_s is None:
            return None
        return self.estimated_total_s <= self.rto_s

    def ordered_services(self) -> list[ServicePlan]:
        """Services wave by wave (a valid topological order)."""
        return [self.services[name] for wave in self.waves for name in wave.services]

    def steps(self) -> list[PlannedStep]:
        """Every step, services in wave order, steps in their own order."""
        return [step for sp in self.ordered_services() for step in sp.steps]

    def edges(self) -> list[tuple[str, str]]:
        """(dependency, dependent) pairs within the plan."""
        return [(dep, sp.name) for sp in self.ordered_services() for dep in sp.depends_on]

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "requested": list(self.requested),
            "estimated_total_s": self.estimated_total_s,
            "rto_s": self.rto_s,
            "rto_ok": self.rto_ok,
            "critical_path": list(self.critical_path),
            "waves": [{"index": w.index, "services": list(w.services)} for w in self.waves],
            "services": {name: sp.to_dict() for name, sp in self.services.items()},
            "findings": [
                {"service": f.service, "estimate_s": f.estimate_s, "rto_s": f.rto_s,
                 "message": f.message()}
                for f in self.findings
            ],
            "warnings": list(self.warnings),
        }


def format_seconds(seconds: float) -> str:
    """Human duration in the runbook's own notation: 90 -> '1m30s', 0 -> '0s'."""
    total = round(seconds)
    if total <= 0:
        return "0s" if seconds <= 0 else f"{seconds:.1f}s"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if secs:
        parts.append(f"{secs}s")
    return "".join(parts)
