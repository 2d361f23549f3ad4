"""Any command's stdout as a backup stream (and, for restore, a stream into a command's stdin).

The command is an argv list run without a shell, so nothing in a runbook value can be
interpreted as shell syntax. A non-zero exit aborts the snapshot with the tail of the
command's stderr in the error.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, BinaryIO

from dr_orchestrator.errors import BadInput
from dr_orchestrator.repository.streams import StreamSource
from dr_orchestrator.sources.process import copy_stream, reading, writing


def stream_name(name: str) -> str:
    return f"command/{name}"


def _resolve(argv: Sequence[str]) -> list[str]:
    if not argv or not all(isinstance(a, str) for a in argv):
        raise BadInput("a command source needs a non-empty argv list of strings")
    exe = shutil.which(argv[0])
    if exe is None:
        raise BadInput(f"command {argv[0]!r} not found", "give an absolute path or check PATH")
    return [exe, *argv[1:]]


def backup_source(name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                  secrets: Sequence[str] = (), cwd: str | None = None) -> StreamSource:
    """A StreamSource whose bytes are `argv`'s stdout, stored at `command/<name>`."""
    if not name or name.startswith("/") or ".." in name.split("/"):
        raise BadInput(f"invalid command source name {name!r}")
    resolved = _resolve(argv)

    @contextlib.contextmanager
    def open_stream() -> Iterator[BinaryIO]:
        with reading(resolved, what=f"backup command {name!r} ({argv[0]})", env=env, secrets=secrets,
                     cwd=cwd, hint="run the command by hand to see why it fails") as out:
            yield out

    return StreamSource(name=stream_name(name), open=open_stream,
                        metadata={"source": "command", "argv0": argv[0]})


def restore_into_command(data: BinaryIO, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                         secrets: Sequence[str] = ()) -> int:
    """Feed a stored stream to `argv`'s stdin (e.g. `psql`, `tar -x`); it must exit 0."""
    with writing(_resolve(argv), what=f"restore command ({argv[0]})", env=env, secrets=secrets,
                 hint="run the command by hand to see why it fails") as stdin:
        return copy_stream(data, stdin)


def restore_from_repository(repo: Any, snapshot: Any, path: str, argv: Sequence[str]) -> int:
    with repo.open_file(snapshot, path) as data:
        return restore_into_command(data, argv)
