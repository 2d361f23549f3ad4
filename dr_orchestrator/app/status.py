"""Use case: `dro status RUNBOOK` — RPO per data class and site, and metrics for Prometheus.

Snapshots are encrypted, so reading them needs the repository password (DRO_PASSWORD).
Sites are read in parallel; a site that cannot be read is reported as VIOLATED with the
reason rather than aborting the whole status.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dr_orchestrator.app import replication as app_repl
from dr_orchestrator.app.locations import data_class_url, site_of
from dr_orchestrator.errors import BadInput, DRError
from dr_orchestrator.replication.rpo import RpoStatus, SnapshotInfo, measure, prometheus_text
from dr_orchestrator.runbook.models import Runbook
from dr_orchestrator.scheduling.state import write_atomic
from dr_orchestrator.storage.registry import open_backend


@dataclass
class StatusReport:
    statuses: list[RpoStatus]
    now: datetime

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.statuses)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "now": self.now.isoformat(), "statuses": [s.to_dict() for s in self.statuses]}


def read_snapshots(runbook: Runbook, site: str, data_class: str, password: str) -> list[SnapshotInfo]:
    from dr_orchestrator.repository.repo import Repository

    backend = open_backend(data_class_url(runbook, site, data_class), dict(site_of(runbook, site).storage_options))
    repo = Repository.open(backend, password)
    try:
        return [SnapshotInfo(s.id, s.time, tuple(s.tags)) for s in repo.snapshots()]
    finally:
        repo.close()


def status(runbook: Runbook, password: str, *, data_classes: Sequence[str] = (), now: datetime | None = None,
           reader=read_snapshots) -> StatusReport:  # type: ignore[no-untyped-def]
    now = now or datetime.now(UTC)
    names = list(data_classes) or sorted(runbook.data_classes)
    for n in names:
        if n not in runbook.data_classes:
            raise BadInput(f"unknown data class {n!r}",
                           f"data classes in this runbook: {', '.join(sorted(runbook.data_classes)) or 'none'}")
    pairs = [(n, s) for n in names for s in [runbook.data_classes[n].source_site,
                                              *runbook.data_classes[n].replicate_to]]

    def read(pair: tuple[str, str]) -> list[SnapshotInfo] | DRError:
        try:
            return reader(runbook, pair[1], pair[0], password)  # type: ignore[no-any-return]
        except DRError as exc:
            return exc

    with ThreadPoolExecutor(min(8, max(1, len(pairs))), thread_name_prefix="dro-status") as pool:
        found = dict(zip(pairs, pool.map(read, pairs), strict=True))
    stats = app_repl.read_stats()
    out: list[RpoStatus] = []
    for name in names:
        dc = runbook.data_classes[name]
        rpo = dc.rpo.total_seconds()
        replica_ids: set[str] = set()
        for site in dc.replicate_to:
            got = found[(name, site)]
            if not isinstance(got, DRError):
                replica_ids |= {s.id for s in got}
        for site in [dc.source_site, *dc.replicate_to]:
            role = "source" if site == dc.source_site else "replica"
            got = found[(name, site)]
            if isinstance(got, DRError):
                st = RpoStatus(name, site, role, rpo, error=got.message)
            else:
                # verified: at a replica by construction; at the source once it reached a replica
                allowed = replica_ids if (dc.verify_before_replicate and role == "source") else None
                st = measure(name, site, role, rpo, got, now, allowed=allowed)
                if dc.verify_before_replicate and role == "replica":
                    st.verified = st.snapshot is not None
            if role == "replica":
                st.replicated_bytes_total = int(stats.get(f"{name}/{site}", {}).get("bytes_total", 0))
            out.append(st)
    return StatusReport(out, now)


def status_of_runbook(runbook_path: str, password: str | None, *, data_classes: Sequence[str] = (),
                      metrics_file: str | None = None) -> StatusReport:
    runbook = app_repl.load_runbook(runbook_path)
    if not password:
        from dr_orchestrator.app.passwords import repository_password

        password = repository_password(runbook, required=False)
    if not password:
        raise BadInput("reading snapshots needs the repository password",
                       f"set `repository_password: env:NAME` in the runbook or export {app_repl.PASSWORD_ENV}=… "
                       "(snapshots are encrypted)")
    report = status(runbook, password, data_classes=data_classes)
    if metrics_file:
        write_metrics(report, metrics_file)
    return report


def write_metrics(report: StatusReport, path: str) -> None:
    """Atomic write (temp + rename): node_exporter's textfile collector never sees half a file."""
    write_atomic(Path(path), prometheus_text(report.statuses).encode())
