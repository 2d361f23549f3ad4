"""Errors of the remote layer (SSH sessions and the local runner).

Connection-level failures are retryable (the host may come back); a refused host
key or a failed login is not: a person has to act, and the hint says how.
"""

from __future__ import annotations

from dr_orchestrator.errors import EXIT_BAD_INPUT, EXIT_UNAVAILABLE, BadInput, DRError, StepTimeout
from dr_orchestrator.remote.base import CommandResult


class RemoteError(DRError):
    """Base of everything the remote layer raises."""


class HostUnreachable(RemoteError):
    """The SSH server could not be reached, or the connection dropped."""

    exit_code = EXIT_UNAVAILABLE
    retryable = True


class HostKeyRejected(RemoteError, BadInput):
    """The server's host key is unknown or differs from the known_hosts entry."""

    exit_code = EXIT_BAD_INPUT


class AuthFailed(RemoteError, BadInput):
    """The server refused our key, or the key file is unusable."""

    exit_code = EXIT_BAD_INPUT


class RemoteFileError(RemoteError):
    """A file could not be read or written on the host (missing directory, permissions…)."""


class EnvRejected(RemoteError, BadInput):
    """sshd refused an environment variable (not in its AcceptEnv list)."""

    exit_code = EXIT_BAD_INPUT


class CommandTimeout(RemoteError, StepTimeout):
    """A command ran past its timeout (it has been killed); `partial` holds its output so far."""

    def __init__(self, message: str, hint: str | None = None, partial: CommandResult | None = None) -> None:
        super().__init__(message, hint)
        self.partial = partial
