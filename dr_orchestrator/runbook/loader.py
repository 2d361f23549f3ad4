"""Reading a runbook: YAML with positions, includes, `${var}` substitution, literal-secret
scan, and checking every section against the models.

The result is a `Loaded`: the Runbook (possibly partial — broken items are left out so
semantic checks can still run on the rest), the raw merged document, its SourceMap and
every issue found so far.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from dr_orchestrator.errors import Issue
from dr_orchestrator.runbook.describe import describe
from dr_orchestrator.runbook.models import DataClass, Metadata, Runbook, RunbookFragment, Service, Site
from dr_orchestrator.runbook.secrets import SECRET_KEY_NAMES, literal_secret_reason
from dr_orchestrator.runbook.suggest import did_you_mean
from dr_orchestrator.runbook.typecheck import check, check_salvage
from dr_orchestrator.runbook.yamlpos import PathKey, Pos, SourceMap, display_path, load_yaml

SECTIONS: dict[str, type] = {"sites": Site, "data_classes": DataClass, "services": Service}
MERGED = ("variables", "sites", "data_classes", "services")
_VAR = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclass
class Loaded:
    runbook: Runbook | None
    raw: dict[str, Any]
    smap: SourceMap
    issues: list[Issue] = field(default_factory=list)
    # Names present in the document even when their definition is invalid: a reference to
    # a broken service is not also reported as "unknown service".
    names: dict[str, set[str]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    # Items with errors that were kept in a repaired form so their other problems show up.
    salvaged: set[tuple[str, str]] = field(default_factory=set)


def issue_at(pos: Pos | None, message: str, hint: str | None = None, code: str = "invalid",
             severity: str = "error") -> Issue:
    pos = pos or Pos("<runbook>", 1, 1)
    return Issue(pos.file, pos.line, pos.column, message, hint, severity=severity, code=code)


def load(path: Path, variables: dict[str, Any] | None = None) -> Loaded:
    path = Path(path)
    raw, smap, issues = load_yaml(path)
    out = Loaded(None, {}, smap, list(issues), files=[path])
    if raw is None and not issues:
        issues.append(issue_at(smap.value(()), "the runbook is empty",
                               "start with 'apiVersion: dr-orchestrator/v1' and 'kind: Runbook'", "empty"))
    if issues:
        out.issues = issues
        return out
    if not isinstance(raw, dict):
        out.issues.append(issue_at(smap.value(()), "a runbook must be a YAML mapping (key: value)",
                                   code="wrong-type"))
        return out
    out.raw = raw
    _includes(raw, path, smap, out, [path.resolve()])
    for section in MERGED:
        if raw.get(section) is None:
            raw[section] = {}
    if variables:
        raw["variables"] = {**(raw["variables"] if isinstance(raw["variables"], dict) else {}), **variables}
    if smap.dollar:  # (no '$' in any of the files: no ${var} to substitute)
        _substitute(raw, smap, out.issues, builtins(path))
    scan_secrets(raw, (), smap, out.issues)
    out.names = {s: set(raw[s]) if isinstance(raw[s], dict) else set() for s in SECTIONS}
    out.runbook = _build(raw, smap, out.issues, out.salvaged)
    if out.runbook is not None:
        out.runbook._path = path
        out.runbook._source_map = smap
        _absolute_storage(out.runbook)
    return out


def builtins(path: Path) -> dict[str, Any]:
    """Variables every runbook has: `${runbook_dir}` (absolute directory of the main file)
    and `${python}` (the interpreter running dro, for portable local commands)."""
    return {"runbook_dir": str(path.resolve().parent), "python": sys.executable}


def _absolute_storage(runbook: Runbook) -> None:
    """`file://` locations relative to the runbook's directory become absolute, so every
    consumer (storage, replication, drills) opens the same directory whatever its cwd."""
    for site in runbook.sites.values():
        site.storage = absolute_file_url(site.storage, runbook.base_dir)
        if site.drill is not None and site.drill.storage:
            site.drill.storage = absolute_file_url(site.drill.storage, runbook.base_dir)


def absolute_file_url(url: str, base: Path) -> str:
    parts = urlsplit(url)
    if parts.scheme != "file":
        return url
    raw = parts.netloc + parts.path if parts.netloc not in ("", "localhost") else parts.path
    target = Path(raw).expanduser()
    if not target.is_absolute():
        target = (base / target).resolve()
    return urlunsplit(("file", "", str(target), parts.query, parts.fragment))


# --- includes ---------------------------------------------------------------------------


def _includes(doc: dict[str, Any], path: Path, smap: SourceMap, out: Loaded, stack: list[Path]) -> None:
    """Merge every file `doc` includes (recursively) into the main document `out.raw`."""
    includes = doc.get("include") or []
    if not isinstance(includes, list):
        return  # the type check reports it
    for index, rel in enumerate(includes):
        where = smap.value(("include", index))
        if not isinstance(rel, str):
            continue
        target = (path.parent / rel).resolve()
        if target in stack:
            chain = " -> ".join(display_path(p) for p in [*stack, target])
            out.issues.append(issue_at(where, f"include cycle: {chain}",
                                       "remove one of the includes in the cycle", "include-cycle"))
            continue
        frag, fmap, issues = load_yaml(target)
        if issues and issues[0].code == "file-not-found":
            siblings = [p.name for p in target.parent.glob("*.y*ml")] if target.parent.is_dir() else []
            hint = did_you_mean(Path(rel).name, siblings,
                                fallback="include paths are relative to the including file")
            out.issues.append(issue_at(where, f"included file not found: {rel}", hint, "include"))
            continue
        out.issues.extend(issues)
        out.files.append(target)
        smap.dollar = smap.dollar or fmap.dollar
        if frag is None:
            continue
        if not isinstance(frag, dict):
            out.issues.append(issue_at(fmap.value(()), "an included file must be a YAML mapping",
                                       code="wrong-type"))
            continue
        header = {k: v for k, v in frag.items() if k not in MERGED}
        _, found = check(RunbookFragment, header, (), frag, fmap)
        out.issues.extend(found)
        _includes(frag, target, fmap, out, [*stack, target])
        _merge(out.raw, smap, frag, fmap, out.issues)


def _merge(main: dict[str, Any], smap: SourceMap, frag: dict[str, Any], fmap: SourceMap,
           issues: list[Issue]) -> None:
    merged: list[tuple[str, str]] = []
    for section in MERGED:
        items = frag.get(section)
        if items is None:
            continue
        if not isinstance(items, dict):
            issues.append(issue_at(fmap.value((section,)),
                                   f"'{section}' must be a mapping of name: definition", code="wrong-type"))
            continue
        target = main.setdefault(section, {})
        if not isinstance(target, dict):
            continue
        for name, value in items.items():
            if name in target:
                first = smap.key((section, name))
                issues.append(issue_at(
                    fmap.key((section, name)), f"{describe((section, name))} is defined twice",
                    f"first defined at {first.file}:{first.line}; rename or remove one" if first else None,
                    "duplicate"))
                continue
            target[name] = value
            merged.append((section, name))
    if merged:
        smap.later(lambda target: _copy_positions(fmap, target, set(merged)))


def _copy_positions(source: SourceMap, target: SourceMap, prefixes: set[tuple[str, str]]) -> None:
    for table, into in ((source.keys, target._keys), (source.values, target._values)):
        into.update({k: v for k, v in table.items() if k[:2] in prefixes})


# --- variables and secrets --------------------------------------------------------------


def _substitute(raw: dict[str, Any], smap: SourceMap, issues: list[Issue], builtin: dict[str, Any]) -> None:
    declared = raw.get("variables")
    if not isinstance(declared, dict):
        declared = {}
    # A variable may use the built-ins and the variables defined before it.
    variables: dict[str, Any] = dict(builtin)
    for name, value in declared.items():
        variables[name] = _subst_node(value, ("variables", name), variables, smap, issues)
    if isinstance(raw.get("variables"), dict):
        raw["variables"] = {k: variables[k] for k in declared}
    for key in list(raw):
        if key not in ("variables", "apiVersion", "kind"):
            raw[key] = _subst_node(raw[key], (key,), variables, smap, issues)


def _subst_node(node: Any, path: PathKey, variables: dict[str, Any], smap: SourceMap,
                issues: list[Issue]) -> Any:
    """`${name}` in every string below `node` (containers are updated in place)."""
    if isinstance(node, dict):
        keyed: list[str] = []
        for key, value in node.items():
            if isinstance(value, dict | list) or (isinstance(value, str) and "$" in value):
                node[key] = _subst_node(value, path + (key,), variables, smap, issues)
            if isinstance(key, str) and "$" in key:
                keyed.append(key)
        # Keys may use variables too (drill path maps: `${demo}/recovery: ${demo}/drill`).
        for key in keyed:
            new_key = str(_subst_node(key, path + (key,), variables, smap, issues))
            if new_key != key:
                node[new_key] = node.pop(key)
        return node
    if isinstance(node, list):
        for index, value in enumerate(node):
            if isinstance(value, dict | list) or (isinstance(value, str) and "$" in value):
                node[index] = _subst_node(value, path + (index,), variables, smap, issues)
        return node
    if not isinstance(node, str) or "$" not in node:
        return node

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name = match.group(1).strip()
        if name in variables:
            return str(variables[name]).lower() if isinstance(variables[name], bool) else str(variables[name])
        if not _VAR_NAME.match(name):
            issues.append(issue_at(smap.value(path), f"invalid variable reference '${{{name}}}'",
                                   "variable names are letters, digits, '_', '-' and '.'; write $${ for "
                                   "a literal ${", "undefined-variable"))
        else:
            issues.append(issue_at(smap.value(path), f"undefined variable '{name}' in {describe(path)}",
                                   did_you_mean(name, variables, fallback="define it under 'variables:'"),
                                   "undefined-variable"))
        return match.group(0)

    whole = _VAR.fullmatch(node)
    if whole and whole.group(0) != "$${" and whole.group(1).strip() in variables:
        return variables[whole.group(1).strip()]  # keep the variable's type (port: ${pg_port})
    return _VAR.sub(replace, node)


def scan_secrets(node: Any, path: PathKey, smap: SourceMap, issues: list[Issue]) -> None:
    """Report every string that looks like a literal secret (one pass over the whole document)."""
    if isinstance(node, dict):
        pairs: Any = node.items()
        keyed = True
    elif isinstance(node, list):
        pairs, keyed = enumerate(node), False
    else:
        return
    for key, value in pairs:
        if isinstance(value, str):
            # Inline fast exit of literal_secret_reason: nearly every value is short and plain.
            if len(value) >= 40 or "@" in value or "=" in value or "-----" in value or "AKIA" in value \
                    or "ASIA" in value or (keyed and _secret_key_name(key)):
                _secret_leaf(str(key) if keyed else None, value, path + (key,), smap, issues)
        elif isinstance(value, dict | list):
            scan_secrets(value, path + (key,), smap, issues)


@cache
def _secret_key_name(key: object) -> bool:
    return isinstance(key, str) and SECRET_KEY_NAMES.match(key) is not None


def _secret_leaf(key: str | None, value: str, path: PathKey, smap: SourceMap, issues: list[Issue]) -> None:
    reason = literal_secret_reason(key, value)
    if reason is None:
        return
    issues.append(issue_at(
        smap.value(path), f"literal secret in {describe(path)}: {reason}",
        "use a reference instead: env:NAME or file:PATH (for a DSN, leave the password out — libpq "
        "reads PGPASSWORD or ~/.pgpass — or reference the whole DSN)",
        "literal-secret"))


# --- models -----------------------------------------------------------------------------


def _build(raw: dict[str, Any], smap: SourceMap, issues: list[Issue],
           salvaged: set[tuple[str, str]]) -> Runbook | None:
    top = {k: ({} if k in SECTIONS and isinstance(v, dict) else v) for k, v in raw.items()}
    runbook, found = check(Runbook, top, (), raw, smap)
    issues.extend(found)
    valid: dict[str, dict[str, Any]] = {}
    for section, model in SECTIONS.items():
        valid[section] = {}
        items = raw.get(section)
        if not isinstance(items, dict):
            continue
        for name, value in items.items():
            item, found, partial = check_salvage(model, value, (section, name), raw, smap)
            issues.extend(found)
            if item is not None:
                valid[section][name] = item
            elif partial is not None:
                valid[section][name] = partial
                salvaged.add((section, name))
    if runbook is None:
        # Keep going with what is valid so the semantic checks still report their findings.
        variables = raw.get("variables") if isinstance(raw.get("variables"), dict) else {}
        runbook = Runbook.model_construct(
            api_version="dr-orchestrator/v1", kind="Runbook", metadata=Metadata.model_construct(name="?"),
            rto=None, variables=variables, include=[], playbook_dirs=["playbooks", "../playbooks"])
    return runbook.model_copy(update=valid)
