"""A small threaded TCP proxy on 127.0.0.1 that injects network faults.

    with FaultProxy(("127.0.0.1", 5000)) as proxy:
        proxy.add("reset", after=3 << 20, direction="down")   # next connection: RST after 3 MiB to the client
        proxy.add("stall", after=1 << 20, seconds=4)           # the one after: stop forwarding for 4 s
        proxy.always("reset", after=1 << 20, direction="up")   # every later connection
        ... point the client at http://127.0.0.1:{proxy.port} ...

`after` counts bytes forwarded in `direction` on one connection ("up" = client
to server, "down" = server to client). A queued fault fires once, on the first
connection whose traffic goes past its `after` (small requests on other
connections do not use it up); the `always` fault (if set) fires on every
connection that gets that far, and queued faults wait while it is set. A reset closes both sockets with
SO_LINGER 0 (the peer sees ECONNRESET); a stall stops forwarding for `seconds`
and then resets. `fired` counts faults that actually triggered.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal

Direction = Literal["up", "down"]


@dataclass(frozen=True)
class Fault:
    kind: Literal["reset", "stall"]
    after: int
    direction: Direction = "down"
    seconds: float = 0.0


class FaultProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._queue: deque[Fault] = deque()
        self._always: Fault | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self.connections = 0
        self.fired = 0
        self._thread = threading.Thread(target=self._accept_loop, name="faultproxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, kind: Literal["reset", "stall"], after: int, direction: Direction = "down",
            seconds: float = 0.0) -> None:
        with self._lock:
            self._queue.append(Fault(kind, after, direction, seconds))

    def always(self, kind: Literal["reset", "stall"] | None, after: int = 0, direction: Direction = "down",
               seconds: float = 0.0) -> None:
        with self._lock:
            self._always = None if kind is None else Fault(kind, after, direction, seconds)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._always = None

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self.connections += 1
                self._conns += [client, upstream]
            _Link(self, client, upstream).start()

    def _claim(self, link: _Link, direction: Direction, total: int) -> Fault | None:
        """The fault that fires on `link` now that `total` bytes went `direction`, if any.

        A queued fault goes to the first connection whose traffic crosses its byte
        count (connections that carry only small requests do not use it up)."""
        with self._lock:
            fault = self._always
            if fault is None and self._queue:
                fault = self._queue[0]
            if fault is None or fault.direction != direction or total <= fault.after:
                return None
            if fault is not self._always:
                self._queue.popleft()
            self.fired += 1
            return fault


class _Link:
    """One proxied connection: two pump threads, one optional fault."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.done = threading.Event()

    def start(self) -> None:
        for src, dst, direction in ((self.client, self.upstream, "up"), (self.upstream, self.client, "down")):
            threading.Thread(target=self._pump, args=(src, dst, direction), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, direction: Direction) -> None:
        sent = 0
        try:
            while not self.done.is_set():
                data = src.recv(65536)
                if not data:
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                    return
                fault = self.proxy._claim(self, direction, sent + len(data))
                if fault is None:
                    dst.sendall(data)
                    sent += len(data)
                    continue
                dst.sendall(data[: max(0, fault.after - sent)])  # exactly `after` bytes get through
                if fault.kind == "stall":
                    self.done.wait(fault.seconds)
                self._kill()
                return
        except OSError:
            self._kill()

    def _kill(self) -> None:
        self.done.set()
        _reset(self.client)
        _reset(self.upstream)


def _reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN.

    SHUT_RD first wakes the other pump thread blocked in recv() on this socket;
    without it Linux keeps the connection open until that recv returns."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        sock.close()


def wait_for(predicate: object, timeout: float = 5.0) -> bool:
    """Poll a zero-argument callable until it is true (small helper for tests)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if callable(predicate) and predicate():
            return True
        time.sleep(0.02)
    return False
