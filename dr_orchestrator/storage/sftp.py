"""SFTP backend (paramiko, via remote/ssh.py): `sftp://user@host:port/path`.

Options (runbook or URL query): `key=PATH` or `key=file:PATH` (private key file;
`key_file=PATH` too) or `key=env:NAME` (the key's text in an environment variable),
`known_hosts=PATH`, `accept_unknown_host_key=true` (trust a new host on first use;
a changed key is always refused), `connect_timeout=SECONDS`, `timeout=SECONDS` (no
answer for this long = a stalled connection: dropped, a retryable error). A path starting with
`/~/` is relative to the login directory; any other path is absolute.

Writes go to a temp name (`.dro-tmp-<uuid>`) in the target directory, are fsynced
(fsync@openssh.com) and renamed into place: `posix-rename` replaces, plain SFTP v3
`rename` refuses an existing target, which makes create-only puts atomic on the
server. A process killed mid-upload (or an upload whose connection broke) leaves its
temp file on the server (listings skip it). `sweep_temps` removes those older than a
given age; prune calls it on its repository, and `dro replicate` at an SFTP target. One
SSH connection per backend; each operation borrows one of a few SFTP channels, so
threads never share a channel. Server-side copy uses OpenSSH's `copy-data` extension (no shell involved) and
reports False where it is missing.
"""

from __future__ import annotations

import contextlib
import errno
import stat as stat_mod
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import BinaryIO, NamedTuple, cast
from urllib.parse import unquote, urlsplit

import paramiko
from paramiko.sftp import CMD_EXTENDED, int64

from dr_orchestrator.errors import (
    BadInput,
    DRError,
    ObjectExists,
    ObjectNotFound,
    PermissionDenied,
    StorageError,
    StorageUnavailable,
)
from dr_orchestrator.remote.base import HostSpec
from dr_orchestrator.remote.errors import HostUnreachable
from dr_orchestrator.remote.sftp_pool import SFTPPool
from dr_orchestrator.remote.sftpio import RangeReader
from dr_orchestrator.storage.base import (
    REPO_DIRS,
    Backend,
    Capabilities,
    ObjectInfo,
    SweepResult,
    validate_key,
    validate_prefix,
)
from dr_orchestrator.storage.base import TEMP_PREFIX as _TMP_PREFIX
from dr_orchestrator.storage.url import StorageURL, parse_url

# (`list` in the class body is SFTPBackend.list)
_Entries = list[paramiko.SFTPAttributes]
_Items = list[tuple[str, str, paramiko.SFTPAttributes | None]]  # (sort key, name, a file's attributes)
_Problems = list[str]
_CHUNK = 1 << 20
_TRUE = {"1", "true", "yes", "on"}


def open_sftp_backend(url: str, options: Mapping[str, str] | None = None) -> SFTPBackend:
    """Open `sftp://user@host:port/path` with runbook options (no retry wrapper)."""
    if urlsplit(url).scheme != "sftp":
        raise BadInput(f"not an sftp URL: {url!r}", "use sftp://user@host:port/path")
    return from_url(parse_url(url, options))


def from_url(parsed: StorageURL) -> SFTPBackend:
    """The registry's entry point for the `sftp` scheme."""
    parts = urlsplit(f"sftp://{parsed.netloc}/")
    if not parts.hostname:
        raise BadInput(f"sftp URL {parsed.display!r} names no host", "use sftp://user@host:port/path")
    if parts.password is not None:
        raise BadInput("passwords in sftp:// URLs are not supported",
                       "authenticate with a key: add the option key=PATH to the storage location")
    key_path = parsed.option("key_file")
    key_data = None
    key = parsed.option("key")
    if key is not None:
        if key.startswith("file:"):
            key_path = key[len("file:"):]
        elif key.startswith("env:"):
            key_data = parsed.secret("key")
        else:
            key_path = key
    # '~/x' is relative: the server resolves relative paths against the login directory.
    path = unquote(parsed.path).strip("/")
    root = path[2:] if path.startswith("~/") else "." if path in ("", "~") else "/" + path
    try:
        port = parts.port or 22
        timeout = float(parsed.option("connect_timeout") or 15)
        io_timeout = float(parsed.option("timeout") or 60)
    except ValueError as exc:
        raise BadInput(f"{parsed.display}: bad port or connect_timeout ({exc})") from None
    accept = (parsed.option("accept_unknown_host_key") or "false").lower() in _TRUE
    spec = HostSpec(address=parts.hostname, port=port, user=unquote(parts.username) if parts.username else None,
                    key_path=key_path, key_data=key_data, known_hosts=parsed.option("known_hosts"),
                    accept_unknown=accept, connect_timeout=timeout)
    return SFTPBackend(spec, root, timeout=io_timeout)


