"""`shell`: a local command.

An argv list runs as is — no shell, so no runbook value can inject a command. A
single string is the runbook author's deliberate shell line: it runs as
`bash -c STRING` with the string as ONE argument, and every runbook variable is
passed in the environment (`$name`), never pasted into the string.
"""

from __future__ import annotations

import os
import re
import shlex
from typing import Any

from dr_orchestrator.execution.steps.base import BaseHandler, StepContext, StepOutput, spec_get
from dr_orchestrator.execution.steps.procs import run_streaming
from dr_orchestrator.planning.model import PlannedStep

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


_SHELL_META = re.compile(r"[;&|$`<>()\\\n'\"*?~#{}]")


def refuse_pasted_values(command: Any, run: Any) -> None:
    """Defence in depth for shell *strings*: the runbook loader substitutes `${name}`
    everywhere, so a variable whose value holds shell syntax may have been pasted into
    the line. Such a line is refused (nothing runs): write `"$name"` instead, which the
    shell reads from the environment as data."""
    if not isinstance(command, str):
        return
    for name, value in run.variables().items():
        if len(value) >= 2 and _SHELL_META.search(value) and value in command:
            from dr_orchestrator.errors import BadInput

            raise BadInput(
                f"the value of variable {name!r} appears inside a shell command string; with shell "
                "syntax in it, it could run as a command",
                f'write "${name}" (no braces) so the shell reads it from the environment, '
                f"or use an argv list")


def command_argv(command: Any) -> list[str]:
    if isinstance(command, str):
        return ["bash", "-c", command]
    return [str(part) for part in command]


def step_env(step: PlannedStep, run: Any, resolve_secrets: bool = True) -> dict[str, str]:
    """Runbook variables + the step's own env (secret references resolved) + run ids."""
    env = {k: v for k, v in run.variables().items() if _ENV_NAME.match(k)}
    for key, value in (spec_get(step.spec, "env") or {}).items():
        env[str(key)] = resolve_value(value, run) if resolve_secrets else str(value)
    env.update({"DRO_RUN_ID": run.run_id, "DRO_ACTION": run.action, "DRO_SERVICE": step.service,
                "DRO_STEP": step.name})
    return env


def resolve_value(value: Any, run: Any) -> str:
    """`env:NAME` / `file:PATH` references are secrets: resolved and registered for redaction."""
    from dr_orchestrator.runbook.secrets import SecretRef, is_secret_ref

    if isinstance(value, SecretRef) or is_secret_ref(value):
        return str(run.secret(value if isinstance(value, SecretRef) else SecretRef(str(value))))
    return str(value)


class ShellHandler(BaseHandler):
    kind = "shell"

    def describe(self, step: PlannedStep, run: Any) -> str:
        argv = command_argv(spec_get(step.spec, "command", []))
        cwd = spec_get(step.spec, "cwd")
        return f"local: {shlex.join(argv)}" + (f"  (in {cwd})" if cwd else "")

    def run(self, step: PlannedStep, ctx: StepContext) -> StepOutput:
        command = spec_get(step.spec, "command", [])
        refuse_pasted_values(command, ctx.run)
        argv = command_argv(command)
        if not argv:
            raise ctx.fail(f"shell step {step.name!r} has no command")
        env = dict(os.environ)
        env.update(step_env(step, ctx.run))
        cwd = spec_get(step.spec, "cwd")
        if cwd and not os.path.isabs(cwd):
            cwd = str(ctx.run.base_dir / cwd)
        code, _out, _err = run_streaming(argv, env=env, cwd=cwd, timeout=ctx.remaining(),
                                         on_line=ctx.on_line, cancel=ctx.cancel,
                                         on_start=ctx.process_started)
        if code != 0:
            tail = "; ".join(ctx.lines[-3:])
            raise ctx.fail(f"command exited with {code}" + (f": {tail}" if tail else ""))
        return StepOutput({"exit_code": code})


HANDLER = ShellHandler()
