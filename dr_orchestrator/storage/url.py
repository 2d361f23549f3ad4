"""Parsing of storage location URLs and their options.

A location is `scheme://netloc/prefix?opt=value…` plus runbook `storage_options`
(the runbook wins over the query string). Option values may be secret references,
`env:NAME` or `file:PATH`, resolved only when a backend needs them. The display
form (`StorageURL.display`) never contains option values that are secrets, so it is
safe in messages, logs and `repr`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit

from dr_orchestrator.errors import BadInput
from dr_orchestrator.storage.base import EMPTY_MAPPING, validate_prefix

# Option names whose values are credentials: never displayed, never logged.
SECRET_OPTIONS = frozenset({
    "secret_access_key", "access_key_id", "session_token", "connection_string",
    "account_key", "sas_token", "credentials_file", "credentials_json", "password",
})

SCHEMES = ("file", "s3", "gs", "az", "sftp")


class StorageURL(NamedTuple):
    """A parsed location URL (see registry.py for the schemes).

    repr() and `display` hide secret option values; the tuple itself holds them (as
    `tuple(url)` and `url._asdict()` show): never log, dump or serialise it whole."""
    scheme: str
    netloc: str  # bucket (s3, gs), account (az), [user@]host[:port] (sftp), "" (file)
    path: str  # everything after netloc, without the leading '/' (file: the full path)
    options: Mapping[str, str] = EMPTY_MAPPING

    @property
    def display(self) -> str:
        """The URL without any secret option values."""
        if self.scheme == "file":
            return f"file://{self.path}"
        shown = {k: v for k, v in self.options.items() if k not in SECRET_OPTIONS}
        query = "?" + urlencode(shown, safe=":/") if shown else ""
        return f"{self.scheme}://{self.netloc}/{self.path}".rstrip("/") + query

    def option(self, name: str, default: str | None = None) -> str | None:
        """A plain (non-secret) option value."""
        return self.options.get(name, default)

    def secret(self, name: str) -> str | None:
        """An option value with `env:`/`file:` references resolved."""
        value = self.options.get(name)
        return None if value is None else resolve_secret(value, name)

    def split_path(self) -> tuple[str, str]:
        """(first path segment, rest as a '/'-terminated prefix): container + prefix for az."""
        first, _, rest = self.path.partition("/")
        return first, as_prefix(rest)

    def __repr__(self) -> str:
        return f"StorageURL({self.display!r})"


def parse_url(url: str, options: Mapping[str, str] | None = None) -> StorageURL:
    """Split a location URL; `options` (runbook storage_options) override the query string."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if len(scheme) == 1 or not scheme:  # a bare path (or a Windows drive letter)
        return StorageURL("file", "", str(Path(url).resolve()), dict(options or {}))
    if scheme not in SCHEMES:
        raise BadInput(f"unsupported storage URL scheme {scheme!r} in {_redact(url)!r}",
                       "use file://, s3://, gs://, az:// or sftp://")
    opts = {k: v for k, v in parse_qsl(parts.query, keep_blank_values=True)}
    opts.update({k: str(v) for k, v in (options or {}).items()})
    if scheme == "file":
        raw = parts.path
        if parts.netloc and parts.netloc != "localhost":  # file://relative/dir
            raw = parts.netloc + parts.path
        return StorageURL("file", "", str(Path(raw).resolve()), opts)
    if not parts.netloc:
        raise BadInput(f"storage URL {_redact(url)!r} names no bucket/account/host",
                       f"write it as {scheme}://NAME/optional/prefix")
    path = parts.path.lstrip("/")
    if path:
        validate_prefix(as_prefix(path))
    return StorageURL(scheme, parts.netloc, path, opts)


def as_prefix(path: str) -> str:
    """'a/b' -> 'a/b/', '' -> ''."""
    path = path.strip("/")
    return f"{path}/" if path else ""


def resolve_secret(value: str, name: str = "secret") -> str:
    """Resolve `env:NAME` / `file:PATH` references; any other value is returned as is."""
    if value.startswith("env:"):
        var = value[4:]
        if var not in os.environ:
            raise BadInput(f"storage option {name!r} refers to environment variable {var}, which is not set",
                           f"export {var} before running dro")
        return os.environ[var]
    if value.startswith("file:"):
        path = Path(value[5:]).expanduser()
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise BadInput(f"storage option {name!r} refers to file {path}, which cannot be read "
                           f"({exc.strerror})", "check the path and its permissions") from None
    return value


def _redact(url: str) -> str:
    """A URL with its query string and user info dropped, for error messages."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}{parts.path}"
