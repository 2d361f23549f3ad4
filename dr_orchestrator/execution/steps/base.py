"""The StepHandler contract and the per-attempt StepContext handlers receive.

A handler owns one step kind. `run` raises `StepFailed` (or `StepTimeout`) when the
step did not do its job and returns a `StepOutput` otherwise; `rollback` undoes a
completed step when the runbook gives no rollback steps of its own; `describe`
renders what would run, for `--dry-run`, without touching anything.

Timeouts are cooperative first: handlers pass `ctx.remaining()` to every blocking
call and sleep with `ctx.sleep`; the executor's watchdog is the backstop.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from dr_orchestrator.errors import Issue, StepFailed, StepTimeout

if TYPE_CHECKING:
    from dr_orchestrator.execution.context import RunContext
    from dr_orchestrator.planning.model import PlannedStep

MAX_JOURNAL_LINES = 200  # per step attempt; the full output is kept in the run's output/ dir
MAX_LINE_CHARS = 500


class NotRetryable(StepFailed):
    """A failure no retry can fix (a refused approval, a missing tool, bad configuration)."""


@dataclass
class StepOutput:
    details: dict[str, Any] = field(default_factory=dict)


class StepHandler(Protocol):
    kind: ClassVar[str]

    def check(self, step: PlannedStep, run: RunContext) -> list[Issue]: ...

    def describe(self, step: PlannedStep, run: RunContext) -> str: ...

    def run(self, step: PlannedStep, ctx: StepContext) -> StepOutput: ...

    def rollback(self, step: PlannedStep, ctx: StepContext) -> bool:
        """Undo the step; False when this kind has nothing to undo."""
        ...


class BaseHandler:
    """Defaults: no static checks, a generic description, nothing to roll back."""

    kind: ClassVar[str] = ""

    def check(self, step: PlannedStep, run: RunContext) -> list[Issue]:
        return []

    def describe(self, step: PlannedStep, run: RunContext) -> str:
        return f"{step.kind} {step.name}"

    def rollback(self, step: PlannedStep, ctx: StepContext) -> bool:
        return False


def spec_get(spec: Any, name: str, default: Any = None) -> Any:
    """A field of a runbook step (pydantic model or plain dict)."""
    if spec is None:
        return default
    if isinstance(spec, dict):
        return spec.get(name, default)
    return getattr(spec, name, default)


def seconds(value: Any, default: float | None = None) -> float | None:
    if value is None:
        return default
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


class StepContext:
    """One attempt of one step: deadline, cancellation, output streaming, sleeping."""

    def __init__(self, run: RunContext, step: PlannedStep, attempt: int,
                 deadline: float | None, cancel: threading.Event | None = None,
                 host_override: str | None = None) -> None:
        self.run = run
        self.step = step
        self.attempt = attempt
        self.deadline = deadline  # on run.clock.monotonic()
        self.cancel = cancel or threading.Event()
        self.host_override = host_override
        self._journal_lines = 0
        self._lock = threading.Lock()
        self.lines: list[str] = []

    @property
    def clock(self) -> Any:
        return self.run.clock

    def remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return self.deadline - self.run.clock.monotonic()

    def check_deadline(self) -> None:
        left = self.remaining()
        if left is not None and left <= 0:
            raise StepTimeout(f"step {self.step.key} timed out")
        if self.cancel.is_set():
            raise StepFailed(f"step {self.step.key} was cancelled")

    def sleep(self, seconds_: float) -> None:
        """Sleep, but never past the deadline (raises StepTimeout there)."""
        left = self.remaining()
        if left is not None and seconds_ >= left:
            self.run.clock.sleep(max(left, 0.0), self.cancel)
            raise StepTimeout(f"step {self.step.key} timed out")
        if not self.run.clock.sleep(seconds_, self.cancel):
            raise StepFailed(f"step {self.step.key} was cancelled")

    def output(self, line: str, stream: str = "stdout") -> None:
        """A line of output: kept in full (redacted) on disk, the first lines in the journal."""
        clean = self.run.redactor.redact(line.rstrip("\n"))
        with self._lock:
            self.lines.append(clean)
            log_path = self.log_path()
            if log_path is not None:
                with log_path.open("a", encoding="utf-8") as fh:
                    fh.write(f"[{stream}] {clean}\n")
            self._journal_lines += 1
            if self._journal_lines > MAX_JOURNAL_LINES:
                if self._journal_lines == MAX_JOURNAL_LINES + 1:
                    self.run.emit("step_output", step=self.step.key, service=self.step.service,
                                  stream=stream, line="… (output truncated; full log in output/)")
                return
        self.run.emit("step_output", step=self.step.key, service=self.step.service, stream=stream,
                      line=clean[:MAX_LINE_CHARS])

    def process_started(self, pid: int) -> None:
        """Record a local process group in the journal: `dro resume` kills it if the run
        was killed while it ran (it would otherwise race the retried step)."""
        import socket

        from dr_orchestrator.execution.steps.procs import process_identity

        self.run.emit("step_process", step=self.step.key, service=self.step.service, pgid=pid,
                      started=process_identity(pid), host=socket.gethostname())

    def on_line(self, stream: str, line: str) -> None:
        """The remote layer's LineCallback signature."""
        self.output(line, stream)

    def log_path(self) -> Path | None:
        if self.run.run_dir is None:
            return None
        out = self.run.run_dir / "output"
        out.mkdir(parents=True, exist_ok=True)
        return out / (self.step.key.replace("/", "__") + ".log")

    def fail(self, message: str, hint: str | None = None) -> StepFailed:
        return StepFailed(self.run.redactor.redact(message), hint)
