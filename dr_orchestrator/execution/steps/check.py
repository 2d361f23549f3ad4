"""`check`: is the service really back? http status/body, tcp connect, sql query
result (psql), or a command's exit code/output — tried every `interval` until
`deadline` (default: the step's timeout) passes.
"""

from __future__ import annotations

import os
import shlex
import socket
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from dr_orchestrator.errors import BadInput, StepFailed, StepTimeout
from dr_orchestrator.execution.steps.base import (
    BaseHandler,
    StepContext,
    StepOutput,
    seconds,
    spec_get,
)
from dr_orchestrator.execution.steps.procs import run_streaming
from dr_orchestrator.execution.steps.shell import (
    command_argv,
    refuse_pasted_values,
    resolve_value,
    step_env,
)
from dr_orchestrator.execution.steps.ssh import remote_command, render
from dr_orchestrator.planning.model import PlannedStep

PROBE_TIMEOUT_S = 10.0


class CheckNotYet(Exception):
    """This probe failed; the check tries again until its deadline."""


def split_dsn(dsn: str) -> tuple[str, str | None]:
    """(DSN without password, password): the password goes to PGPASSWORD, never argv."""
    parts = urlsplit(dsn)
    if parts.scheme in ("postgres", "postgresql") and parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username}@{host}" if parts.username else host
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), parts.password
    return dsn, None


