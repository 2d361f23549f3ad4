"""SSH sessions over paramiko: verified host keys, pooled connections, streamed commands.

One TCP connection per (user, host, port, key, host-key policy) is shared by every
session that asks for it (`acquire`); each command runs on its own channel, so many
threads can use one connection at once (bounded below sshd's default MaxSessions 10).
Commands given as argv lists are quoted with `shlex.join`: a runbook value such as
`; rm -rf /` or `$(…)` stays one literal argument.
"""

from __future__ import annotations

import contextlib
import getpass
import io
import os
import shlex
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import IO, cast

import paramiko

from dr_orchestrator.remote.base import Command, CommandResult, HostSpec, LineCallback, Stdin, file_errors
from dr_orchestrator.remote.env import EnvCache, EnvRefusedRetry, send_env
from dr_orchestrator.remote.errors import AuthFailed, HostKeyRejected, HostUnreachable
from dr_orchestrator.remote.hostkeys import (
    KnownHostsPolicy,
    changed_host_error,
    load_known_hosts,
    revoked_host_error,
)
from dr_orchestrator.remote.sftpio import RangeReader
from dr_orchestrator.remote.stream import run_on_channel

MAX_CHANNELS = 8  # concurrent channels per connection; OpenSSH's MaxSessions defaults to 10
IDLE_TIMEOUT = 300.0  # an unused pooled connection is closed after this many seconds
KEEPALIVE = 30


def command_line(command: Command, cwd: str | None = None) -> str:
    """The remote shell line: argv lists are quoted, strings are the runbook's own shell."""
    if isinstance(command, str):
        line = command
    else:
        argv = list(command)
        if not argv or not all(isinstance(a, str) for a in argv):
            raise TypeError("command argv must be a non-empty list of strings")
        line = shlex.join(argv)
    if cwd is not None:
        line = f"cd -- {shlex.quote(cwd)} || exit 1; {line}"
    return line


def _load_key(spec: HostSpec) -> paramiko.PKey | None:
    if spec.key_data is not None:
        return _key_from_text(spec)
    if spec.key_path is None:
        return None
    path = os.path.expanduser(spec.key_path)
    if not os.path.isfile(path):
        raise AuthFailed(f"SSH key file {path} for {spec.display} does not exist",
                         "set the host's key path to an existing private key file")
    try:
        return paramiko.PKey.from_path(path, spec.key_passphrase)
    except TypeError as exc:
        # paramiko 5 lets cryptography's "password was not provided" TypeError through.
        if spec.key_passphrase is None and "password" in str(exc).lower():
            raise AuthFailed(f"SSH key file {path} is encrypted and no passphrase was given",
                             "give the key's passphrase as a secret reference") from exc
        raise
    except paramiko.PasswordRequiredException as exc:
        raise AuthFailed(f"SSH key file {path} is encrypted and no passphrase was given",
                         "give the key's passphrase as a secret reference, or use an unencrypted "
                         "deploy key readable only by the orchestrator") from exc
    except (paramiko.SSHException, ValueError, OSError) as exc:
        # The exception text names the problem (wrong passphrase, unknown type), never key bytes.
        raise AuthFailed(f"cannot load SSH key file {path}: {type(exc).__name__}: {exc}",
                         "check that it is an OpenSSH/PEM private key (ed25519, ecdsa or rsa)") from exc


def _key_from_text(spec: HostSpec) -> paramiko.PKey:
    """A private key given as text (a secret reference); the text never reaches a message."""
    assert spec.key_data is not None
    errors = []
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(spec.key_data), spec.key_passphrase)
        except (paramiko.PasswordRequiredException, TypeError) as exc:
            if isinstance(exc, TypeError) and "password" not in str(exc).lower():
                raise
            raise AuthFailed(f"the SSH key given for {spec.display} is encrypted and no passphrase was given",
                             "give the key's passphrase as a secret reference") from exc
        except (paramiko.SSHException, ValueError) as exc:
            errors.append(type(exc).__name__)
    raise AuthFailed(f"the SSH key given for {spec.display} is not a usable private key "
                     f"({', '.join(errors)})", "give an OpenSSH/PEM private key (ed25519, ecdsa or rsa)")


