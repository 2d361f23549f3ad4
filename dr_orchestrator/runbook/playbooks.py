"""Playbooks: reusable step lists in playbooks/NAME.yaml whose values are Jinja2 templates.

The file is YAML first (so every step keeps its line number), then each string value is
rendered in a *sandboxed* Jinja2 environment with StrictUndefined: a playbook cannot
reach Python internals, and a variable nobody passed is an error, never an empty string.
Context, later wins: runbook built-ins (runbook_dir, python) and variables, param
defaults, the caller's context (service, site, action), host, the step's `vars`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from dr_orchestrator.errors import Issue, ValidationFailed
from dr_orchestrator.runbook.loader import builtins, scan_secrets
from dr_orchestrator.runbook.models import AnyStep, Playbook, PlaybookStep, Runbook, Step
from dr_orchestrator.runbook.suggest import closest, did_you_mean
from dr_orchestrator.runbook.typecheck import check
from dr_orchestrator.runbook.yamlpos import PathKey, Pos, SourceMap, load_yaml

MAX_DEPTH = 5  # playbooks may call playbooks; a cycle stops here


@dataclass
class LoadedPlaybook:
    path: Path
    model: Playbook | None
    raw: Any
    smap: SourceMap
    issues: list[Issue] = field(default_factory=list)


@dataclass
class Expansion:
    steps: list[AnyStep]
    smap: SourceMap  # positions of the rendered steps, rooted at ("steps",) in the playbook file
    playbook: LoadedPlaybook | None
    issues: list[Issue]


@lru_cache(maxsize=1)
def _env() -> Any:
    """The sandboxed Jinja2 environment, built (and jinja2 imported) when a playbook first renders:
    validating or planning a runbook without playbooks does not pay ~40 ms for it."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


def playbook_names(runbook: Runbook, base_dir: Path | None = None) -> list[str]:
    names: set[str] = set()
    for folder in _dirs(runbook, base_dir):
        if folder.is_dir():
            names.update(p.stem for p in folder.iterdir() if p.suffix in (".yaml", ".yml"))
    return sorted(names)


def find_playbook(runbook: Runbook, name: str, base_dir: Path | None = None) -> Path | None:
    stem = name.removesuffix(".yaml").removesuffix(".yml")
    for folder in _dirs(runbook, base_dir):
        for suffix in (".yaml", ".yml"):
            candidate = folder / f"{stem}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def _dirs(runbook: Runbook, base_dir: Path | None) -> list[Path]:
    base = base_dir or runbook.base_dir
    return [(base / d) for d in runbook.playbook_dirs]


def load_playbook(path: Path) -> LoadedPlaybook:
    return _load_cached(path.resolve(), path.stat().st_mtime_ns if path.exists() else 0)


@lru_cache(maxsize=256)
def _load_cached(path: Path, _mtime: int) -> LoadedPlaybook:
    raw, smap, issues = load_yaml(path)
    if raw is None:
        return LoadedPlaybook(path, None, raw, smap, issues)
    if not isinstance(raw, dict):
        pos = smap.value(()) or Pos(str(path), 1, 1)
        return LoadedPlaybook(path, None, raw, smap, [Issue(pos.file, pos.line, pos.column,
                                                            "a playbook must be a YAML mapping",
                                                            code="wrong-type")])
    scan_secrets(raw, (), smap, issues)
    model, found = check(Playbook, raw, (), raw, smap)
    return LoadedPlaybook(path, model, raw, smap, issues + found)


