"""What every runner shares: the host spec, a command's result and the Runner protocol.

A `Runner` runs commands on one host (over SSH, or locally) and moves files to and
from it. Commands are argv lists (quoted for the remote shell, so no runbook value
can inject a command) or, only when the runbook owns a whole shell line, a string.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Protocol, runtime_checkable

from dr_orchestrator.errors import BadInput, DRError

# on_line(stream, line): stream is "stdout" or "stderr"; line has no trailing newline.
LineCallback = Callable[[str, str], None]
Command = Sequence[str] | str
Stdin = bytes | str | IO[bytes] | None

STDOUT = "stdout"
STDERR = "stderr"


@dataclass(frozen=True)
class CommandResult:
    exit_code: int  # < 0: killed by a signal, or the server sent no exit status
    stdout: str
    stderr: str
    duration: float  # seconds, monotonic clock
    env_refused: tuple[str, ...] = ()  # env names the SSH server would not accept (not delivered)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class HostSpec:
    """Where and how to reach a host. `local=True` means this machine, no SSH."""

    address: str = "localhost"
    port: int = 22
    user: str | None = None
    key_path: str | None = None  # private key file; None → ~/.ssh/id_* (never an agent)
    known_hosts: str | None = None  # None → ~/.ssh/known_hosts
    accept_unknown: bool = False  # trust a host seen for the first time (never a changed key)
    local: bool = False
    connect_timeout: float = 10.0
    name: str | None = None  # display name (the runbook's host id)
    key_passphrase: str | None = field(default=None, repr=False, compare=False)
    key_data: str | None = field(default=None, repr=False, compare=False)  # key text, e.g. from a secret

    @classmethod
    def from_mapping(cls, spec: Mapping[str, object]) -> HostSpec:
        """Build from a runbook-style mapping; unknown keys are an error (typos)."""
        aliases = {"host": "address", "key": "key_path", "identity_file": "key_path"}
        known = set(cls.__dataclass_fields__)
        values: dict[str, object] = {}
        for k, v in spec.items():
            name = aliases.get(k, k)
            if name not in known:
                raise BadInput(f"unknown host setting {k!r}", f"known settings: {', '.join(sorted(known))}")
            values[name] = v
        if "port" in values:
            values["port"] = int(str(values["port"]))
        return cls(**values)  # type: ignore[arg-type]

    @property
    def display(self) -> str:
        if self.local:
            return self.name or "local"
        user = f"{self.user}@" if self.user else ""
        return self.name or f"{user}{self.address}:{self.port}"

    def resolved_known_hosts(self) -> str:
        return os.path.expanduser(self.known_hosts or "~/.ssh/known_hosts")


@contextlib.contextmanager
def file_errors(host: str, what: str) -> Iterator[None]:
    """OSErrors of a file transfer as RemoteFileError; DRErrors pass through."""
    from dr_orchestrator.remote.errors import RemoteFileError

    try:
        yield
    except DRError:
        raise
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise RemoteFileError(f"{what} on {host} failed: {reason}",
                              "check that the directory exists and the SSH user may write there") from exc


@runtime_checkable
class Runner(Protocol):
    """Runs commands on one host and moves files to and from it."""

    spec: HostSpec

    def run(self, command: Command, *, env: Mapping[str, str] | None = None,
            timeout: float | None = None, stdin: Stdin = None,
            on_line: LineCallback | None = None, cwd: str | None = None,
            strict_env: bool = False) -> CommandResult:
        """Run to completion (streaming lines to `on_line`); raises CommandTimeout.

        Over SSH, env names the server refuses are skipped and listed in
        `result.env_refused`, or raise EnvRejected when `strict_env`.
        """
        ...

    def put_file(self, local_path: str, remote_path: str, *, mode: int | None = None) -> None:
        """Copy a local file to the host atomically (temp name, then rename)."""
        ...

    def get_file(self, remote_path: str, local_path: str) -> None: ...

    def open_file(self, path: str, mode: str = "rb") -> IO[bytes]:
        """A binary file on the host ("rb", "wb" or "ab"), for streaming restores."""
        ...

    def close(self) -> None: ...