class CheckHandler(BaseHandler):
    kind = "check"

    def describe(self, step: PlannedStep, run: Any) -> str:
        s = step.spec
        kind = spec_get(s, "type")
        target = {
            "http": lambda: f"GET {spec_get(s, 'url')} expect {spec_get(s, 'expect_status') or '2xx/3xx'}",
            "tcp": lambda: f"connect {spec_get(s, 'address') or spec_get(s, 'host')}:{spec_get(s, 'port')}",
            "sql": lambda: f"psql {spec_get(s, 'dsn')} -c {spec_get(s, 'query')!r}",
            "command": lambda: render(spec_get(s, "command", [])),
        }.get(kind, lambda: "?")()
        return f"check {kind}: {target} (every {seconds(spec_get(s, 'interval'), 2.0):g}s)"

    def run(self, step: PlannedStep, ctx: StepContext) -> StepOutput:
        spec = step.spec
        interval = seconds(spec_get(spec, "interval"), 2.0) or 0.0
        limit = seconds(spec_get(spec, "deadline"))
        end = None if limit is None else ctx.clock.monotonic() + limit
        probe = getattr(self, "_probe_" + str(spec_get(spec, "type")), None)
        if probe is None:
            raise BadInput(f"unknown check type {spec_get(spec, 'type')!r}")
        tries, last = 0, ""
        while True:
            tries += 1
            try:
                detail = probe(step, ctx)
                return StepOutput({"tries": tries, "result": detail})
            except CheckNotYet as exc:
                last = ctx.run.redactor.redact(str(exc))
                ctx.output(f"check not yet passing (try {tries}): {last}", "stderr")
            if end is not None and ctx.clock.monotonic() + interval > end:
                raise StepFailed(f"check did not pass within {limit:g}s after {tries} tries: {last}")
            try:
                ctx.sleep(interval)
            except StepTimeout:
                raise StepTimeout(f"check did not pass before the step's timeout after {tries} "
                                  f"tries: {last}") from None

    def _budget(self, ctx: StepContext) -> float:
        left = ctx.remaining()
        return PROBE_TIMEOUT_S if left is None else max(min(PROBE_TIMEOUT_S, left), 0.1)

    def _probe_http(self, step: PlannedStep, ctx: StepContext) -> str:
        url = str(spec_get(step.spec, "url"))
        if urlsplit(url).scheme not in ("http", "https"):
            raise BadInput(f"http check needs an http(s) URL, got {url!r}")
        want = spec_get(step.spec, "expect_status")
        body_want = spec_get(step.spec, "expect_body")
        try:
            with urllib.request.urlopen(url, timeout=self._budget(ctx)) as resp:  # noqa: S310
                status, body = resp.status, resp.read(1 << 20).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            status, body = exc.code, ""
        except (urllib.error.URLError, OSError) as exc:
            raise CheckNotYet(f"{url}: {getattr(exc, 'reason', exc)}") from None
        if (want is not None and status != int(want)) or (want is None and not 200 <= status < 400):
            raise CheckNotYet(f"{url} answered {status}, expected {want or '2xx/3xx'}")
        if body_want is not None and str(body_want) not in body:
            raise CheckNotYet(f"{url} body does not contain {body_want!r}")
        return f"HTTP {status}"

    def _probe_tcp(self, step: PlannedStep, ctx: StepContext) -> str:
        address = spec_get(step.spec, "address")
        if not address:
            address = ctx.run.host_spec(str(spec_get(step.spec, "host")), step.service).address
        port = int(spec_get(step.spec, "port"))
        try:
            with socket.create_connection((address, port), timeout=self._budget(ctx)):
                return f"connected to {address}:{port}"
        except OSError as exc:
            raise CheckNotYet(f"{address}:{port}: {exc.strerror or exc}") from None

    def _probe_sql(self, step: PlannedStep, ctx: StepContext) -> str:
        dsn, password = split_dsn(resolve_value(spec_get(step.spec, "dsn"), ctx.run))
        if password:
            ctx.run.redactor.add(password)
        argv = ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn,
                "-c", str(spec_get(step.spec, "query"))]
        env = {"PGCONNECT_TIMEOUT": "5"}
        if password:
            env["PGPASSWORD"] = password
        code, out = self._command(step, ctx, argv, env)
        if code != 0:
            raise CheckNotYet(f"psql exited with {code}: {out.strip()[-200:]}")
        return self._expect(step, out)

    def _command(self, step: PlannedStep, ctx: StepContext, argv: Any,
                 env: dict[str, str] | None = None) -> tuple[int, str]:
        host = spec_get(step.spec, "host") if spec_get(step.spec, "type") != "tcp" else None
        host = host or (ctx.host_override if spec_get(step.spec, "type") == "command" else None)
        full_env = step_env(step, ctx.run)
        full_env.update(env or {})
        if host:
            runner = ctx.run.runner(str(host), step.service)
            secret = full_env.pop("PGPASSWORD", None)
            if secret is not None:  # over stdin: never on a command line on the host
                line = "IFS= read -r PGPASSWORD; export PGPASSWORD; exec " + shlex.join(argv)
                result = runner.run(line, timeout=self._budget(ctx), stdin=secret + "\n")
            else:
                result = runner.run(remote_command(argv, full_env), timeout=self._budget(ctx))
            return result.exit_code, result.stdout + result.stderr
        local_env = dict(os.environ)
        local_env.update(full_env)
        code, out, err = run_streaming(command_argv(argv), env=local_env,
                                       timeout=self._budget(ctx), cancel=ctx.cancel,
                                       on_start=ctx.process_started)
        return code, out if code == 0 else out + err

    def _probe_command(self, step: PlannedStep, ctx: StepContext) -> str:
        refuse_pasted_values(spec_get(step.spec, "command"), ctx.run)
        code, out = self._command(step, ctx, spec_get(step.spec, "command"))
        if code != 0:
            raise CheckNotYet(f"command exited with {code}: {out.strip()[-200:]}")
        return self._expect(step, out)

    def _expect(self, step: PlannedStep, out: str) -> str:
        want = spec_get(step.spec, "expect")
        value = out.strip().splitlines()[0].strip() if out.strip() else ""
        if want is not None and value != str(want).strip():
            raise CheckNotYet(f"got {value!r}, expected {str(want).strip()!r}")
        return value[:200]


HANDLER = CheckHandler()
