"""Terraform integration: the runbook is the single source of truth for DR storage.

`export` turns a runbook into `*.auto.tfvars.json` for terraform/modules/*-dr-storage;
`check` compares `terraform output -json` with the runbook and reports drift.
"""

from dr_orchestrator.terraform.check import Drift, check_outputs
from dr_orchestrator.terraform.export import PROVIDERS, StoragePair, export_tfvars, find_pairs

__all__ = ["PROVIDERS", "Drift", "StoragePair", "check_outputs", "export_tfvars", "find_pairs"]
