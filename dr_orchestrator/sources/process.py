"""Child processes whose stdout is a backup stream, or whose stdin is a restore stream.

Shared by the PostgreSQL and command sources. The rules every caller gets for free:
- argv lists only, never a shell; secrets travel in the child's environment, never argv;
- stderr goes to an anonymous temp file (no pipe to fill up and deadlock the child) and is
  summarised (last lines, secrets redacted) in the `SourceFailed` raised for a non-zero exit;
- a child still running when its stream is abandoned (the consumer raised, or stopped
  reading early) is killed and reaped, never left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, BinaryIO

from dr_orchestrator.errors import BadInput, DRError

STDERR_LINES = 8  # lines of the child's stderr quoted in an error
STDERR_CHARS = 1500


class SourceFailed(DRError):
    """A source's tool (pg_dump, pg_restore, a backup command) failed; the snapshot is not written."""


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def summarise(stderr: bytes, secrets: Sequence[str] = ()) -> str:
    """The last meaningful lines of a tool's stderr, secrets replaced by ***."""
    text = redact(stderr.decode("utf-8", "replace"), secrets)
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    out = "\n".join(lines[-STDERR_LINES:])
    return out[-STDERR_CHARS:] if len(out) > STDERR_CHARS else out


def find_tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BadInput(f"{name} is not installed or not on PATH", hint)
    return path


def _child_env(env: Mapping[str, str] | None) -> dict[str, str]:
    merged = dict(os.environ)
    if env:
        merged.update(env)
    return merged


def _read_stderr(f: IO[bytes]) -> bytes:
    f.seek(0, os.SEEK_END)
    size = f.tell()
    f.seek(max(0, size - 64 * 1024))
    return f.read()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)
    proc.wait()


def _failure(what: str, code: int, stderr: bytes, secrets: Sequence[str], hint: str | None) -> SourceFailed:
    detail = summarise(stderr, secrets)
    status = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
    message = f"{what} failed ({status})" + (f": {detail}" if detail else "")
    return SourceFailed(message, hint)


@contextlib.contextmanager
def reading(argv: Sequence[str], *, what: str, env: Mapping[str, str] | None = None,
            secrets: Sequence[str] = (), hint: str | None = None,
            cwd: str | None = None) -> Iterator[BinaryIO]:
    """Run `argv` and yield its stdout. On a clean exit of the block the child must have
    exited 0 (a consumer that stopped early closes the pipe, the child dies of SIGPIPE and
    that is reported as a failure too). Raises SourceFailed with stderr summarised."""
    with tempfile.TemporaryFile() as errf:
        try:
            proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=errf, env=_child_env(env), cwd=cwd)
        except OSError as exc:
            raise SourceFailed(f"{what}: cannot start {argv[0]}: {exc.strerror}", hint) from None
        assert proc.stdout is not None
        try:
            yield proc.stdout  # type: ignore[misc]
        except BaseException:
            _stop(proc)
            raise
        finally:
            proc.stdout.close()
        code = proc.wait()
        if code != 0:
            raise _failure(what, code, _read_stderr(errf), secrets, hint)


@contextlib.contextmanager
def writing(argv: Sequence[str], *, what: str, env: Mapping[str, str] | None = None,
            secrets: Sequence[str] = (), hint: str | None = None,
            capture_stdout: bool = False) -> Iterator[BinaryIO]:
    """Run `argv` and yield its stdin; closing the block closes stdin and waits for the
    child, which must exit 0. An exception in the block kills the child."""
    with tempfile.TemporaryFile() as errf:
        out = errf if capture_stdout else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=out, stderr=errf,
                                    env=_child_env(env))
        except OSError as exc:
            raise SourceFailed(f"{what}: cannot start {argv[0]}: {exc.strerror}", hint) from None
        assert proc.stdin is not None
        try:
            yield proc.stdin  # type: ignore[misc]
            proc.stdin.close()
        except BrokenPipeError:
            # The child exited before reading everything: its exit code and stderr say why.
            code = proc.wait()
            raise _failure(what, code if code != 0 else 1, _read_stderr(errf), secrets, hint) from None
        except BaseException:
            _stop(proc)
            with contextlib.suppress(OSError):
                proc.stdin.close()
            raise
        code = proc.wait()
        if code != 0:
            raise _failure(what, code, _read_stderr(errf), secrets, hint)


def run_checked(argv: Sequence[str], *, what: str, env: Mapping[str, str] | None = None,
                secrets: Sequence[str] = (), hint: str | None = None, timeout: float | None = None) -> str:
    """Run a short command to completion; its stdout, or SourceFailed."""
    try:
        proc = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True,
                              env=_child_env(env), timeout=timeout, check=False)
    except OSError as exc:
        raise SourceFailed(f"{what}: cannot start {argv[0]}: {exc.strerror}", hint) from None
    except subprocess.TimeoutExpired:
        raise SourceFailed(f"{what} timed out after {timeout:g} s", hint) from None
    if proc.returncode != 0:
        raise _failure(what, proc.returncode, proc.stderr, secrets, hint)
    return proc.stdout.decode("utf-8", "replace")


def copy_stream(src: BinaryIO, dst: IO[bytes], bufsize: int = 1 << 20) -> int:
    """Copy until EOF with one reused buffer; returns the byte count."""
    buf = bytearray(bufsize)
    view = memoryview(buf)
    total = 0
    readinto = getattr(src, "readinto", None)
    while True:
        if readinto is not None:
            n = readinto(buf)
            if not n:
                break
            dst.write(view[:n])
        else:
            chunk = src.read(bufsize)
            if not chunk:
                break
            n = len(chunk)
            dst.write(chunk)
        total += n
    return total
