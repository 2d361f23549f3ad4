"""Use cases: replicate a runbook's data classes (or one URL to another), repair a site.

For data class C, the repository at its source site `<source.storage>/C/` is copied to
`<site.storage>/C/` of every site in `replicate_to` (app/locations.py). The copy itself
needs no password; DRO_PASSWORD, when set, lets replication see which snapshots need
which packs (finer hold-back, safe pruning at the target) and is required for
`verify_before_replicate`. Bytes replicated are added to a per (class, site) counter in
the state dir for `dro status --metrics`.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dr_orchestrator.errors import BadInput
from dr_orchestrator.replication import layout
from dr_orchestrator.replication.options import Options
from dr_orchestrator.replication.replicator import Replicator
from dr_orchestrator.replication.report import ReplicationReport
from dr_orchestrator.scheduling.state import state_dir, write_atomic
from dr_orchestrator.storage.base import Backend
from dr_orchestrator.storage.registry import open_backend

if TYPE_CHECKING:  # the runbook models cost ~0.5 s to import: only the runbook paths need them
    from dr_orchestrator.runbook.models import Runbook

PASSWORD_ENV = "DRO_PASSWORD"  # noqa: S105 - the variable's name


def password_from_env() -> str | None:
    return os.environ.get(PASSWORD_ENV) or None


class ClassReplication:
    """One data class replicated from its source site to one target site."""

    def __init__(self, data_class: str, source_site: str, target_site: str, report: ReplicationReport) -> None:
        self.data_class = data_class
        self.source_site = source_site
        self.target_site = target_site
        self.report = report

    def __repr__(self) -> str:
        return f"ClassReplication({self.data_class!r}, {self.source_site!r} → {self.target_site!r})"

    def to_dict(self) -> dict[str, Any]:
        return {"data_class": self.data_class, "source_site": self.source_site,
                "target_site": self.target_site, **self.report.to_dict()}


class RunbookReplication:
    """Every (data class, target site) replication a `dro replicate RUNBOOK` ran."""

    def __init__(self, results: list[ClassReplication] | None = None) -> None:
        self.results: list[ClassReplication] = [] if results is None else results

    @property
    def ok(self) -> bool:
        return all(r.report.ok for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "replications": [r.to_dict() for r in self.results]}


def load_runbook(path: str) -> Runbook:
    from dr_orchestrator.runbook import load_runbook as load

    return load(path)


def _open(runbook: Runbook, site: str, data_class: str) -> Backend:
    from dr_orchestrator.app.locations import data_class_url, site_of

    return open_backend(data_class_url(runbook, site, data_class), dict(site_of(runbook, site).storage_options))


def _graph_and_filter(source: Backend, target: Backend, password: str | None,
                      verify_first: bool) -> tuple[Any, Any, list[str]]:
    """(graph, snapshot filter, warnings) for a replication of `source`."""
    if password is None:
        if verify_first:
            return None, lambda ids: {i: "verify_before_replicate needs the repository password "
                                         f"({PASSWORD_ENV}) to verify it" for i in ids}, []
        return None, None, []
    from dr_orchestrator.replication.repo_graph import RepositoryGraph, VerifyFilter
    from dr_orchestrator.repository.repo import Repository

    graph = RepositoryGraph(Repository.open(source, password))
    if not verify_first:
        return graph, None, []
    present = lambda: {i.key for i in target.list("data/")}  # noqa: E731
    return graph, VerifyFilter(graph, present), []


def replicate_data_class(runbook: Runbook, data_class: str, *, to: Sequence[str] = (),
                         password: str | None = None, base: Options | None = None,
                         now: datetime | None = None) -> list[ClassReplication]:
    try:
        dc = runbook.data_classes[data_class]
    except KeyError:
        known = ", ".join(sorted(runbook.data_classes)) or "none"
        raise BadInput(f"unknown data class {data_class!r}", f"data classes in this runbook: {known}") from None
    from dr_orchestrator.app.locations import retain_until, site_of

    sites = list(to) or list(dc.replicate_to)
    for s in sites:
        site_of(runbook, s)
        if s == dc.source_site:
            raise BadInput(f"site {s!r} is the source of data class {data_class!r}",
                           "replicate to another site")
    now = now or datetime.now(UTC)
    out = []
    source = _open(runbook, dc.source_site, data_class)
    for site in sites:
        target = _open(runbook, site, data_class)
        graph, snap_filter, _ = _graph_and_filter(source, target, password, dc.verify_before_replicate)
        opts = (base or Options()).replace(graph=graph, snapshot_filter=snap_filter,
                                           retain_until=retain_until(target, dc.immutable_for, now))
        report = Replicator(source, target, opts).run()
        if not report.dry_run:
            record_stats(data_class, site, report)
        out.append(ClassReplication(data_class, dc.source_site, site, report))
        if opts.stop.is_set():
            break
    return out


def replicate_runbook(runbook_path: str, *, data_class: str | None = None, to: Sequence[str] = (),
                      password: str | None = None, base: Options | None = None) -> RunbookReplication:
    runbook = load_runbook(runbook_path)
    if not password:
        from dr_orchestrator.app.passwords import repository_password

        password = repository_password(runbook, required=False)
    classes = [data_class] if data_class else sorted(runbook.data_classes)
    result = RunbookReplication()
    for name in classes:
        dc = runbook.data_classes.get(name)
        if dc is not None and not (to or dc.replicate_to):
            continue
        result.results += replicate_data_class(runbook, name, to=to, password=password, base=base)
    if not result.results:
        raise BadInput("nothing to replicate", "give data classes a replicate_to list, or pass --to SITE")
    return result


def replicate_urls(source_url: str, target_url: str, *, password: str | None = None,
                   base: Options | None = None) -> ReplicationReport:
    source, target = open_backend(source_url), open_backend(target_url)
    graph, _, _ = _graph_and_filter(source, target, password, False)
    return Replicator(source, target, (base or Options()).replace(graph=graph)).run()


def repair(repo_url: str, from_url: str, *, base: Options | None = None) -> ReplicationReport:
    """Heal `repo_url` from its replica `from_url`: every object at the damaged site is
    hashed; missing or damaged ones are copied (verified) from the replica. Nothing is
    deleted. Damaged objects the replica lacks too are reported as unrecoverable."""
    damaged, replica = open_backend(repo_url), open_backend(from_url)
    opts = (base or Options()).replace(deep=True, mirror_deletes=False)
    rp = Replicator(replica, damaged, opts)
    report = rp.run()
    replica_keys = {i.key for i in replica.list("")}
    extra = [i.key for i in damaged.list("") if i.key not in replica_keys
             and layout.expected_hash(i.key) is not None]
    report.unrecoverable = rp.hash_check(damaged, extra)
    return report


# --- bytes replicated, for metrics -------------------------------------------------------

_STATS_LOCK = threading.Lock()


def stats_path() -> Any:
    return state_dir() / "replication-stats.json"


def read_stats() -> dict[str, dict[str, Any]]:
    try:
        doc = json.loads(stats_path().read_text())
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


def record_stats(data_class: str, site: str, report: ReplicationReport) -> None:
    with _STATS_LOCK:
        stats = read_stats()
        entry = stats.setdefault(f"{data_class}/{site}", {"bytes_total": 0, "objects_total": 0})
        entry["bytes_total"] = int(entry.get("bytes_total", 0)) + report.bytes_transferred
        entry["objects_total"] = int(entry.get("objects_total", 0)) + report.counters.objects_copied
        entry["last_run"] = datetime.now(UTC).isoformat()
        if report.ok:
            entry["last_success"] = entry["last_run"]
        # Metrics are best effort; the replication itself succeeded or failed on its own.
        with contextlib.suppress(OSError):
            write_atomic(stats_path(), json.dumps(stats, indent=2, sort_keys=True).encode())
