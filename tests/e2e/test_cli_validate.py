"""`dro validate` and `dro schema` as a user runs them (the installed console script)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from dr_orchestrator.runbook.yamlpos import parse_yaml

ROOT = Path(__file__).resolve().parents[2]
INVALID = ROOT / "tests" / "unit" / "runbook" / "invalid"


def dro(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("dro")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "dr_orchestrator.cli.main"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=cwd, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})


@pytest.mark.parametrize("runbook", ["quickstart", "aws-multi-region", "multi-cloud"])
def test_examples_are_valid(runbook: str) -> None:
    res = dro("validate", f"runbooks/{runbook}.yaml", "--strict")
    assert res.returncode == 0, res.stderr
    assert f"runbooks/{runbook}.yaml: valid" in res.stdout and "service(s)" in res.stdout
    assert res.stderr == ""


def test_errors_exit_2_with_positions_and_hints(tmp_path: Path) -> None:
    text = (ROOT / "tests/unit/runbook/valid/minimal.yaml").read_text()
    text = text.replace("depends_on: [database]", "depends_on: [datbase]")
    text = text.replace('"*/5 * * * *"', '"0 * * * *"')
    (tmp_path / "x.yaml").write_text(text)
    res = dro("validate", "x.yaml", cwd=tmp_path)
    assert res.returncode == 2
    lines = res.stderr.splitlines()
    assert "x.yaml:17:15: error: data class 'db': schedule '0 * * * *' leaves up to 1h between backups, " \
           "more than its RPO of 15m" in lines
    assert "x.yaml:33:18: error: service 'api' depends on unknown service 'datbase'" in lines
    assert "    hint: did you mean 'database'?" in lines
    assert "error: x.yaml: 2 error(s), 0 warning(s)" in lines
    assert res.stdout == ""


def test_json_format(tmp_path: Path) -> None:
    res = dro("validate", str(INVALID / "cycle.yaml"), "--format", "json")
    assert res.returncode == 2
    report = json.loads(res.stdout)
    assert report["valid"] is False and report["errors"] == 1
    (issue,) = report["issues"]
    assert issue["code"] == "cycle" and issue["line"] == 35 and issue["column"] == 18
    assert issue["message"] == "dependency cycle: api -> database -> web -> api"
    assert issue["severity"] == "error" and issue["file"].endswith("cycle.yaml")
    ok = dro("validate", "runbooks/quickstart.yaml", "--format", "json")
    assert ok.returncode == 0 and json.loads(ok.stdout) == {
        "file": "runbooks/quickstart.yaml", "valid": True, "errors": 0, "warnings": 0, "issues": []}


def test_yaml_syntax_error_and_missing_file(tmp_path: Path) -> None:
    res = dro("validate", str(INVALID / "yaml_syntax.yaml"))
    assert res.returncode == 2 and "yaml_syntax.yaml:34:4: error: YAML syntax error" in res.stderr
    assert "ERROR" not in res.stderr  # no parser noise on the terminal
    res = dro("validate", "nope.yaml")
    assert res.returncode == 2 and "runbook not found: nope.yaml" in res.stderr
    res = dro("validate", "runbooks/quickstart.yaml", "--format", "xml")
    assert res.returncode == 2 and "unknown format" in res.stderr


def test_warnings_pass_unless_strict(tmp_path: Path) -> None:
    text = (ROOT / "tests/unit/runbook/valid/minimal.yaml").read_text()
    text = text.replace("    retention: {keep_last: 3}\n", "")  # no retention: a warning
    (tmp_path / "w.yaml").write_text(text)
    res = dro("validate", "w.yaml", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "w.yaml:15:3: warning: data class 'db' has no retention policy" in res.stderr
    assert "1 warning(s)" in res.stdout
    strict = dro("validate", "w.yaml", "--strict", cwd=tmp_path)
    assert strict.returncode == 2 and "w.yaml:15:3: error: data class 'db' has no retention" in strict.stderr


def test_secrets_never_echoed(tmp_path: Path) -> None:
    res = dro("validate", str(INVALID / "literal_password_dsn.yaml"), "--format", "json")
    assert res.returncode == 2 and "s3cret" not in res.stdout + res.stderr
    assert json.loads(res.stdout)["issues"][0]["code"] == "literal-secret"


def test_schema_is_draft_2020_12_and_accepts_the_examples() -> None:
    res = dro("schema")
    assert res.returncode == 0
    schema = json.loads(res.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for name in ("quickstart", "aws-multi-region", "multi-cloud"):
        data, _, issues = parse_yaml((ROOT / "runbooks" / f"{name}.yaml").read_text(), name)
        assert not issues
        errors = list(validator.iter_errors(data))
        assert errors == [], (name, [e.message for e in errors[:3]])
    # ... and rejects what validate rejects structurally
    bad, _, _ = parse_yaml((INVALID / "unknown_step_key.yaml").read_text(), "bad")
    assert any("comand" in e.message for e in validator.iter_errors(bad))
    bad, _, _ = parse_yaml((INVALID / "invalid_duration.yaml").read_text(), "bad")
    assert not validator.is_valid(bad)


def test_schema_kinds_and_committed_copies() -> None:
    for kind in ("runbook", "fragment", "playbook"):
        res = dro("schema", "--kind", kind)
        assert res.returncode == 0
        committed = json.loads((ROOT / "docs" / f"{kind}.schema.json").read_text())
        assert json.loads(res.stdout) == committed, f"docs/{kind}.schema.json is stale: run dro schema"
    fragment = json.loads(dro("schema", "--kind", "fragment").stdout)
    data, _, _ = parse_yaml((ROOT / "runbooks/aws/observability.yaml").read_text(), "frag")
    assert jsonschema.Draft202012Validator(fragment).is_valid(data)
    res = dro("schema", "--kind", "nope")
    assert res.returncode == 2
