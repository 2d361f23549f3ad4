"""Human names for places in a runbook.

('services', 'api', 'failover', 0) -> "failover step 1 of service 'api'".
"""

from __future__ import annotations

from typing import Any

from dr_orchestrator.runbook.models import ACTIONS

_SECTIONS = {"sites": "site", "data_classes": "data class", "services": "service"}


def describe(path: tuple[Any, ...], data: Any = None) -> str:
    """Describe the node at `path`; `data` (the raw document) adds step names when known."""
    if not path:
        return "the runbook"
    if len(path) == 1:
        return f"'{path[0]}'"
    if path[0] == "steps" and isinstance(path[1], int):  # a playbook's step list
        return _suffix(step_name(path[:2], data, f"step {path[1] + 1}"), path[2:])
    section, name, *rest = path
    if section not in _SECTIONS:
        return _dotted(path)
    base = f"{_SECTIONS[section]} '{name}'"
    if not rest:
        return base
    if section == "sites" and rest[0] == "hosts" and len(rest) >= 2:
        return _suffix(f"host '{rest[1]}' of {base}", rest[2:])
    if section == "data_classes" and rest[0] == "sources" and len(rest) >= 2 and isinstance(rest[1], int):
        return _suffix(f"source {rest[1] + 1} of {base}", rest[2:])
    if section == "services" and rest[0] in ACTIONS and len(rest) >= 2 and isinstance(rest[1], int):
        return _suffix(step_name(path[:4], data, f"{rest[0]} step {rest[1] + 1} of {base}"), rest[2:])
    return _suffix(base, rest)


def step_name(path: tuple[Any, ...], data: Any, default: str) -> str:
    node = _get(data, path)
    if isinstance(node, dict) and isinstance(node.get("name"), str):
        return f"{default} ('{node['name']}')"
    return default


def _suffix(base: str, rest: list[Any] | tuple[Any, ...]) -> str:
    if not rest:
        return base
    return f"{_dotted(tuple(rest))} of {base}"


def _dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_MISSING = object()


def child(node: Any, part: Any) -> Any:
    """node[part] for a dict key or list index that exists, else the `_MISSING` sentinel."""
    if isinstance(node, dict):
        return node.get(part, _MISSING)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return _MISSING


def has_child(node: Any, part: Any) -> bool:
    return child(node, part) is not _MISSING


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = child(data, part)
        if data is _MISSING:
            return None
    return data
