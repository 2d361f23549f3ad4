"""A `Runner` for this machine: the same interface as SSHSession, over subprocess.

argv lists run directly (no shell, so no runbook value is ever parsed by one); only a
plain string — a shell line the runbook owns — goes through `/bin/sh -c`. Each command
gets its own process group so a timeout kills everything it started.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from typing import IO, cast

from dr_orchestrator.errors import BadInput
from dr_orchestrator.remote.base import (
    STDERR,
    STDOUT,
    Command,
    CommandResult,
    HostSpec,
    LineCallback,
    Stdin,
    file_errors,
)
from dr_orchestrator.remote.errors import CommandTimeout
from dr_orchestrator.remote.stream import LineSplitter, feed_stdin

_CHUNK = 1 << 16


class LocalRunner:
    def __init__(self, spec: HostSpec | None = None) -> None:
        self.spec = spec or HostSpec(local=True)

    def __repr__(self) -> str:
        return f"LocalRunner({self.spec.display!r})"

    def __enter__(self) -> LocalRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, command: Command, *, env: Mapping[str, str] | None = None,
            timeout: float | None = None, stdin: Stdin = None,
            on_line: LineCallback | None = None, cwd: str | None = None,
            strict_env: bool = False) -> CommandResult:
        if isinstance(command, str):
            argv = ["/bin/sh", "-c", command]
        else:
            argv = list(command)
            if not argv or not all(isinstance(a, str) for a in argv):
                raise TypeError("command argv must be a non-empty list of strings")
        full_env = {**os.environ, **env} if env else None
        start = time.monotonic()
        if cwd is not None and not os.path.isdir(cwd):
            msg = f"cd: {cwd}: no such directory\n"  # what the SSH runner's `cd || exit 1` gives
            if on_line:
                on_line(STDERR, msg.rstrip("\n"))
            return CommandResult(1, "", msg, time.monotonic() - start)
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env,
                                    cwd=cwd, start_new_session=True)
        except FileNotFoundError:
            # Same as a shell: "command not found" is exit 127, not an exception.
            msg = f"{argv[0]}: command not found\n"
            if on_line:
                on_line(STDERR, msg.rstrip("\n"))
            return CommandResult(127, "", msg, time.monotonic() - start)
        except PermissionError:
            msg = f"{argv[0]}: permission denied\n"
            if on_line:
                on_line(STDERR, msg.rstrip("\n"))
            return CommandResult(126, "", msg, time.monotonic() - start)
        lock = threading.Lock()  # two reader threads share one callback
        out = LineSplitter(STDOUT, on_line, lock)
        err = LineSplitter(STDERR, on_line, lock)
        threads = [threading.Thread(target=_drain, args=(proc.stdout, out), daemon=True),
                   threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True)]
        if stdin is not None:
            assert proc.stdin is not None
            pipe = proc.stdin
            threads.append(threading.Thread(target=feed_stdin, args=(pipe.write, stdin, pipe.close),
                                            daemon=True))
        for t in threads:
            t.start()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            for t in threads:
                t.join(timeout=2)
            partial = CommandResult(-1, out.text(), err.text(), time.monotonic() - start)
            raise CommandTimeout(f"local command timed out after {timeout:g}s and was killed",
                                 "raise the step's timeout or find out why the command hangs",
                                 partial) from None
        for t in threads[:2]:
            # A background child may keep the pipes open; do not wait for it forever.
            t.join(timeout=None if timeout is None else max(1.0, start + timeout - time.monotonic()))
        out.raise_callback_error()
        err.raise_callback_error()
        return CommandResult(code, out.text(), err.text(), time.monotonic() - start)

    def put_file(self, local_path: str, remote_path: str, *, mode: int | None = None) -> None:
        with file_errors(self.spec.display, f"writing {remote_path}"):
            self._copy(local_path, remote_path, mode)

    def _copy(self, local_path: str, remote_path: str, mode: int | None) -> None:
        directory = os.path.dirname(os.path.abspath(remote_path))
        fd, tmp = tempfile.mkstemp(prefix=".dro-tmp-", dir=directory)
        os.close(fd)
        try:
            shutil.copyfile(local_path, tmp)
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, remote_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def get_file(self, remote_path: str, local_path: str) -> None:
        with file_errors(self.spec.display, f"reading {remote_path}"):
            self._copy(remote_path, local_path, None)

    def open_file(self, path: str, mode: str = "rb") -> IO[bytes]:
        if mode not in ("rb", "wb", "ab"):
            raise BadInput(f"unsupported file mode {mode!r}")
        with file_errors(self.spec.display, f"opening {path}"):
            return cast(IO[bytes], open(path, mode))  # noqa: SIM115 - the caller closes it

    def close(self) -> None:
        return None


def _drain(pipe: IO[bytes] | None, splitter: LineSplitter) -> None:
    if pipe is None:
        return
    with pipe:
        # read1 returns as soon as some bytes are there, so lines reach the callback live.
        reader = getattr(pipe, "read1", pipe.read)
        while chunk := reader(_CHUNK):
            splitter.feed(chunk)
    splitter.feed(b"", final=True)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """TERM the whole group, give it a second, then KILL whatever is left of it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=1.0)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
