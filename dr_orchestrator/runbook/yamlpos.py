"""YAML reading that remembers where every node was written (file, line, column).

ruamel.yaml's round-trip loader keeps line/column for each key and value; we turn its
tree into plain Python data plus a `SourceMap` so every later error — a pydantic type
error, an undefined reference, a playbook problem — can point at `file:line:column`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from dr_orchestrator.errors import Issue

PathKey = tuple[Any, ...]


@dataclass(frozen=True)
class Pos:
    file: str
    line: int  # 1-based
    column: int  # 1-based


@dataclass
class SourceMap:
    """Data path -> where its key and its value were written."""

    keys: dict[PathKey, Pos] = field(default_factory=dict)
    values: dict[PathKey, Pos] = field(default_factory=dict)

    def update(self, other: SourceMap) -> None:
        self.keys.update(other.keys)
        self.values.update(other.values)

    def key(self, path: PathKey) -> Pos | None:
        """Where the node is *named* (`api:`), falling back to its value, then its parents."""
        path = tuple(path)
        while True:
            found = self.keys.get(path) or self.values.get(path)
            if found is not None or not path:
                return found
            path = path[:-1]

    def value(self, path: PathKey) -> Pos | None:
        """Where the node's value starts (best for 'this value is wrong')."""
        path = tuple(path)
        while True:
            found = self.values.get(path) or self.keys.get(path)
            if found is not None or not path:
                return found
            path = path[:-1]

    def rebase(self, prefix: PathKey) -> SourceMap:
        """The same map with every path moved under `prefix` (playbook steps into a runbook)."""
        return SourceMap({prefix + k: v for k, v in self.keys.items()},
                         {prefix + k: v for k, v in self.values.items()})


def display_path(path: Path) -> str:
    """Paths in messages: relative to the current directory when below it (as the user typed)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_yaml(path: Path) -> tuple[Any, SourceMap, list[Issue]]:
    """Parse one YAML file. On a syntax error returns (None, empty map, [issue])."""
    name = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, SourceMap(), [Issue(name, 1, 1, f"file not found: {name}",
                                         "check the path (relative paths start at the including file)",
                                         code="file-not-found")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, SourceMap(), [Issue(name, 1, 1, f"cannot read {name}: {exc}", code="file-not-found")]
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> tuple[Any, SourceMap, list[Issue]]:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        tree = yaml.load(text)
    except MarkedYAMLError as exc:
        return None, SourceMap(), [_syntax_issue(name, exc)]
    except YAMLError as exc:  # pragma: no cover - unmarked errors are rare
        return None, SourceMap(), [Issue(name, 1, 1, f"YAML error: {exc}", code="yaml-syntax")]
    smap = SourceMap()
    smap.values[()] = Pos(name, 1, 1)
    issues: list[Issue] = []
    data = _plain(tree, (), name, smap, issues)
    return (None if issues else data), smap, issues


def _syntax_issue(name: str, exc: MarkedYAMLError) -> Issue:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = (exc.problem or "invalid YAML").strip()
    if "duplicate key" in problem or "found duplicate key" in str(exc):
        key = problem.split('"')[1] if '"' in problem else ""
        return Issue(name, line, col, f"duplicate key '{key}'" if key else problem,
                     "each key may appear once in a mapping; merge or rename the entries",
                     code="duplicate-key")
    hint = None
    if exc.context:
        ctx_mark = exc.context_mark
        where = f" (line {ctx_mark.line + 1})" if ctx_mark is not None else ""
        hint = f"{exc.context.strip()}{where}"
    if "{{" in problem or "found character '\\t'" in problem:
        hint = (hint + "; " if hint else "") + "indent with spaces and quote values that start with {{"
    return Issue(name, line, col, f"YAML syntax error: {problem}", hint, code="yaml-syntax")


def _plain(node: Any, path: PathKey, name: str, smap: SourceMap, issues: list[Issue]) -> Any:
    """ruamel's commented tree -> plain dict/list/scalars, recording positions on the way."""
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key in node:
            kline, kcol = node.lc.key(key)
            if not isinstance(key, str | int | float | dt.date) and key is not None:
                issues.append(Issue(name, kline + 1, kcol + 1,
                                    "YAML syntax error: a mapping or list used as a key",
                                    "quote values that start with '{' or '[' (e.g. \"{{ var }}\")",
                                    code="yaml-syntax"))
                continue
            child = path + (_scalar(key),)
            vline, vcol = node.lc.value(key)
            smap.keys[child] = Pos(name, kline + 1, kcol + 1)
            smap.values[child] = Pos(name, vline + 1, vcol + 1)
            out[_scalar(key)] = _plain(node[key], child, name, smap, issues)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, item in enumerate(node):
            line, col = node.lc.item(index)
            smap.values[path + (index,)] = Pos(name, line + 1, col + 1)
            items.append(_plain(item, path + (index,), name, smap, issues))
        return items
    return _scalar(node)


def _scalar(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):  # ScalarInt, ScalarBoolean subclass int
        return bool(value) if type(value).__name__ == "ScalarBoolean" else int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "value"):  # TaggedScalar: keep the text, drop the tag
        return str(value.value)
    return value
