"""YAML reading that remembers where every node was written (file, line, column).

The document is *composed* (libyaml via PyYAML: nodes with their start marks) and turned
into plain Python data plus a `SourceMap`, so every later error — a pydantic type error,
an undefined reference, a playbook problem — can point at `file:line:column`.
Scalars follow YAML 1.2 (no `yes`/`no` booleans, no dates); duplicate keys are errors.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from dr_orchestrator.errors import Issue
from dr_orchestrator.runbook import fastyaml

PathKey = tuple[Any, ...]


class Pos(NamedTuple):
    file: str
    line: int  # 1-based
    column: int  # 1-based


class SourceMap:
    """Data path -> where its key and its value were written.

    Filled eagerly, or lazily: `later(fn)` queues work (computing positions, merging an
    included file's map) that runs on first use, so a valid runbook never pays for it."""

    def __init__(self, keys: dict[PathKey, Pos] | None = None,
                 values: dict[PathKey, Pos] | None = None) -> None:
        self._keys: dict[PathKey, Pos] = keys if keys is not None else {}
        self._values: dict[PathKey, Pos] = values if values is not None else {}
        self._pending: list[Callable[[SourceMap], None]] = []
        # False when the text this map describes has no '$' at all: nothing to substitute.
        self.dollar = True
        self._lock = threading.RLock()  # executor threads may ask for positions at once
        # Answers single lookups from the text's lines while the full map is still pending
        # (linepos): a few issues in a 10,000-service runbook need no full compose.
        self._finder: Any = None

    def later(self, fn: Callable[[SourceMap], None]) -> None:
        if self._pending:
            self._finder = None  # positions merged from other files: the finder knows one text
        self._pending.append(fn)

    def _quick(self, path: PathKey, key_first: bool) -> Pos | None | bool:
        """The lookup answered by the line finder (walking up to the parents as key/value do),
        or False when only the full map can answer."""
        from dr_orchestrator.runbook.linepos import ABSENT

        finder = self._finder
        if finder is None or not self._pending:
            return False
        while path:
            found = finder.find(path)
            if found is None:
                return False
            if found != ABSENT:
                key_pos, value_pos = found
                return (key_pos or value_pos) if key_first else (value_pos or key_pos)
            path = path[:-1]
        return self._values.get(())

    def _settle(self) -> None:
        if not self._pending:
            return
        with self._lock:
            while self._pending:
                self._pending.pop(0)(self)  # (queued work writes the private dicts)

    @property
    def keys(self) -> dict[PathKey, Pos]:
        self._settle()
        return self._keys

    @property
    def values(self) -> dict[PathKey, Pos]:
        self._settle()
        return self._values

    def update(self, other: SourceMap) -> None:
        self.keys.update(other.keys)
        self.values.update(other.values)

    def key(self, path: PathKey) -> Pos | None:
        """Where the node is *named* (`api:`), falling back to its value, then its parents."""
        path = tuple(path)
        quick = self._quick(path, key_first=True)
        if quick is not False:
            return quick  # type: ignore[return-value]
        keys, values = self.keys, self.values
        while True:
            found = keys.get(path) or values.get(path)
            if found is not None or not path:
                return found
            path = path[:-1]

    def value(self, path: PathKey) -> Pos | None:
        """Where the node's value starts (best for 'this value is wrong')."""
        path = tuple(path)
        quick = self._quick(path, key_first=False)
        if quick is not False:
            return quick  # type: ignore[return-value]
        keys, values = self.keys, self.values
        while True:
            found = values.get(path) or keys.get(path)
            if found is not None or not path:
                return found
            path = path[:-1]

    def rebase(self, prefix: PathKey) -> SourceMap:
        """The same map with every path moved under `prefix` (playbook steps into a runbook)."""
        return SourceMap({prefix + k: v for k, v in self.keys.items()},
                         {prefix + k: v for k, v in self.values.items()})


def display_path(path: Path) -> str:
    """Paths in messages: relative to the current directory when below it (as the user typed)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_yaml(path: Path) -> tuple[Any, SourceMap, list[Issue]]:
    """Parse one YAML file. On a syntax error returns (None, empty map, [issue])."""
    name = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, SourceMap(), [Issue(name, 1, 1, f"file not found: {name}",
                                         "check the path (relative paths start at the including file)",
                                         code="file-not-found")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, SourceMap(), [Issue(name, 1, 1, f"cannot read {name}: {exc}", code="file-not-found")]
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> tuple[Any, SourceMap, list[Issue]]:
    """Fast path: rapidyaml builds the data (~4x faster than composing with libyaml) and
    positions are worked out with PyYAML only if someone asks for one (an issue to report,
    `Runbook.position`). Anything unusual — a syntax error, duplicate keys, several
    documents — takes the PyYAML path, which reports it precisely."""
    data = fastyaml.parse(text)
    if data is not fastyaml.UNSUPPORTED:
        smap = SourceMap()
        smap.values[()] = Pos(name, 1, 1)
        smap.later(lambda target: _positions_into(text, name, target))
        from dr_orchestrator.runbook.linepos import LineFinder

        smap._finder = LineFinder(text, name)
        issues: list[Issue] = []
    else:
        data, smap, issues = _parse_slow(text, name)
    smap.dollar = "$" in text
    return data, smap, issues


def _positions_into(text: str, name: str, smap: SourceMap) -> None:
    _, positions, _ = _parse_slow(text, name)
    smap._keys.update(positions.keys)
    smap._values.update(positions.values)


def _parse_slow(text: str, name: str) -> tuple[Any, SourceMap, list[Issue]]:
    """The reference path (PyYAML composing, every position, precise errors): see slowyaml."""
    from dr_orchestrator.runbook.slowyaml import parse_slow

    return parse_slow(text, name)


# YAML 1.2 core schema for plain scalars: `yes`, `on`, `1:30` and `2024-01-01` stay strings
# (PyYAML's YAML 1.1 rules would turn them into booleans, sexagesimals and dates).
_NULL = re.compile(r"^(~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_INT_OTHER = re.compile(r"^0o[0-7]+$|^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_SPECIAL_FLOAT = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf"), ".nan": float("nan")}


def plain_scalar(value: str, styled: bool, tag: str | None) -> Any:
    """A scalar's value: quoted/block scalars and `!!str` are strings, plain ones are resolved."""
    if styled or tag in ("!!str", "tag:yaml.org,2002:str"):
        return value
    first = value[:1]
    if first.isalpha() and first not in "tTfFnN":  # most values: names, commands, URLs
        return value
    if _NULL.match(value):
        return None
    if value in _BOOL:
        return _BOOL[value]
    if _INT.match(value):
        return int(value)
    if _INT_OTHER.match(value):
        return int(value, 0)
    if _FLOAT.match(value):
        return float(value)
    if value.lower() in _SPECIAL_FLOAT:
        return _SPECIAL_FLOAT[value.lower()]
    return value
