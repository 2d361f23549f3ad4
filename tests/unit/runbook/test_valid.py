"""Golden runbooks: the shipped examples and small ones validate with no issue at all."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from dr_orchestrator.runbook import load_runbook, validate_file
from dr_orchestrator.runbook.models import CheckStep, PostgresSource, RestoreStep, ShellStep
from dr_orchestrator.runbook.secrets import SecretRef

ROOT = Path(__file__).parents[3]
EXAMPLES = ["runbooks/quickstart.yaml", "runbooks/aws-multi-region.yaml", "runbooks/multi-cloud.yaml"]
SMALL = sorted((Path(__file__).parent / "valid").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES + [str(p) for p in SMALL])
def test_golden_runbooks_validate_cleanly_even_when_strict(path: str) -> None:
    runbook, issues = validate_file(ROOT / path, strict=True)
    assert issues == [], [i.render() for i in issues]
    assert runbook is not None and runbook.services


def test_quickstart_model() -> None:
    rb = load_runbook(ROOT / "runbooks/quickstart.yaml")
    assert rb.metadata.name == "quickstart"
    assert rb.rto == timedelta(minutes=15)
    # relative file:// locations are resolved against the runbook's directory
    assert rb.sites["primary"].storage == f"file://{ROOT / '.dro-demo/storage/primary'}"
    assert rb.sites["recovery"].hosts["app"].local
    assert list(rb.services) == ["database", "api", "web"]
    assert rb.services["web"].depends_on == ["api"]
    restore = rb.services["database"].failover[0]
    assert isinstance(restore, RestoreStep) and restore.target == f"{ROOT / 'runbooks/../.dro-demo'}/recovery/app.db"
    start = rb.services["api"].failover[1]
    assert isinstance(start, ShellStep) and "18081" in start.command  # ${api_port} inside an argv list
    assert start.rollback and isinstance(start.rollback[0], ShellStep)  # argv shorthand
    check = rb.services["api"].failover[2]
    assert isinstance(check, CheckStep) and check.port == 18081  # whole-value ${var} keeps its type
    assert rb.recovery_site_for("api") == "recovery"
    assert rb.action_site("api", "failover") == "recovery"
    assert rb.action_site("api", "rebuild") == "primary"
    assert rb.resolve_host("app", "recovery") == ("recovery", rb.sites["recovery"].hosts["app"])
    assert rb.resolve_host("primary/app", None) == ("primary", rb.sites["primary"].hosts["app"])
    assert rb.resolve_host("nope", "recovery") is None
    assert rb.data_classes["appdb"].schedule == "*/5 * * * *"


def test_aws_example_uses_references_and_the_include() -> None:
    rb = load_runbook(ROOT / "runbooks/aws-multi-region.yaml")
    assert "monitoring" in rb.services  # from runbooks/aws/observability.yaml
    source = rb.data_classes["orders-db"].sources[0]
    assert isinstance(source, PostgresSource) and source.dsn == SecretRef("env:ORDERS_DSN")
    assert rb.sites["use1"].hosts["db1"].key == SecretRef("file:~/.ssh/dro_ed25519")
    assert rb.data_classes["audit-log"].immutable_for == timedelta(days=365)
    file, line, _ = rb.position("services", "monitoring")
    assert file.endswith("runbooks/aws/observability.yaml") and line == 6


def test_variables_overrides_and_builtins(tmp_path: Path) -> None:
    text = (Path(__file__).parent / "valid" / "minimal.yaml").read_text()
    text = text.replace("metadata: {name: minimal}\n",
                        "metadata: {name: minimal}\nvariables:\n  dir: ${runbook_dir}/data\n  port: 80\n")
    text = text.replace("target: /tmp/y.db", "target: ${dir}/y.db")
    path = tmp_path / "rb.yaml"
    path.write_text(text)
    rb = load_runbook(path, variables={"port": 81})
    step = rb.services["database"].failover[0]
    assert isinstance(step, RestoreStep) and step.target == f"{tmp_path.resolve()}/data/y.db"
    assert rb.variables == {"dir": f"{tmp_path.resolve()}/data", "port": 81}


def test_positions_point_at_services_and_steps() -> None:
    rb = load_runbook(ROOT / "runbooks/quickstart.yaml")
    lines = (ROOT / "runbooks/quickstart.yaml").read_text().splitlines()
    file, line, col = rb.position("services", "api")
    assert file.endswith("runbooks/quickstart.yaml") and lines[line - 1].strip() == "api:" and col == 3
    _, line, _ = rb.position("services", "api", "failover", 1)
    assert lines[line - 1].strip() == "- name: start-api"
    assert rb.where("services", "api", "failover", "1").endswith(f":{line}:9")
    assert rb.positions["services.api.failover.1"][1] == line
    # an unknown node falls back to its closest parent
    assert rb.position("services", "api", "nothing-here") == rb.position("services", "api")
