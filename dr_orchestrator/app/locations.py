"""Where things live in a site's storage — the one convention every use case shares.

A site's `storage` URL is the root of that site's DR storage. Inside it:
- the repository of data class C is at `<storage>/<C>/` (one repository per data class,
  so retention, immutability and replication are per class);
- execution journals are mirrored under `<storage>/runs/<RUN_ID>/`;
- drill history is under `<storage>/history/`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from dr_orchestrator.errors import BadInput
from dr_orchestrator.runbook.models import Runbook, Site


def join_url(base: str, *parts: str) -> str:
    """Append path segments to a storage URL, keeping its query (region, endpoint …)."""
    split = urlsplit(base)
    path = split.path.rstrip("/")
    for part in parts:
        path += "/" + part.strip("/")
    if not split.scheme:  # a bare local path
        return path
    return urlunsplit((split.scheme, split.netloc, path, split.query, split.fragment))


def site_of(runbook: Runbook, name: str) -> Site:
    try:
        return runbook.sites[name]
    except KeyError:
        raise BadInput(f"unknown site {name!r}",
                       f"sites in this runbook: {', '.join(sorted(runbook.sites)) or 'none'}") from None


def data_class_url(runbook: Runbook, site: str, data_class: str) -> str:
    """Storage URL of data class `data_class`'s repository at `site`."""
    return join_url(site_of(runbook, site).storage, data_class)


def runs_url(runbook: Runbook, site: str) -> str:
    return join_url(site_of(runbook, site).storage, "runs")


def history_url(runbook: Runbook, site: str) -> str:
    return join_url(site_of(runbook, site).storage, "history")


def history_backend(runbook: Runbook) -> Any:
    """The backend holding the runbook's drill history (its first recovery site), or None.

    Here rather than with the drill use case so `dro plan` reads measured durations without
    importing the executor, the reports and their templates."""
    from dr_orchestrator.storage.registry import open_backend

    recovery = [n for n, s in runbook.sites.items() if s.role == "recovery"]
    if not recovery:
        return None
    site = recovery[0]
    return open_backend(history_url(runbook, site), dict(runbook.sites[site].storage_options))


def retain_until(backend: Any, immutable_for: timedelta | None, now: datetime) -> datetime | None:
    """The per-object lock to put on new objects of a data class at `backend`, or None.

    Only backends that lock objects one by one (S3 Object Lock) take one. On GCS and Azure a
    class's `immutable_for` is the bucket's retention policy / the account's version-level
    immutability policy, which `dro terraform export` writes and `dro terraform check`
    verifies; local directories and SFTP cannot enforce it, and there only dro's own
    retention (forget never drops a snapshot younger than `immutable_for`) keeps them.
    """
    if immutable_for is None or not getattr(backend.capabilities, "object_lock", False):
        return None
    return now + immutable_for