def expand(runbook: Runbook, step: PlaybookStep, *, base_dir: Path | None = None,
           context: dict[str, Any] | None = None, caller: Pos | None = None, depth: int = 0) -> Expansion:
    """Render `step`'s playbook into steps; problems are returned, not raised."""
    caller = caller or Pos(*runbook.position())
    path = find_playbook(runbook, step.playbook, base_dir)
    if path is None:
        hint = did_you_mean(step.playbook, playbook_names(runbook, base_dir),
                            fallback=f"playbooks are looked up in {', '.join(runbook.playbook_dirs)} "
                                     "relative to the runbook")
        return Expansion([], SourceMap(), None, [_issue(caller, f"unknown playbook '{step.playbook}'", hint,
                                                        "undefined-reference")])
    loaded = load_playbook(path)
    if loaded.model is None or loaded.issues:
        return Expansion([], loaded.smap, loaded, list(loaded.issues))
    book = loaded.model
    issues: list[Issue] = []
    for name in step.vars:
        if book.params and name not in book.params:
            issues.append(_issue(caller, f"playbook '{step.playbook}' has no parameter '{name}'",
                                 did_you_mean(name, book.params), "unknown-param"))
    for name, param in book.params.items():
        if param.required and name not in step.vars:
            issues.append(_issue(caller, f"playbook '{step.playbook}' needs parameter '{name}'",
                                 f"add it under vars: ({param.description or 'see the playbook'})",
                                 "missing-param"))
    if issues:
        return Expansion([], loaded.smap, loaded, issues)
    ctx: dict[str, Any] = builtins(runbook.path) if runbook.path is not None else {}
    ctx.update(runbook.variables)
    ctx.update({k: p.default for k, p in book.params.items() if "default" in p.model_fields_set})
    ctx.update(context or {})
    if step.host is not None:
        ctx.setdefault("host", step.host)
    ctx.update(step.vars)
    rendered: list[Any] = []
    smap = SourceMap()  # positions re-indexed for the steps kept (`when:` may drop some)
    for index, raw_step in enumerate(book.steps):
        if not _wanted(raw_step, ("steps", index), ctx, loaded, caller, step.playbook, issues):
            continue
        raw_step = {k: v for k, v in raw_step.items() if k != "when"}
        _reindex(loaded.smap, ("steps", index), ("steps", len(rendered)), smap)
        rendered.append(_render(raw_step, ("steps", index), ctx, loaded, caller, step.playbook, issues))
    if issues:
        return Expansion([], loaded.smap, loaded, issues)
    steps, found = check(list[Step], rendered, ("steps",), {"steps": rendered}, smap)
    if found:
        called = f" (in playbook '{step.playbook}' called at {caller.file}:{caller.line})"
        return Expansion([], smap, loaded, [i._replace(message=i.message + called) for i in found])
    return Expansion(list(steps), smap, loaded, [])


def _wanted(raw_step: dict[str, Any], path: PathKey, ctx: dict[str, Any], loaded: LoadedPlaybook,
            caller: Pos, name: str, issues: list[Issue]) -> bool:
    """A step's `when:` (a Jinja2 expression without braces, e.g. `provider == 'route53'`)."""
    if "when" not in raw_step:
        return True
    where = loaded.smap.value(path + ("when",)) or Pos(str(loaded.path), 1, 1)
    expr = raw_step["when"]
    if isinstance(expr, bool):
        return expr
    from jinja2 import TemplateError, UndefinedError

    try:
        return bool(_env().compile_expression(str(expr), undefined_to_none=False)(**ctx))
    except UndefinedError as exc:
        missing = str(exc.message or "").split("'")[1] if "'" in str(exc.message) else str(exc.message)
        issues.append(_issue(caller, f"playbook '{name}' uses undefined variable '{missing}' "
                                     f"({where.file}:{where.line})",
                             _missing_hint(missing, ctx),
                             "undefined-variable"))
    except TemplateError as exc:
        issues.append(_issue(where, f"invalid when: in playbook '{name}': {exc}",
                             "write a Jinja2 expression without braces, e.g. provider == 'aws'", "template"))
    return False


def _reindex(source: SourceMap, old: PathKey, new: PathKey, into: SourceMap) -> None:
    size = len(old)
    for table, target in ((source.keys, into.keys), (source.values, into.values)):
        for path, pos in table.items():
            if path[:size] == old:
                target[new + path[size:]] = pos


