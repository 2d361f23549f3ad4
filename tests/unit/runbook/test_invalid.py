"""Every file in invalid/ is a runbook with one kind of mistake; each must produce exactly
the issues listed here — code, line, column and wording — and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from dr_orchestrator.errors import ValidationFailed
from dr_orchestrator.runbook import load_runbook, validate_file

HERE = Path(__file__).parent / "invalid"

# name: [(line, column, code, message fragment, hint fragment or None), ...]
EXPECTED: dict[str, list[tuple[int, int, str, str, str | None]]] = {
    "yaml_syntax": [(34, 4, "yaml-syntax", "YAML syntax error", "indented differently")],
    "duplicate_key": [(32, 3, "duplicate-key", "duplicate key 'database'", "may appear once")],
    "not_a_mapping": [(1, 1, "wrong-type", "a runbook must be a YAML mapping", None)],
    "unknown_top_key": [(24, 1, "unknown-key", "unknown key 'servics' in the runbook", "did you mean 'services'?")],
    "unknown_step_key": [(37, 9, "unknown-key", "unknown key 'comand' in failover step 1 of service 'api'",
                          "did you mean 'command'?")],
    "wrong_type_port": [(14, 32, "wrong-type",
                         "wrong type for 'port' in host 'app' of site 'recovery': expected an integer, "
                         "got the string 'twenty'", None)],
    "list_expected": [(34, 17, "wrong-type", "wrong type for 'depends_on' in service 'api': expected a list",
                       None)],
    "missing_field": [(16, 3, "missing-field", "data class 'db' is missing required field 'schedule'",
                       "add 'schedule: …'")],
    "wrong_api_version": [(2, 13, "invalid-value", "invalid value 'dr-orchestrator/v2' for 'apiVersion'",
                           "did you mean 'dr-orchestrator/v1'?")],
    "invalid_role": [(11, 11, "invalid-value", "invalid value 'recovry' for 'role' in site 'recovery'",
                      "did you mean 'recovery'?")],
    "unknown_step_kind": [(36, 15, "invalid-value", "unknown kind 'shel' in failover step 1 of service 'api'",
                           "did you mean 'shell'?")],
    "negative_retries": [(38, 18, "invalid-value", "invalid 'retries' in failover step 1 of service 'api': "
                          "-1 must be at least 0", None)],
    "check_missing_url": [(38, 9, "invalid-value", "failover step 2 of service 'api': an http check needs url",
                           None)],
    "invalid_duration": [(17, 10, "invalid-duration", "invalid duration '15 minutes'", None)],
    "duration_without_unit": [(38, 18, "invalid-duration", "duration 30 has no unit; write e.g. '30s'", None)],
    "unknown_service_dep": [(34, 18, "undefined-reference", "service 'api' depends on unknown service 'datbase'",
                             "did you mean 'database'?")],
    "unknown_site": [(33, 11, "undefined-reference", "service 'api' refers to unknown site 'primery'",
                      "did you mean 'primary'?")],
    "unknown_host": [(39, 15, "undefined-reference",
                      "failover step 2 of service 'api' refers to unknown host 'ap' at site 'recovery'",
                      "did you mean 'app'?")],
    "unknown_data_class": [(30, 21, "undefined-reference",
                            "failover step 1 of service 'database' refers to unknown data class 'dbb'",
                            "did you mean 'db'?")],
    "unknown_playbook": [(40, 19, "undefined-reference", "unknown playbook 'postgres-restor'",
                          "did you mean 'postgres-restore'?")],
    "undefined_variable": [(14, 14, "undefined-variable", "undefined variable 'regoin' in storage of site",
                            "did you mean 'region'?")],
    "cycle": [(35, 18, "cycle", "dependency cycle: api -> database -> web -> api", "remove one of")],
    "self_dependency": [(34, 28, "cycle", "service 'api' depends on itself", None)],
    "invalid_cron": [(18, 15, "invalid-cron", "invalid cron expression '61 * * * *'", "5 fields")],
    "cron_field_count": [(18, 15, "invalid-cron", "a schedule has 5 fields", None)],
    "rpo_unmet": [(18, 15, "rpo-unmet",
                   "schedule '0 */2 * * *' leaves up to 2h between backups, more than its RPO of 15m",
                   "'*/15 * * * *'")],
    "literal_password_dsn": [(24, 14, "literal-secret", "the URL/DSN contains a password", "env:NAME or file:PATH")],
    "literal_password_key": [(9, 17, "literal-secret", "'password' holds a literal value", "env:NAME")],
    "aws_access_key": [(9, 22, "literal-secret", "it contains an AWS access key id", "env:NAME")],
    "aws_secret_key": [(9, 11, "literal-secret", "it looks like an AWS secret access key", "env:NAME")],
    "replicate_to_self": [(21, 30, "replication-target", "data class 'db' replicates to its own source site",
                           None)],
    "replicate_to_unknown": [(21, 20, "undefined-reference", "unknown replication target site 'recovry'",
                              "did you mean 'recovery'?")],
    "restore_not_replicated": [(30, 21, "restore-site",
                                "restores 'db' at site 'recovery', but that data class is not replicated there",
                                "add 'recovery' to replicate_to")],
    "include_missing": [(5, 11, "include", "included file not found: teams/payments.yaml", None)],
    "rollback_without_steps": [(38, 21, "missing-rollback", "on_failure: rollback but no rollback steps", None)],
    "no_recovery_site": [(25, 3, "recovery-site", "service 'database' has failover steps but no recovery site",
                          "role: recovery"),
                         (32, 3, "recovery-site", "service 'api' has failover steps but no recovery site", None)],
    "storage_scheme": [(12, 14, "invalid-url", "unsupported storage URL 's4://bucket/r'", "s3://BUCKET/PREFIX")],
    "playbook_missing_param": [(40, 19, "missing-param", "playbook 'postgres-restore' needs parameter 'dsn'",
                                None)],
    "playbook_unknown_param": [(40, 19, "unknown-param", "playbook 'dns-switch' has no parameter 'tll'",
                                "did you mean 'ttl'?")],
    "playbook_undefined_template_var": [
        (39, 19, "undefined-variable", "playbook 'broken-template' uses undefined variable 'unit_name' "
         "(tests/unit/runbook/invalid/playbooks/broken-template.yaml:10)", "pass it in the step's vars")],
}


def test_every_invalid_file_has_expectations():
    assert {p.stem for p in HERE.glob("*.yaml")} == set(EXPECTED)
    assert len(EXPECTED) >= 25


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_runbook(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).parents[3])  # file names in messages are relative to the cwd
    path = HERE / f"{name}.yaml"
    runbook, issues = validate_file(path)
    assert runbook is None
    errors = [i for i in issues if i.severity == "error"]
    got = [(i.line, i.column, i.code) for i in errors]
    assert got == [(line, col, code) for line, col, code, _, _ in EXPECTED[name]], [i.render() for i in errors]
    for issue, (_, _, _, message, hint) in zip(errors, EXPECTED[name], strict=True):
        assert issue.file == f"tests/unit/runbook/invalid/{name}.yaml"
        assert message in issue.message, issue.render()
        if hint is not None:
            assert issue.hint and hint in issue.hint, issue.render()


def test_load_runbook_raises_with_all_issues():
    with pytest.raises(ValidationFailed) as info:
        load_runbook(HERE / "no_recovery_site.yaml")
    assert len(info.value.issues) == 2
    assert info.value.exit_code == 2


def test_many_problems_are_reported_in_one_run(tmp_path: Path) -> None:
    """One broken step does not hide the problems of the rest of its service."""
    text = (HERE.parent / "valid" / "minimal.yaml").read_text()
    text = text.replace("depends_on: [database]", "depends_on: [datbase]\n    rto: 10x")
    text = text.replace("        command: [echo, hi]",
                        "        comand: [echo, hi]\n      - kind: ssh\n        host: ap\n        command: w")
    path = tmp_path / "many.yaml"
    path.write_text(text)
    _, issues = validate_file(path)
    codes = sorted(i.code for i in issues)
    assert codes == ["invalid-duration", "undefined-reference", "undefined-reference", "unknown-key"], \
        [i.render() for i in issues]
    assert [i.line for i in issues] == sorted(i.line for i in issues)


def test_critical_path_over_rto_is_a_warning_or_a_strict_error(tmp_path: Path) -> None:
    """The planner hook: `dr_orchestrator.planning.critical_path_issues(runbook, strict)`."""
    text = (HERE.parent / "valid" / "minimal.yaml").read_text()
    text = text.replace("        command: [echo, hi]", "        command: [echo, hi]\n        estimate: 10m")
    text = text.replace("    depends_on: [database]", "    depends_on: [database]\n    rto: 5m")
    path = tmp_path / "rto.yaml"
    path.write_text(text)
    runbook, issues = validate_file(path)
    assert runbook is not None
    assert [(i.severity, i.line) for i in issues] == [("warning", 34)]
    assert "over its RTO of 5m" in issues[0].message
    runbook, issues = validate_file(path, strict=True)
    assert runbook is None and [(i.severity, i.line) for i in issues] == [("error", 34)]


def test_every_cycle_once_even_among_services_downstream_of_cycles(tmp_path: Path) -> None:
    """Two separate cycles, services depending on them, and acyclic services around them."""
    services = {
        "base": [], "a": ["b", "base"], "b": ["a"], "after-a": ["a"], "after-after": ["after-a", "base"],
        "d": ["f"], "e": ["d"], "f": ["e"], "free": ["base"], "g": ["g2"], "g2": ["g3"], "g3": ["g"],
    }
    body = "\n".join(f"  {name}:\n    site: home\n    depends_on: [{', '.join(deps)}]"
                     for name, deps in services.items())
    path = tmp_path / "rb.yaml"
    path.write_text("apiVersion: dr-orchestrator/v1\nkind: Runbook\nmetadata: {name: c}\n"
                    "sites:\n  home: {provider: local, storage: file:///tmp/x}\nservices:\n" + body + "\n")
    _, issues = validate_file(path)
    cycles = sorted(i.message for i in issues if i.code == "cycle")
    assert cycles == ["dependency cycle: a -> b -> a", "dependency cycle: d -> f -> e -> d",
                      "dependency cycle: g -> g2 -> g3 -> g"]
