"""URL → backend. Schemes: file://, s3://, gs://, az://, sftp://.

    s3://bucket/prefix?region=eu-west-1&endpoint=http://127.0.0.1:5000
    gs://bucket/prefix?endpoint=http://127.0.0.1:4443     (or STORAGE_EMULATOR_HOST)
    az://account/container/prefix?connection_string=env:AZURE_CONN
    sftp://user@host:port/path?known_hosts=…&key_file=…
    file:///abs/path   or a bare (relative) path

Options come from the URL's query string and the runbook's `storage_options`
(the runbook wins); secret values may be `env:NAME` / `file:PATH` references.
Every backend is returned wrapped in the one retry policy (`storage.retry`).
Each cloud module exposes `from_url(StorageURL) -> Backend`; SDKs are imported
only when their scheme is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from dr_orchestrator.errors import BadInput
from dr_orchestrator.storage.base import Backend
from dr_orchestrator.storage.retry import DEFAULT_POLICY, RetryingBackend, RetryPolicy
from dr_orchestrator.storage.url import StorageURL, parse_url

_MODULES = {"s3": "s3", "gs": "gcs", "az": "azure", "sftp": "sftp"}


def open_backend(url: str, options: Mapping[str, Any] | None = None, *,
                 policy: RetryPolicy | None = None) -> Backend:
    """Open the backend a location URL names. `options` come from the runbook."""
    parsed = parse_url(url, {k: str(v) for k, v in (options or {}).items()})
    return RetryingBackend(open_raw(parsed), policy or policy_from_options(parsed))


def open_raw(parsed: StorageURL) -> Backend:
    """The backend without the retry wrapper (tests, benchmarks)."""
    if parsed.scheme == "file":
        from dr_orchestrator.storage.local import LocalBackend

        return LocalBackend(parsed.path)
    module_name = _MODULES[parsed.scheme]
    try:
        module = importlib.import_module(f"dr_orchestrator.storage.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"dr_orchestrator.storage.{module_name}":
            raise
        raise BadInput(f"the {parsed.scheme}:// backend is not available in this build") from None
    if hasattr(module, "from_url"):
        backend: Backend = module.from_url(parsed)
        return backend
    raise BadInput(f"the {parsed.scheme}:// backend module has no from_url()")


def policy_from_options(parsed: StorageURL) -> RetryPolicy:
    """`retries=N` (total attempts) and `retry_max_seconds=S` options tune the policy."""
    try:
        attempts = int(parsed.option("retries") or DEFAULT_POLICY.attempts)
        total = float(parsed.option("retry_max_seconds") or DEFAULT_POLICY.max_total)
        base = float(parsed.option("retry_base_delay") or DEFAULT_POLICY.base_delay)
    except ValueError as exc:
        raise BadInput(f"bad retry option for {parsed.display}: {exc}") from None
    if attempts < 1:
        raise BadInput(f"retries must be at least 1 for {parsed.display}")
    return RetryPolicy(attempts=attempts, base_delay=base, max_total=total)
