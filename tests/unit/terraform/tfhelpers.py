"""Read the Terraform modules with python-hcl2 and check values against HCL type expressions."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[3]
MODULES = ROOT / "terraform" / "modules"
EXAMPLES = ROOT / "terraform" / "examples"
OPTS = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)


@cache
def load_hcl(path: Path) -> dict[str, Any]:
    with open(path) as f:
        return hcl2.load(f, serialization_options=OPTS)


def blocks(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    """All `variable` / `output` blocks of a module directory, by name."""
    found: dict[str, dict[str, Any]] = {}
    for tf in sorted(directory.glob("*.tf")):
        for block in load_hcl(tf).get(kind, []):
            for name, spec in block.items():
                found[name] = spec
    return found


def type_expr(spec: dict[str, Any]) -> str:
    t = str(spec.get("type", "any"))
    if t.startswith("${") and t.endswith("}"):
        t = t[2:-1]
    return " ".join(t.split())


def readme_names(directory: Path, section: str) -> set[str]:
    text = (directory / "README.md").read_text()
    part = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z0-9_]+)` \|", part, flags=re.M))


def _split_top(s: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def conforms(value: Any, expr: str) -> bool:
    """Does a JSON value fit an HCL type expression (string, number, bool, map(...), object({...}), list(...))?"""
    expr = expr.strip()
    if expr == "any":
        return True
    if expr == "string":
        return isinstance(value, str)
    if expr == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expr == "bool":
        return isinstance(value, bool)
    m = re.fullmatch(r"(map|list|set)\((.*)\)", expr)
    if m:
        inner = m.group(2)
        if m.group(1) == "map":
            return isinstance(value, dict) and all(conforms(v, inner) for v in value.values())
        return isinstance(value, list) and all(conforms(v, inner) for v in value)
    m = re.fullmatch(r"object\(\{(.*)\}\)", expr)
    if m:
        if not isinstance(value, dict):
            return False
        fields = dict(tuple(x.strip() for x in f.split("=", 1)) for f in _split_top(m.group(1)))
        return set(value) == set(fields) and all(conforms(value[k], t) for k, t in fields.items())
    raise AssertionError(f"unhandled HCL type {expr!r}")
