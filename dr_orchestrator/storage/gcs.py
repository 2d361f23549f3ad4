"""Google Cloud Storage backend (google-cloud-storage): `gs://bucket/prefix`.

- Small objects: one multipart upload; streams: a resumable upload in 16 MiB chunks,
  so memory stays bounded by one chunk. Both send a CRC32C the server checks.
- Create-only: `if_generation_match=0` (the server refuses if any live generation exists).
- Reads: ranged requests pinned to the generation stat saw (a concurrent overwrite
  cannot mix two versions into one stream); full reads verify the object's CRC32C.
- Server-side copy: the `rewrite` loop, also across buckets (and locations).
- No per-object retention here (capabilities.object_lock is False): GCS retention
  is a bucket policy, and the emulator ignores it.
- The library's own retries are off (`retry=None`): `storage.retry` is the policy.
Options: endpoint (or STORAGE_EMULATOR_HOST; anonymous credentials then), project,
credentials_file (service-account JSON, may be a `file:`/`env:` ref; default: the
standard Google credential chain), timeout (s), chunk_size_mb.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO

import google.api_core.exceptions as gx
import google.auth.exceptions as ax
import requests
from google.cloud import storage

from dr_orchestrator.errors import (
    BadInput,
    DRError,
    IntegrityError,
    ObjectExists,
    ObjectLocked,
    ObjectNotFound,
    PermissionDenied,
    StorageError,
    StorageUnavailable,
)
from dr_orchestrator.storage.base import Backend, Capabilities, ObjectInfo, validate_key, validate_prefix
from dr_orchestrator.storage.streams import CheckedReader, PrefetchRanges, read_full
from dr_orchestrator.storage.url import StorageURL, as_prefix

MiB = 1 << 20

try:  # the resumable-media exceptions moved into google.cloud.storage in 3.x
    from google.cloud.storage.exceptions import DataCorruption, InvalidResponse
except ImportError:  # pragma: no cover - older library
    from google.resumable_media import DataCorruption, InvalidResponse  # type: ignore[no-redef]


class GCSBackend:
    capabilities = Capabilities(server_side_copy=True, conditional_put=True, object_lock=False,
                                checksums=("crc32c", "md5"), atomic_put=True)

    def __init__(self, bucket: str, prefix: str = "", *, url: str, client: storage.Client,
                 endpoint: str | None, timeout: float = 60.0, chunk_size: int = 16 * MiB) -> None:
        self.bucket_name = bucket
        self.prefix = validate_prefix(prefix)
        self.url = url
        self.endpoint = endpoint
        self.client = client
        self.bucket = client.bucket(bucket)
        self.timeout = (min(timeout, 10.0), timeout)
        self.chunk_size = max(256 * 1024, chunk_size // (256 * 1024) * (256 * 1024))

    def __repr__(self) -> str:
        return f"GCSBackend({self.url!r})"

    def _key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def _error(self, exc: Exception, what: str, key: str = "") -> DRError:
        return translate(exc, f"{self.url}: {what}{' ' + key if key else ''}")

    def put(self, key: str, data: bytes | BinaryIO, *, if_absent: bool = False,
            retain_until: datetime | None = None) -> None:
        if retain_until is not None:
            raise BadInput(f"{self.url}: the gcs backend does not set per-object retention",
                           "use a bucket retention policy, or an S3 location for object lock")
        blob = self.bucket.blob(self._key(key))
        cond: dict[str, Any] = {"if_generation_match": 0} if if_absent else {}
        stream: BinaryIO = io.BytesIO(data) if isinstance(data, bytes | bytearray | memoryview) else data
        try:
            first = read_full(stream, self.chunk_size)
            if len(first) < self.chunk_size:
                blob.upload_from_string(first, content_type="application/octet-stream", checksum="crc32c",
                                        retry=None, timeout=self.timeout, **cond)
                return
            blob.chunk_size = self.chunk_size
            blob.upload_from_file(_Chain(first, stream), content_type="application/octet-stream",
                                  checksum="crc32c", retry=None, timeout=self.timeout, **cond)
        except DRError:
            raise
        except Exception as exc:
            err = self._error(exc, "put", key)
            if isinstance(err, ObjectExists):
                err = ObjectExists(f"{self.url}: {key} already exists")
            raise err from exc

    def _blob(self, key: str) -> Any:
        try:
            blob = self.bucket.get_blob(self._key(key), retry=None, timeout=self.timeout)
        except Exception as exc:
            raise self._error(exc, "stat", key) from exc
        if blob is None:
            raise ObjectNotFound(f"{self.url}: stat {key}: not found")
        return blob

    @contextlib.contextmanager
    def open_read(self, key: str, offset: int = 0, length: int | None = None) -> Iterator[BinaryIO]:
        blob = self._blob(key)
        size = int(blob.size or 0)
        start = min(offset, size)
        count = size - start if length is None else max(0, min(length, size - start))
        if count == 0:
            yield io.BytesIO(b"")
            return
        whole = start == 0 and count == size
        # A blob without media_link, pinned to the generation stat saw: its ranges are
        # fetched from the client's endpoint (not a server-supplied URL).
        pinned = self.bucket.blob(blob.name, generation=blob.generation)

        def fetch(off: int, n: int) -> bytes:
            data: bytes = pinned.download_as_bytes(start=off, end=off + n - 1, checksum=None, retry=None,
                                                   timeout=self.timeout)
            return data

        ranges = PrefetchRanges(fetch, start, count, chunk=min(self.chunk_size, 8 * MiB), depth=3,
                                name="dro-gcs-read")
        checksum = ("crc32c", blob.crc32c) if whole and blob.crc32c else None
        try:
            yield CheckedReader(ranges, length=count, what=f"{self.url}: read {key}",  # type: ignore[misc]
                                translate=lambda e: self._error(e, "read", key), checksum=checksum)
        finally:
            ranges.close()

    def get(self, key: str) -> bytes:
        with self.open_read(key) as f:
            return f.read()

    def stat(self, key: str) -> ObjectInfo:
        return _info(key, self._blob(key))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        cut = len(self.prefix)
        try:
            for blob in self.client.list_blobs(self.bucket_name, prefix=self.prefix + prefix, retry=None,
                                               timeout=self.timeout):
                yield _info(blob.name[cut:], blob)
        except DRError:
            raise
        except Exception as exc:
            err = self._error(exc, "list", prefix)
            if isinstance(err, ObjectNotFound):  # listing a missing bucket
                err = StorageError(f"{self.url}: list: the bucket does not exist",
                                   "create it or fix the storage URL")
            raise err from exc

    def delete(self, key: str) -> None:
        try:
            self.bucket.blob(self._key(key)).delete(retry=None, timeout=self.timeout)
        except gx.NotFound:
            return
        except Exception as exc:
            err = self._error(exc, "delete", key)
            text = str(exc).lower()
            if isinstance(err, PermissionDenied) and ("retention" in text or "hold" in text):
                raise ObjectLocked(f"{self.url}: {key} is under a retention policy or hold") from exc
            raise err from exc

    def copy_from(self, source: Backend, src_key: str, dst_key: str) -> bool:
        if not isinstance(source, GCSBackend) or source.endpoint != self.endpoint:
            return False
        src = source._blob(src_key)
        dst = self.bucket.blob(self._key(dst_key))
        try:
            token, _done, _total = dst.rewrite(src, retry=None, timeout=self.timeout)
            while token is not None:  # large or cross-location copies take several calls
                token, _done, _total = dst.rewrite(src, token=token, retry=None, timeout=self.timeout)
        except Exception as exc:
            raise self._error(exc, f"copy {source.url}/{src_key} to", dst_key) from exc
        return True

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()


class _Chain:
    """The first chunk already read, then the rest of the stream (tell() for resumable uploads)."""

    def __init__(self, first: bytes, rest: BinaryIO) -> None:
        self._first = memoryview(first)
        self._rest = rest
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            data = bytes(self._first) + self._rest.read()
            self._first = memoryview(b"")
        else:
            data = bytes(self._first[:n])
            self._first = self._first[n:]
            if len(data) < n:
                data += read_full(self._rest, n - len(data))
        self._pos += len(data)
        return data

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return False


def _info(key: str, blob: Any) -> ObjectInfo:
    sums = {k: v for k, v in (("crc32c", blob.crc32c), ("md5", blob.md5_hash)) if v}
    return ObjectInfo(key=key, size=int(blob.size or 0), modified=blob.updated, etag=blob.etag, checksums=sums)


def translate(exc: Exception, what: str) -> DRError:
    """google-cloud-storage / requests exception -> storage error."""
    if isinstance(exc, DRError):
        return exc
    if isinstance(exc, InvalidResponse):
        status = getattr(exc.response, "status_code", 0)
        return _by_status(int(status or 0), what, type(exc).__name__)
    if isinstance(exc, DataCorruption):
        return IntegrityError(f"{what}: the checksum of the transferred data does not match")
    if isinstance(exc, gx.NotFound):
        if "bucket" in str(exc).lower() and "object" not in str(exc).lower():
            return StorageError(f"{what}: the bucket does not exist", "create it or fix the storage URL")
        return ObjectNotFound(f"{what}: not found")
    if isinstance(exc, gx.GoogleAPICallError):
        return _by_status(int(exc.code or 0), what, type(exc).__name__)
    if isinstance(exc, ax.DefaultCredentialsError | ax.RefreshError):
        return PermissionDenied(f"{what}: no usable Google credentials",
                                "set GOOGLE_APPLICATION_CREDENTIALS or the credentials_file option")
    if isinstance(exc, requests.RequestException | ax.TransportError | OSError | ConnectionError):
        return StorageUnavailable(f"{what}: {type(exc).__name__}",
                                  "the GCS endpoint could not be reached or the connection broke")
    return StorageError(f"{what}: {type(exc).__name__}: {exc}")


def _by_status(status: int, what: str, name: str) -> DRError:
    if status == 404:
        return ObjectNotFound(f"{what}: not found")
    if status == 412:
        return ObjectExists(f"{what}: already exists")
    if status in (401, 403):
        return PermissionDenied(f"{what}: access denied ({status})", "check the credentials and bucket IAM")
    if status >= 500 or status in (408, 429) or status == 0:
        return StorageUnavailable(f"{what}: {name} ({status})")
    return StorageError(f"{what}: {name} ({status})")


def from_url(parsed: StorageURL) -> GCSBackend:
    endpoint = parsed.option("endpoint") or os.environ.get("STORAGE_EMULATOR_HOST")
    if endpoint and "://" not in endpoint:
        endpoint = "http://" + endpoint
    project = parsed.option("project") or os.environ.get("GOOGLE_CLOUD_PROJECT")
    try:
        creds: Any = None
        creds_file = parsed.secret("credentials_file")
        if creds_file:
            from google.oauth2 import service_account

            creds = service_account.Credentials.from_service_account_file(creds_file)
        elif endpoint:  # an emulator takes no credentials
            from google.auth.credentials import AnonymousCredentials

            creds = AnonymousCredentials()
            project = project or "emulator"
        options = {"api_endpoint": endpoint} if endpoint else None
        client = storage.Client(project=project, credentials=creds, client_options=options)
    except (ax.DefaultCredentialsError, ValueError, OSError) as exc:
        raise PermissionDenied(f"{parsed.display}: cannot set up Google credentials ({type(exc).__name__})",
                               "set GOOGLE_APPLICATION_CREDENTIALS or the credentials_file option") from None
    try:
        return GCSBackend(parsed.netloc, as_prefix(parsed.path), url=parsed.display, client=client,
                          endpoint=endpoint, timeout=float(parsed.option("timeout") or 60),
                          chunk_size=int(float(parsed.option("chunk_size_mb") or 16) * MiB))
    except ValueError as exc:
        raise BadInput(f"{parsed.display}: bad option value ({exc})") from None
