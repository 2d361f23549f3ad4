"""Drift between `terraform output -json` and the runbook.

The modules publish an output named `dro` (sites: bucket, region, url; data classes:
lock days, replicate). Anything that differs from what the runbook says is drift:
a DR plan that believes in a bucket, region or lock period that is not there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dr_orchestrator.errors import BadInput
from dr_orchestrator.runbook.models import Runbook
from dr_orchestrator.terraform.export import Location, lock_days


@dataclass(frozen=True)
class Drift:
    field: str  # e.g. "sites.recovery.region"
    runbook: Any
    terraform: Any

    def render(self) -> str:
        return f"{self.field}: runbook says {self.runbook!r}, terraform has {self.terraform!r}"

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "runbook": self.runbook, "terraform": self.terraform}


def load_outputs(path: str | Path) -> dict[str, Any]:
    """Read `terraform output -json` (or just the `dro` value) from a file."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise BadInput(f"{p}: no such file",
                       "write it with `terraform output -json > FILE`") from None
    except json.JSONDecodeError as exc:
        raise BadInput(f"{p}:{exc.lineno}:{exc.colno}: not JSON ({exc.msg})",
                       "write it with `terraform output -json > FILE`") from None
    if isinstance(data, dict) and "dro" in data:
        data = data["dro"]
        if isinstance(data, dict) and "value" in data and "sites" not in data:
            data = data["value"]
    if not isinstance(data, dict) or "sites" not in data:
        raise BadInput(f"{p}: no `dro` output with `sites`",
                       "the DR storage modules publish an output named `dro`; "
                       "re-export it from your root module (see terraform/examples)")
    return data


def check_outputs(runbook: Runbook, outputs: dict[str, Any]) -> list[Drift]:
    """Every difference between the runbook and the Terraform outputs."""
    drift: list[Drift] = []
    sites = outputs.get("sites") or {}
    for name, tf_site in sorted(sites.items()):
        site = runbook.sites.get(name)
        if site is None:
            drift.append(Drift(f"sites.{name}", None, "present"))
            continue
        loc = Location.parse(name, site)
        if tf_site.get("bucket") != loc.bucket:
            drift.append(Drift(f"sites.{name}.bucket", loc.bucket, tf_site.get("bucket")))
        tf_region = str(tf_site.get("region", "")).lower()
        if tf_region != loc.region.lower():
            drift.append(Drift(f"sites.{name}.region", loc.region, tf_site.get("region")))
    for name, tf_dc in sorted((outputs.get("data_classes") or {}).items()):
        dc = runbook.data_classes.get(name)
        if dc is None:
            drift.append(Drift(f"data_classes.{name}", None, "present"))
            continue
        want = lock_days(dc.immutable_for)
        if int(tf_dc.get("lock_days", -1)) != want:
            drift.append(Drift(f"data_classes.{name}.lock_days", want, tf_dc.get("lock_days")))
        if "replicate" in tf_dc:
            recovery = [s for s in sites if s != dc.source_site]
            want_rep = any(s in dc.replicate_to for s in recovery)
            if bool(tf_dc["replicate"]) != want_rep:
                drift.append(Drift(f"data_classes.{name}.replicate", want_rep, tf_dc["replicate"]))
    managed = {n for n, dc in runbook.data_classes.items() if dc.source_site in sites}
    for name in sorted(managed - set(outputs.get("data_classes") or {})):
        drift.append(Drift(f"data_classes.{name}", "present", None))
    return drift
