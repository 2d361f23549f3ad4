"""The reference YAML path: PyYAML (libyaml) composing, with every node's position.

Used when rapidyaml is not installed or declines a document (fastyaml), to report syntax
errors and duplicate keys precisely, and — lazily — when someone asks where a node was
written. Imported only then: a valid runbook on the fast path never loads PyYAML.
"""

from __future__ import annotations

from typing import Any

import yaml

from dr_orchestrator.errors import Issue
from dr_orchestrator.runbook.yamlpos import PathKey, Pos, SourceMap, plain_scalar


def parse_slow(text: str, name: str) -> tuple[Any, SourceMap, list[Issue]]:
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


def _scalar(node: yaml.Node, text: str) -> Any:
    tag = "!!str" if node.tag == "tag:yaml.org,2002:str" else None  # explicit: see _Loader.resolve
    return plain_scalar(str(node.value), bool(getattr(node, "style", None)), tag)
