"""The repository password for a runbook's data classes: where it comes from, in one place.

Order: the runbook's `repository_password:` reference (`env:NAME` or `file:PATH`),
then $DRO_PASSWORD. A runbook only ever holds the reference; the value is resolved at
the moment of use and never printed.
"""

from __future__ import annotations

import os
from typing import Any

from dr_orchestrator.errors import BadInput

PASSWORD_ENV = "DRO_PASSWORD"  # noqa: S105 - the variable's name, not a password


def repository_password(runbook: Any, *, required: bool = True) -> str | None:
    """The repositories' password for `runbook` (None only when not `required` and unset)."""
    ref = getattr(runbook, "repository_password", None) if runbook is not None else None
    if ref is not None:
        value = str(ref.resolve(getattr(runbook, "base_dir", None))).rstrip("\n")
        if value:
            return value
    env = os.environ.get(PASSWORD_ENV)
    if env:
        return env
    if required:
        raise BadInput("no repository password",
                       f"set `repository_password: env:NAME` (or file:PATH) in the runbook, or export {PASSWORD_ENV}=…")
    return None
