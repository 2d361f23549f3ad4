"""`terraform`: `plan` or `apply` in a directory (e.g. create the recovery site's
load balancer). Needs `terraform` on PATH; runs offline-friendly with
CHECKPOINT_DISABLE=1 and TF_IN_AUTOMATION=1. Variables go as `-var k=v` argv items.
"""

from __future__ import annotations

import os
import shlex
import shutil
from typing import Any

from dr_orchestrator.execution.steps.base import (
    BaseHandler,
    NotRetryable,
    StepContext,
    StepOutput,
    spec_get,
)
from dr_orchestrator.execution.steps.procs import run_streaming
from dr_orchestrator.planning.model import PlannedStep


def _dir(step: PlannedStep, run: Any) -> str:
    path = str(spec_get(step.spec, "dir", "."))
    return path if os.path.isabs(path) else str(run.base_dir / path)


def commands(step: PlannedStep, run: Any) -> list[list[str]]:
    action = str(spec_get(step.spec, "action", "apply"))
    var_args: list[str] = []
    for key, value in (spec_get(step.spec, "vars") or {}).items():
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        var_args += ["-var", f"{key}={text}"]
    main = ["terraform", "plan", "-input=false", "-no-color", *var_args]
    if action == "apply":
        main = ["terraform", "apply", "-input=false", "-no-color", "-auto-approve", *var_args]
    return [["terraform", "init", "-input=false", "-no-color"], main]


class TerraformHandler(BaseHandler):
    kind = "terraform"

    def describe(self, step: PlannedStep, run: Any) -> str:
        cmds = "; ".join(shlex.join(c) for c in commands(step, run))
        return f"terraform in {_dir(step, run)}: {cmds}"

    def run(self, step: PlannedStep, ctx: StepContext) -> StepOutput:
        binary = shutil.which("terraform")
        if binary is None:
            raise NotRetryable(f"terraform step {step.name!r}: `terraform` is not installed",
                               "install Terraform (>= 1.4) and put it on PATH, or remove the step")
        workdir = _dir(step, ctx.run)
        if not os.path.isdir(workdir):
            raise NotRetryable(f"terraform step {step.name!r}: no directory {workdir}")
        env = dict(os.environ)
        env.update({"CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"})
        for argv in commands(step, ctx.run):
            argv[0] = binary
            code, _o, _e = run_streaming(argv, env=env, cwd=workdir, timeout=ctx.remaining(),
                                         on_line=ctx.on_line, cancel=ctx.cancel,
                                         on_start=ctx.process_started)
            if code != 0:
                raise ctx.fail(f"terraform {argv[1]} exited with {code}: {'; '.join(ctx.lines[-3:])}")
        return StepOutput({"action": spec_get(step.spec, "action", "apply"), "dir": workdir})


HANDLER = TerraformHandler()
