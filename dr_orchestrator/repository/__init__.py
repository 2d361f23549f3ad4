"""The backup repository: deduplicated, compressed, encrypted, verifiable (docs/repository-format.md).

The report and policy types of restore, verify, forget and prune are imported on first
use (PEP 562), so that `dro backup` does not load the modules behind them.
"""

from typing import TYPE_CHECKING, Any

from dr_orchestrator.repository.crypto import KdfParams
from dr_orchestrator.repository.format import ChunkerParams
from dr_orchestrator.repository.repo import Repository
from dr_orchestrator.repository.snapshot import Snapshot
from dr_orchestrator.repository.streams import StreamSource

if TYPE_CHECKING:
    from dr_orchestrator.repository.prune import PruneReport
    from dr_orchestrator.repository.restorer import RestoreReport
    from dr_orchestrator.repository.retention import ForgetResult, Policy, parse_duration
    from dr_orchestrator.repository.verify import VerifyReport

_LAZY = {"PruneReport": "prune", "RestoreReport": "restorer", "ForgetResult": "retention", "Policy": "retention",
         "parse_duration": "retention", "VerifyReport": "verify"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"dr_orchestrator.repository.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ChunkerParams", "ForgetResult", "KdfParams", "Policy", "PruneReport", "Repository",
           "RestoreReport", "Snapshot", "StreamSource", "VerifyReport", "parse_duration"]
