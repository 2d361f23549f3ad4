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

    def test_retention_on_a_multipart_upload(self, make_location: Callable[..., Location]) -> None:  # noqa: F811  # noqa: F811
        url, opts = make_location("locked")
        b = open_backend(url, {**opts, "part_size_mb": "5"})
        until = datetime.now(UTC) + timedelta(hours=1)
        b.put("big-held", BytesIO(random.Random(4).randbytes(11 * MiB)), retain_until=until)
        info = b.stat("big-held")
        assert info.retain_until is not None and info.size == 11 * MiB
