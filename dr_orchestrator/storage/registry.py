"""URL → backend. Schemes: file://, s3://, gs://, az://, sftp://.

The storage work fills in the cloud schemes; `file://` (and a bare path) is the
embedded default.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from dr_orchestrator.errors import BadInput
from dr_orchestrator.storage.base import Backend


def open_backend(url: str, options: Mapping[str, str] | None = None) -> Backend:
    """Open the backend a location URL names. `options` come from the runbook."""
    parts = urlsplit(url)
    scheme = parts.scheme or "file"
    if scheme == "file":
        from dr_orchestrator.storage.local import LocalBackend

        path = parts.path if parts.scheme else url
        if parts.netloc and parts.netloc not in ("", "localhost"):
            path = parts.netloc + parts.path
        return LocalBackend(path)
    raise BadInput(f"unsupported storage URL scheme {scheme!r} in {url!r}",
                   "use file://, s3://, gs://, az:// or sftp://")
