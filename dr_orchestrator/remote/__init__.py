"""Running commands and moving files on hosts: over SSH (paramiko) or locally.

`connect(spec)` gives a `Runner` for a host spec; SSH connections are verified against
a known_hosts file and pooled. See base.py for the interface, hostkeys.py for the
host-key policy, ssh.py for sessions and local.py for this machine.
"""

from __future__ import annotations

from collections.abc import Mapping

from dr_orchestrator.remote.base import CommandResult, HostSpec, LineCallback, Runner
from dr_orchestrator.remote.errors import (
    AuthFailed,
    CommandTimeout,
    EnvRejected,
    HostKeyRejected,
    HostUnreachable,
    RemoteError,
    RemoteFileError,
)

__all__ = ["AuthFailed", "CommandResult", "CommandTimeout", "EnvRejected", "HostKeyRejected", "HostSpec",
           "HostUnreachable", "LineCallback", "RemoteError", "RemoteFileError", "Runner", "close_all", "connect"]


def connect(spec: HostSpec | Mapping[str, object]) -> Runner:
    """A runner for the host: LocalRunner when `local`, else a pooled, verified SSHSession."""
    if not isinstance(spec, HostSpec):
        spec = HostSpec.from_mapping(spec)
    if spec.local:
        from dr_orchestrator.remote.local import LocalRunner

        return LocalRunner(spec)
    from dr_orchestrator.remote.ssh import SSHSession

    return SSHSession(spec)


def close_all() -> None:
    """Close every pooled SSH connection (end of a run, or tests)."""
    from dr_orchestrator.remote.ssh import POOL

    POOL.close_all()
