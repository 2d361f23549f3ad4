"""S3 backend against the storage contract, on moto_server (buckets in us-east-1 and eu-west-1)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from io import BytesIO

from dr_orchestrator.storage import open_backend
from tests.contract.contract import BackendContract, Location
from tests.contract.locations import s3_location as make_location  # noqa: F401, F811

MiB = 1 << 20


class TestS3(BackendContract):
    # S3-only paths beyond the shared contract.

    def test_multipart_copy_across_regions_via_upload_part_copy(
            self, make_location: Callable[..., Location]) -> None:  # noqa: F811
        url, opts = make_location("main")
        other_url, other_opts = make_location("other")  # eu-west-1
        src = open_backend(url, opts)
        # A 5 MiB threshold sends this 12 MiB copy through managed UploadPartCopy (the > 5 GiB path).
        dst = open_backend(other_url, {**other_opts, "multipart_copy_threshold_mb": "5"})
        data = random.Random(3).randbytes(12 * MiB + 17)
        src.put("big", data)
        assert dst.copy_from(src, "big", "copied") is True
        assert dst.get("copied") == data
        assert "-" in (dst.stat("copied").etag or "")  # a multipart object: really copied in parts
        # A multipart source copied in one CopyObject: part checksums vs whole ones, not compared.
        dst_single = open_backend(other_url, other_opts)
        multipart_etag = dst.stat("copied").etag
        assert dst_single.copy_from(dst, "copied", "single", size=len(data), etag=multipart_etag) is True
        assert dst_single.get("single") == data

    def test_copy_is_checked_against_the_source_etag(self, make_location: Callable[..., Location]) -> None:  # noqa: F811
        url, opts = make_location("main")
        other_url, other_opts = make_location("other")
        src, dst = open_backend(url, opts), open_backend(other_url, other_opts)
        src.put("obj", b"the bytes")
        listed = next(i for i in src.list("") if i.key == "obj")
        assert dst.copy_from(src, "obj", "copied", size=listed.size, etag=listed.etag) is True
        assert dst.get("copied") == b"the bytes"
        # A listing ETag the copy does not show: the copy's CRC32C still equals the source's,
        # so the copy holds the source's bytes (the source changed since it was listed).
        assert dst.copy_from(src, "obj", "copied2", size=listed.size, etag="0" * 32) is True

    def test_copy_without_matching_etag_or_checksum_is_an_integrity_error(
            self, make_location: Callable[..., Location]) -> None:  # noqa: F811
        import pytest

        from dr_orchestrator.errors import IntegrityError
        from tests.contract.locations import s3_client

        url, opts = make_location("main")
        src = open_backend(url, opts)
        # An object uploaded without any checksum (by another tool): only its ETag can vouch.
        s3_client(opts["endpoint"], "us-east-1").put_object(Bucket=url.removeprefix("s3://"), Key="plain",
                                                             Body=b"plain bytes")
        listed = next(i for i in src.list("") if i.key == "plain")
        assert src.copy_from(src, "plain", "plain-copy", etag=listed.etag) is True
        if src.stat("plain").checksums.get("crc32c"):
            pytest.skip("this server stores a CRC32C even for uploads that sent none")
        with pytest.raises(IntegrityError):
            src.copy_from(src, "plain", "plain-copy2", etag="0" * 32)

    def test_retention_on_a_multipart_upload(self, make_location: Callable[..., Location]) -> None:  # noqa: F811  # noqa: F811
        url, opts = make_location("locked")
        b = open_backend(url, {**opts, "part_size_mb": "5"})
        until = datetime.now(UTC) + timedelta(hours=1)
        b.put("big-held", BytesIO(random.Random(4).randbytes(11 * MiB)), retain_until=until)
        info = b.stat("big-held")
        assert info.retain_until is not None and info.size == 11 * MiB
