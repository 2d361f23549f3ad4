"""The backup repository: deduplicated, compressed, encrypted, verifiable (docs/repository-format.md)."""

from dr_orchestrator.repository.crypto import KdfParams
from dr_orchestrator.repository.format import ChunkerParams
from dr_orchestrator.repository.prune import PruneReport
from dr_orchestrator.repository.repo import Repository
from dr_orchestrator.repository.restorer import RestoreReport
from dr_orchestrator.repository.retention import ForgetResult, Policy, parse_duration
from dr_orchestrator.repository.snapshot import Snapshot
from dr_orchestrator.repository.streams import StreamSource
from dr_orchestrator.repository.verify import VerifyReport

__all__ = ["ChunkerParams", "ForgetResult", "KdfParams", "Policy", "PruneReport", "Repository",
           "RestoreReport", "Snapshot", "StreamSource", "VerifyReport", "parse_duration"]
