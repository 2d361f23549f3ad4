"""docs/runbook-reference.md documents every field of every model (so they cannot drift)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, get_args, get_origin

from pydantic import BaseModel

import dr_orchestrator.runbook.models as models

DOC = (Path(__file__).parents[3] / "docs" / "runbook-reference.md").read_text()


def _models() -> dict[str, type[BaseModel]]:
    return {name: obj for name, obj in vars(models).items()
            if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == models.__name__
            and name != "Model" and not name.startswith("_")}


def _sections() -> dict[str, str]:
    """`<!-- model: Name -->` starts the section documenting that model."""
    parts = re.split(r"<!-- model: (\w+) -->", DOC)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_every_model_has_a_section() -> None:
    assert set(_models()) == set(_sections())


def test_every_field_is_documented_in_its_models_section() -> None:
    sections = _sections()
    missing = []
    for name, model in _models().items():
        own = model.__dict__.get("__annotations__", {})  # inherited fields: the base's section
        for field, info in model.model_fields.items():
            if field not in own:
                continue
            key = info.alias or field
            text = sections[name]
            literals = [str(v) for v in get_args(info.annotation) if isinstance(v, str)]
            if get_origin(info.annotation) is Literal and all(v in text for v in literals) and key in text:
                continue  # a discriminator: `kind: RunbookFragment`, `type: paths`, ### `restore`
            if f"`{key}`" not in text and not (literals and all(f"`{v}`" in text for v in literals)):
                missing.append(f"{name}.{key}")
    assert missing == [], f"document these fields in docs/runbook-reference.md: {missing}"


def test_issue_codes_are_documented() -> None:
    source = "".join(p.read_text() for p in Path(models.__file__).parent.glob("*.py"))
    codes = set(re.findall(r'code="([a-z-]+)"', source)) | set(re.findall(r', "([a-z]+-[a-z-]+)"\)', source))
    undocumented = sorted(c for c in codes if f"`{c}`" not in DOC and c not in ("file-not-found",))
    assert undocumented == []
