"""Semantic checks: everything the models alone cannot see — references between sites,
hosts, data classes, services and playbooks, dependency cycles, schedules against RPOs,
replication targets, and (through the planner, when present) the RTO critical path.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from dr_orchestrator.errors import Issue
from dr_orchestrator.runbook.cron import cron_error, max_interval, suggest_schedule
from dr_orchestrator.runbook.describe import describe
from dr_orchestrator.runbook.durations import format_duration
from dr_orchestrator.runbook.loader import Loaded, issue_at
from dr_orchestrator.runbook.models import ACTIONS, AnyStep, PlaybookStep, RestoreStep, Runbook
from dr_orchestrator.runbook.playbooks import expand
from dr_orchestrator.runbook.suggest import did_you_mean
from dr_orchestrator.runbook.typecheck import PLACEHOLDER
from dr_orchestrator.runbook.yamlpos import PathKey, Pos, SourceMap

STORAGE_SCHEMES = ("file", "s3", "gs", "az", "sftp")


class _Lazy:
    """A description worked out only if a message needs it (10,000 services, few errors)."""

    def __init__(self, fn: Any, *args: Any) -> None:
        self.fn, self.args, self.text = fn, args, None

    def __str__(self) -> str:
        if self.text is None:
            self.text = self.fn(*self.args)
        return str(self.text)


class Checker:
    def __init__(self, loaded: Loaded) -> None:
        assert loaded.runbook is not None
        self.rb: Runbook = loaded.runbook
        self.raw = loaded.raw
        self.smap = loaded.smap
        self.names = loaded.names
        self.issues: list[Issue] = []
        # A site with errors may be the missing recovery site: do not pile on.
        self.broken_sites = len(self.rb.sites) != len(self.names.get("sites", ())) or any(
            section == "sites" for section, _ in loaded.salvaged)
        self.service_names = self.names.get("services", set())
        # Where a service without its own recovery_site fails over (the same for all of them).
        recovery = [s for s, site in self.rb.sites.items() if site.role == "recovery"]
        self.default_recovery = recovery[0] if len(recovery) == 1 else None

    # -- helpers --------------------------------------------------------------------------

    def error(self, path: PathKey, message: str, hint: str | None = None, code: str = "invalid",
              *, key: bool = False, smap: SourceMap | None = None) -> None:
        smap = smap or self.smap
        self.issues.append(issue_at(smap.key(path) if key else smap.value(path), message, hint, code))

    def warn(self, path: PathKey, message: str, hint: str | None = None, code: str = "warning",
             *, key: bool = False, smap: SourceMap | None = None) -> None:
        smap = smap or self.smap
        self.issues.append(issue_at(smap.key(path) if key else smap.value(path), message, hint, code,
                                    severity="warning"))

    def ref(self, path: PathKey, kind: str, name: str, section: str, owner: object, *,
            smap: SourceMap | None = None) -> bool:
        """Check a reference to a site/data class/service; False (and an issue) if undefined."""
        if name in self.names.get(section, ()):
            return True
        self.error(path, f"{owner} refers to unknown {kind} '{name}'",
                   did_you_mean(name, self.names.get(section, ()), fallback=f"define it under '{section}:'"),
                   "undefined-reference", smap=smap)
        return False

    # -- checks ---------------------------------------------------------------------------

    def run(self) -> list[Issue]:
        for name, site in self.rb.sites.items():
            self.site(name, site)
        for name, dc in self.rb.data_classes.items():
            self.data_class(name, dc)
        for name in self.rb.services:
            self.service(name)
        self.cycles()
        return self.issues

    def site(self, name: str, site: Any) -> None:
        path = ("sites", name)
        scheme = urlsplit(site.storage).scheme
        if scheme not in STORAGE_SCHEMES:
            close = did_you_mean(scheme, STORAGE_SCHEMES) if scheme else None
            self.error(path + ("storage",), f"site '{name}' has an unsupported storage URL '{site.storage}'",
                       (close + " " if close and close.startswith("did") else "")
                       + "locations are file://DIR, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, "
                         "az://ACCOUNT/CONTAINER/PREFIX or sftp://USER@HOST/PATH", "invalid-url")
        for host_name, host in site.hosts.items():
            if host.insecure_accept_unknown_host_key and not host.local:
                self.warn(path + ("hosts", host_name, "insecure_accept_unknown_host_key"),
                          f"host '{host_name}' of site '{name}' accepts unknown host keys",
                          "set known_hosts instead; this is only acceptable in throwaway labs", "insecure")
        if site.drill is not None:
            for host_name in site.drill.hosts:
                if host_name not in site.hosts:
                    self.error(path + ("drill", "hosts", host_name),
                               f"drill override for unknown host '{host_name}' of site '{name}'",
                               did_you_mean(host_name, site.hosts), "undefined-reference", key=True)

    def data_class(self, name: str, dc: Any) -> None:
        path = ("data_classes", name)
        owner = f"data class '{name}'"
        site_ok = self.ref(path + ("source_site",), "site", dc.source_site, "sites", owner)
        seen: set[str] = set()
        for index, target in enumerate(dc.replicate_to):
            where = path + ("replicate_to", index)
            if target == dc.source_site:
                self.error(where, f"{owner} replicates to its own source site '{target}'",
                           "replicate to a different site (another region or cloud)", "replication-target")
            elif target in seen:
                self.warn(where, f"{owner} lists replication target '{target}' twice", None, "duplicate")
            else:
                self.ref(where, "replication target site", target, "sites", owner)
            seen.add(target)
        problem = cron_error(dc.schedule)
        if problem:
            self.error(path + ("schedule",), f"{owner}: {problem}",
                       "5 fields: minute hour day-of-month month day-of-week, e.g. '*/15 * * * *'",
                       "invalid-cron")
        else:
            gap = max_interval(dc.schedule)
            if gap > dc.rpo:
                self.error(path + ("schedule",),
                           f"{owner}: schedule '{dc.schedule}' leaves up to {format_duration(gap)} between "
                           f"backups, more than its RPO of {format_duration(dc.rpo)}",
                           f"back up at least every {format_duration(dc.rpo)} "
                           f"(e.g. '{suggest_schedule(dc.rpo)}') or raise the RPO", "rpo-unmet")
        retention = dc.retention
        if all(getattr(retention, f) is None for f in type(retention).model_fields):
            self.warn(path, f"{owner} has no retention policy: snapshots are kept forever",
                      "add retention: (keep_daily, keep_weekly, …)", "no-retention", key=True)
        names: set[str] = set()
        for index, source in enumerate(dc.sources):
            if source.name == PLACEHOLDER:
                continue
            spath = path + ("sources", index)
            if source.name:
                if source.name in names:
                    self.error(spath + ("name",), f"{owner} has two sources named '{source.name}'",
                               "give each source a unique name", "duplicate")
                names.add(source.name)
            if source.host is not None and site_ok:
                self.host_ref(spath + ("host",), source.host, dc.source_site, owner)

    def host_ref(self, path: PathKey, ref: str, site: str | None, owner: object, *,
                 smap: SourceMap | None = None) -> None:
        if self.rb.resolve_host(ref, site) is not None:
            return
        site_name, host_name = ref.split("/", 1) if "/" in ref else (site, ref)
        if site_name is not None and site_name not in self.rb.sites:
            if site_name in self.names.get("sites", ()):
                return  # the site itself is broken and already reported
            self.error(path, f"{owner} refers to host '{ref}' at unknown site '{site_name}'",
                       did_you_mean(site_name, self.rb.sites), "undefined-reference", smap=smap)
            return
        if site_name is None:
            self.error(path, f"{owner} refers to host '{ref}' but no site is known to look it up in",
                       "write SITE/HOST, or set the service's recovery_site", "undefined-reference", smap=smap)
            return
        hosts = self.rb.sites[site_name].hosts
        every = [f"{s}/{h}" for s, site_ in self.rb.sites.items() for h in site_.hosts]
        hint = did_you_mean(host_name, hosts) if hosts else None
        if hint is None or not hint.startswith("did"):
            hint = did_you_mean(ref, every, fallback=f"define it under sites.{site_name}.hosts")
        self.error(path, f"{owner} refers to unknown host '{host_name}' at site '{site_name}'", hint,
                   "undefined-reference", smap=smap)

    def service(self, name: str) -> None:
        svc = self.rb.services[name]
        path = ("services", name)
        owner = f"service '{name}'"
        if svc.site not in self.rb.sites:
            self.ref(path + ("site",), "site", svc.site, "sites", owner)
        recovery_site = svc.recovery_site or self.default_recovery  # = rb.recovery_site_for(name)
        if svc.recovery_site is not None:
            if self.ref(path + ("recovery_site",), "site", svc.recovery_site, "sites", owner) \
                    and svc.recovery_site == svc.site:
                self.error(path + ("recovery_site",), f"{owner} recovers to the site it runs at ('{svc.site}')",
                           "choose a site in another region or cloud", "recovery-site")
        elif svc.failover and recovery_site is None and not self.broken_sites:
            recovery = [s for s, site in self.rb.sites.items() if site.role == "recovery"]
            self.error(path, f"{owner} has failover steps but no recovery site",
                       "set recovery_site:" + (f" (one of {', '.join(recovery)})" if recovery else
                                               " or give one site role: recovery"), "recovery-site", key=True)
        known = self.service_names
        for index, dep in enumerate(svc.depends_on):
            if dep == name:
                self.error(path + ("depends_on", index), f"{owner} depends on itself",
                           "remove it from depends_on", "cycle")
            elif dep not in known:
                self.error(path + ("depends_on", index), f"{owner} depends on unknown service '{dep}'",
                           did_you_mean(dep, known), "undefined-reference")
        for index, dc in enumerate(svc.data_classes):
            self.ref(path + ("data_classes", index), "data class", dc, "data_classes", owner)
        for action in ACTIONS:
            steps = getattr(svc, action)
            if not steps:
                continue
            site = recovery_site if action == "failover" else svc.site  # = rb.action_site(name, action)
            context = {"service": name, "site": site, "action": action}
            self.steps(steps, path + (action,), name, site, context, self.smap, None)

    def steps(self, steps: Sequence[AnyStep], path: PathKey, service: str, site: str | None,
              context: dict[str, Any], smap: SourceMap, via: str | None, depth: int = 0) -> None:
        svc = self.rb.services[service]
        for index, step in enumerate(steps):
            if step.name == PLACEHOLDER:
                continue
            spath = path + (index,)
            owner = _Lazy(describe, spath, self.raw) if via is None else f"step {index + 1} of {via}"
            host = getattr(step, "host", None) if _has_host(type(step)) else None
            if isinstance(host, str):
                self.host_ref(spath + ("host",), host, site, owner, smap=smap)
            if step.on_failure == "rollback" and not step.rollback:
                self.error(spath + ("on_failure",), f"{owner} has on_failure: rollback but no rollback steps",
                           "add rollback: (a command or a list of steps) or choose abort/continue",
                           "missing-rollback", smap=smap)
            if step.estimate is not None and step.estimate > step.timeout:
                self.warn(spath + ("estimate",), f"{owner} is estimated at {format_duration(step.estimate)}, "
                          f"longer than its timeout of {format_duration(step.timeout)}",
                          "raise the timeout or correct the estimate", "estimate-timeout", smap=smap)
            if isinstance(step, RestoreStep) and self.ref(
                    spath + ("data_class",), "data class", step.data_class, "data_classes", owner, smap=smap):
                self.restore(step, spath, owner, svc, site, smap)
            if step.rollback:
                self.steps(step.rollback, spath + ("rollback",), service, site, context, smap, via, depth)
            if isinstance(step, PlaybookStep):
                self.playbook(step, spath, service, site, context, smap, owner, depth)

    def restore(self, step: RestoreStep, path: PathKey, owner: object, svc: Any, site: str | None,
                smap: SourceMap) -> None:
        dc = self.rb.data_classes.get(step.data_class)
        if dc is None:
            return
        holders = [s for s in (dc.source_site, *dc.replicate_to) if s in self.rb.sites]
        if step.from_site is not None:
            if self.ref(path + ("from_site",), "site", step.from_site, "sites", owner, smap=smap) \
                    and step.from_site not in holders:
                self.error(path + ("from_site",), f"{owner} restores '{step.data_class}' from site "
                           f"'{step.from_site}', which holds no copy of it",
                           f"copies exist at: {', '.join(holders) or 'no site'}", "restore-site", smap=smap)
        elif site is not None and site in self.rb.sites and site not in holders and \
                all(t in self.rb.sites for t in dc.replicate_to):  # (a misspelt target is reported already)
            self.error(path + ("data_class",), f"{owner} restores '{step.data_class}' at site '{site}', "
                       f"but that data class is not replicated there",
                       f"add '{site}' to replicate_to of data class '{step.data_class}', or set from_site: "
                       f"(one of {', '.join(holders)})", "restore-site", smap=smap)
        if step.data_class not in svc.data_classes:
            self.warn(path + ("data_class",), f"{owner} restores data class '{step.data_class}' that the "
                      "service does not list in data_classes", "add it to the service's data_classes",
                      "unlisted-data-class", smap=smap)
        names = [s.name for s in dc.sources if s.name]
        if step.source is not None and step.source not in names:
            self.error(path + ("source",), f"{owner}: data class '{step.data_class}' has no source "
                       f"'{step.source}'", did_you_mean(step.source, names), "undefined-reference", smap=smap)

    def playbook(self, step: PlaybookStep, path: PathKey, service: str, site: str | None,
                 context: dict[str, Any], smap: SourceMap, owner: object, depth: int) -> None:
        caller = smap.value(path + ("playbook",)) or Pos("<runbook>", 1, 1)
        if depth >= 5:
            self.error(path, f"{owner}: playbooks nest more than 5 levels deep",
                       "a playbook probably calls itself", "playbook-depth", smap=smap)
            return
        out = expand(self.rb, step, context=context, caller=caller)
        self.issues.extend(out.issues)
        if out.steps:
            self.steps(out.steps, ("steps",), service, site, context, out.smap,
                       f"playbook '{step.playbook}' ({owner})", depth + 1)

    def cycles(self) -> None:
        """Every dependency cycle once, printed in order (iterative DFS: 10,000 services deep is fine)."""
        services = self.rb.services
        graph = {n: [d for d in s.depends_on if d in services and d != n] for n, s in services.items()}
        state: dict[str, int] = {}  # 1 = on the stack, 2 = done
        reported: set[tuple[str, ...]] = set()
        for root in graph:
            if state.get(root):
                continue
            stack: list[tuple[str, Iterable[str]]] = [(root, iter(graph[root]))]
            order = [root]
            state[root] = 1
            while stack:
                node, children = stack[-1]
                nxt = next(children, None)  # type: ignore[call-overload]
                if nxt is None:
                    state[node] = 2
                    stack.pop()
                    order.pop()
                elif state.get(nxt) == 1:
                    cycle = order[order.index(nxt):]
                    self.report_cycle(cycle, reported)
                elif not state.get(nxt):
                    state[nxt] = 1
                    order.append(nxt)
                    stack.append((nxt, iter(graph[nxt])))

    def report_cycle(self, cycle: list[str], reported: set[tuple[str, ...]]) -> None:
        start = cycle.index(min(cycle))
        canon = tuple(cycle[start:] + cycle[:start])
        if canon in reported:
            return
        reported.add(canon)
        first = canon[0]
        target = canon[1] if len(canon) > 1 else canon[0]
        index = self.rb.services[first].depends_on.index(target)
        chain = " -> ".join([*canon, first])
        self.error(("services", first, "depends_on", index), f"dependency cycle: {chain}",
                   "a service cannot (indirectly) depend on itself; remove one of these depends_on entries",
                   "cycle")


@cache
def _has_host(step_class: type) -> bool:
    """Whether a step kind has a `host` field (asked of the class once: 20,000 steps)."""
    return "host" in getattr(step_class, "model_fields", {})


def semantic_issues(loaded: Loaded, strict: bool = False) -> list[Issue]:
    if loaded.runbook is None:
        return []
    issues = Checker(loaded).run()
    if not any(i.severity == "error" for i in loaded.issues + issues):
        issues.extend(critical_path_issues(loaded.runbook, strict))
    return issues


def critical_path_issues(runbook: Runbook, strict: bool) -> list[Issue]:
    """RTO vs critical-path estimate comes from the planner, when it is installed."""
    try:
        planning = importlib.import_module("dr_orchestrator.planning")
    except ImportError:
        return []
    hook = getattr(planning, "critical_path_issues", None)
    return list(hook(runbook, strict)) if callable(hook) else []
