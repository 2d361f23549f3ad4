"""Step handlers, one module per step kind, and the registry that maps kind -> handler."""

from __future__ import annotations

import importlib

from dr_orchestrator.errors import BadInput
from dr_orchestrator.execution.steps.base import BaseHandler, StepContext, StepHandler, StepOutput

KINDS = ("restore", "ssh", "shell", "check", "wait", "approval", "playbook", "terraform")


class Registry:
    def __init__(self, handlers: dict[str, StepHandler] | None = None) -> None:
        self._handlers: dict[str, StepHandler] = dict(handlers or {})

    def register(self, handler: StepHandler) -> None:
        self._handlers[handler.kind] = handler

    def get(self, kind: str) -> StepHandler:
        try:
            return self._handlers[kind]
        except KeyError:
            raise BadInput(f"no handler for step kind {kind!r}",
                           f"known kinds: {', '.join(sorted(self._handlers))}") from None

    def kinds(self) -> list[str]:
        return sorted(self._handlers)


def default_registry() -> Registry:
    """Every built-in handler (imported lazily: paramiko etc. only when used)."""
    registry = Registry()
    for kind in KINDS:
        module = importlib.import_module(f"dr_orchestrator.execution.steps.{kind}")
        registry.register(module.HANDLER)
    return registry


__all__ = ["BaseHandler", "Registry", "StepContext", "StepHandler", "StepOutput", "default_registry"]
