"""`dro terraform export` writes variables the modules declare, with matching types; `check` finds drift."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dr_orchestrator.errors import BadInput
from dr_orchestrator.terraform import check_outputs, export_tfvars
from dr_orchestrator.terraform.export import build_tfvars
from tests.unit.terraform.tfhelpers import EXAMPLES, MODULES, ROOT, blocks, conforms, type_expr

DRO = str(ROOT / ".venv" / "bin" / "dro")
TF_ENV = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_CLI_CONFIG_FILE": "/dev/null"}

EXAMPLE_EXPORTS = [
    ("runbooks/aws-multi-region.yaml", "aws"),
    ("runbooks/multi-cloud.yaml", "aws"),
    ("runbooks/multi-cloud.yaml", "gcp"),
    ("runbooks/multi-cloud.yaml", "azure"),
]


def _runbook(path: str):
    from dr_orchestrator.runbook import load_runbook  # type: ignore[attr-defined]

    return load_runbook(ROOT / path)


def _assert_fits_module(tfvars: dict, provider: str) -> None:
    declared = blocks(MODULES / f"{provider}-dr-storage", "variable")
    unknown = set(tfvars) - set(declared)
    assert not unknown, f"export writes variables the module does not declare: {unknown}"
    for name, value in tfvars.items():
        assert conforms(value, type_expr(declared[name])), f"{name}={value!r} does not fit {type_expr(declared[name])}"
    required = {n for n, s in declared.items() if "default" not in s}
    missing = required - set(tfvars) - {"project", "resource_group_name"}  # account-level, set by the user
    assert not missing, f"export leaves required variables unset: {missing}"


@pytest.mark.parametrize(("runbook", "provider"), EXAMPLE_EXPORTS)
def test_export_of_example_runbooks_fits_module_declarations(runbook, provider, tmp_path):
    path = export_tfvars(_runbook(runbook), provider, tmp_path)
    tfvars = json.loads(path.read_text())
    _assert_fits_module(tfvars, provider)
    assert tfvars["primary_site"] != tfvars["recovery_site"]
    assert tfvars["data_classes"], "a DR pair without data classes exports nothing useful"


def test_export_maps_runbook_fields(tmp_path):
    tfvars = build_tfvars(_runbook("runbooks/aws-multi-region.yaml"), "aws")
    rb = _runbook("runbooks/aws-multi-region.yaml")
    prim, rec = rb.sites[tfvars["primary_site"]], rb.sites[tfvars["recovery_site"]]
    assert tfvars["primary_bucket"] in prim.storage and tfvars["recovery_bucket"] in rec.storage
    assert tfvars["primary_region"] == prim.region and tfvars["recovery_region"] == rec.region
    for name, dc in tfvars["data_classes"].items():
        imm = rb.data_classes[name].immutable_for
        assert dc["lock_days"] == (0 if not imm else -(-int(imm.total_seconds()) // 86400))
        assert dc["prefix"].endswith(f"{name}/")


def test_unknown_provider_and_missing_pair_are_bad_input():
    rb = _runbook("runbooks/quickstart.yaml")
    with pytest.raises(BadInput, match="unknown provider"):
        build_tfvars(rb, "oracle")
    with pytest.raises(BadInput, match="no aws primary/recovery site pair"):
        build_tfvars(rb, "aws")


def _outputs_from_tfvars(tfvars: dict) -> dict:
    """What the aws module's `dro` output says for these variables (the offline example computes the same)."""
    return {"dro": {"sensitive": False, "type": "object", "value": {
        "provider": "aws",
        "sites": {
            tfvars["primary_site"]: {"bucket": tfvars["primary_bucket"], "region": tfvars["primary_region"]},
            tfvars["recovery_site"]: {"bucket": tfvars["recovery_bucket"], "region": tfvars["recovery_region"]},
        },
        "data_classes": {n: {"lock_days": d["lock_days"], "lock_mode": "COMPLIANCE", "replicate": d["replicate"]}
                         for n, d in tfvars["data_classes"].items()},
    }}}


def _dro(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DRO, *args], capture_output=True, text=True, cwd=ROOT)


