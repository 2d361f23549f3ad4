"""S3 backend (boto3): `s3://bucket/prefix?region=…&endpoint=…`.

- Streams are uploaded in parts (8 MiB, growing past 1,000 parts so 10,000 parts
  reach terabytes), a few in flight at once: memory stays bounded by
  (concurrency + 1) × part size. Small objects go in one PutObject.
- Create-only puts send `If-None-Match: *` (on PutObject, and on
  CompleteMultipartUpload for multipart), so the server decides atomically.
- Every upload asks for a CRC32C checksum, which the server verifies per request;
  full reads verify the whole-object CRC32C the server reports (composite
  `…-N` values part by part). Ranged reads are not checked (no checksum to compare).
- `retain_until` sets COMPLIANCE Object Lock retention (the bucket must have
  Object Lock enabled). On such a bucket `delete` removes the current version
  for real and raises ObjectLocked while it is retained.
- Server-side copy: CopyObject up to 5 GiB, managed UploadPartCopy above, also
  across buckets and regions of the same endpoint.
- botocore's own retries are off (one attempt): `storage.retry` is the policy.
Options: region, endpoint, profile, access_key_id, secret_access_key,
session_token (secrets may be env:/file: refs), addressing_style, timeout
(read timeout, s), part_size_mb, concurrency, multipart_copy_threshold_mb.
"""

from __future__ import annotations

import contextlib
import io
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, BinaryIO

import boto3
import botocore.exceptions as bx
import google_crc32c
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.utils import parse_timestamp as _botocore_timestamp

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
from dr_orchestrator.storage.streams import CheckedReader, read_full
from dr_orchestrator.storage.url import StorageURL, as_prefix

MiB = 1 << 20
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_EXISTS = {"PreconditionFailed", "412", "ConditionalRequestConflict"}
_DENIED = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
           "InvalidToken", "AllAccessDisabled", "AccountProblem"}
_TRANSIENT = {"SlowDown", "RequestTimeout", "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable",
              "Throttling", "ThrottlingException", "RequestLimitExceeded", "OperationAborted"}


