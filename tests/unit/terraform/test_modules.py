"""Every module parses, documents what it declares, and is `terraform fmt` clean."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.unit.terraform.tfhelpers import EXAMPLES, MODULES, blocks, conforms, readme_names, type_expr

MODULE_DIRS = sorted(p for p in MODULES.iterdir() if p.is_dir())
EXAMPLE_DIRS = sorted(p for p in EXAMPLES.iterdir() if p.is_dir())
TF_ENV = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_CLI_CONFIG_FILE": "/dev/null"}
needs_terraform = pytest.mark.skipif(shutil.which("terraform") is None,
                                     reason="no `terraform` binary on PATH (not in the Debian/PyPI registries)")


def test_three_modules_exist():
    assert {p.name for p in MODULE_DIRS} == {"aws-dr-storage", "gcp-dr-storage", "azure-dr-storage"}


@pytest.mark.parametrize("module", MODULE_DIRS, ids=lambda p: p.name)
def test_module_readme_lists_exactly_its_variables_and_outputs(module):
    variables = blocks(module, "variable")
    outputs = blocks(module, "output")
    assert variables and outputs
    assert readme_names(module, "Variables") == set(variables)
    assert readme_names(module, "Outputs") == set(outputs)
    assert "dro" in outputs, "every module publishes the `dro` output that `dro terraform check` reads"


@pytest.mark.parametrize("directory", MODULE_DIRS + EXAMPLE_DIRS, ids=lambda p: p.name)
def test_every_variable_is_typed_and_documented(directory):
    for name, spec in blocks(directory, "variable").items():
        assert spec.get("description"), f"{directory.name}: variable {name} has no description"
        assert "type" in spec, f"{directory.name}: variable {name} has no type"
        if "default" in spec and spec["default"] is not None:
            assert conforms(spec["default"], type_expr(spec)), f"{name}: default does not fit its type"


@pytest.mark.parametrize("example", [p for p in EXAMPLE_DIRS if p.name != "offline"], ids=lambda p: p.name)
def test_example_passes_only_declared_module_variables(example):
    from tests.unit.terraform.tfhelpers import load_hcl

    main = load_hcl(example / "main.tf")
    (call,) = main["module"]
    ((_, args),) = call.items()
    module_dir = (example / args["source"]).resolve()
    declared = blocks(module_dir, "variable")
    passed = {k for k in args if k not in ("source", "providers")}
    assert passed <= set(declared), f"undeclared: {passed - set(declared)}"
    required = {n for n, s in declared.items() if "default" not in s}
    assert required <= passed, f"missing required: {required - passed}"


@needs_terraform
def test_terraform_fmt_is_clean():
    out = subprocess.run(["terraform", "fmt", "-check", "-recursive", str(MODULES.parent)],
                         capture_output=True, text=True, env=TF_ENV)
    assert out.returncode == 0, f"not fmt-clean: {out.stdout}{out.stderr}"


@needs_terraform
def test_offline_example_inits_and_validates(tmp_path):
    work = tmp_path / "offline"
    shutil.copytree(EXAMPLES / "offline", work)
    for cmd in (["init", "-input=false", "-backend=false"], ["validate"]):
        out = subprocess.run(["terraform", f"-chdir={work}", *cmd], capture_output=True, text=True, env=TF_ENV)
        assert out.returncode == 0, out.stdout + out.stderr
