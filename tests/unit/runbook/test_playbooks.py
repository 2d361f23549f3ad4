"""Playbooks: sandboxed Jinja2 rendering, StrictUndefined, params, when:, typed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from dr_orchestrator.errors import ValidationFailed
from dr_orchestrator.runbook import expand_playbook, load_runbook, validate_file
from dr_orchestrator.runbook.models import CheckStep, PlaybookStep, RestoreStep, ShellStep, SshStep, WaitStep
from dr_orchestrator.runbook.secrets import SecretRef

ROOT = Path(__file__).parents[3]

RUNBOOK = """\
apiVersion: dr-orchestrator/v1
kind: Runbook
metadata: {name: pb}
variables: {greeting: hello}
sites:
  primary: {storage: "file://./p", hosts: {app: {local: true}}}
  recovery: {storage: "file://./r", role: recovery, hosts: {app: {local: true}}}
services:
  api:
    site: primary
    failover:
      - kind: playbook
        playbook: demo
        host: app
        vars: VARS
"""

PLAYBOOK = """\
apiVersion: dr-orchestrator/v1
kind: Playbook
params:
  port: {default: 8080}
  mode: {required: true}
  skip: {default: null}
steps:
  - name: "say {{ greeting }} on {{ host }}"
    kind: shell
    command: [echo, "{{ greeting }}", "{{ mode | upper }}"]
  - kind: check
    type: tcp
    address: 127.0.0.1
    port: "{{ port }}"
  - kind: wait
    when: mode == 'slow'
    duration: "{{ port // 1000 }}s"
"""


def make(tmp_path: Path, vars_: str, playbook: str = PLAYBOOK) -> Path:
    (tmp_path / "playbooks").mkdir(exist_ok=True)
    (tmp_path / "playbooks" / "demo.yaml").write_text(playbook)
    path = tmp_path / "rb.yaml"
    path.write_text(RUNBOOK.replace("VARS", vars_))
    return path


def expand(path: Path) -> list:
    rb = load_runbook(path)
    step = rb.services["api"].failover[0]
    assert isinstance(step, PlaybookStep)
    return expand_playbook(rb, step, rb.base_dir)


def test_renders_steps_with_typed_values_and_when(tmp_path: Path) -> None:
    steps = expand(make(tmp_path, "{mode: fast}"))
    assert [type(s) for s in steps] == [ShellStep, CheckStep]  # the wait is dropped by when:
    assert steps[0].name == "say hello on app" and steps[0].command == ["echo", "hello", "FAST"]
    assert steps[1].port == 8080  # "{{ port }}" alone keeps the int
    steps = expand(make(tmp_path, "{mode: slow, port: 9000}"))
    assert isinstance(steps[2], WaitStep) and steps[2].duration.total_seconds() == 9


def test_missing_required_param(tmp_path: Path) -> None:
    _, issues = validate_file(make(tmp_path, "{}"))
    assert [(i.line, i.code) for i in issues] == [(13, "missing-param")]
    assert "playbook 'demo' needs parameter 'mode'" in issues[0].message


def test_undefined_template_variable_is_an_error(tmp_path: Path) -> None:
    book = PLAYBOOK.replace("{{ greeting }} on", "{{ greting }} on")
    _, issues = validate_file(make(tmp_path, "{mode: x}", book))
    assert len(issues) == 1 and issues[0].code == "undefined-variable" and issues[0].line == 13
    assert "uses undefined variable 'greting'" in issues[0].message
    assert issues[0].hint == "did you mean 'greeting'?"
    # expand_playbook (used by the planner and the executor) raises ValidationFailed
    rb = load_runbook(make(tmp_path, "{mode: x}"))
    with pytest.raises(ValidationFailed) as info:
        expand_playbook(rb, PlaybookStep(kind="playbook", playbook="demo"), rb.base_dir)
    assert [i.code for i in info.value.issues] == ["missing-param"]


@pytest.mark.parametrize("expr", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ greeting.__class__.__base__ }}",
])
def test_sandbox_blocks_python_internals(tmp_path: Path, expr: str) -> None:
    book = PLAYBOOK.replace('"{{ mode | upper }}"', f'"{expr}"')
    _, issues = validate_file(make(tmp_path, "{mode: x}", book))
    assert issues, "the sandbox let a template reach Python internals"
    assert all(i.severity == "error" for i in issues)
    assert any(i.code in ("template", "undefined-variable") for i in issues), [i.render() for i in issues]


def test_rendered_steps_are_validated_with_playbook_positions(tmp_path: Path) -> None:
    book = PLAYBOOK.replace('    duration: "{{ port // 1000 }}s"', '    duration: "{{ mode }}"')
    _, issues = validate_file(make(tmp_path, "{mode: slow}", book))
    assert len(issues) == 1
    issue = issues[0]
    assert Path(issue.file).name == "demo.yaml" and issue.line == 17 and issue.code == "invalid-duration"
    assert "in playbook 'demo' called at" in issue.message and "rb.yaml:13" in issue.message


def test_unknown_host_inside_a_playbook_is_reported(tmp_path: Path) -> None:
    book = PLAYBOOK + "  - kind: ssh\n    host: db9\n    command: uptime\n"
    _, issues = validate_file(make(tmp_path, "{mode: fast}", book))
    assert [(Path(i.file).name, i.line, i.code) for i in issues] == [("demo.yaml", 19, "undefined-reference")]
    assert "unknown host 'db9' at site 'recovery'" in issues[0].message


def test_shipped_playbooks_expand() -> None:
    rb = load_runbook(ROOT / "runbooks/aws-multi-region.yaml")
    step = rb.services["postgres"].failover[0]
    assert isinstance(step, PlaybookStep)
    steps = expand_playbook(rb, step, rb.base_dir)
    assert [s.kind for s in steps] == ["ssh", "check", "restore", "check"]
    assert isinstance(steps[0], SshStep) and steps[0].host == "db1"
    restore = steps[2]
    assert isinstance(restore, RestoreStep) and restore.target == SecretRef("env:ORDERS_RECOVERY_DSN")
    assert restore.from_site is None and restore.estimate is not None and restore.estimate.total_seconds() == 480
    dns = rb.services["dns"].failover[1]
    assert isinstance(dns, PlaybookStep)
    switched = expand_playbook(rb, dns, rb.base_dir)
    assert [s.kind for s in switched] == ["shell", "wait", "check"]  # only the route53 variant
    assert "www.shop.example.com" in switched[0].command[-1]
