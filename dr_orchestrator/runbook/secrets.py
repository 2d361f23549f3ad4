"""Secret references (`env:NAME`, `file:PATH`) and detection of secrets written as literals.

A runbook lives in git, so it must never hold a secret; it holds a *reference* that
is resolved at the moment of use. `SecretRef` never exposes the resolved value in
`repr`/`str`, and the reference itself (`env:PGPASSWORD`) is safe to print.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from dr_orchestrator.errors import BadInput

SECRET_REF_PATTERN = r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$"  # noqa: S105 - a pattern, not a secret
_REF_RE = re.compile(SECRET_REF_PATTERN)


class SecretRef:
    """A reference to a secret: `env:NAME` (environment variable) or `file:PATH`.

    `file:` paths are relative to the runbook's directory (`~` is expanded).
    """

    __slots__ = ("ref",)

    def __init__(self, ref: str) -> None:
        if not isinstance(ref, str) or not _REF_RE.match(ref.strip()):
            raise ValueError("a secret must be a reference 'env:NAME' or 'file:PATH', not a literal value")
        self.ref = ref.strip()

    @property
    def scheme(self) -> str:
        return self.ref.split(":", 1)[0]

    @property
    def target(self) -> str:
        return self.ref.split(":", 1)[1]

    def path(self, base_dir: Path | None = None) -> Path:
        """The file a `file:` reference points at (an SSH key is used as a path)."""
        if self.scheme != "file":
            raise BadInput(f"secret {self.ref} is not a file reference",
                           "use file:PATH where a path is needed")
        path = Path(self.target).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return path

    def resolve(self, base_dir: Path | None = None) -> str:
        """The secret's value. Raises BadInput (without the value) when it is missing."""
        if self.scheme == "env":
            value = os.environ.get(self.target)
            if value is None:
                raise BadInput(f"secret {self.ref}: environment variable {self.target} is not set",
                               f"export {self.target}=… before running dro")
            return value
        path = self.path(base_dir)
        try:
            return path.read_text().rstrip("\r\n")
        except OSError as exc:
            raise BadInput(f"secret {self.ref}: cannot read {path}: {exc.strerror}",
                           "check the path (relative paths start at the runbook's directory)") from exc

    def __repr__(self) -> str:
        return f"SecretRef({self.ref!r})"

    def __str__(self) -> str:
        return self.ref

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretRef) and other.ref == self.ref

    def __hash__(self) -> int:
        return hash(self.ref)

    @classmethod
    def _validate(cls, value: Any) -> SecretRef:
        if isinstance(value, SecretRef):
            return value
        if not isinstance(value, str):
            raise ValueError("expected a secret reference 'env:NAME' or 'file:PATH'")
        return cls(value)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any,
                                     handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate, serialization=core_schema.plain_serializer_function_ser_schema(str))

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"type": "string", "pattern": SECRET_REF_PATTERN,
                "description": "secret reference: env:NAME or file:PATH"}


def is_secret_ref(value: object) -> bool:
    return isinstance(value, str) and bool(_REF_RE.match(value.strip()))


# --- literal secret detection ----------------------------------------------------

# Keys whose value is a secret by name: the value must be a reference.
SECRET_KEY_NAMES = re.compile(
    r"^(password|passwd|pass|secret|secret_key|client_secret|token|api_key|apikey|access_token|"
    r"secret_access_key|aws_secret_access_key|account_key|private_key|passphrase|sas_token|"
    r"connection_string|credentials)$", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@:\s]*:([^/@\s]+)@", re.IGNORECASE)
_KV_PASSWORD = re.compile(r"(?:^|[\s;?&])(password|pwd|sig|accountkey|secret)=([^\s;&]+)", re.IGNORECASE)
_AWS_ACCESS_KEY = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")
_AWS_SECRET_KEY = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
_TEMPLATE = re.compile(r"^(\$\{[^}]+\}|\{\{.*\}\})$")


def literal_secret_reason(key: str | None, value: str) -> str | None:
    """Why `value` (found under `key`) looks like a literal secret, or None if it does not."""
    text = value.strip()
    named = key is not None and SECRET_KEY_NAMES.match(key) is not None
    if not named and len(text) < 40 and "@" not in text and "=" not in text and "-----" not in text \
            and "AKIA" not in text and "ASIA" not in text:
        return None  # fast exit: none of the patterns below can match (most values)
    if not text or is_secret_ref(text) or _TEMPLATE.match(text):
        return None
    if named:
        return f"'{key}' holds a literal value"
    url = _URL_PASSWORD.match(text)
    if url and not _TEMPLATE.match(url.group(1)):
        return "the URL/DSN contains a password"
    kv = _KV_PASSWORD.search(text)
    if kv and not is_secret_ref(kv.group(2)) and not kv.group(2).startswith("${"):
        return f"it contains '{kv.group(1)}=…'"
    if _PEM.search(text):
        return "it contains a private key"
    if _AWS_ACCESS_KEY.search(text):
        return "it contains an AWS access key id"
    if _AWS_SECRET_KEY.search(text) and _looks_random(text):
        return "it looks like an AWS secret access key"
    return None


def _looks_random(text: str) -> bool:
    """A 40-character run that mixes upper, lower and digits (not a path or a word)."""
    for match in _AWS_SECRET_KEY.finditer(text):
        run = match.group(0)
        if (any(c.isupper() for c in run) and any(c.islower() for c in run)
                and any(c.isdigit() for c in run) and "/" not in run.strip("/")[:3]):
            return True
    return False
