"""The whole error tree of `dro` and the exit codes it maps to.

Every error a user can cause or meet is a `DRError` carrying a message and a hint
(what to do about it). The CLI prints both, never a traceback, and exits with the
error's `exit_code`. Anything that is not a `DRError` is a bug.

Exit codes: 0 ok · 1 objective missed / step failed · 2 bad input ·
3 integrity error · 4 storage unavailable.
"""

from __future__ import annotations

from typing import NamedTuple

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTEGRITY = 3
EXIT_UNAVAILABLE = 4


class DRError(Exception):
    """Root of every error `dro` reports to a user."""

    exit_code: int = EXIT_FAILED
    retryable: bool = False

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


# --- bad input (exit 2) -----------------------------------------------------


class Issue(NamedTuple):
    """One validation finding, positioned in a file (a NamedTuple: this module is loaded by
    every `dro` start, and dataclasses cost start-up ~10 ms, storage/base.py)."""

    file: str
    line: int
    column: int
    message: str
    hint: str | None = None
    severity: str = "error"  # "error" | "warning"
    code: str = "invalid"

    def location(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def render(self) -> str:
        text = f"{self.location()}: {self.severity}: {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
        }


class BadInput(DRError):
    """Invalid runbook, configuration or arguments."""

    exit_code = EXIT_BAD_INPUT


class ValidationFailed(BadInput):
    """A runbook has one or more errors; `issues` holds all of them."""

    def __init__(self, issues: list[Issue], message: str | None = None) -> None:
        errors = [i for i in issues if i.severity == "error"]
        super().__init__(
            message or f"{len(errors)} error(s) found",
            "fix the problems listed above and run `dro validate` again",
        )
        self.issues = issues




# --- runtime failures (exit 1) ----------------------------------------------


class StepFailed(DRError):
    """A plan step failed (after its retries)."""

    exit_code = EXIT_FAILED


class StepTimeout(StepFailed):
    """A plan step ran past its timeout."""


class ObjectiveMissed(DRError):
    """An RTO or RPO objective was not met."""

    exit_code = EXIT_FAILED


class LockHeld(DRError):
    """Another run holds the lock (a repository or a plan)."""

    exit_code = EXIT_FAILED


# --- integrity (exit 3) -----------------------------------------------------


class IntegrityError(DRError):
    """Data read back does not match what was written (corruption, tampering)."""

    exit_code = EXIT_INTEGRITY


class WrongPassword(DRError):
    """No key slot of the repository opens with the given password."""

    exit_code = EXIT_BAD_INPUT


# --- storage (exit 4 unless noted) ------------------------------------------


class StorageError(DRError):
    """Base of everything a storage backend raises."""

    exit_code = EXIT_UNAVAILABLE


class ObjectNotFound(StorageError):
    exit_code = EXIT_FAILED


class ObjectExists(StorageError):
    """A create-only put found the key already present."""

    exit_code = EXIT_FAILED


class PermissionDenied(StorageError):
    exit_code = EXIT_UNAVAILABLE


class StorageUnavailable(StorageError):
    """The service could not be reached or answered with a transient error."""

    retryable = True


class InvalidKey(StorageError):
    exit_code = EXIT_BAD_INPUT


class ObjectLocked(StorageError):
    """The object is under retention (object lock) and cannot be changed yet."""

    exit_code = EXIT_FAILED
