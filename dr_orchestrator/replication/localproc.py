"""Directory → directory copies of many objects in helper processes, one per CPU.

A local copy is mostly kernel work (create, write into the page cache, rename: ~100 µs
per small object here) with a little Python around each system call. In one process
the Python parts of all threads share one GIL, and measured on 2 cores 8 threads were
no faster than 1; two processes copied the same objects ~1.4x faster. So a big
batch (a full copy) goes to `python -m dr_orchestrator.replication.localproc SRC DST TAG`
helpers, each copying with the same code and checks as a thread would
(LocalReplicaWriter.copy_file: BLAKE3 while copying, rename only on a match). The
parent feeds them keys over a pipe and gets one line back per key; it still confirms
every copy at the target and makes each phase durable (syncfs covers the helpers'
writes: same file system). Objects of localfast.DIRECT_MIN bytes or more stay in the
parent (Transfer.copy_local_pair): written with O_DIRECT they mostly wait on the disk.

Protocol, one line per key each way (keys never hold a tab or a newline: validate_key):
    parent → helper:  <key> | stage TAB <key> … then an empty line (the end of a hand-off:
                      answer now); a staged copy stays under its staged name
                      (LocalReplicaWriter.publish renames it later)
    helper → parent:  <key> TAB ok TAB <size> | corrupt TAB <why> | missing TAB | error TAB <why>
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from dr_orchestrator.replication import layout
from dr_orchestrator.replication.localfast import LocalReplicaWriter
from dr_orchestrator.storage.base import validate_key

CHUNK = 16  # keys per hand-off; two hand-offs in flight per helper keep it busy
# A batch goes to helpers when it is at least this big (starting one costs ~0.1 s).
MIN_OBJECTS = 1000
MIN_BYTES = 256 << 20


def helper_count(workers: int) -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return min(workers, cpus)


class _Helper:
    def __init__(self, src_root: Path, dst_root: Path, stage_tag: str) -> None:
        import subprocess  # ~7 ms: only a batch that starts helpers pays for it

        self.proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", "dr_orchestrator.replication.localproc", str(src_root), str(dst_root), stage_tag],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin: IO[bytes] = self.proc.stdin
        self.stdout: IO[bytes] = self.proc.stdout

    def send(self, keys: list[str], stage: bool) -> None:
        lead = "stage\t" if stage else ""
        self.stdin.write("".join(f"{lead}{k}\n" for k in keys).encode() + b"\n")
        self.stdin.flush()

    def receive(self) -> tuple[str, str, str]:
        line = self.stdout.readline()
        if not line:
            raise OSError("copy helper exited")
        key, status, value = line.decode().rstrip("\n").split("\t", 2)
        return key, status, value

    def close(self) -> None:
        import subprocess

        with contextlib.suppress(OSError):
            self.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stdout.close()


class HelperPool:
    """Helper processes copying src_root → dst_root; started on first use, kept for the run."""

    def __init__(self, src_root: Path, dst_root: Path, count: int, stage_tag: str) -> None:
        self.src_root, self.dst_root, self.count, self.stage_tag = src_root, dst_root, count, stage_tag
        self._helpers: list[_Helper] = []

    def copy(self, keys: Iterable[str], stop: threading.Event, *,
             stage: bool = False) -> Iterator[tuple[str, str, str]]:
        """(key, status, value) per key, in completion order; no key is sent once `stop` is
        set. `stage`: the copies stay under their staged names."""
        if not self._helpers:
            self._helpers = [_Helper(self.src_root, self.dst_root, self.stage_tag) for _ in range(self.count)]
        source = iter(keys)
        take = threading.Lock()
        out: deque[tuple[str, str, str]] = deque()
        ready = threading.Condition()
        running = [len(self._helpers)]
        abandoned = threading.Event()  # the caller left the loop: hand out no more keys

        def next_chunk() -> list[str]:
            if stop.is_set() or abandoned.is_set():
                return []
            with take:
                chunk = []
                for key in source:
                    chunk.append(key)
                    if len(chunk) == CHUNK:
                        break
                return chunk

        def publish(results: list[tuple[str, str, str]]) -> None:
            with ready:
                out.extend(results)
                ready.notify()

        def feed(helper: _Helper) -> None:
            in_flight: deque[list[str]] = deque()  # hand-offs sent, oldest first
            got: list[tuple[str, str, str]] = []  # answers to the oldest so far
            try:
                while True:
                    more = next_chunk()
                    if more:
                        in_flight.append(more)  # before sending: a failed send fails these keys too
                        helper.send(more, stage)
                    if not in_flight:
                        return
                    if len(in_flight) == 1 and more:
                        continue  # keep two hand-offs in flight while there are keys
                    while len(got) < len(in_flight[0]):
                        got.append(helper.receive())
                    in_flight.popleft()
                    publish(got)
                    got = []
            except (OSError, ValueError) as exc:  # the helper died: what it held fails, nothing is lost
                unanswered = [k for chunk in in_flight for k in chunk][len(got):]
                publish(got + [(k, "error", f"copy helper failed: {exc}") for k in unanswered])
            finally:
                with ready:
                    running[0] -= 1
                    ready.notify()

        threads = [threading.Thread(target=feed, args=(h,), name=f"dro-helper-{i}", daemon=True)
                   for i, h in enumerate(self._helpers)]
        for t in threads:
            t.start()
        try:
            while True:
                with ready:
                    while not out and running[0]:
                        ready.wait()
                    batch = list(out)
                    out.clear()
                    done = not running[0]
                yield from batch
                if done and not batch:
                    break
        finally:  # normally all done; after an early exit the hand-offs in flight still finish
            abandoned.set()
            for t in threads:
                t.join()
        if not stop.is_set():  # every helper died: what nobody took fails (never: skipped silently)
            for key in source:
                yield key, "error", "copy helpers exited"

    def close(self) -> None:
        for helper in self._helpers:
            helper.close()
        self._helpers = []


def _serve(src_root: str, dst_root: str, stage_tag: str, stdin: IO[bytes], stdout: IO[bytes]) -> None:
    writer = LocalReplicaWriter(Path(dst_root), stage_tag)
    prefix = src_root.rstrip(os.sep) + os.sep
    parent = os.getppid()
    for raw in stdin:
        line = raw.decode().rstrip("\n")
        if not line:  # the end of a hand-off
            stdout.flush()
            if os.getppid() != parent:
                return  # the parent was killed: nobody reads the answers (or renames what is staged)
            continue
        command, _, key = line.rpartition("\t")
        if command not in ("", "stage"):
            answer = f"error\tunknown helper command {command!r}"
        else:
            answer = _copy_one(writer, prefix, key, stage=command == "stage")
        stdout.write(f"{key}\t{answer}\n".encode())
    stdout.flush()


def _copy_one(writer: LocalReplicaWriter, prefix: str, key: str, *, stage: bool = False) -> str:
    try:
        expected = layout.expected_hash(key)
        hasher = layout.new_hasher()

        def check() -> None:
            if expected is not None and hasher.hexdigest() != expected:
                raise _Corrupt
        size = writer.copy_file(key, prefix + validate_key(key), _update(hasher), check, stage=stage)
        return f"ok\t{size}"
    except _Corrupt:
        return "corrupt\tdoes not match its content hash"
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        if exc.filename and str(exc.filename).startswith(prefix):
            return "missing\t"
        return f"error\t{_one_line(exc)}"
    except Exception as exc:  # noqa: BLE001 - reported for this key; the helper carries on
        return f"error\t{_one_line(exc)}"


class _Corrupt(Exception):
    pass


def _update(hasher: object) -> Callable[[memoryview], None]:
    return hasher.update  # type: ignore[attr-defined, no-any-return]


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".replace("\t", " ").replace("\n", " ")


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2], sys.argv[3], sys.stdin.buffer, sys.stdout.buffer)
