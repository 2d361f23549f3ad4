"""Runbook → tfvars for the DR storage modules (one primary/recovery pair per export)."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dr_orchestrator.errors import BadInput
from dr_orchestrator.runbook.models import Runbook, Site

# provider name -> URL scheme of its storage
PROVIDERS: dict[str, str] = {"aws": "s3", "gcp": "gs", "azure": "az"}
NONCURRENT_GRACE_DAYS = 7  # old versions outlive their lock by this much, then expire
TFVARS_NAME = "dro.auto.tfvars.json"


@dataclass(frozen=True)
class Location:
    """A site's storage URL split into what Terraform names."""

    bucket: str  # S3/GCS bucket, or Azure storage account
    container: str  # Azure container ("" elsewhere)
    prefix: str  # key prefix inside the bucket/container, "" or ending in "/"
    region: str

    @staticmethod
    def parse(site_name: str, site: Site) -> Location:
        parts = urlsplit(site.storage)
        query = parse_qs(parts.query)
        region = site.region or (query.get("region") or [""])[0]
        path = parts.path.strip("/")
        if parts.scheme == "az":
            container, _, prefix = path.partition("/")
            if not container:
                raise BadInput(f"site {site_name!r}: storage {site.storage!r} names no container",
                               "write it as az://ACCOUNT/CONTAINER[/PREFIX]")
        else:
            container, prefix = "", path
        if not region:
            raise BadInput(f"site {site_name!r} has no region",
                           "set `region:` on the site (Terraform needs it to place the bucket)")
        return Location(parts.netloc, container, prefix + "/" if prefix else "", region)


@dataclass(frozen=True)
class StoragePair:
    primary: str
    recovery: str


def _sites_of(runbook: Runbook, provider: str) -> dict[str, Site]:
    scheme = PROVIDERS[provider]
    return {n: s for n, s in runbook.sites.items() if urlsplit(s.storage).scheme == scheme}


def find_pairs(runbook: Runbook, provider: str) -> list[StoragePair]:
    """Primary → recovery site pairs of this provider that some data class replicates along."""
    sites = _sites_of(runbook, provider)
    pairs: set[StoragePair] = set()
    for dc in runbook.data_classes.values():
        for target in dc.replicate_to:
            if dc.source_site in sites and target in sites and target != dc.source_site:
                pairs.add(StoragePair(dc.source_site, target))
    if not pairs:  # no replication along this provider: pair its primary with its recovery site
        prim = [n for n, s in sites.items() if s.role == "primary"]
        rec = [n for n, s in sites.items() if s.role == "recovery"]
        pairs = {StoragePair(p, r) for p in prim for r in rec}
    return sorted(pairs, key=lambda p: (p.primary, p.recovery))


def _pick_pair(runbook: Runbook, provider: str, pair: str | None) -> StoragePair:
    if provider not in PROVIDERS:
        raise BadInput(f"unknown provider {provider!r}", f"use one of: {', '.join(PROVIDERS)}")
    candidates = find_pairs(runbook, provider)
    if pair:
        primary, sep, recovery = pair.partition(":")
        wanted = StoragePair(primary, recovery)
        if not sep or wanted not in candidates:
            raise BadInput(f"--pair {pair!r} is not a {provider} site pair of this runbook",
                           "pairs: " + (", ".join(f"{c.primary}:{c.recovery}" for c in candidates) or "none"))
        return wanted
    if not candidates:
        raise BadInput(f"the runbook has no {provider} primary/recovery site pair",
                       f"give two sites {PROVIDERS[provider]}:// storage URLs (roles primary and recovery)")
    if len(candidates) > 1:
        raise BadInput(f"the runbook has {len(candidates)} {provider} site pairs",
                       "choose one with --pair " + " or --pair ".join(f"{c.primary}:{c.recovery}"
                                                                      for c in candidates))
    return candidates[0]


def lock_days(period: timedelta | None) -> int:
    return 0 if not period else math.ceil(period.total_seconds() / 86400)


def _data_classes(runbook: Runbook, pair: StoragePair, prefix: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, dc in sorted(runbook.data_classes.items()):
        if dc.source_site not in (pair.primary, pair.recovery):
            continue
        out[name] = {
            "prefix": f"{prefix}{name}/",
            "lock_days": lock_days(dc.immutable_for),
            "replicate": dc.source_site == pair.primary and pair.recovery in dc.replicate_to,
            "noncurrent_days": NONCURRENT_GRACE_DAYS,
        }
    return out


def build_tfvars(runbook: Runbook, provider: str, pair: str | None = None) -> dict[str, Any]:
    """The variables for terraform/modules/<provider>-dr-storage, from the runbook."""
    chosen = _pick_pair(runbook, provider, pair)
    prim = Location.parse(chosen.primary, runbook.sites[chosen.primary])
    rec = Location.parse(chosen.recovery, runbook.sites[chosen.recovery])
    classes = _data_classes(runbook, chosen, "")
    longest = max((c["lock_days"] for c in classes.values()), default=0)
    common: dict[str, Any] = {
        "runbook_name": runbook.metadata.name,
        "primary_site": chosen.primary,
        "recovery_site": chosen.recovery,
    }
    if provider == "aws":
        return common | {
            "primary_region": prim.region, "recovery_region": rec.region,
            "primary_bucket": prim.bucket, "recovery_bucket": rec.bucket,
            "primary_prefix": prim.prefix, "recovery_prefix": rec.prefix,
            "object_lock_mode": "COMPLIANCE", "default_retention_days": 0,
            "data_classes": classes,
        }
    if provider == "gcp":
        if prim.prefix != rec.prefix:
            raise BadInput("GCS sites of a pair must use the same prefix",
                           f"{chosen.primary} uses {prim.prefix!r}, {chosen.recovery} uses {rec.prefix!r}")
        return common | {
            "primary_bucket": prim.bucket, "recovery_bucket": rec.bucket,
            "primary_location": prim.region, "recovery_location": rec.region,
            "retention_days": longest,
            "data_classes": _data_classes(runbook, chosen, prim.prefix),
        }
    if prim.container != rec.container or prim.prefix != rec.prefix:
        raise BadInput("Azure sites of a pair must use the same container and prefix",
                       f"{chosen.primary}: {prim.container}/{prim.prefix}, "
                       f"{chosen.recovery}: {rec.container}/{rec.prefix}")
    return common | {
        "primary_account": prim.bucket, "recovery_account": rec.bucket,
        "primary_location": prim.region, "recovery_location": rec.region,
        "container": prim.container,
        "immutability_days": longest,
        "data_classes": _data_classes(runbook, chosen, prim.prefix),
    }


def export_tfvars(runbook: Runbook, provider: str, out_dir: str | os.PathLike[str],
                  pair: str | None = None) -> Path:
    """Write `dro.auto.tfvars.json` into `out_dir` (atomically) and return its path."""
    data = build_tfvars(runbook, provider, pair)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / TFVARS_NAME
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, target)
    return target
