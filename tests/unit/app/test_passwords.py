"""The repository password: the runbook's reference first, then $DRO_PASSWORD, never a literal."""

from __future__ import annotations

import pytest

from dr_orchestrator.app.passwords import repository_password
from dr_orchestrator.errors import BadInput
from dr_orchestrator.runbook import load_runbook

BASE = """\
apiVersion: dr-orchestrator/v1
kind: Runbook
metadata: {name: pw}
%s
sites:
  a: {storage: file:///tmp/pw-a}
"""


def _rb(tmp_path, line: str):
    path = tmp_path / "rb.yaml"
    path.write_text(BASE % line)
    return load_runbook(path)


def test_file_reference_relative_to_the_runbook(tmp_path, monkeypatch):
    monkeypatch.setenv("DRO_PASSWORD", "from-env")
    (tmp_path / "secret").write_text("from-file\n")
    assert repository_password(_rb(tmp_path, "repository_password: file:secret")) == "from-file"


def test_env_reference_then_fallback_then_error(tmp_path, monkeypatch):
    monkeypatch.setenv("REPO_PW", "named-env")
    monkeypatch.setenv("DRO_PASSWORD", "default-env")
    assert repository_password(_rb(tmp_path, "repository_password: env:REPO_PW")) == "named-env"
    assert repository_password(_rb(tmp_path, "")) == "default-env"
    monkeypatch.delenv("DRO_PASSWORD")
    assert repository_password(_rb(tmp_path, ""), required=False) is None
    with pytest.raises(BadInput, match="no repository password"):
        repository_password(_rb(tmp_path, ""))


def test_a_literal_password_is_not_a_reference(tmp_path):
    from dr_orchestrator.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as err:
        _rb(tmp_path, "repository_password: hunter2hunter2")
    assert any("repository_password" in i.message for i in err.value.issues)
    assert all("hunter2" not in i.render() for i in err.value.issues)
