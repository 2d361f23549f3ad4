"""Running one command on an SSH channel: live line streaming, stdin, timeout and kill.

stdout and stderr are read as they arrive (select on the channel) and split into
lines for the caller's `on_line`; both are also kept (bounded) for the result.
When a timeout is set, the remote shell first reports its PID on stderr (a marker line
that is stripped), so that a timed-out command's process group can be killed.
"""

from __future__ import annotations

import codecs
import contextlib
import select
import threading
import time
from collections.abc import Callable

import paramiko

from dr_orchestrator.remote.base import STDERR, STDOUT, CommandResult, LineCallback, Stdin
from dr_orchestrator.remote.errors import CommandTimeout, HostUnreachable

MAX_KEPT = 8 << 20  # bytes of each stream kept in the result; the callback still sees every line
_PID_MARK = "__dro_pid__="
PID_GRACE = 5.0  # seconds to wait for a timed-out command's PID line before giving up on killing it
_CHUNK = 1 << 16


class LineSplitter:
    """Decodes a byte stream incrementally and emits whole lines; keeps a bounded copy."""

    def __init__(self, stream: str, on_line: LineCallback | None, lock: threading.Lock | None = None,
                 pid_sink: Callable[[int], None] | None = None) -> None:
        self.stream = stream
        self.on_line = on_line
        self.lock = lock
        self.pid_sink = pid_sink
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._kept: list[str] = []
        self._kept_len = 0
        self.truncated = False
        self.error: Exception | None = None  # what the callback raised, if anything

    def feed(self, data: bytes, final: bool = False) -> None:
        text = self._partial + self._decoder.decode(data, final)
        lines = text.split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._emit(line, "\n")
        if final and self._partial:
            self._emit(self._partial, "")
            self._partial = ""

    def _emit(self, line: str, end: str) -> None:
        if self.pid_sink is not None and line.startswith(_PID_MARK):
            sink, self.pid_sink = self.pid_sink, None  # only the very first line can be the marker
            with contextlib.suppress(ValueError):
                sink(int(line[len(_PID_MARK):]))
                return
        self.pid_sink = None
        self._keep(line + end)
        if self.on_line is not None:
            try:
                with self.lock if self.lock is not None else contextlib.nullcontext():
                    self.on_line(self.stream, line.rstrip("\r"))
            except Exception as exc:
                # Keep draining (a full pipe would block the command); raised after it ends.
                self.error, self.on_line = exc, None

    def raise_callback_error(self) -> None:
        if self.error is not None:
            raise self.error

    def _keep(self, text: str) -> None:
        if self._kept_len >= MAX_KEPT:
            self.truncated = True
            return
        self._kept.append(text)
        self._kept_len += len(text)

    def text(self) -> str:
        body = "".join(self._kept)
        return body + (f"\n[output truncated after {MAX_KEPT} bytes]\n" if self.truncated else "")


def feed_stdin(write: Callable[[bytes], object], stdin: Stdin, done: Callable[[], None]) -> None:
    """Write all of `stdin`, then signal EOF; errors (the reader went away) end it quietly."""
    try:
        if isinstance(stdin, str):
            write(stdin.encode())
        elif isinstance(stdin, bytes | bytearray | memoryview):
            write(bytes(stdin))
        elif stdin is not None:
            while chunk := stdin.read(_CHUNK):
                write(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError, EOFError):
            done()


def run_on_channel(chan: paramiko.Channel, line: str, *, timeout: float | None, stdin: Stdin,
                   on_line: LineCallback | None, host: str, killer: Callable[[int], None],
                   env_refused: tuple[str, ...] = ()) -> CommandResult:
    start = time.monotonic()
    deadline = None if timeout is None else start + timeout
    pid: list[int] = []
    out = LineSplitter(STDOUT, on_line)
    err = LineSplitter(STDERR, on_line, pid_sink=pid.append if timeout is not None else None)
    if timeout is not None:
        line = f"printf '{_PID_MARK}%d\\n' \"$$\" >&2; {line}"
    try:
        chan.exec_command(line)
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise HostUnreachable(f"cannot start a command on {host}: {exc}",
                              "the SSH connection dropped or the server refused the session") from exc
    writer = None
    if stdin is None:
        chan.shutdown_write()
    else:
        writer = threading.Thread(target=feed_stdin, args=(chan.sendall, stdin, chan.shutdown_write),
                                  name=f"dro-stdin-{host}", daemon=True)
        writer.start()
    try:
        _pump(chan, out, err, deadline)
    except _TimedOut:
        # On a slow host the shell may not have reported its PID yet: give it a moment.
        grace = time.monotonic() + PID_GRACE
        while not pid and not chan.closed and time.monotonic() < grace:
            if chan.recv_stderr_ready():
                err.feed(chan.recv_stderr(_CHUNK))
            else:
                time.sleep(0.02)
        if pid:
            killer(pid[0])
        partial = CommandResult(-1, out.text(), err.text(), time.monotonic() - start)
        how = "was killed" if pid else "its process could not be identified to kill it"
        raise CommandTimeout(f"command on {host} timed out after {timeout:g}s and {how}",
                             "raise the step's timeout or find out why the command hangs", partial) from None
    except (OSError, EOFError, paramiko.SSHException) as exc:
        raise HostUnreachable(f"connection to {host} dropped while a command was running: {exc}",
                              "the command may or may not have completed on the host") from exc
    code = chan.recv_exit_status()
    transport = chan.get_transport()
    if code == -1 and (transport is None or not transport.is_active()):
        raise HostUnreachable(f"connection to {host} dropped while a command was running",
                              "the command may or may not have completed on the host")
    if writer is not None:
        writer.join(timeout=1)
    out.raise_callback_error()
    err.raise_callback_error()
    return CommandResult(code, out.text(), err.text(), time.monotonic() - start, env_refused)


class _TimedOut(Exception):
    pass


def _pump(chan: paramiko.Channel, out: LineSplitter, err: LineSplitter, deadline: float | None) -> None:
    """Read both streams until EOF and exit status, or raise _TimedOut at the deadline."""
    while True:
        wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
        if not (chan.recv_ready() or chan.recv_stderr_ready()) and not chan.eof_received:
            select.select([chan], [], [], wait)
        while chan.recv_ready():
            out.feed(chan.recv(_CHUNK))
        while chan.recv_stderr_ready():
            err.feed(chan.recv_stderr(_CHUNK))
        if chan.eof_received and not chan.recv_ready() and not chan.recv_stderr_ready():
            if chan.exit_status_ready() or chan.closed:
                break
            chan.status_event.wait(wait if wait > 0 else 0.01)
        if chan.closed and not chan.recv_ready() and not chan.recv_stderr_ready():
            break
        if deadline is not None and time.monotonic() >= deadline:
            raise _TimedOut
    out.feed(b"", final=True)
    err.feed(b"", final=True)