def _render(node: Any, path: PathKey, ctx: dict[str, Any], loaded: LoadedPlaybook, caller: Pos,
            name: str, issues: list[Issue]) -> Any:
    if isinstance(node, dict):
        return {k: _render(v, path + (k,), ctx, loaded, caller, name, issues) for k, v in node.items()}
    if isinstance(node, list):
        return [_render(v, path + (i,), ctx, loaded, caller, name, issues) for i, v in enumerate(node)]
    if not isinstance(node, str) or ("{{" not in node and "{%" not in node):
        return node
    from jinja2 import TemplateError, TemplateSyntaxError, Undefined, UndefinedError
    from jinja2.exceptions import SecurityError

    where = loaded.smap.value(path) or Pos(str(loaded.path), 1, 1)
    try:
        single = _SINGLE.fullmatch(node)
        if single:  # "{{ expr }}" alone keeps the value's type: a port stays an int, null stays null
            value = _expression(single.group(1))(**ctx)
            if isinstance(value, Undefined):
                str(value)  # raises UndefinedError, as a template would
            return value
        return _template(node).render(ctx)
    except UndefinedError as exc:
        missing = str(exc.message or "").split("'")[1] if "'" in str(exc.message) else str(exc.message)
        issues.append(_issue(caller, f"playbook '{name}' uses undefined variable '{missing}' "
                                     f"({where.file}:{where.line})",
                             _missing_hint(missing, ctx),
                             "undefined-variable"))
    except TemplateSyntaxError as exc:
        issues.append(_issue(where, f"template syntax error in playbook '{name}': {exc.message}",
                             "Jinja2 syntax: {{ var }}, {{ var | default('x') }}", "template"))
    except SecurityError as exc:
        issues.append(_issue(where, f"playbook '{name}' was stopped by the sandbox: {exc}", None, "template"))
    except TemplateError as exc:
        issues.append(_issue(where, f"playbook '{name}' failed to render: {exc}", None, "template"))
    return node


@lru_cache(maxsize=4096)
def _template(text: str) -> Any:
    return _env().from_string(text)


@lru_cache(maxsize=4096)
def _expression(text: str) -> Any:
    return _env().compile_expression(text, undefined_to_none=False)


_SINGLE = re.compile(r"\{\{((?:(?!\{\{|\}\}|\{%).)*)\}\}", re.DOTALL)


def _issue(pos: Pos, message: str, hint: str | None, code: str) -> Issue:
    return Issue(pos.file, pos.line, pos.column, message, hint, code=code)


def expand_playbook(runbook: Runbook, step: PlaybookStep, base_dir: Path | None = None, *,
                    context: dict[str, Any] | None = None) -> list[AnyStep]:
    """The steps a playbook step stands for (nested playbook steps are expanded too).

    Raises ValidationFailed with every problem found. `context` adds template variables
    (e.g. service, site, action) under the step's own `vars`.
    """
    steps, issues = _expand_deep(runbook, step, base_dir, context, 0)
    if issues:
        raise ValidationFailed(issues)
    return steps


def _expand_deep(runbook: Runbook, step: PlaybookStep, base_dir: Path | None, context: dict[str, Any] | None,
                 depth: int) -> tuple[list[AnyStep], list[Issue]]:
    if depth >= MAX_DEPTH:
        pos = Pos(*runbook.position())
        return [], [_issue(pos, f"playbook '{step.playbook}' nests more than {MAX_DEPTH} levels deep",
                           "a playbook probably calls itself", "playbook-depth")]
    out = expand(runbook, step, base_dir=base_dir, context=context, depth=depth)
    if out.issues:
        return [], list(out.issues)
    steps: list[AnyStep] = []
    for inner in out.steps:
        if isinstance(inner, PlaybookStep):
            nested, issues = _expand_deep(runbook, inner, base_dir, context, depth + 1)
            if issues:
                return [], issues
            steps.extend(nested)
        else:
            steps.append(inner)
    return steps, []


def _missing_hint(missing: str, ctx: dict[str, Any]) -> str:
    close = closest(missing, ctx)
    if close is not None:
        return f"did you mean '{close}'?"
    return f"pass it in the step's vars: ({missing}: …), or give the playbook param a default"