class SFTPBackend:
    capabilities = Capabilities(server_side_copy=True, conditional_put=True, object_lock=False,
                                checksums=(), atomic_put=True)

    def __init__(self, spec: HostSpec, root: str, *, timeout: float | None = 60.0) -> None:
        self.spec = spec
        self.root = root.rstrip("/") if root not in ("/", ".") else root
        user = f"{spec.user}@" if spec.user else ""
        shown = self.root if self.root.startswith("/") else f"/~/{self.root}".rstrip("/.")
        self.url = f"sftp://{user}{spec.address}:{spec.port}{shown}"
        self._pool = SFTPPool(spec, timeout=timeout)
        self._dirs: set[str] = set()  # directories known to exist (saves a round trip per put)
        self._fsync = True  # cleared if the server lacks fsync@openssh.com
        self._copy_data = True  # cleared if the server lacks copy-data
        self._seen: dict[str, _Seen] = {}  # per directory listed since the last sweep_temps (small)

    def __repr__(self) -> str:
        return f"SFTPBackend({self.url!r})"

    # --- plumbing ------------------------------------------------------------

    def _path(self, key: str) -> str:
        key = validate_key(key)
        return f"{self.root}/{key}" if self.root != "/" else f"/{key}"

    @contextlib.contextmanager
    def _client(self, key: str = "", *, translate: bool = True) -> Iterator[paramiko.SFTPClient]:
        """Borrow an SFTP channel (errors translated unless the caller does it itself)."""
        try:
            with self._pool.channel() as sftp:
                if translate:
                    with self._translating(sftp, key):
                        yield sftp
                else:
                    yield sftp
        except HostUnreachable as exc:  # could not (re)connect
            raise StorageUnavailable(f"{self.url}: {exc.message}", exc.hint) from exc

    @contextlib.contextmanager
    def _translating(self, sftp: paramiko.SFTPClient, key: str) -> Iterator[None]:
        try:
            yield
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if getattr(exc, "dro_source", False):
                raise  # the caller's own input stream failed: not ours to translate
            if isinstance(exc, TimeoutError):
                # A stalled connection: drop it whole (its other channels would stall too);
                # the next operation reconnects.
                with contextlib.suppress(Exception):
                    sftp.get_channel().get_transport().close()  # type: ignore[union-attr]
            broken = _connection_error(exc)
            if broken:
                with contextlib.suppress(Exception):
                    sftp.close()  # its state is unknown: never reuse this channel
            ok = not broken and not sftp.sock.closed and _transport_ok(sftp)
            raise self._translate(exc, key, connection_ok=ok) from exc

    def _translate(self, exc: BaseException, key: str, *, connection_ok: bool) -> StorageError:
        what = f"{self.url}: {key}" if key else self.url
        if isinstance(exc, StorageError):
            return exc
        if isinstance(exc, OSError) and exc.errno == errno.ENOENT:
            return ObjectNotFound(f"{what} not found")
        if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM):
            return PermissionDenied(f"{what}: permission denied",
                                    f"check that the SSH user {self.spec.user or ''} may write there")
        if not connection_ok:
            return StorageUnavailable(f"{what}: SSH connection lost ({type(exc).__name__}: {exc})",
                                      "the server or network dropped the connection; it is retried")
        return StorageError(f"{what}: SFTP server reported: {exc}",
                            "check free space and permissions on the server")

    def _mkdirs(self, sftp: paramiko.SFTPClient, directory: str) -> None:
        """mkdir -p, from the deepest missing level up."""
        missing: list[str] = []
        d = directory
        while d and d not in ("/", ".") and d not in self._dirs:
            try:
                if stat_mod.S_ISDIR(sftp.stat(d).st_mode or 0):
                    break
                raise StorageError(f"{self.url}: {d} exists and is not a directory")
            except FileNotFoundError:
                missing.append(d)
                d = d.rpartition("/")[0]
        for d in reversed(missing):
            try:
                sftp.mkdir(d)
            except OSError:
                # Lost a race with another writer: fine if it is a directory now.
                if not stat_mod.S_ISDIR(sftp.stat(d).st_mode or 0):
                    raise
        self._dirs.add(directory)

    def _extended(self, sftp: paramiko.SFTPClient, name: str, *args: object) -> None:
        request = sftp._request  # type: ignore[attr-defined]  # paramiko's own extension path
        request(CMD_EXTENDED, name, *args)

    def _sync(self, sftp: paramiko.SFTPClient, f: paramiko.SFTPFile) -> None:
        if not self._fsync:
            return
        try:
            self._extended(sftp, "fsync@openssh.com", f.handle)
        except OSError as exc:
            if exc.errno is None and "unsupported" in str(exc).lower():
                self._fsync = False  # the server cannot; rename is still atomic
            else:
                raise

    def _open_temp(self, sftp: paramiko.SFTPClient, path: str) -> tuple[str, paramiko.SFTPFile]:
        directory = path.rpartition("/")[0] or "."
        tmp = f"{directory}/{_TMP_PREFIX}{uuid.uuid4().hex}"
        try:
            f = sftp.open(tmp, "wb")
        except FileNotFoundError:
            self._dirs.discard(directory)
            self._mkdirs(sftp, directory)
            f = sftp.open(tmp, "wb")
        f.set_pipelined(True)
        return tmp, f

    def _commit(self, sftp: paramiko.SFTPClient, tmp: str, path: str, key: str, if_absent: bool) -> None:
        if not if_absent:
            sftp.posix_rename(tmp, path)
            return
        try:
            sftp.rename(tmp, path)  # SFTP v3 rename never replaces: the server enforces create-only
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                sftp.stat(path)
                raise ObjectExists(f"{self.url}: {key} already exists") from exc
            raise

    # --- Backend -------------------------------------------------------------

    def put(self, key: str, data: bytes | BinaryIO, *, if_absent: bool = False,
            retain_until: datetime | None = None) -> None:
        path = self._path(key)
        with self._client(key) as sftp:
            tmp, f = self._open_temp(sftp, path)
            try:
                with f:
                    if isinstance(data, bytes | bytearray | memoryview):
                        f.write(data)
                    else:
                        while chunk := _read_source(data):
                            f.write(chunk)
                    f.flush()
                    self._sync(sftp, f)
                self._commit(sftp, tmp, path, key, if_absent)
            except BaseException as exc:
                if not _connection_error(exc):  # on a dead connection this would only hang
                    with contextlib.suppress(Exception):
                        sftp.remove(tmp)
                raise

    @contextlib.contextmanager
    def open_read(self, key: str, offset: int = 0, length: int | None = None) -> Iterator[BinaryIO]:
        path = self._path(key)
        # The caller's code runs inside this context: only our own calls are translated.
        with self._client(key, translate=False) as sftp:
            with self._translating(sftp, key):
                f = sftp.open(path, "rb")
            try:
                with self._translating(sftp, key):
                    st = f.stat()
                if not stat_mod.S_ISREG(st.st_mode or 0):
                    raise ObjectNotFound(f"{self.url}: {key} not found")
                size = st.st_size or 0
                start = min(offset, size)
                end = size if length is None else min(size, start + length)
                yield cast(BinaryIO, RangeReader(f, start, end, lambda: self._translating(sftp, key)))
            finally:
                with contextlib.suppress(Exception):
                    f.close()

    def get(self, key: str) -> bytes:
        with self.open_read(key) as f:
            return f.read()

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        with self._client(key) as sftp:
            st = sftp.stat(path)
        if not stat_mod.S_ISREG(st.st_mode or 0):
            raise ObjectNotFound(f"{self.url}: {key} not found")
        return _info(key, st)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        base, _, first = prefix.rpartition("/")
        yield from self._walk(base, first)

    def _walk(self, rel_dir: str, name_prefix: str) -> Iterator[ObjectInfo]:
        # One directory listed at a time (lazy); entries sorted so that keys come out in
        # byte order ('a/b' sorts as 'a' + '/' + 'b').
        try:
            files, seen = self._scan(rel_dir)
        except ObjectNotFound:
            return
        self._seen[rel_dir] = seen  # so a sweep_temps after this listing needs none of its own
        items: _Items = [
            (name + "/", name, None) for name in seen.subdirs if name.startswith(name_prefix)]
        items += [(e.filename, e.filename, e) for e in files if e.filename.startswith(name_prefix)]
        items.sort(key=lambda item: item[0])
        for _, name, e in items:
            key = f"{rel_dir}/{name}" if rel_dir else name
            if e is None:
                yield from self._walk(key, "")
            else:
                yield _info(key, e)

    def _scan(self, rel_dir: str) -> tuple[_Entries, _Seen]:
        """One directory's objects, and its subdirectories and temp files."""
        directory = f"{self.root}/{rel_dir}".rstrip("/") if rel_dir else self.root
        with self._client(rel_dir) as sftp:
            return _split(sftp.listdir_attr(directory))

    def sweep_temps(self, older_than: float) -> SweepResult:
        """Remove the temp files of puts killed mid-upload (TempSweeper in base.py).

        Walks the root and the repository's directories under it, but a directory this
        backend has listed since
        the last sweep is not listed again: its temp files and subdirectories were kept from
        that listing (a replication lists its target first, so its sweep costs a listing of
        the root and of locks/, plus a stat and a remove per stale temp file). Each
        candidate is stat-ed again before it is removed: that listing may be minutes old.
        A lost connection ends the sweep (the next one carries on) rather than making every
        remaining directory wait for a reconnect to time out."""
        cutoff = time.time() - older_than
        removed = 0
        problems: _Problems = []
        stack = [""]
        while stack:
            rel_dir = stack.pop()
            try:
                seen = self._seen.pop(rel_dir, None) or self._scan(rel_dir)[1]
                stack += [f"{rel_dir}/{d}" if rel_dir else d for d in seen.subdirs if rel_dir or d in REPO_DIRS]
                for name, mtime in seen.temps:
                    if mtime < cutoff:
                        removed += self._remove_stale(f"{rel_dir}/{name}" if rel_dir else name, cutoff, problems)
            except ObjectNotFound:
                continue  # a directory removed meanwhile
            except DRError as exc:
                problems.append(exc.message)
                if exc.retryable:
                    problems.append(f"{self.url}: sweep of temp files stopped; the next one carries on")
                    break
        return removed, problems

    def _remove_stale(self, rel: str, cutoff: float, problems: _Problems) -> bool:
        # `rel`: a directory walked from the root + a name the server listed (no '/' in it);
        # not a key (validate_key refuses temp names), so joined here as _path joins a key.
        path = f"{self.root}/{rel}" if self.root != "/" else f"/{rel}"
        try:
            with self._client(rel) as sftp:
                st = sftp.lstat(path)  # never through a symlink
                if not stat_mod.S_ISREG(st.st_mode or 0) or not st.st_mtime or st.st_mtime >= cutoff:
                    return False  # written to since it was listed: a live writer's
                sftp.remove(path)
        except ObjectNotFound:
            return False  # renamed into place or removed meanwhile
        except DRError as exc:
            if exc.retryable:
                raise
            problems.append(exc.message)
            return False
        return True

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            with self._client(key) as sftp:
                sftp.remove(path)
        except ObjectNotFound:
            return

    def copy_from(self, source: Backend, src_key: str, dst_key: str) -> bool:
        """Copy on the server with `copy-data` when both ends are the same server and user."""
        if not isinstance(source, SFTPBackend) or not self._copy_data:
            return False
        if (source.spec.address, source.spec.port, source.spec.user) != (
                self.spec.address, self.spec.port, self.spec.user):
            return False
        src_path, dst_path = source._path(src_key), self._path(dst_key)
        with self._client(src_key) as sftp:
            src = sftp.open(src_path, "rb")
            with src:
                tmp, dst = self._open_temp(sftp, dst_path)
                try:
                    with dst:
                        self._extended(sftp, "copy-data", src.handle, int64(0), int64(0),
                                       dst.handle, int64(0))
                        self._sync(sftp, dst)
                    self._commit(sftp, tmp, dst_path, dst_key, False)
                except OSError as exc:
                    with contextlib.suppress(Exception):
                        sftp.remove(tmp)
                    if exc.errno is None and "unsupported" in str(exc).lower():
                        self._copy_data = False  # older server: the caller streams instead
                        return False
                    raise
                except BaseException:
                    with contextlib.suppress(Exception):
                        sftp.remove(tmp)
                    raise
        return True

    def close(self) -> None:
        self._pool.close()


