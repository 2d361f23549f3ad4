"""Local processes for steps: argv only (never a shell unless given `bash -c`), output
streamed line by line, the whole process group killed at the deadline."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from dr_orchestrator.errors import StepTimeout


def run_streaming(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                  cwd: str | None = None, timeout: float | None = None,
                  on_line: Callable[[str, str], None] | None = None,
                  cancel: threading.Event | None = None,
                  on_start: Callable[[int], None] | None = None) -> tuple[int, str, str]:
    """Run argv to completion; returns (exit code, stdout, stderr). Raises StepTimeout.

    The process leads its own session (process group), so a timeout kills everything it
    started; `on_start(pid)` lets the journal record the group for `dro resume`."""
    proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(env) if env is not None else None,
                            cwd=cwd, start_new_session=True, text=True, errors="replace")
    if on_start is not None:
        on_start(proc.pid)
    chunks: dict[str, list[str]] = {"stdout": [], "stderr": []}

    def pump(stream_name: str) -> None:
        stream = proc.stdout if stream_name == "stdout" else proc.stderr
        assert stream is not None
        for line in stream:
            chunks[stream_name].append(line)
            if on_line is not None:
                on_line(stream_name, line.rstrip("\n"))

    readers = [threading.Thread(target=pump, args=(n,), daemon=True) for n in ("stdout", "stderr")]
    for reader in readers:
        reader.start()
    try:
        _wait(proc, timeout, cancel)
    except BaseException:
        _kill(proc)
        raise
    finally:
        for reader in readers:
            reader.join(5)
    return proc.returncode, "".join(chunks["stdout"]), "".join(chunks["stderr"])


def _wait(proc: subprocess.Popen[str], timeout: float | None, cancel: threading.Event | None) -> None:
    if cancel is None:
        try:
            proc.wait(timeout=None if timeout is None else max(timeout, 0.0))
        except subprocess.TimeoutExpired:
            raise StepTimeout(f"command timed out after {timeout:g}s") from None
        return
    end = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            proc.wait(timeout=0.1)
            return
        except subprocess.TimeoutExpired:
            pass
        if cancel.is_set():
            raise StepTimeout("command cancelled at its step's timeout")
        if end is not None and time.monotonic() >= end:
            raise StepTimeout(f"command timed out after {timeout:g}s")


def _kill(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def process_identity(pid: int) -> float | None:
    """The process's start time (psutil), to tell it from a later process reusing the pid."""
    try:
        import psutil

        return float(psutil.Process(pid).create_time())
    except Exception:  # gone, or no psutil: no identity
        return None


def kill_orphan_group(pgid: int, started: float | None) -> bool:
    """Kill a process group left running by a killed run, if it is still the same one."""
    if started is None or process_identity(pgid) != started:
        return False
    try:
        os.killpg(pgid, signal.SIGTERM)
        for _ in range(20):
            time.sleep(0.1)
            os.killpg(pgid, 0)
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True
