"""A pool of SFTP channels to one server, for the SFTP storage backend.

paramiko's SFTPClient must not serve two threads at once, so each operation borrows
its own channel. Channels are reused; normally they all ride on one SSH connection.
A connection carries at most `per_connection` channels (sshd's MaxSessions defaults
to 10); when more are busy at once — e.g. many threads each holding a reader open
while writing — another connection is opened rather than making anyone wait, so
nested use can never deadlock.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import paramiko

from dr_orchestrator.remote.base import HostSpec
from dr_orchestrator.remote.ssh import SSHSession

PER_CONNECTION = 8
MAX_IDLE = 8  # idle channels kept open for reuse


@dataclass
class _Conn:
    session: SSHSession
    channels: int = 0  # open channels (busy or idle) on this connection


class SFTPPool:
    def __init__(self, spec: HostSpec, *, per_connection: int = PER_CONNECTION,
                 timeout: float | None = None) -> None:
        self.spec = spec
        self.timeout = timeout  # seconds without an answer before a channel counts as stalled
        self.per_connection = per_connection
        self._lock = threading.Lock()
        self._conns: list[_Conn] = []
        self._idle: list[tuple[paramiko.SFTPClient, _Conn]] = []

    @property
    def connections(self) -> int:
        return len(self._conns)

    def _take(self) -> tuple[paramiko.SFTPClient, _Conn]:
        with self._lock:
            while self._idle:
                sftp, owner = self._idle.pop()
                if _usable(sftp):
                    return sftp, owner
                owner.channels -= 1
                with contextlib.suppress(Exception):
                    sftp.close()
            conn = next((c for c in self._conns if c.channels < self.per_connection), None)
            if conn is not None:
                conn.channels += 1  # reserve the slot before the slow channel open
        if conn is None:
            conn = _Conn(SSHSession(self.spec, pooled=False), 1)  # slow: outside the lock
            with self._lock:
                self._conns.append(conn)
        try:
            sftp = conn.session.open_sftp()  # reconnects if this connection dropped
            if self.timeout is not None:
                sftp.get_channel().settimeout(self.timeout)  # type: ignore[union-attr]
            return sftp, conn
        except BaseException:
            with self._lock:
                conn.channels -= 1
            raise

    def _give_back(self, sftp: paramiko.SFTPClient, conn: _Conn) -> None:
        with self._lock:
            # Idle channels are kept only on the first connection, so overflow ones drain away.
            primary = bool(self._conns) and self._conns[0] is conn
            if primary and _usable(sftp) and len(self._idle) < MAX_IDLE:
                self._idle.append((sftp, conn))
                return
            conn.channels -= 1
            drop = conn.channels == 0 and len(self._conns) > 1 and conn in self._conns
            if drop:
                self._conns.remove(conn)  # an overflow connection no longer needed
        with contextlib.suppress(Exception):
            sftp.close()
        if drop:
            conn.session.close()

    @contextlib.contextmanager
    def channel(self) -> Iterator[paramiko.SFTPClient]:
        sftp, conn = self._take()
        try:
            yield sftp
        finally:
            self._give_back(sftp, conn)

    def drop_connections(self) -> None:
        """Close every connection's transport (tests: simulate a network drop)."""
        for conn in list(self._conns):
            conn.session.connection.client.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            conns, self._conns = self._conns, []
        for sftp, _ in idle:
            with contextlib.suppress(Exception):
                sftp.close()
        for conn in conns:
            conn.session.close()


def _usable(sftp: paramiko.SFTPClient) -> bool:
    channel = sftp.get_channel()
    return (channel is not None and not channel.closed and not sftp.sock.closed
            and channel.get_transport().is_active())
