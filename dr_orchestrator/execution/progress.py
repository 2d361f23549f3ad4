"""Live progress: waves, running steps and elapsed time against RTO.

On a terminal a rich Live panel refreshes; elsewhere (CI logs, pipes) one plain line
per step outcome is printed. Both are journal listeners: they only ever see
redacted events.
"""

from __future__ import annotations

import threading
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from dr_orchestrator.execution import events as ev
from dr_orchestrator.execution.events import Event
from dr_orchestrator.execution.state import RunState
from dr_orchestrator.planning.model import format_seconds

_LINE_EVENTS = {ev.STEP_SUCCEEDED: "ok", ev.STEP_FAILED: "FAILED", ev.STEP_RETRIED: "retry",
                ev.STEP_INTERRUPTED: "interrupted", ev.STEP_ROLLED_BACK: "rolled back",
                ev.STEP_ROLLBACK_FAILED: "ROLLBACK FAILED", ev.SERVICE_SKIPPED: "skipped",
                ev.WARNING: "warning"}


class LineProgress:
    """One line per outcome: `[  12.3s] api/1/restart-api ok`."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def __call__(self, event: Event) -> None:
        word = _LINE_EVENTS.get(event.type)
        if word is None:
            return
        what = event.step or event.service or ""
        extra = event.data.get("error") or event.data.get("reason") or event.data.get("message") or ""
        self.console.print(f"[{event.t:8.1f}s] {what} {word}" + (f": {extra}" if extra else ""),
                           highlight=False, markup=False, soft_wrap=True)

    def close(self) -> None:
        return None


class LiveProgress:
    """A refreshing table: per service its wave, status, current step and time vs RTO."""

    def __init__(self, console: Console, state: RunState) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._live = Live(self._render(), console=console, refresh_per_second=4, transient=False)
        self._live.start()

    def __call__(self, event: Event) -> None:
        if event.type != ev.STEP_OUTPUT:
            with self._lock:
                self._live.update(self._render())

    def _render(self) -> Any:
        state = self.state
        table = Table(title=f"dro {state.action} {state.run_id}", expand=False)
        for col in ("wave", "service", "status", "step", "elapsed", "RTO"):
            table.add_column(col)
        for svc in state.services.values():
            running = [state.steps[k] for k in svc.steps if state.steps[k].status == "running"]
            step = running[0].name if running else ""
            elapsed = svc.finished_t if svc.finished_t is not None else (
                state.last_t if svc.started_t is not None else None)
            rto = format_seconds(svc.rto_s) if svc.rto_s is not None else "-"
            over = svc.rto_s is not None and elapsed is not None and elapsed > svc.rto_s
            table.add_row(str(svc.wave), svc.name, svc.status, step,
                          Text(format_seconds(elapsed) if elapsed is not None else "",
                               style="red" if over else ""), rto)
        total = f"elapsed {format_seconds(state.last_t)}"
        if state.rto_s is not None:
            total += f" of RTO {format_seconds(state.rto_s)}"
        return Group(table, Text(total))

    def ask(self, message: str) -> bool:
        """An approval prompt: the live table pauses so the question stays readable."""
        with self._lock:
            self._live.stop()
            try:
                answer = self._live.console.input(f"{message} [y/N] ")
            finally:
                self._live.start()
        return answer.strip().lower() in ("y", "yes")

    def close(self) -> None:
        with self._lock:
            self._live.update(self._render())
            self._live.stop()


def make_progress(console: Console, state: RunState, live: bool) -> LineProgress | LiveProgress:
    return LiveProgress(console, state) if live else LineProgress(console)
