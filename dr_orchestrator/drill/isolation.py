"""Rewrite a failover plan so that it only touches drill targets.

Every step of a drill runs at its service's recovery site, with that site's
`drill:` overrides applied: hosts replaced by drill hosts, production path
prefixes mapped to drill paths, production ports and database names mapped to drill
ones. A step whose target cannot be mapped (a restore into an unmapped path, an ssh
command on a production host, a terraform step) is refused before anything runs, and
the refusal names the step, the target and the override that would fix it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from dr_orchestrator.errors import Issue, ValidationFailed
from dr_orchestrator.planning.model import Plan, PlannedStep, ServicePlan
from dr_orchestrator.runbook.models import Runbook, SiteDrillOverrides
from dr_orchestrator.runbook.secrets import SecretRef

DRILL_ENV = {"DRO_DRILL": "1"}


@dataclass(frozen=True)
class DrillTarget:
    """Something a drill creates and cleanup removes."""

    kind: str  # "path" | "database"
    site: str
    location: str  # a path, or a DSN (secret reference or password-free DSN)
    host: str | None = None  # host reference for remote paths; None = this machine

    def describe(self) -> str:
        where = f" on {self.host}" if self.host else ""
        return f"{self.kind} {self.location}{where}" + (f" ({self.site})" if self.site else "")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "site": self.site, "location": self.location, "host": self.host}


@dataclass
class Isolation:
    runbook: Runbook
    plan: Plan
    targets: list[DrillTarget] = field(default_factory=list)


class _SiteMapper:
    """The overrides of one recovery site and the rewriting they imply."""

    def __init__(self, site: str, drill: SiteDrillOverrides) -> None:
        self.site = site
        self.drill = drill
        # Longest prefix first, so /srv/app/data maps before /srv/app. Each prefix is kept as
        # written and normalised (a${x}/../b and b name the same directory).
        pairs: dict[str, str] = {}
        for prod, alt in drill.paths.items():
            pairs[prod.rstrip("/") or "/"] = alt
            pairs[os.path.normpath(prod)] = os.path.normpath(alt)
        self.paths = sorted(pairs.items(), key=lambda kv: len(kv[0]), reverse=True)

    def map_path(self, path: str) -> str | None:
        path = os.path.normpath(path)
        for prod, alt in self.paths:
            if path == prod or path.startswith(prod.rstrip("/") + "/"):
                return alt.rstrip("/") + path[len(prod.rstrip("/")):]
        return None

    def used_root(self, path: str) -> str | None:
        """The drill directory (an override's value) that a mapped path lies in."""
        path = os.path.normpath(path)
        for _prod, alt in self.paths:
            alt = os.path.normpath(alt)
            if path == alt or path.startswith(alt.rstrip("/") + "/"):
                return alt
        return None

    def map_text(self, text: str) -> str:
        for prod, alt in self.paths:
            text = re.sub(re.escape(prod.rstrip("/")) + r"(?=/|\b|$)", alt.rstrip("/"), text)
        for prod_port, alt_port in self.drill.ports.items():
            # A production port is a whole number in the text (`:8080`, `--port 8080`, `port=8080`).
            text = re.sub(rf"(?<![\w.]){prod_port}(?![\w.])", str(alt_port), text)
        return text

    def map_command(self, command: str | list[str] | None) -> str | list[str] | None:
        if command is None:
            return None
        if isinstance(command, str):
            return self.map_text(command)
        return [self.map_arg(str(arg)) for arg in command]

    def map_arg(self, arg: str) -> str:
        """One argv element: a bare production port (`--port 8080`) maps as a whole."""
        if arg.isdigit() and int(arg) in self.drill.ports:
            return str(self.drill.ports[int(arg)])
        return self.map_text(arg)

    def map_dsn(self, dsn: str) -> str | None:
        parts = urlsplit(dsn)
        if parts.scheme not in ("postgres", "postgresql"):
            return None
        db = parts.path.lstrip("/")
        if db not in self.drill.databases:
            return None
        netloc = parts.netloc
        if parts.port and parts.port in self.drill.ports:
            netloc = netloc.rsplit(":", 1)[0] + f":{self.drill.ports[parts.port]}"
        return urlunsplit((parts.scheme, netloc, "/" + self.drill.databases[db], parts.query, parts.fragment))


def _dsn_value(target: SecretRef | str, base_dir: Any) -> tuple[str, bool]:
    if isinstance(target, SecretRef):
        return target.resolve(base_dir), True
    return str(target), False


class _Rewriter:
    def __init__(self, runbook: Runbook) -> None:
        self.rb = runbook
        self.issues: list[Issue] = []
        self.targets: dict[tuple[str, str, str | None], DrillTarget] = {}
        self.env_counter = 0

    def refuse(self, sp: ServicePlan, step: PlannedStep, message: str, hint: str) -> None:
        parts: tuple[str | int, ...] = ("services", sp.name, "failover", step.index)
        file, line, col = self.rb.position(*parts)
        self.issues.append(Issue(file, line, col, f"drill refused: service {sp.name!r} step {step.name!r} "
                                 f"{message}", hint, code="drill-target"))

    def host_ok(self, mapper: _SiteMapper, ref: str | None) -> bool:
        """A step may run on a drill host, or on a local host (its paths are then mapped)."""
        if ref is None:
            return True
        site, _, name = ref.rpartition("/")
        site = site or mapper.site
        if site == mapper.site and name in mapper.drill.hosts:
            return True
        found = self.rb.resolve_host(ref, mapper.site)
        return bool(found and found[1].local)

    def add_target(self, target: DrillTarget) -> None:
        self.targets[(target.kind, target.location, target.host)] = target

    def rewrite(self, sp: ServicePlan, step: PlannedStep, mapper: _SiteMapper) -> PlannedStep:
        spec = step.spec
        kind = step.kind
        update: dict[str, Any] = {}
        host = getattr(spec, "host", None)
        if kind == "terraform":
            self.refuse(sp, step, "changes infrastructure with terraform",
                        "drills do not run terraform; move it to a service that `dro drill --service` skips")
            return step
        if kind == "playbook":
            self.refuse(sp, step, "is an unexpanded playbook",
                        "fix the playbook so `dro plan` expands it (see `dro validate`)")
            return step
        if kind in ("ssh", "restore", "check") and not self.host_ok(mapper, host):
            self.refuse(sp, step, f"runs on production host {host!r}",
                        f"add a drill host under sites.{mapper.site}.drill.hosts.{host}")
            return step
        if kind == "restore":
            update["target"] = self._restore_target(sp, step, mapper, spec.target, host)
        elif kind in ("ssh", "shell"):
            update["command"] = mapper.map_command(spec.command)
            if kind == "shell":
                update["env"] = {k: mapper.map_text(v) for k, v in spec.env.items()} | DRILL_ENV
                if spec.cwd:
                    update["cwd"] = mapper.map_path(spec.cwd) or spec.cwd
        elif kind == "check":
            update.update(self._check(sp, step, mapper))
        if update.get("target") is None and kind == "restore":
            return step
        if getattr(spec, "rollback", None):
            update["rollback"] = self._rollback(sp, step, mapper, spec.rollback)
        return replace(step, spec=spec.model_copy(update=update))

    def _rollback(self, sp: ServicePlan, step: PlannedStep, mapper: _SiteMapper, specs: list[Any]) -> list[Any]:
        """Rollback steps undo a drill step at the drill targets too (cleanup runs them)."""
        out = []
        for sub in specs:
            if sub.kind == "shell":
                out.append(sub.model_copy(update={"command": mapper.map_command(sub.command),
                                                  "env": {k: mapper.map_text(v) for k, v in sub.env.items()}
                                                  | DRILL_ENV}))
            elif sub.kind == "ssh" and self.host_ok(mapper, sub.host):
                out.append(sub.model_copy(update={"command": mapper.map_command(sub.command)}))
            elif sub.kind in ("wait", "check"):
                out.append(sub)
            else:
                self.refuse(sp, step, f"has a {sub.kind} rollback step that cannot be pointed at drill targets",
                            "use shell/ssh rollback steps on drill hosts")
        return out

    def _restore_target(self, sp: ServicePlan, step: PlannedStep, mapper: _SiteMapper,
                        target: SecretRef | str, host: str | None) -> SecretRef | str | None:
        value, secret = _dsn_value(target, self.rb.base_dir)
        if urlsplit(value).scheme in ("postgres", "postgresql"):
            mapped = mapper.map_dsn(value)
            if mapped is None:
                db = urlsplit(value).path.lstrip("/") or "?"
                self.refuse(sp, step, f"restores into production database {db!r}",
                            f"map it under sites.{mapper.site}.drill.databases (e.g. {db}: {db}_drill)")
                return None
            if secret:  # never turn a secret into a literal: hand it over by environment
                self.env_counter += 1
                name = f"DRO_DRILL_DSN_{self.env_counter}"
                os.environ[name] = mapped
                ref: SecretRef | str = SecretRef(f"env:{name}")
                self.add_target(DrillTarget("database", mapper.site, f"env:{name}"))
                return ref
            self.add_target(DrillTarget("database", mapper.site, mapped))
            return mapped
        mapped_path = mapper.map_path(value)
        if mapped_path is None:
            self.refuse(sp, step, f"restores into production path {value!r}",
                        f"map it under sites.{mapper.site}.drill.paths (e.g. {value}: /tmp/drill{value})")
            return None
        remote = None
        if host is not None:
            found = self.rb.resolve_host(host, mapper.site)
            # Qualified with the site: cleanup runs outside any service, where a bare name means nothing.
            remote = None if found and found[1].local else (host if "/" in host else f"{mapper.site}/{host}")
        root = mapper.used_root(mapped_path) or mapped_path
        self.add_target(DrillTarget("path", mapper.site, root, remote))
        return mapped_path

    def _check(self, sp: ServicePlan, step: PlannedStep, mapper: _SiteMapper) -> dict[str, Any]:
        spec = step.spec
        out: dict[str, Any] = {}
        if spec.url:
            out["url"] = mapper.map_text(spec.url)
        if spec.port and spec.port in mapper.drill.ports:
            out["port"] = mapper.drill.ports[spec.port]
        if spec.command is not None:
            out["command"] = mapper.map_command(spec.command)
        if spec.dsn is not None:
            value, secret = _dsn_value(spec.dsn, self.rb.base_dir)
            mapped = mapper.map_dsn(value)
            if mapped is None:
                self.refuse(sp, step, "queries a production database",
                            f"map its database under sites.{mapper.site}.drill.databases")
            elif secret:
                self.env_counter += 1
                name = f"DRO_DRILL_DSN_{self.env_counter}"
                os.environ[name] = mapped
                out["dsn"] = SecretRef(f"env:{name}")
            else:
                out["dsn"] = mapped
        return out


def _copy_runbook(runbook: Runbook) -> Runbook:
    """A deep copy of the model that shares the loader's private state (path, source map,
    caches with locks): positions and relative paths keep working, nothing is deep-copied
    that cannot be."""
    private = runbook.__pydantic_private__
    runbook.__pydantic_private__ = None
    try:
        copy = runbook.model_copy(deep=True)
    finally:
        runbook.__pydantic_private__ = private
    copy.__pydantic_private__ = dict(private) if private is not None else None
    return copy


def isolate(runbook: Runbook, plan: Plan) -> Isolation:
    """The drill version of a failover plan; raises ValidationFailed listing every unsafe step."""
    drill_rb = _copy_runbook(runbook)
    rewriter = _Rewriter(drill_rb)
    mappers: dict[str, _SiteMapper] = {}
    for name, site in drill_rb.sites.items():
        if site.drill is not None:
            site.hosts.update(site.drill.hosts)  # drill hosts replace production hosts of the same name
            mappers[name] = _SiteMapper(name, site.drill)
    services: dict[str, ServicePlan] = {}
    for name, sp in plan.services.items():
        rsite = sp.recovery_site or runbook.recovery_site_for(name)
        mapper = mappers.get(rsite or "")
        if mapper is None:
            where = ("sites", rsite) if rsite else ("services", name)
            file, line, col = runbook.position(*where)
            rewriter.issues.append(Issue(file, line, col,
                                         f"drill refused: service {name!r} fails over to site {rsite!r}, "
                                         "which has no drill overrides",
                                         f"add sites.{rsite}.drill with the paths, hosts, ports and databases "
                                         "a drill may use", code="drill-target"))
            services[name] = sp
            continue
        steps = tuple(rewriter.rewrite(sp, step, mapper) for step in sp.steps)
        services[name] = replace(sp, steps=steps)
    if any(i.severity == "error" for i in rewriter.issues):
        raise ValidationFailed(rewriter.issues, f"{len(rewriter.issues)} drill step(s) would touch production")
    return Isolation(drill_rb, replace(plan, services=services), list(rewriter.targets.values()))
