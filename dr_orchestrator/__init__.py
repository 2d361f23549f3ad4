"""dr-orchestrator (`dro`): disaster-recovery plans as code."""

__version__ = "0.1.0"
