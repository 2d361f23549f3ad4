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
from dr_orchestrator.runbook.typecheck import check, check_salvage, validate_whole
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
    # (no '$' in any of the files: no ${var} to substitute, only secrets to look for)
    _substitute_and_scan(raw, smap, out.issues, builtins(path) if smap.dollar else None)
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


def _substitute_and_scan(raw: dict[str, Any], smap: SourceMap, issues: list[Issue],
                         builtin: dict[str, Any] | None) -> None:
    """`${name}` in every string (when `builtin` is given: the files hold a '$'), then the
    literal-secret check of every string — in one pass over the document, which for a big
    runbook is ~60,000 containers: walking it once instead of twice is most of the cost."""
    if builtin is None:
        _Walk(None, smap, issues).node(raw, ())
        return
    declared = raw.get("variables")
    if not isinstance(declared, dict):
        declared = {}
    # A variable may use the built-ins and the variables defined before it.
    variables: dict[str, Any] = dict(builtin)
    walk = _Walk(variables, smap, issues)
    for name, value in declared.items():
        variables[name] = walk.value(value, ("variables", name), name)
    if isinstance(raw.get("variables"), dict):
        raw["variables"] = {k: variables[k] for k in declared}
    for key in list(raw):
        if key in ("apiVersion", "kind"):  # never substituted
            _Walk(None, smap, issues).value(raw[key], (key,), key)
        elif key != "variables":  # (done above)
            raw[key] = walk.value(raw[key], (key,), key)


def scan_secrets(node: Any, path: PathKey, smap: SourceMap, issues: list[Issue]) -> None:
    """Report every string that looks like a literal secret (one pass over the whole document)."""
    _Walk(None, smap, issues).node(node, path)


class _Walk:
    """One pass over a document: substitutes `${var}` (unless `variables` is None) and reports
    literal secrets in the resulting strings. Containers are updated in place."""

    def __init__(self, variables: dict[str, Any] | None, smap: SourceMap, issues: list[Issue]) -> None:
        self.variables = variables
        self.smap = smap
        self.issues = issues

    def value(self, value: Any, path: PathKey, key: object) -> Any:
        """`value` (found under `key` at `path`) substituted and scanned."""
        if isinstance(value, dict | list):
            self.node(value, path)
        elif isinstance(value, str):
            if self.variables is not None and "$" in value:
                value = self.substitute(value, path)
                if not isinstance(value, str):  # a whole `${var}` keeps the variable's type
                    _Walk(None, self.smap, self.issues).node(value, path)
                    return value
            self.secret(value, path, key)
        return value

    def node(self, node: Any, path: PathKey) -> None:
        # Inlined for speed: nearly every string is short and plain, and only one in many
        # thousands has a '$'.
        if isinstance(node, dict):
            items: Any = node.items()
            keyed = True
        elif isinstance(node, list):
            items, keyed = enumerate(node), False
        else:
            return
        substituting = self.variables is not None
        renamed: list[str] = []
        for key, value in items:
            if keyed and substituting and isinstance(key, str) and "$" in key:
                renamed.append(key)  # keys may use variables (drill path maps): after the loop
                continue
            if type(value) is str:
                if substituting and "$" in value:
                    node[key] = self.value(value, path + (key,), key if keyed else None)
                elif len(value) >= 40 or "@" in value or "=" in value or "-----" in value \
                        or "AKIA" in value or "ASIA" in value or (keyed and _secret_key_name(key)):
                    _secret_leaf(str(key) if keyed else None, value, path + (key,), self.smap, self.issues)
            elif isinstance(value, dict | list):
                self.node(value, path + (key,))
            elif isinstance(value, str):  # a str subclass
                node[key] = self.value(value, path + (key,), key if keyed else None)
        for key in renamed:
            new_key = str(self.substitute(key, path + (key,)))
            value = node.pop(key)
            node[new_key] = self.value(value, path + (new_key,), new_key)

    def secret(self, value: str, path: PathKey, key: object) -> None:
        _secret_leaf(str(key) if isinstance(key, str) else None, value, path, self.smap, self.issues)

    def substitute(self, text: str, path: PathKey) -> Any:
        variables = self.variables or {}
        smap, issues = self.smap, self.issues

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

        whole = _VAR.fullmatch(text)
        if whole and whole.group(0) != "$${" and whole.group(1).strip() in variables:
            return variables[whole.group(1).strip()]  # keep the variable's type (port: ${pg_port})
        return _VAR.sub(replace, text)


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
    whole = validate_whole(Runbook, raw)  # one validator call when all is valid (the usual case)
    if whole is not None:
        return whole  # type: ignore[no-any-return]
    # Section by section, item by item: every problem, and the valid rest kept.
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
