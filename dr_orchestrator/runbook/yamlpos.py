"""YAML reading that remembers where every node was written (file, line, column).

The document is *composed* (libyaml via PyYAML: nodes with their start marks) and turned
into plain Python data plus a `SourceMap`, so every later error — a pydantic type error,
an undefined reference, a playbook problem — can point at `file:line:column`.
Scalars follow YAML 1.2 (no `yes`/`no` booleans, no dates); duplicate keys are errors.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from dr_orchestrator.errors import Issue
from dr_orchestrator.runbook import fastyaml

PathKey = tuple[Any, ...]


class Pos(NamedTuple):
    file: str
    line: int  # 1-based
    column: int  # 1-based


class SourceMap:
    """Data path -> where its key and its value were written.

    Filled eagerly, or lazily: `later(fn)` queues work (computing positions, merging an
    included file's map) that runs on first use, so a valid runbook never pays for it."""

    def __init__(self, keys: dict[PathKey, Pos] | None = None,
                 values: dict[PathKey, Pos] | None = None) -> None:
        self._keys: dict[PathKey, Pos] = keys if keys is not None else {}
        self._values: dict[PathKey, Pos] = values if values is not None else {}
        self._pending: list[Callable[[SourceMap], None]] = []
        # False when the text this map describes has no '$' at all: nothing to substitute.
        self.dollar = True
        self._lock = threading.RLock()  # executor threads may ask for positions at once

    def later(self, fn: Callable[[SourceMap], None]) -> None:
        self._pending.append(fn)

    def _settle(self) -> None:
        if not self._pending:
            return
        with self._lock:
            while self._pending:
                self._pending.pop(0)(self)  # (queued work writes the private dicts)

    @property
    def keys(self) -> dict[PathKey, Pos]:
        self._settle()
        return self._keys

    @property
    def values(self) -> dict[PathKey, Pos]:
        self._settle()
        return self._values

    def update(self, other: SourceMap) -> None:
        self.keys.update(other.keys)
        self.values.update(other.values)

    def key(self, path: PathKey) -> Pos | None:
        """Where the node is *named* (`api:`), falling back to its value, then its parents."""
        keys, values = self.keys, self.values
        path = tuple(path)
        while True:
            found = keys.get(path) or values.get(path)
            if found is not None or not path:
                return found
            path = path[:-1]

    def value(self, path: PathKey) -> Pos | None:
        """Where the node's value starts (best for 'this value is wrong')."""
        keys, values = self.keys, self.values
        path = tuple(path)
        while True:
            found = values.get(path) or keys.get(path)
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
    """Fast path: rapidyaml builds the data (~4x faster than composing with libyaml) and
    positions are worked out with PyYAML only if someone asks for one (an issue to report,
    `Runbook.position`). Anything unusual — a syntax error, duplicate keys, several
    documents — takes the PyYAML path, which reports it precisely."""
    data = fastyaml.parse(text)
    if data is not fastyaml.UNSUPPORTED:
        smap = SourceMap()
        smap.values[()] = Pos(name, 1, 1)
        smap.later(lambda target: _positions_into(text, name, target))
        issues: list[Issue] = []
    else:
        data, smap, issues = _parse_slow(text, name)
    smap.dollar = "$" in text
    return data, smap, issues


def _positions_into(text: str, name: str, smap: SourceMap) -> None:
    _, positions, _ = _parse_slow(text, name)
    smap._keys.update(positions.keys)
    smap._values.update(positions.values)


def _parse_slow(text: str, name: str) -> tuple[Any, SourceMap, list[Issue]]:
    try:
        tree = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        return None, SourceMap(), [_syntax_issue(name, exc)]
    except yaml.YAMLError as exc:  # pragma: no cover - unmarked errors are rare
        return None, SourceMap(), [Issue(name, 1, 1, f"YAML error: {exc}", code="yaml-syntax")]
    smap = SourceMap()
    smap.values[()] = Pos(name, 1, 1)
    if tree is None:
        return None, smap, []
    issues: list[Issue] = []
    data = _plain(tree, (), name, smap, issues, text)
    return (None if issues else data), smap, issues


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml (C) composing; composing (not constructing) keeps every node's mark.

    PyYAML's implicit tag resolution (YAML 1.1 regexes, in Python) is skipped: scalars
    are resolved by `plain_scalar` (YAML 1.2) instead."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode:  # (only called for untagged nodes)
            return _MERGE if value == "<<" and implicit[0] else "?"
        return "tag:yaml.org,2002:map" if kind is yaml.MappingNode else "tag:yaml.org,2002:seq"


def _syntax_issue(name: str, exc: yaml.MarkedYAMLError) -> Issue:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = (exc.problem or "invalid YAML").strip()
    hint = None
    if exc.context:
        ctx_mark = exc.context_mark
        where = f" (line {ctx_mark.line + 1})" if ctx_mark is not None else ""
        hint = f"{exc.context.strip().removeprefix('while ')}{where}"
    for phrase, advice in _ADVICE.items():
        if phrase in problem:
            hint = advice + (f" ({hint})" if hint else "")
            break
    if "{{" in problem:
        hint = (hint + "; " if hint else "") + "quote values that start with {{"
    return Issue(name, line, col, f"YAML syntax error: {problem}", hint, code="yaml-syntax")


_ADVICE = {
    "expected <block end>": "this line is indented differently from the lines around it",
    "did not find expected key": "this line is indented differently from the lines around it",
    "mapping values are not allowed": "quote a value that contains ': ', or fix the indentation",
    "cannot start any token": "indent with spaces, not tabs; quote values starting with @ or `",
    "found character '\\t'": "indent with spaces, not tabs",
    "could not find expected ':'": "a key is missing its ':' or a quote is not closed",
    "found unexpected end of stream": "a quote or bracket is not closed",
    "expected ',' or ']'": "a flow list [a, b] is not closed",
    "expected ',' or '}'": "a flow mapping {a: 1} is not closed",
    "found undefined alias": "define the &anchor before using *anchor",
}


def _plain(node: yaml.Node, path: PathKey, name: str, smap: SourceMap, issues: list[Issue],
           text: str) -> Any:
    """A composed YAML node tree -> plain dict/list/scalars, recording positions on the way."""
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        seen: dict[Any, int] = {}
        for key_node, value_node in _merged(node):
            kpos = Pos(name, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if not isinstance(key_node, yaml.ScalarNode):
                issues.append(Issue(name, kpos.line, kpos.column,
                                    "YAML syntax error: a mapping or list used as a key",
                                    "quote values that start with '{' or '[' (e.g. \"{{ var }}\")",
                                    code="yaml-syntax"))
                continue
            key = _scalar(key_node, text)
            if key in seen:
                issues.append(Issue(name, kpos.line, kpos.column, f"duplicate key '{key}'",
                                    f"'{key}' is already defined at line {seen[key]}; each key may appear "
                                    "once in a mapping — merge or rename the entries", code="duplicate-key"))
                continue
            seen[key] = kpos.line
            child = path + (key,)
            smap._keys[child] = kpos  # (the private dicts: this map is being filled, not read)
            smap._values[child] = Pos(name, value_node.start_mark.line + 1, value_node.start_mark.column + 1)
            out[key] = _plain(value_node, child, name, smap, issues, text)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            smap._values[path + (index,)] = Pos(name, item.start_mark.line + 1, item.start_mark.column + 1)
            items.append(_plain(item, path + (index,), name, smap, issues, text))
        return items
    return _scalar(node, text)


_MERGE = "tag:yaml.org,2002:merge"


def _merged(node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
    """Pairs of a mapping with `<<: *anchor` merges applied (explicit keys win)."""
    pairs = [(k, v) for k, v in node.value if k.tag != _MERGE]
    explicit = {k.value for k, _ in pairs if isinstance(k, yaml.ScalarNode)}
    for key, value in node.value:
        if key.tag != _MERGE:
            continue
        sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
        for source in sources:
            if isinstance(source, yaml.MappingNode):
                for k, v in _merged(source):
                    if isinstance(k, yaml.ScalarNode) and k.value not in explicit:
                        pairs.append((k, v))
                        explicit.add(k.value)
    return pairs


# YAML 1.2 core schema for plain scalars: `yes`, `on`, `1:30` and `2024-01-01` stay strings
# (PyYAML's YAML 1.1 rules would turn them into booleans, sexagesimals and dates).
_NULL = re.compile(r"^(~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_INT_OTHER = re.compile(r"^0o[0-7]+$|^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_SPECIAL_FLOAT = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf"), ".nan": float("nan")}


def _scalar(node: yaml.Node, text: str) -> Any:
    tag = "!!str" if node.tag == "tag:yaml.org,2002:str" else None  # explicit: see _Loader.resolve
    return plain_scalar(str(node.value), bool(getattr(node, "style", None)), tag)


def plain_scalar(value: str, styled: bool, tag: str | None) -> Any:
    """A scalar's value: quoted/block scalars and `!!str` are strings, plain ones are resolved."""
    if styled or tag in ("!!str", "tag:yaml.org,2002:str"):
        return value
    first = value[:1]
    if first.isalpha() and first not in "tTfFnN":  # most values: names, commands, URLs
        return value
    if _NULL.match(value):
        return None
    if value in _BOOL:
        return _BOOL[value]
    if _INT.match(value):
        return int(value)
    if _INT_OTHER.match(value):
        return int(value, 0)
    if _FLOAT.match(value):
        return float(value)
    if value.lower() in _SPECIAL_FLOAT:
        return _SPECIAL_FLOAT[value.lower()]
    return value
