"""Step handlers against real things: HTTP/TCP/SQL checks, a local command's timeout,
approval prompts, terraform (when installed)."""

from __future__ import annotations

import http.server
import shutil
import socket
import threading
import time
from datetime import timedelta

import pytest

from dr_orchestrator.errors import StepFailed, StepTimeout
from dr_orchestrator.execution.context import RunContext
from dr_orchestrator.execution.steps import default_registry
from dr_orchestrator.execution.steps.base import NotRetryable, StepContext
from dr_orchestrator.planning.model import PlannedStep
from dr_orchestrator.runbook.models import ApprovalStep, CheckStep, ShellStep, TerraformStep, WaitStep

REGISTRY = default_registry()


def run_step(spec, ctx: RunContext | None = None, timeout: float | None = None):
    ctx = ctx or RunContext(run_id="t")
    ctx.registry = REGISTRY
    step = PlannedStep(service="svc", index=0, name=spec.label(), kind=spec.kind, estimate_s=1.0, spec=spec)
    deadline = None if timeout is None else ctx.clock.monotonic() + timeout
    sctx = StepContext(ctx, step, 1, deadline)
    return REGISTRY.get(spec.kind).run(step, sctx), sctx


@pytest.fixture(scope="module")
def http_server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            code = 200 if self.path == "/healthz" else 503
            body = b"status: healthy" if code == 200 else b"down"
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def check(**kw) -> CheckStep:
    return CheckStep(kind="check", **kw)


def test_http_check_status_and_body(http_server):
    out, _ = run_step(check(type="http", url=f"{http_server}/healthz", expect_status=200, expect_body="healthy"))
    assert out.details["result"] == "HTTP 200" and out.details["tries"] == 1


def test_http_check_retries_until_deadline(http_server):
    start = time.monotonic()
    with pytest.raises(StepFailed, match="503"):
        run_step(check(type="http", url=f"{http_server}/broken", deadline=timedelta(seconds=1.2),
                       interval=timedelta(seconds=0.3)))
    assert 0.8 < time.monotonic() - start < 5


def test_tcp_check(http_server):
    port = int(http_server.rsplit(":", 1)[1])
    out, _ = run_step(check(type="tcp", address="127.0.0.1", port=port))
    assert "connected" in out.details["result"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(StepFailed):
        run_step(check(type="tcp", address="127.0.0.1", port=closed, deadline=timedelta(seconds=0.5),
                       interval=timedelta(seconds=0.2)))


def test_sql_check(pg_clusters):
    out, _ = run_step(check(type="sql", dsn=pg_clusters["recovery"], query="select 40 + 2", expect="42"))
    assert out.details["result"] == "42"
    with pytest.raises(StepFailed, match="expected '43'"):
        run_step(check(type="sql", dsn=pg_clusters["recovery"], query="select 42", expect="43",
                       deadline=timedelta(seconds=0.5), interval=timedelta(seconds=0.2)))


def test_shell_timeout_kills_the_command(tmp_path):
    start = time.monotonic()
    with pytest.raises(StepTimeout):
        run_step(ShellStep(kind="shell", command=["bash", "-c", f"sleep 30; touch {tmp_path}/late"]), timeout=1.0)
    assert time.monotonic() - start < 5
    time.sleep(0.2)
    assert not (tmp_path / "late").exists()


def test_shell_nonzero_exit_fails_with_output_tail():
    with pytest.raises(StepFailed, match="exited with 7: boom"):
        run_step(ShellStep(kind="shell", command=["bash", "-c", "echo boom; exit 7"]))


def test_wait_sleeps_for_real():
    start = time.monotonic()
    run_step(WaitStep(kind="wait", duration=timedelta(seconds=0.3)))
    assert time.monotonic() - start >= 0.3


def test_approval_needs_a_terminal_or_auto_approve():
    spec = ApprovalStep(kind="approval", message="switch DNS?")
    with pytest.raises(NotRetryable, match="not a terminal"):
        run_step(spec, RunContext(interactive=lambda: False))
    out, _ = run_step(spec, RunContext(auto_approve=True, interactive=lambda: False))
    assert out.details["approved_by"] == "--auto-approve"
    asked: list[str] = []
    out, _ = run_step(spec, RunContext(interactive=lambda: True, prompt=lambda m: asked.append(m) or True))
    assert out.details["approved_by"] == "operator" and "switch DNS?" in asked[0]
    with pytest.raises(NotRetryable, match="refused"):
        run_step(spec, RunContext(interactive=lambda: True, prompt=lambda m: False))


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_terraform_apply_in_a_directory(tmp_path):
    tf = tmp_path / "tf"
    tf.mkdir()
    (tf / "main.tf").write_text(
        'variable "name" { type = string }\n'
        'resource "terraform_data" "marker" {\n'
        '  input = var.name\n'
        '  provisioner "local-exec" { command = "echo ${var.name} > marker.txt" }\n'
        "}\n")
    spec = TerraformStep(kind="terraform", dir=str(tf), action="apply", vars={"name": "recovered"})
    out, sctx = run_step(spec, timeout=120)
    assert out.details["action"] == "apply"
    assert (tf / "marker.txt").read_text().strip() == "recovered"
    assert any("Apply complete" in line for line in sctx.lines)


def test_terraform_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NotRetryable, match="not installed"):
        run_step(TerraformStep(kind="terraform", dir=str(tmp_path)))
