"""An immutable data class on every kind of site: S3 locks each object (Object Lock); on GCS
and Azure immutability is the bucket's / account's policy (Terraform), so dro writes there
without a per-object lock instead of failing; a local directory cannot enforce it at all."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dr_orchestrator.app.replication import replicate_data_class
from dr_orchestrator.app.sources import backup_data_class
from dr_orchestrator.runbook import load_runbook
from dr_orchestrator.storage.registry import open_backend

Location = tuple[str, dict[str, str]]
PW = "correct horse battery staple"


def site(name: str, location: Location, role: str, env: dict[str, str]) -> str:
    url, options = location
    lines = [f"  {name}:", f"    role: {role}", f"    storage: {url}"]
    if options:
        lines.append("    storage_options:")
        for key, value in options.items():
            if key in ("connection_string", "secret_access_key"):  # secrets: references only
                var = f"DRO_TEST_{name.upper().replace('-', '_')}_{key.upper()}"
                env[var] = value
                value = f"env:{var}"
            lines.append(f"      {key}: '{value}'")
    return "\n".join(lines)


@pytest.mark.services
def test_immutable_class_backs_up_to_gcs_and_replicates_to_azure_and_locked_s3(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gcs_location: Callable[..., Location],
        azure_location: Callable[..., Location], s3_location: Callable[..., Location]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "ledger.csv").write_text("id,amount\n1,100\n" * 500)
    env: dict[str, str] = {}
    sites = [site("gcs", gcs_location("main"), "primary", env),
             site("azure", azure_location("main"), "recovery", env),
             site("s3-locked", s3_location("locked"), "recovery", env)]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    path = tmp_path / "runbook.yaml"
    path.write_text(
        "apiVersion: dr-orchestrator/v1\nkind: Runbook\nmetadata: {name: immutable}\nsites:\n"
        + "\n".join(sites) + "\n"
        "data_classes:\n"
        "  ledger:\n"
        "    rpo: 1h\n    schedule: '0 * * * *'\n    retention: {keep_last: 5}\n"
        "    source_site: gcs\n    replicate_to: [azure, s3-locked]\n    immutable_for: 1d\n"
        f"    sources:\n      - {{type: paths, path: '{data}'}}\n")
    runbook = load_runbook(path)

    snapshot = backup_data_class(runbook, "ledger", PW)  # GCS: no per-object lock asked for
    results = replicate_data_class(runbook, "ledger", password=PW)
    assert [r.report.ok for r in results] == [True, True], [r.report.to_dict() for r in results]

    for name in ("azure", "s3-locked"):
        replica = open_backend(*_location(runbook, name))
        assert f"snapshots/{snapshot.id}" in {i.key for i in replica.list("snapshots/")}, name
    s3 = open_backend(*_location(runbook, "s3-locked"))
    locked = s3.stat(f"snapshots/{snapshot.id}").retain_until
    assert locked is not None  # the only backend that locks objects one by one got the lock


def _location(runbook, site_name: str) -> Location:  # type: ignore[no-untyped-def]
    from dr_orchestrator.app.locations import data_class_url

    site_ = runbook.sites[site_name]
    options = {k: (site_.storage_options[k]) for k in site_.storage_options}
    return data_class_url(runbook, site_name, "ledger"), _resolved(options)


def _resolved(options: dict[str, str]) -> dict[str, str]:
    import os

    return {k: os.environ[v[4:]] if isinstance(v, str) and v.startswith("env:") else v for k, v in options.items()}
