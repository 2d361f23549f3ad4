"""`ssh`: a command on a runbook host, through the remote layer (paramiko, host keys
verified against known_hosts, never auto-accepted unless the runbook says so).

An argv list is quoted for the remote shell (shlex.join) by the remote layer; a
string is the runbook's own shell line. Runbook variables travel as environment
values, never interpolated. Output is streamed to the journal (truncated) and kept.
"""

from __future__ import annotations

import shlex
from typing import Any

from dr_orchestrator.execution.steps.base import BaseHandler, StepContext, StepOutput, spec_get
from dr_orchestrator.execution.steps.shell import _ENV_NAME, refuse_pasted_values, step_env
from dr_orchestrator.planning.model import PlannedStep


def host_ref(step: PlannedStep, host_override: str | None) -> str:
    ref = spec_get(step.spec, "host") or host_override
    if not ref:
        from dr_orchestrator.errors import BadInput

        raise BadInput(f"step {step.key} names no host", "add `host:` to the step")
    return str(ref)


def render(command: Any) -> str:
    return command if isinstance(command, str) else shlex.join(str(p) for p in command)


def remote_command(command: Any, env: dict[str, str]) -> Any:
    """What goes over SSH. An argv list stays a list (the remote layer quotes it). A
    string — the runbook's own shell line — is preceded by `export NAME='value' …;`
    with every value shlex-quoted, so `$name` works in it without any value ever being
    pasted into the line, and without relying on the server's AcceptEnv."""
    if not isinstance(command, str):
        return [str(p) for p in command]
    names = [k for k in env if _ENV_NAME.match(k)]
    if not names:
        return command
    exports = " ".join(f"{k}={shlex.quote(env[k])}" for k in names)
    return f"export {exports}; {command}"


class SshHandler(BaseHandler):
    kind = "ssh"

    def describe(self, step: PlannedStep, run: Any) -> str:
        ref = host_ref(step, run.rebuild_host)
        try:
            where = run.host_spec(ref, step.service).display
        except Exception:  # dry-run shows what it can
            where = ref
        return f"ssh {where}: {render(spec_get(step.spec, 'command', []))}"

    def run(self, step: PlannedStep, ctx: StepContext) -> StepOutput:
        command = spec_get(step.spec, "command")
        if not command:
            raise ctx.fail(f"ssh step {step.name!r} has no command")
        refuse_pasted_values(command, ctx.run)
        ref = host_ref(step, ctx.host_override)
        runner = ctx.run.runner(ref, step.service)
        result = runner.run(remote_command(command, step_env(step, ctx.run)), timeout=ctx.remaining(),
                            on_line=ctx.on_line)
        if result.exit_code != 0:
            tail = "; ".join(ctx.lines[-3:])
            raise ctx.fail(f"command on {runner.spec.display} exited with {result.exit_code}"
                           + (f": {tail}" if tail else ""))
        return StepOutput({"exit_code": result.exit_code, "host": runner.spec.display})


HANDLER = SshHandler()