def open_client(spec: HostSpec) -> paramiko.SSHClient:
    """Connect and authenticate, verifying the host key; errors are DRErrors."""
    known_hosts = spec.resolved_known_hosts()
    known = load_known_hosts(known_hosts, must_exist=not spec.accept_unknown)
    pkey = _load_key(spec)
    client = paramiko.SSHClient()
    for name, entries in known.keys.items():
        for key_type, key in entries.items():
            client.get_host_keys().add(name, key_type, key)
    client.set_missing_host_key_policy(
        KnownHostsPolicy(spec.address, spec.port, known_hosts, accept_unknown=spec.accept_unknown,
                         revoked=known.revoked))
    t = spec.connect_timeout
    try:
        client.connect(spec.address, port=spec.port, username=spec.user or getpass.getuser(),
                       pkey=pkey, look_for_keys=pkey is None, allow_agent=False,
                       timeout=t, banner_timeout=t, auth_timeout=t, channel_timeout=t)
    except HostKeyRejected:
        client.close()
        raise
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise changed_host_error(spec.address, spec.port, exc.key, exc.expected_key, known_hosts) from exc
    except paramiko.AuthenticationException as exc:
        client.close()
        key_desc, user = spec.key_path or "~/.ssh/id_*", spec.user or getpass.getuser()
        raise AuthFailed(
            f"{spec.display} refused authentication as {user!r} with key {key_desc}",
            "add the key's public half to that user's ~/.ssh/authorized_keys on the host, "
            "or fix the host's user/key settings") from exc
    except (paramiko.SSHException, OSError, EOFError) as exc:
        client.close()
        raise HostUnreachable(
            f"cannot connect to {spec.display}: {type(exc).__name__}: {exc}",
            "check that the host is up, the address/port are right and sshd is running") from exc
    transport = client.get_transport()
    if transport is not None:
        server_key = transport.get_remote_server_key()
        if known.is_revoked(server_key):  # listed as known AND revoked: revoked wins, as in OpenSSH
            client.close()
            raise revoked_host_error(spec.address, spec.port, server_key, known_hosts)
        transport.set_keepalive(KEEPALIVE)
    return client


class Connection:
    """One authenticated SSH connection, shared by sessions; bounded concurrent channels."""

    def __init__(self, spec: HostSpec, client: paramiko.SSHClient) -> None:
        self.spec = spec
        self.client = client
        self.slots = threading.BoundedSemaphore(MAX_CHANNELS)
        self.env = EnvCache()
        self.refs = 0
        self.idle_since: float | None = None

    def alive(self) -> bool:
        t = self.client.get_transport()
        return t is not None and t.is_active()

    def transport(self) -> paramiko.Transport:
        t = self.client.get_transport()
        if t is None or not t.is_active():
            raise HostUnreachable(f"connection to {self.spec.display} was lost",
                                  "the host or network dropped the SSH connection; it is retried")
        return t

    @contextlib.contextmanager
    def channel(self, *, bounded: bool = True) -> Iterator[paramiko.Channel]:
        # The killer of a timed-out command passes bounded=False: its own slot is held by
        # the command it kills, so waiting for a slot could deadlock.
        with self.slots if bounded else contextlib.nullcontext():
            try:
                chan = self.transport().open_session(timeout=self.spec.connect_timeout)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise HostUnreachable(f"cannot open a channel to {self.spec.display}: {exc}",
                                      "the connection dropped or sshd refused a session") from exc
            try:
                yield chan
            finally:
                chan.close()

    def close(self) -> None:
        self.client.close()


def _pool_key(spec: HostSpec) -> tuple[object, ...]:
    # The host-key policy is part of the key: a connection made with accept_unknown must
    # never be handed to a caller that asked for strict checking.
    return (spec.user or getpass.getuser(), spec.address, spec.port, spec.key_path,
            spec.resolved_known_hosts(), spec.accept_unknown)