_CONN_ERRNOS = {errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ENOTCONN, errno.ETIMEDOUT,
                errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ECONNREFUSED}


def _connection_error(exc: BaseException) -> bool:
    """The transport failed (as opposed to the SFTP server answering with an error status)."""
    if isinstance(exc, EOFError | paramiko.SSHException | TimeoutError | ConnectionError):
        return True
    if isinstance(exc, OSError):
        return exc.errno in _CONN_ERRNOS or (exc.errno is None and "socket is closed" in str(exc).lower())
    return False


def _transport_ok(sftp: paramiko.SFTPClient) -> bool:
    channel = sftp.get_channel()
    return channel is not None and not channel.closed and channel.get_transport().is_active()


def _read_source(data: BinaryIO) -> bytes:
    try:
        return data.read(_CHUNK)
    except OSError as exc:
        exc.dro_source = True  # type: ignore[attr-defined]
        raise


class _Seen(NamedTuple):
    """What sweep_temps needs of a directory listing."""
    subdirs: list[str]
    temps: list[tuple[str, int]]  # (name, mtime) of the temp files


def _split(entries: _Entries) -> tuple[_Entries, _Seen]:
    """A directory's entries → (its objects, its subdirectories and temp files). OpenSSH
    reports entries as lstat() sees them: a symlink is neither a directory nor a file."""
    files: _Entries = []
    seen = _Seen([], [])
    for e in entries:
        mode = e.st_mode or 0
        if stat_mod.S_ISDIR(mode):
            if not e.filename.startswith(_TMP_PREFIX):
                seen.subdirs.append(e.filename)
        elif not stat_mod.S_ISREG(mode):
            continue
        elif e.filename.startswith(_TMP_PREFIX):
            if e.st_mtime:  # of unknown age (no stamp, or 0): never removed
                seen.temps.append((e.filename, e.st_mtime))
        else:
            files.append(e)
    return files, seen


def _info(key: str, st: paramiko.SFTPAttributes) -> ObjectInfo:
    mtime = datetime.fromtimestamp(st.st_mtime, UTC) if st.st_mtime is not None else None
    return ObjectInfo(key=key, size=st.st_size or 0, modified=mtime)
