"""JSON Schema of the runbook language, generated from the models (`dro schema`).

Editors use it through yaml-language-server:
    # yaml-language-server: $schema=./runbook.schema.json
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import TypeAdapter

from dr_orchestrator.runbook.durations import format_duration
from dr_orchestrator.runbook.models import Playbook, Runbook, RunbookFragment

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
KINDS: dict[str, type] = {"runbook": Runbook, "fragment": RunbookFragment, "playbook": Playbook}


def json_schema(kind: str = "runbook") -> dict[str, Any]:
    model = KINDS[kind]
    schema: dict[str, Any] = model.model_json_schema(by_alias=True, mode="validation")  # type: ignore[attr-defined]
    _allow_rollback_shorthand(schema)
    _duration_defaults(schema)
    schema = _allow_variables(schema)
    return {"$schema": SCHEMA_DIALECT, "$id": f"https://dr-orchestrator.dev/schema/v1/{kind}.json",
            "title": f"dr-orchestrator {kind} (v1)", **schema}


def _allow_rollback_shorthand(node: Any) -> None:
    """`rollback: "cmd"` / `rollback: [argv…]` are accepted by the loader (one command)."""
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict) and "rollback" in props and "kind" in props:
            props["rollback"] = {"anyOf": [props["rollback"], {"type": "string"},
                                           {"type": "array", "items": {"type": ["string", "number"]}}],
                                 "description": "steps undoing this one, or one command (string or argv)"}
        for value in node.values():
            _allow_rollback_shorthand(value)
    elif isinstance(node, list):
        for value in node:
            _allow_rollback_shorthand(value)


def _duration_defaults(node: Any) -> None:
    """pydantic writes timedelta defaults as ISO 8601 (PT30M); show them as the language does (30m)."""
    if isinstance(node, dict):
        default = node.get("default")
        if isinstance(default, str) and default.startswith("P") and "duration" in str(node):
            node["default"] = format_duration(TypeAdapter(timedelta).validate_python(default))
        for value in node.values():
            _duration_defaults(value)
    elif isinstance(node, list):
        for value in node:
            _duration_defaults(value)


VARIABLE = {"type": "string", "pattern": r"^\$\{[^}]+\}$", "description": "a ${variable}"}


def _allow_variables(node: Any) -> Any:
    """`port: ${pg_port}` is substituted before validation: wherever a number, boolean,
    duration or secret reference is expected, the raw file may hold a `${variable}`."""
    if isinstance(node, list):
        return [_allow_variables(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _allow_variables(v) if k not in ("default", "const", "enum") else v for k, v in node.items()}
    typed = out.get("type") in ("integer", "number", "boolean")
    described = str(out.get("description", ""))
    patterned = out.get("type") == "string" and "pattern" in out and (
        "duration" in described or "secret reference" in described)
    if typed or patterned:
        keep = {k: v for k, v in out.items() if k in ("title", "description", "default")}
        body = {k: v for k, v in out.items() if k not in ("title", "default")}
        return {**keep, "anyOf": [body, VARIABLE]}
    return out