class Pool:
    """Connections keyed by `_pool_key`; idle ones are closed after IDLE_TIMEOUT."""

    def __init__(self, idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._conns: dict[tuple[object, ...], Connection] = {}

    def acquire(self, spec: HostSpec) -> Connection:
        key = _pool_key(spec)
        stale: list[Connection] = []
        with self._lock:
            stale = self._reap_locked()
            conn = self._conns.get(key)
            if conn is not None and not conn.alive():
                stale.append(self._conns.pop(key))
                conn = None
            if conn is not None:
                conn.refs += 1
                conn.idle_since = None
        for c in stale:
            c.close()
        if conn is not None:
            return conn
        client = open_client(spec)  # slow: outside the lock
        with self._lock:
            existing = self._conns.get(key)
            if existing is not None and existing.alive():
                client.close()  # another thread won the race; share its connection
                conn = existing
            else:
                conn = Connection(spec, client)
                self._conns[key] = conn
            conn.refs += 1
            conn.idle_since = None
            return conn

    def release(self, conn: Connection) -> None:
        with self._lock:
            conn.refs = max(0, conn.refs - 1)
            if conn.refs == 0:
                conn.idle_since = time.monotonic()

    def _reap_locked(self) -> list[Connection]:
        now = time.monotonic()
        dead = [k for k, c in self._conns.items()
                if c.refs == 0 and c.idle_since is not None and now - c.idle_since > self.idle_timeout]
        return [self._conns.pop(k) for k in dead]

    def close_all(self) -> None:
        with self._lock:
            conns = list(self._conns.values())
            self._conns.clear()
        for c in conns:
            c.close()

    def __len__(self) -> int:
        return len(self._conns)


POOL = Pool()


class SSHSession:
    """A `Runner` on a remote host. `pooled=False` gives a private connection."""

    def __init__(self, spec: HostSpec, *, pooled: bool = True) -> None:
        self.spec = spec
        self._pooled = pooled
        self._conn: Connection | None = POOL.acquire(spec) if pooled else Connection(spec, open_client(spec))
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SSHSession({self.spec.display!r})"

    def __enter__(self) -> SSHSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connection(self) -> Connection:
        """The live connection; a dropped one is replaced (nothing is in flight on it)."""
        with self._lock:
            conn = self._conn
            if conn is None:
                raise HostUnreachable(f"session to {self.spec.display} is closed")
            if not conn.alive():
                if self._pooled:
                    POOL.release(conn)
                    conn = POOL.acquire(self.spec)
                else:
                    conn.close()
                    conn = Connection(self.spec, open_client(self.spec))
                self._conn = conn
            return conn

    def run(self, command: Command, *, env: Mapping[str, str] | None = None,
            timeout: float | None = None, stdin: Stdin = None,
            on_line: LineCallback | None = None, cwd: str | None = None,
            strict_env: bool = False) -> CommandResult:
        """Run on the host. `env` travels as SSH env requests: sshd must AcceptEnv the names."""
        line = command_line(command, cwd)
        conn = self.connection
        while True:  # ends: each retry caches one more refused env name
            with conn.channel() as chan:
                try:
                    refused = send_env(chan, env or {}, conn.env, self.spec.display, strict=strict_env)
                except EnvRefusedRetry:
                    continue
                return run_on_channel(chan, line, timeout=timeout, stdin=stdin, on_line=on_line,
                                      host=self.spec.display, killer=self._kill_group, env_refused=refused)

    def _kill_group(self, pid: int) -> None:
        """Kill a timed-out command's process group (sshd makes each session a group leader)."""
        script = f"kill -TERM -- -{pid} 2>/dev/null; sleep 0.5; kill -KILL -- -{pid} 2>/dev/null; exit 0"
        with contextlib.suppress(Exception), self.connection.channel(bounded=False) as chan:
            chan.settimeout(10)
            chan.exec_command(script)
            chan.recv_exit_status()

    # --- files -------------------------------------------------------------

    def open_sftp(self) -> paramiko.SFTPClient:
        """A new SFTP client on this connection (the caller closes it)."""
        try:
            client = self.connection.client.open_sftp()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise HostUnreachable(f"cannot start SFTP on {self.spec.display}: {exc}",
                                  "the server needs an sftp subsystem (`Subsystem sftp internal-sftp`)",
                                  ) from exc
        return client

    @contextlib.contextmanager
    def _transfer(self, what: str) -> Iterator[None]:
        try:
            with file_errors(self.spec.display, what):
                yield
        except (paramiko.SSHException, EOFError) as exc:
            raise HostUnreachable(f"{what} on {self.spec.display}: connection lost ({exc})",
                                  "the SSH connection dropped; the transfer can be retried") from exc

    @contextlib.contextmanager
    def _sftp_channel(self) -> Iterator[paramiko.SFTPClient]:
        # One SFTP client per transfer: paramiko's SFTPClient must not serve two threads at
        # once (a synchronous reply read by the wrong thread is lost).
        conn = self.connection
        with conn.slots:
            sftp = self.open_sftp()
            try:
                yield sftp
            finally:
                sftp.close()

    def put_file(self, local_path: str, remote_path: str, *, mode: int | None = None) -> None:
        tmp = _temp_beside(remote_path)
        with self._transfer(f"writing {remote_path}"), self._sftp_channel() as sftp:
            try:
                sftp.put(local_path, tmp)
                if mode is not None:
                    sftp.chmod(tmp, mode)
                sftp.posix_rename(tmp, remote_path)
            except BaseException:
                with contextlib.suppress(Exception):
                    sftp.remove(tmp)
                raise

    def get_file(self, remote_path: str, local_path: str) -> None:
        tmp = _temp_beside(local_path)
        with self._transfer(f"reading {remote_path}"), self._sftp_channel() as sftp:
            try:
                sftp.get(remote_path, tmp)
                os.replace(tmp, local_path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise

    def open_file(self, path: str, mode: str = "rb") -> IO[bytes]:
        """A remote file with its own SFTP channel, released when the file is closed."""
        if mode not in ("rb", "wb", "ab"):
            raise ValueError(f"unsupported mode {mode!r}")
        conn = self.connection
        conn.slots.acquire()
        try:
            sftp = self.open_sftp()
        except BaseException:
            conn.slots.release()
            raise
        try:
            with self._transfer(f"opening {path}"):
                f = sftp.open(path, mode)
        except BaseException:
            sftp.close()
            conn.slots.release()
            raise
        if mode != "rb":
            f.set_pipelined(True)  # acks are checked on close; ~100x faster than waiting on each write
            return cast(IO[bytes], _OwnedFile(f, f, sftp, conn.slots.release))
        try:
            reader = RangeReader(f, 0, f.stat().st_size or 0)
        except BaseException:
            f.close()
            sftp.close()
            conn.slots.release()
            raise
        return cast(IO[bytes], _OwnedFile(reader, f, sftp, conn.slots.release))

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._pooled:
            POOL.release(conn)
        else:
            conn.close()


class _OwnedFile:
    """An SFTP file that closes its own SFTP client (and frees its channel slot) on close."""

    def __init__(self, io_obj: object, f: paramiko.SFTPFile, sftp: paramiko.SFTPClient,
                 release: Callable[[], object]) -> None:
        self._io = io_obj  # what reads/writes go through (a RangeReader for "rb")
        self._f = f
        self._sftp = sftp
        self._release: Callable[[], object] | None = release

    def __getattr__(self, name: str) -> object:
        return getattr(self._io, name)

    def __enter__(self) -> _OwnedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._io)  # type: ignore[call-overload]

    def close(self) -> None:
        release, self._release = self._release, None
        if release is None:
            return
        try:
            self._f.close()  # a pipelined write error surfaces here
        finally:
            with contextlib.suppress(Exception):
                self._sftp.close()
            release()


def _temp_beside(path: str) -> str:
    head, _, name = path.rpartition("/")
    tmp = f".dro-tmp-{uuid.uuid4().hex[:12]}-{name}"[:200]
    return f"{head}/{tmp}" if head or path.startswith("/") else tmp