class S3Backend:
    capabilities = Capabilities(server_side_copy=True, conditional_put=True, object_lock=True,
                                checksums=("crc32c",), atomic_put=True)

    def __init__(self, bucket: str, prefix: str = "", *, url: str, region: str | None = None,
                 endpoint: str | None = None, credentials: dict[str, str] | None = None,
                 profile: str | None = None, addressing_style: str | None = None, timeout: float = 60.0,
                 part_size: int = 8 * MiB, concurrency: int = 4,
                 multipart_copy_threshold: int = 5 << 30) -> None:
        self.bucket = bucket
        self.prefix = validate_prefix(prefix)
        self.url = url
        self.endpoint = endpoint
        self.part_size = max(part_size, 5 * MiB)
        self.concurrency = max(concurrency, 1)
        self.multipart_copy_threshold = multipart_copy_threshold
        self._lock_enabled: bool | None = None
        config = Config(
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=min(timeout, 10.0), read_timeout=timeout,
            # Replication runs --workers copies (and listings) on one shared client: a pool
            # smaller than that discards and reopens connections under load.
            max_pool_connections=max(self.concurrency + 4, 64),
            s3={"addressing_style": addressing_style or ("path" if endpoint else "auto")},
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
        )
        try:
            session = boto3.session.Session(profile_name=profile, **(credentials or {}))
            # botocore parses every timestamp with dateutil (~50 µs each): 20,000 listed
            # objects cost seconds of CPU. ISO 8601 and HTTP dates parse natively here.
            session._session.get_component("response_parser_factory").set_parser_defaults(
                timestamp_parser=_parse_timestamp)
            self.client = session.client("s3", region_name=region, endpoint_url=endpoint, config=config)
        except bx.BotoCoreError as exc:
            raise BadInput(f"{url}: cannot set up the S3 client: {type(exc).__name__}",
                           "check the region, endpoint and profile options") from None
        self.region = self.client.meta.region_name

    def __repr__(self) -> str:
        return f"S3Backend({self.url!r})"

    # --- helpers -------------------------------------------------------------

    def _key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def _error(self, exc: Exception, what: str, key: str = "") -> DRError:
        return translate(exc, f"{self.url}: {what}{' ' + key if key else ''}")

    # --- writes --------------------------------------------------------------

    def put(self, key: str, data: bytes | BinaryIO, *, if_absent: bool = False,
            retain_until: datetime | None = None) -> None:
        full = self._key(key)
        extra: dict[str, Any] = {}
        if retain_until is not None:
            extra.update(ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=retain_until)
        stream: BinaryIO = io.BytesIO(data) if isinstance(data, bytes | bytearray | memoryview) else data
        try:
            first = read_full(stream, self.part_size)
        except DRError:
            raise
        except Exception as exc:
            raise self._error(exc, "read source for", key) from exc
        if len(first) < self.part_size:
            cond = {"IfNoneMatch": "*"} if if_absent else {}
            try:
                self.client.put_object(Bucket=self.bucket, Key=full, Body=first, ChecksumAlgorithm="CRC32C",
                                       **cond, **extra)
            except Exception as exc:
                raise self._put_error(exc, key, retain_until) from exc
            return
        if if_absent:  # fail fast before sending a large body; the server re-checks at completion
            with contextlib.suppress(ObjectNotFound):
                self.stat(key)
                raise ObjectExists(f"{self.url}: {key} already exists")
        self._multipart(key, full, first, stream, if_absent, extra, retain_until)

    def _put_error(self, exc: Exception, key: str, retain_until: datetime | None) -> DRError:
        err = self._error(exc, "put", key)
        if isinstance(err, ObjectExists):
            return ObjectExists(f"{self.url}: {key} already exists")
        code = _code(exc)
        if retain_until is not None and code in ("InvalidRequest", "MissingUploadObjectWithObjectLockHeaders",
                                                 "InvalidBucketState"):
            return BadInput(f"{self.url}: cannot set retention on {key}: the bucket does not have "
                            "S3 Object Lock enabled", "create the bucket with Object Lock enabled")
        return err

    def _multipart(self, key: str, full: str, first: bytes, stream: BinaryIO, if_absent: bool,
                   extra: dict[str, Any], retain_until: datetime | None) -> None:
        try:
            upload_id = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=full, ChecksumAlgorithm="CRC32C", **extra)["UploadId"]
        except Exception as exc:
            raise self._put_error(exc, key, retain_until) from exc
        parts: list[dict[str, Any]] = []
        inflight: deque[Future[dict[str, Any]]] = deque()

        def send(number: int, body: bytes) -> dict[str, Any]:
            r = self.client.upload_part(Bucket=self.bucket, Key=full, UploadId=upload_id, PartNumber=number,
                                        Body=body, ChecksumAlgorithm="CRC32C")
            return {"PartNumber": number, "ETag": r["ETag"], "ChecksumCRC32C": r["ChecksumCRC32C"]}

        try:
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix="dro-s3-part") as pool:
                number, body = 1, first
                while body:
                    if len(inflight) >= self.concurrency:  # bound memory: wait for the oldest part
                        parts.append(inflight.popleft().result())
                    inflight.append(pool.submit(send, number, body))
                    # Parts grow every 1,000 so the 10,000-part limit is never the ceiling.
                    body = read_full(stream, self.part_size * (1 + number // 1000))
                    number += 1
                    if number > 10_000:
                        raise BadInput(f"{self.url}: {key} is too large for one S3 multipart upload")
                while inflight:
                    parts.append(inflight.popleft().result())
            cond = {"IfNoneMatch": "*"} if if_absent else {}
            done = self.client.complete_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id,
                                                         MultipartUpload={"Parts": parts}, **cond)
            if retain_until is not None:  # some servers (moto) drop lock headers on multipart
                head = self.client.head_object(Bucket=self.bucket, Key=full)
                if head.get("ObjectLockRetainUntilDate") is None:
                    self.client.put_object_retention(
                        Bucket=self.bucket, Key=full, VersionId=done.get("VersionId") or head.get("VersionId"),
                        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": retain_until},
                        ChecksumAlgorithm="CRC32C")
        except BaseException as exc:
            for f in inflight:
                f.cancel()
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
            if isinstance(exc, DRError) or not isinstance(exc, Exception):
                raise
            raise self._put_error(exc, key, retain_until) from exc

    # --- reads ---------------------------------------------------------------

    @contextlib.contextmanager
    def open_read(self, key: str, offset: int = 0, length: int | None = None) -> Iterator[BinaryIO]:
        full = self._key(key)
        if length == 0:
            self.stat(key)
            yield io.BytesIO(b"")
            return
        kwargs: dict[str, Any] = {}
        whole = offset == 0 and length is None
        if whole:
            kwargs["ChecksumMode"] = "ENABLED"
        else:
            end = "" if length is None else str(offset + length - 1)
            kwargs["Range"] = f"bytes={offset}-{end}"
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=full, **kwargs)
        except bx.ClientError as exc:
            if _code(exc) == "InvalidRange":  # offset at or past the end: nothing to read
                self.stat(key)
                yield io.BytesIO(b"")
                return
            raise self._error(exc, "read", key) from exc
        except Exception as exc:
            raise self._error(exc, "read", key) from exc
        body = resp["Body"]
        try:
            checksum, hasher = self._read_checksum(resp, full) if whole else (None, None)
            yield CheckedReader(body.read, length=int(resp["ContentLength"]), what=f"{self.url}: read {key}",
                                translate=lambda e: self._error(e, "read", key),
                                checksum=checksum, hasher=hasher)  # type: ignore[misc]
        finally:
            with contextlib.suppress(Exception):
                body.close()

    def _read_checksum(self, resp: dict[str, Any], full: str) -> tuple[tuple[str, str] | None, Any]:
        value = resp.get("ChecksumCRC32C")
        if not value:
            return None, None
        etag = str(resp.get("ETag", ""))
        if "-" in value:  # composite: CRC32C of the parts' CRC32Cs, checked part by part
            digest, parts = value.split("-", 1)
            part_size = int(self.client.head_object(Bucket=self.bucket, Key=full, PartNumber=1)
                            ["ContentLength"])
            return ("crc32c", digest), _CompositeCRC(part_size, int(parts))
        if "-" in etag and resp.get("ChecksumType") != "FULL_OBJECT":
            return None, None  # a multipart object whose checksum form we cannot reproduce
        return ("crc32c", value), None

    def get(self, key: str) -> bytes:
        with self.open_read(key) as f:
            return f.read()

    def stat(self, key: str) -> ObjectInfo:
        try:
            h = self.client.head_object(Bucket=self.bucket, Key=self._key(key), ChecksumMode="ENABLED")
        except Exception as exc:
            raise self._error(exc, "stat", key) from exc
        return _info(key, h.get("ContentLength", 0), h.get("LastModified"), h.get("ETag"),
                     h.get("ChecksumCRC32C"), h.get("ObjectLockRetainUntilDate"))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                      Prefix=self.prefix + prefix)
        cut = len(self.prefix)
        try:
            for page in pages:
                for o in page.get("Contents", ()):
                    yield _info(o["Key"][cut:], o.get("Size", 0), o.get("LastModified"), o.get("ETag"))
        except DRError:
            raise
        except Exception as exc:
            raise self._error(exc, "list", prefix) from exc

    # --- delete / copy ------------------------------------------------------

    def _object_lock_enabled(self) -> bool:
        if self._lock_enabled is None:
            try:
                cfg = self.client.get_object_lock_configuration(Bucket=self.bucket)
                lock = cfg.get("ObjectLockConfiguration", {})
                self._lock_enabled = lock.get("ObjectLockEnabled") == "Enabled"
            except bx.ClientError as exc:
                if _code(exc) not in ("ObjectLockConfigurationNotFoundError", "NotImplemented"):
                    raise self._error(exc, "get object lock configuration") from exc
                self._lock_enabled = False
            except Exception as exc:
                raise self._error(exc, "get object lock configuration") from exc
        return self._lock_enabled

    def delete(self, key: str) -> None:
        full = self._key(key)
        try:
            if not self._object_lock_enabled():
                self.client.delete_object(Bucket=self.bucket, Key=full)
                return
            # Versioned lock bucket: a plain delete only adds a marker. Delete the version
            # itself, which the server refuses while it is retained.
            try:
                h = self.client.head_object(Bucket=self.bucket, Key=full)
            except bx.ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    return
                raise
            until = h.get("ObjectLockRetainUntilDate")
            if until is not None and until > datetime.now(UTC):
                raise ObjectLocked(f"{self.url}: {key} is retained until {until.isoformat()}",
                                   "it can be deleted after that date")
            self.client.delete_object(Bucket=self.bucket, Key=full, VersionId=h["VersionId"])
        except DRError:
            raise
        except Exception as exc:
            err = self._error(exc, "delete", key)
            if isinstance(err, PermissionDenied) and self._lock_enabled:
                raise ObjectLocked(f"{self.url}: {key} is under retention or legal hold") from exc
            raise err from exc

    def copy_from(self, source: Backend, src_key: str, dst_key: str, *,
                  retain_until: datetime | None = None, size: int | None = None,
                  etag: str | None = None) -> bool:
        """Server-side copy within one S3 endpoint (any buckets/regions). `size` (when the
        caller listed it already) saves a HEAD; `retain_until` locks the copy like put().

        `etag` (the source's, from a listing): the copy's own ETag/CRC32C, which the server
        returns with CopyObject, must show the same bytes — same single-part ETag (the MD5),
        else (e.g. encrypted sources) the same CRC32C as the source's, read with one HEAD.
        Multipart sources are not compared (part checksums vs whole-object ones). A mismatch
        raises IntegrityError; the copy may remain and must be replaced."""
        if not isinstance(source, S3Backend) or source.endpoint != self.endpoint:
            return False
        src = {"Bucket": source.bucket, "Key": source._key(src_key)}
        full = self._key(dst_key)
        if size is None:
            size = source.stat(src_key).size
        version: str | None = None
        try:
            if size <= self.multipart_copy_threshold:
                resp = self.client.copy_object(Bucket=self.bucket, Key=full, CopySource=src,
                                               ChecksumAlgorithm="CRC32C")
                version = resp.get("VersionId")
                if etag is not None:
                    self._check_copy(source, src_key, dst_key, etag, resp.get("CopyObjectResult") or {})
            else:
                chunk = max(self.multipart_copy_threshold // 8, 5 * MiB, -(-size // 10_000))
                cfg = TransferConfig(multipart_threshold=self.multipart_copy_threshold,
                                     multipart_chunksize=chunk, max_concurrency=self.concurrency,
                                     use_threads=True)
                self.client.copy(src, self.bucket, full, SourceClient=source.client,
                                  ExtraArgs={"ChecksumAlgorithm": "CRC32C"}, Config=cfg)
            if retain_until is not None:
                # Lock headers on CopyObject need a Content-MD5 the copy has no body for (moto
                # refuses them): lock the new version right after, or fail the copy loudly.
                pinned = {"VersionId": version} if version else {}
                self.client.put_object_retention(
                    Bucket=self.bucket, Key=full, ChecksumAlgorithm="CRC32C",
                    Retention={"Mode": "COMPLIANCE", "RetainUntilDate": retain_until}, **pinned)
        except DRError:
            raise
        except Exception as exc:
            raise self._error(exc, f"copy {source.url}/{src_key} to", dst_key) from exc
        return True

    def _check_copy(self, source: S3Backend, src_key: str, dst_key: str, etag: str,
                    result: dict[str, Any]) -> None:
        got, want = str(result.get("ETag") or "").strip('"'), etag.strip('"')
        if got and got == want and "-" not in got:
            return  # same MD5 of the same bytes
        if "-" in want:
            # A multipart source: its ETag and CRC32C are of the parts, the single-part
            # copy's of the whole; nothing to compare without the bytes. The caller checks
            # the size (and in content mode reads the copy back).
            return
        crc = result.get("ChecksumCRC32C")
        if crc:
            src_crc = source.stat(src_key).checksums.get("crc32c")
            if src_crc and "-" not in src_crc and src_crc == crc:
                return
        raise IntegrityError(f"{self.url}: the copy of {src_key} at {dst_key} does not show the source's "
                             f"bytes (ETag {got or '?'} vs {etag}, CRC32C {crc or '?'})")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()


class _CompositeCRC:
    """CRC32C of the concatenated per-part CRC32C digests (S3's COMPOSITE checksum)."""

    def __init__(self, part_size: int, parts: int) -> None:
        self._part_size = part_size
        self._parts = parts
        self._digests: list[bytes] = []
        self._cur = google_crc32c.Checksum()
        self._in_part = 0

    def update(self, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            take = min(len(data) - pos, self._part_size - self._in_part)
            self._cur.update(data[pos:pos + take] if take < len(data) else data)
            self._in_part += take
            pos += take
            if self._in_part == self._part_size:
                self._digests.append(self._cur.digest())
                self._cur, self._in_part = google_crc32c.Checksum(), 0

    def digest(self) -> bytes:
        digests = self._digests + ([self._cur.digest()] if self._in_part else [])
        if len(digests) != self._parts:
            return b"parts differ"
        return bytes(google_crc32c.Checksum(b"".join(digests)).digest())


def _parse_timestamp(value: str) -> datetime:
    """botocore's timestamp parser, without dateutil for the forms S3 sends."""
    try:
        parsed = datetime.fromisoformat(value)  # 2026-11-26T10:10:38.000Z (XML bodies)
    except (TypeError, ValueError):
        try:
            parsed = parsedate_to_datetime(value)  # Thu, 26 Nov 2026 10:10:38 GMT (headers)
        except (TypeError, ValueError, IndexError):
            return _botocore_timestamp(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _info(key: str, size: int, modified: datetime | None, etag: str | None, crc: str | None = None,
          retain_until: datetime | None = None) -> ObjectInfo:
    return ObjectInfo(key=key, size=int(size), modified=modified, etag=(etag or "").strip('"') or None,
                      checksums={"crc32c": crc} if crc else {}, retain_until=retain_until)


def _code(exc: Exception) -> str:
    if isinstance(exc, bx.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def translate(exc: Exception, what: str) -> DRError:
    """botocore exception -> storage error (messages carry no credentials)."""
    if isinstance(exc, DRError):
        return exc
    if isinstance(exc, bx.ClientError):
        code = _code(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        msg = exc.response.get("Error", {}).get("Message", "") or code
        if code in _NOT_FOUND or (status == 404 and code != "NoSuchBucket"):
            return ObjectNotFound(f"{what}: not found")
        if code == "NoSuchBucket":
            return StorageError(f"{what}: the bucket does not exist", "create it or fix the storage URL")
        if code in _EXISTS or status == 412:
            return ObjectExists(f"{what}: already exists")
        if code in _DENIED or status == 403:
            return PermissionDenied(f"{what}: access denied ({code})",
                                    "check the credentials and the bucket policy")
        if code in _TRANSIENT or status >= 500 or status == 429:
            return StorageUnavailable(f"{what}: {code or status} {msg}".rstrip())
        return StorageError(f"{what}: {code} {msg}".rstrip())
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return PermissionDenied(f"{what}: no AWS credentials found",
                                "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or the "
                                "access_key_id/secret_access_key storage options")
    if isinstance(exc, bx.FlexibleChecksumError):
        return IntegrityError(f"{what}: checksum mismatch in the response")
    if isinstance(exc, bx.HTTPClientError | bx.IncompleteReadError | bx.ConnectionError | OSError):
        return StorageUnavailable(f"{what}: {type(exc).__name__}",
                                  "the S3 endpoint could not be reached or the connection broke")
    return StorageError(f"{what}: {type(exc).__name__}: {exc}")


def from_url(parsed: StorageURL) -> S3Backend:
    creds = {name: value for opt, name in (("access_key_id", "aws_access_key_id"),
                                           ("secret_access_key", "aws_secret_access_key"),
                                           ("session_token", "aws_session_token"))
             if (value := parsed.secret(opt))}
    try:
        return S3Backend(
            parsed.netloc, as_prefix(parsed.path), url=parsed.display,
            region=parsed.option("region"), endpoint=parsed.option("endpoint"), credentials=creds,
            profile=parsed.option("profile"), addressing_style=parsed.option("addressing_style"),
            timeout=float(parsed.option("timeout") or 60),
            part_size=int(float(parsed.option("part_size_mb") or 8) * MiB),
            concurrency=int(parsed.option("concurrency") or 4),
            multipart_copy_threshold=int(float(parsed.option("multipart_copy_threshold_mb") or 5120) * MiB))
    except ValueError as exc:
        raise BadInput(f"{parsed.display}: bad option value ({exc})") from None

