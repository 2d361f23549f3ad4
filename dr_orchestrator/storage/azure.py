"""Azure Blob backend (azure-storage-blob): `az://account/container/prefix`.

- Small objects: one Put Blob. Streams: blocks of 8 MiB staged a few at a time
  (memory bounded by (concurrency + 1) blocks), each with a transport MD5 the server
  checks, then one Put Block List carrying the whole-object MD5 computed on the way.
- Create-only: `If-None-Match: *` on Put Blob / Put Block List.
- Full reads verify the stored Content-MD5; ranged reads are pinned to one ETag by the SDK.
- Server-side copy: `start_copy_from_url` + polling, within an account with the
  account key, across accounts with a short-lived read SAS made from the source key.
- The SDK's own retries are off (retry_total=0): `storage.retry` is the policy.
Credentials: the `connection_string` option (an `env:`/`file:` ref, or literal), else
AZURE_STORAGE_CONNECTION_STRING, else `account_key` / `sas_token` options with
`endpoint` (default https://ACCOUNT.blob.core.windows.net). Options also: timeout (s),
block_size_mb, concurrency.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import time
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

import azure.core.exceptions as zx
from azure.core import MatchConditions
from azure.storage.blob import BlobSasPermissions, BlobServiceClient, ContentSettings, generate_blob_sas

from dr_orchestrator.errors import (
    BadInput,
    DRError,
    ObjectExists,
    ObjectLocked,
    ObjectNotFound,
    PermissionDenied,
    StorageError,
    StorageUnavailable,
)
from dr_orchestrator.storage.base import Backend, Capabilities, ObjectInfo, validate_key, validate_prefix
from dr_orchestrator.storage.streams import CheckedReader, PrefetchRanges, b64, read_full
from dr_orchestrator.storage.url import StorageURL

MiB = 1 << 20
_OCTET = "application/octet-stream"


class AzureBackend:
    capabilities = Capabilities(server_side_copy=True, conditional_put=True, object_lock=False,
                                checksums=("md5",), atomic_put=True)

    def __init__(self, service: BlobServiceClient, container: str, prefix: str = "", *, url: str,
                 block_size: int = 8 * MiB, concurrency: int = 4, copy_timeout: float = 3600.0) -> None:
        self.service = service
        self.account = str(service.account_name)
        self.container_name = container
        self.container = service.get_container_client(container)
        self.prefix = validate_prefix(prefix)
        self.url = url
        self.block_size = block_size
        self.concurrency = max(concurrency, 1)
        self.copy_timeout = copy_timeout

    def __repr__(self) -> str:
        return f"AzureBackend({self.url!r})"

    def _key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def _blob(self, key: str) -> Any:
        return self.container.get_blob_client(self._key(key))

    def _error(self, exc: Exception, what: str, key: str = "") -> DRError:
        return translate(exc, f"{self.url}: {what}{' ' + key if key else ''}")

    # --- writes ----------------------------------------------------------------

    def put(self, key: str, data: bytes | BinaryIO, *, if_absent: bool = False,
            retain_until: datetime | None = None) -> None:
        if retain_until is not None:
            raise BadInput(f"{self.url}: the azure backend does not set immutability policies",
                           "use an S3 location with Object Lock for retained data")
        blob = self._blob(key)
        cond: dict[str, Any] = {"match_condition": MatchConditions.IfMissing} if if_absent else {}
        stream: BinaryIO = io.BytesIO(data) if isinstance(data, bytes | bytearray | memoryview) else data
        try:
            first = read_full(stream, self.block_size)
            if len(first) < self.block_size:
                md5 = bytearray(hashlib.md5(first).digest())  # noqa: S324 - Azure's integrity check
                blob.upload_blob(first, overwrite=not if_absent, validate_content=True,
                                 content_settings=ContentSettings(content_type=_OCTET, content_md5=md5))
                return
            if if_absent and blob.exists():  # fail fast; the commit re-checks atomically
                raise ObjectExists(f"{self.url}: {key} already exists")
            self._put_blocks(blob, first, stream, cond)
        except DRError as exc:
            if isinstance(exc, ObjectExists):
                raise ObjectExists(f"{self.url}: {key} already exists") from exc
            raise
        except Exception as exc:
            err = self._error(exc, "put", key)
            if isinstance(err, ObjectExists):
                err = ObjectExists(f"{self.url}: {key} already exists")
            raise err from exc

    def _put_blocks(self, blob: Any, first: bytes, stream: BinaryIO, cond: dict[str, Any]) -> None:
        run = uuid.uuid4().hex  # block ids of one upload: same length, unique per attempt
        md5 = hashlib.md5()  # noqa: S324 - whole-object Content-MD5
        ids: list[str] = []
        inflight: deque[Future[None]] = deque()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="dro-az-block") as pool:
            try:
                body, n = first, 0
                while body:
                    if len(inflight) >= self.concurrency:
                        inflight.popleft().result()
                    md5.update(body)
                    block_id = base64.b64encode(f"{run}-{n:06d}".encode()).decode()
                    ids.append(block_id)
                    inflight.append(pool.submit(blob.stage_block, block_id, body, validate_content=True))
                    body = read_full(stream, self.block_size)
                    n += 1
                    if n > 50_000:
                        raise BadInput(f"{self.url}: object too large for 50,000 blocks of {self.block_size}")
                while inflight:
                    inflight.popleft().result()
            finally:
                for f in inflight:
                    f.cancel()
        blob.commit_block_list(ids, content_settings=ContentSettings(
            content_type=_OCTET, content_md5=bytearray(md5.digest())), **cond)

    # --- reads -------------------------------------------------------------------

    @contextlib.contextmanager
    def open_read(self, key: str, offset: int = 0, length: int | None = None) -> Iterator[BinaryIO]:
        blob = self._blob(key)
        if length == 0:
            self.stat(key)
            yield io.BytesIO(b"")
            return
        # The first chunk's response also tells size, ETag and MD5; the rest is fetched in
        # parallel ranges pinned to that ETag, so a concurrent overwrite cannot mix versions.
        try:
            dl = blob.download_blob(offset=offset, length=self.block_size if length is None
                                    else min(length, self.block_size), max_concurrency=1)
            first = dl.readall()
        except zx.HttpResponseError as exc:
            if exc.status_code == 416:  # offset at or past the end
                self.stat(key)
                yield io.BytesIO(b"")
                return
            raise self._error(exc, "read", key) from exc
        except Exception as exc:
            raise self._error(exc, "read", key) from exc
        props = dl.properties
        # For a ranged GET, size is the range's; the object's is after '/' in Content-Range.
        content_range = getattr(props, "content_range", None) or ""
        size = int(content_range.rsplit("/", 1)[1]) if "/" in content_range else int(props.size)
        total = size - offset if length is None else max(0, min(length, size - offset))
        etag = props.etag

        def fetch(off: int, n: int) -> bytes:
            try:
                return bytes(blob.download_blob(offset=off, length=n, max_concurrency=1, etag=etag,
                                                match_condition=MatchConditions.IfNotModified).readall())
            except zx.ResourceModifiedError as exc:
                raise StorageError(f"{self.url}: {key} changed while it was being read",
                                   "read it again") from exc

        rest = PrefetchRanges(fetch, offset + len(first), total - len(first), chunk=self.block_size,
                              depth=self.concurrency, name="dro-az-read")
        md5 = props.content_settings.content_md5
        checksum = ("md5", b64(bytes(md5))) if offset == 0 and total == size and md5 else None
        try:
            yield CheckedReader(_Then(first, rest), length=total,  # type: ignore[misc]
                                what=f"{self.url}: read {key}", translate=lambda e: self._error(e, "read", key),
                                checksum=checksum)
        finally:
            rest.close()

    def get(self, key: str) -> bytes:
        with self.open_read(key) as f:
            return f.read()

    def stat(self, key: str) -> ObjectInfo:
        try:
            p = self._blob(key).get_blob_properties()
        except Exception as exc:
            raise self._error(exc, "stat", key) from exc
        return _info(key, p)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        cut = len(self.prefix)
        try:
            for p in self.container.list_blobs(name_starts_with=self.prefix + prefix):
                yield _info(p.name[cut:], p)
        except DRError:
            raise
        except Exception as exc:
            raise self._error(exc, "list", prefix) from exc

    # --- delete / copy ------------------------------------------------------------

    def delete(self, key: str) -> None:
        try:
            self._blob(key).delete_blob()
        except zx.ResourceNotFoundError as exc:
            if _code(exc) in ("ContainerNotFound",):
                raise self._error(exc, "delete", key) from exc
            return
        except Exception as exc:
            if "Immutab" in _code(exc) or "Legal" in _code(exc):
                raise ObjectLocked(f"{self.url}: {key} is under an immutability policy or legal hold") from exc
            raise self._error(exc, "delete", key) from exc

    def copy_from(self, source: Backend, src_key: str, dst_key: str) -> bool:
        if not isinstance(source, AzureBackend):
            return False
        src = source._blob(src_key)
        source.stat(src_key)  # a clear ObjectNotFound rather than a copy-source error
        src_url = src.url
        if source.account != self.account or source.service.url != self.service.url:
            key = getattr(source.service.credential, "account_key", None)
            if not key:
                return False
            sas = generate_blob_sas(source.account, source.container_name, src.blob_name, account_key=key,
                                    permission=BlobSasPermissions(read=True),
                                    expiry=datetime.now(UTC) + timedelta(seconds=self.copy_timeout))
            src_url = f"{src.url}?{sas}"
        dst = self._blob(dst_key)
        try:
            props = dst.start_copy_from_url(src_url)
            status, delay, deadline = props.get("copy_status"), 0.1, time.monotonic() + self.copy_timeout
            while status == "pending":
                if time.monotonic() > deadline:
                    with contextlib.suppress(Exception):
                        dst.abort_copy(props["copy_id"])
                    raise StorageUnavailable(f"{self.url}: copy to {dst_key} still pending after "
                                             f"{self.copy_timeout:.0f}s; aborted")
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                status = dst.get_blob_properties().copy.status
        except DRError:
            raise
        except Exception as exc:
            raise self._error(exc, f"copy {source.url}/{src_key} to", dst_key) from exc
        if status != "success":
            raise StorageError(f"{self.url}: server-side copy to {dst_key} ended as {status!r}")
        return True

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.service.close()


class _Then:
    """`read(n)`: the bytes already fetched, then the prefetched rest."""

    def __init__(self, first: bytes, rest: PrefetchRanges) -> None:
        self._first = memoryview(first)
        self._rest = rest

    def __call__(self, n: int) -> bytes:
        if self._first:
            out, self._first = self._first[:n], self._first[n:]
            return bytes(out)
        return self._rest(n)


def _info(key: str, p: Any) -> ObjectInfo:
    md5 = p.content_settings.content_md5 if p.content_settings else None
    return ObjectInfo(key=key, size=int(p.size or 0), modified=p.last_modified,
                      etag=(p.etag or "").strip('"') or None,
                      checksums={"md5": b64(bytes(md5))} if md5 else {})


def _code(exc: Exception) -> str:
    return str(getattr(exc, "error_code", "") or "")


def translate(exc: Exception, what: str) -> DRError:
    """azure-core exception -> storage error (no URLs: a SAS would be in them)."""
    if isinstance(exc, DRError):
        return exc
    code = _code(exc)
    if isinstance(exc, zx.ResourceNotFoundError):
        if code == "ContainerNotFound":
            return StorageError(f"{what}: the container does not exist", "create it or fix the storage URL")
        return ObjectNotFound(f"{what}: not found")
    if isinstance(exc, zx.ResourceExistsError | zx.ResourceModifiedError):
        return ObjectExists(f"{what}: already exists")
    if isinstance(exc, zx.ClientAuthenticationError):
        return PermissionDenied(f"{what}: access denied ({code or 'authentication failed'})",
                                "check the connection string / account key / SAS")
    if isinstance(exc, zx.HttpResponseError) and exc.status_code is not None:
        status = int(exc.status_code)
        if status == 403:
            return PermissionDenied(f"{what}: access denied ({code})", "check the credentials and RBAC")
        if status >= 500 or status in (408, 429):
            return StorageUnavailable(f"{what}: {code or status}")
        return StorageError(f"{what}: {code or status}")
    if isinstance(exc, zx.ServiceRequestError | zx.ServiceResponseError | zx.IncompleteReadError
                  | zx.HttpResponseError | OSError):
        return StorageUnavailable(f"{what}: {type(exc).__name__}",
                                  "the Azure endpoint could not be reached or the connection broke")
    return StorageError(f"{what}: {type(exc).__name__}")


def from_url(parsed: StorageURL) -> AzureBackend:
    account = parsed.netloc
    container, prefix = parsed.split_path()
    if not container:
        raise BadInput(f"{parsed.display}: no container", "write it as az://ACCOUNT/CONTAINER/optional/prefix")
    try:
        timeout = float(parsed.option("timeout") or 60)
        block = int(float(parsed.option("block_size_mb") or 8) * MiB)
        concurrency = int(parsed.option("concurrency") or 4)
    except ValueError as exc:
        raise BadInput(f"{parsed.display}: bad option value ({exc})") from None
    kwargs: dict[str, Any] = {"retry_total": 0, "connection_timeout": min(timeout, 10.0), "read_timeout": timeout,
                              "max_single_get_size": 8 * MiB, "max_chunk_get_size": 8 * MiB}
    conn = parsed.secret("connection_string") or os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    try:
        if conn:
            service = BlobServiceClient.from_connection_string(conn, **kwargs)
        else:
            endpoint = parsed.option("endpoint") or f"https://{account}.blob.core.windows.net"
            cred: Any = parsed.secret("sas_token")
            if parsed.secret("account_key"):
                cred = {"account_name": account, "account_key": parsed.secret("account_key")}
            if cred is None:
                raise PermissionDenied(f"{parsed.display}: no Azure credentials",
                                       "set AZURE_STORAGE_CONNECTION_STRING or the connection_string / "
                                       "account_key / sas_token storage option")
            service = BlobServiceClient(endpoint, credential=cred, **kwargs)
    except DRError:
        raise
    except (ValueError, zx.AzureError) as exc:
        raise BadInput(f"{parsed.display}: cannot set up the Azure client ({type(exc).__name__})",
                       "check the connection string format") from None
    if service.account_name != account:
        raise BadInput(f"{parsed.display}: the credentials are for account {service.account_name!r}, "
                       f"not {account!r}", "fix the account in the URL or the connection string")
    return AzureBackend(service, container, prefix, url=parsed.display, block_size=block,
                        concurrency=concurrency)
