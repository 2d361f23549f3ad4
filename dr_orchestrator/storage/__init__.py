"""Storage backends: one `Backend` interface, one module per URL scheme."""

from dr_orchestrator.storage.base import Backend, Capabilities, ObjectInfo, validate_key
from dr_orchestrator.storage.registry import open_backend

__all__ = ["Backend", "Capabilities", "ObjectInfo", "open_backend", "validate_key"]
