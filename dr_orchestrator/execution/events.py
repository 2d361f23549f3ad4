"""Journal events: what happened during a run, one JSON object per line.

Every event carries `seq` (1, 2, … within the journal), `ts` (wall-clock epoch
seconds), `t` (seconds since the run started, on the monotonic clock; continued
across `dro resume`), `type` and a few type-specific fields. The journal is the
single source of truth: the live summary, `dro resume` and `dro show` all fold the
same events with `RunState.apply` (state.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

RUN_STARTED = "run_started"
RUN_RESUMED = "run_resumed"
RUN_FINISHED = "run_finished"
SERVICE_STARTED = "service_started"
SERVICE_FINISHED = "service_finished"
SERVICE_SKIPPED = "service_skipped"
STEP_STARTED = "step_started"
STEP_OUTPUT = "step_output"
STEP_PROCESS = "step_process"  # a local process group a step started (pgid, start time, host)
STEP_SUCCEEDED = "step_succeeded"
STEP_FAILED = "step_failed"
STEP_RETRIED = "step_retried"
STEP_INTERRUPTED = "step_interrupted"
STEP_ROLLED_BACK = "step_rolled_back"
STEP_ROLLBACK_FAILED = "step_rollback_failed"
WARNING = "warning"

TYPES = frozenset({
    RUN_STARTED, RUN_RESUMED, RUN_FINISHED, SERVICE_STARTED, SERVICE_FINISHED, SERVICE_SKIPPED,
    STEP_STARTED, STEP_OUTPUT, STEP_PROCESS, STEP_SUCCEEDED, STEP_FAILED, STEP_RETRIED, STEP_INTERRUPTED,
    STEP_ROLLED_BACK, STEP_ROLLBACK_FAILED, WARNING,
})


@dataclass(frozen=True)
class Event:
    type: str
    t: float
    ts: float
    seq: int = 0
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def step(self) -> str | None:
        value = self.data.get("step")
        return value if isinstance(value, str) else None

    @property
    def service(self) -> str | None:
        value = self.data.get("service")
        return value if isinstance(value, str) else None

    def to_json(self) -> str:
        record = {"seq": self.seq, "type": self.type, "t": round(self.t, 6), "ts": round(self.ts, 6)}
        record.update(self.data)
        return json.dumps(record, separators=(",", ":"), sort_keys=False, default=str)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Event:
        data = {k: v for k, v in record.items() if k not in ("seq", "type", "t", "ts")}
        return cls(type=str(record["type"]), t=float(record.get("t", 0.0)),
                   ts=float(record.get("ts", 0.0)), seq=int(record.get("seq", 0)), data=data)