def test_check_cli_no_drift_then_region_and_lock_drift(tmp_path):
    runbook = "runbooks/aws-multi-region.yaml"
    out = _dro("terraform", "export", runbook, "--provider", "aws", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    tfvars = json.loads((tmp_path / "dro.auto.tfvars.json").read_text())
    good = _outputs_from_tfvars(tfvars)
    (tmp_path / "good.json").write_text(json.dumps(good))
    ok = _dro("terraform", "check", runbook, "--outputs", str(tmp_path / "good.json"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "no drift" in ok.stdout

    bad = copy.deepcopy(good)
    bad["dro"]["value"]["sites"][tfvars["recovery_site"]]["region"] = "ap-south-1"
    name = next(iter(tfvars["data_classes"]))
    bad["dro"]["value"]["data_classes"][name]["lock_days"] += 3
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    res = _dro("terraform", "check", runbook, "--outputs", str(tmp_path / "bad.json"), "--json")
    assert res.returncode == 1
    fields = {d["field"] for d in json.loads(res.stdout)["drift"]}
    assert fields == {f"sites.{tfvars['recovery_site']}.region", f"data_classes.{name}.lock_days"}
    text = _dro("terraform", "check", runbook, "--outputs", str(tmp_path / "bad.json"))
    assert text.returncode == 1 and "ap-south-1" in text.stdout and "lock_days" in text.stdout


def test_check_rejects_outputs_without_dro(tmp_path):
    (tmp_path / "o.json").write_text(json.dumps({"something": {"value": 1}}))
    res = _dro("terraform", "check", "runbooks/aws-multi-region.yaml", "--outputs", str(tmp_path / "o.json"))
    assert res.returncode == 2 and "no `dro` output" in res.stderr
    (tmp_path / "broken.json").write_text("{ nope")
    res = _dro("terraform", "check", "runbooks/aws-multi-region.yaml", "--outputs", str(tmp_path / "broken.json"))
    assert res.returncode == 2 and "broken.json:1:" in res.stderr


def test_check_names_a_bucket_drift():
    rb = _runbook("runbooks/aws-multi-region.yaml")
    tfvars = build_tfvars(rb, "aws")
    outputs = _outputs_from_tfvars(tfvars)["dro"]["value"]
    outputs["sites"][tfvars["primary_site"]]["bucket"] = "someone-elses-bucket"
    drift = check_outputs(rb, outputs)
    assert [d.field for d in drift] == [f"sites.{tfvars['primary_site']}.bucket"]


@pytest.mark.skipif(shutil.which("terraform") is None, reason="no `terraform` binary on PATH")
def test_export_apply_output_check_end_to_end_with_real_terraform(tmp_path):
    """export -> terraform apply (offline example, built-ins only) -> output -json -> check."""
    work = tmp_path / "tf"
    shutil.copytree(EXAMPLES / "offline", work)
    runbook = "runbooks/aws-multi-region.yaml"
    assert _dro("terraform", "export", runbook, "--provider", "aws", "--out", str(work)).returncode == 0
    for cmd in (["init", "-input=false", "-backend=false"], ["apply", "-auto-approve", "-input=false"]):
        res = subprocess.run(["terraform", f"-chdir={work}", *cmd], capture_output=True, text=True, env=TF_ENV)
        assert res.returncode == 0, res.stdout + res.stderr
    outputs = subprocess.run(["terraform", f"-chdir={work}", "output", "-json"], capture_output=True, text=True,
                             env=TF_ENV, check=True).stdout
    Path(tmp_path / "outputs.json").write_text(outputs)
    res = _dro("terraform", "check", runbook, "--outputs", str(tmp_path / "outputs.json"))
    assert res.returncode == 0, res.stdout + res.stderr
    # Drift made in Terraform (a different recovery region) is caught.
    tfvars = json.loads((work / "dro.auto.tfvars.json").read_text())
    res = subprocess.run(["terraform", f"-chdir={work}", "apply", "-auto-approve", "-input=false",
                          "-var", "recovery_region=ap-south-1"], capture_output=True, text=True, env=TF_ENV)
    assert res.returncode == 0, res.stderr
    outputs = subprocess.run(["terraform", f"-chdir={work}", "output", "-json"], capture_output=True, text=True,
                             env=TF_ENV, check=True).stdout
    Path(tmp_path / "outputs.json").write_text(outputs)
    res = _dro("terraform", "check", runbook, "--outputs", str(tmp_path / "outputs.json"))
    assert res.returncode == 1 and f"sites.{tfvars['recovery_site']}.region" in res.stdout
