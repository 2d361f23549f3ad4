"""Fast YAML → plain data with rapidyaml (C++), when it is installed.

Only the common case is handled here: one document, string keys, no duplicate keys.
Anything else returns UNSUPPORTED and the caller takes the PyYAML path, which handles
(and precisely reports) everything. Scalars follow the same YAML 1.2 rules as that path.

Two ways through: a document that is a mapping and holds none of the scalars where
rapidyaml's JSON emitter and YAML 1.2 disagree (`_JSON_UNSAFE`) is converted wholly in
C/C++ (rapidyaml emits JSON, the json module's C decoder reads it: ~0.2 s for a 10,000-
service runbook); anything else is walked node by node from Python (~1.4 s for the same).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from typing import Any

try:
    import ryml
except ImportError:  # optional: PyYAML does the work, only slower
    ryml = None

UNSUPPORTED = object()
if ryml is not None:
    _NONE, _MAP, _SEQ, _VAL = ryml.NONE, ryml.MAP, ryml.SEQ, ryml.VAL
    _KEYREF, _KEYANCH, _KEYTAG, _KEYQUO = ryml.KEYREF, ryml.KEYANCH, ryml.KEYTAG, ryml.KEYQUO
    _VALTAG, _VALQUO = ryml.VALTAG, ryml.VALQUO  # VALQUO: quoted, literal or folded


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """rapidyaml prints parse errors to fd 2 before raising; PyYAML reports them better."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _Unsupported(Exception):
    pass


_scalar: Any = None  # yamlpos.plain_scalar, bound on first use (yamlpos imports this module)


def parse(text: str) -> Any:
    """Plain data for `text`, or UNSUPPORTED."""
    from dr_orchestrator.runbook.yamlpos import plain_scalar

    global _scalar
    _scalar = plain_scalar
    if ryml is None or "<<" in text:  # merge keys: leave them to PyYAML
        return UNSUPPORTED
    try:
        with _quiet_stderr():
            tree = ryml.parse_in_arena(text.encode("utf-8"))
        root = tree.root_id()
        if tree.is_stream(root):
            if tree.num_children(root) != 1:
                return UNSUPPORTED
            root = tree.first_child(root)
        if "&" in text or "*" in text:
            tree.resolve()  # anchors and aliases (a stray '*' in a value is harmless here)
        if tree.is_map(root) and not _has_tag(text):
            emitted = ryml.emit_json_malloc(tree, root)
            if _json_safe(emitted):
                with contextlib.suppress(ValueError, _Unsupported):  # (invalid JSON: walk the tree)
                    return json.loads(emitted, object_pairs_hook=_mapping)
        return _node(tree, root)
    except (_Unsupported, UnicodeDecodeError):
        return UNSUPPORTED
    except Exception:  # noqa: BLE001 - any rapidyaml parse error: PyYAML will report it
        return UNSUPPORTED


# Strings in rapidyaml's JSON that YAML 1.2's core schema would have read as something else
# when written plain: `~`, `TRUE`, `0x1f`, `007`, `.inf` (the emitter writes them as strings
# and `nan` as ".nan"), and numeric keys (JSON keys are strings). Quoted in the YAML they
# are strings indeed; that case only costs the slower path. Forms the emitter writes as
# invalid JSON (`+4`, `-012`) make json.loads fail, which also takes the slower path.
_UNSAFE_VALUE = r"~|True|TRUE|False|FALSE|Null|NULL|[-+]?\.?(?i:nan|inf)|[-+]?0(?:[xXoObB]\w*|[0-9]+)"
# Keys that YAML reads as numbers, booleans or null (JSON would make them strings).
_NON_STRING_KEY = r"[-+.]?[0-9][^\"]*|(?i:true|false|null)|~"
# Both in one scan; the lookahead lets the engine skip at once the many strings that cannot
# start either (3x faster than trying each alternative at every '"').
_JSON_UNSAFE = re.compile(f'"(?=[-+.0-9~nNtTfFiI])(?:(?:{_NON_STRING_KEY})": |(?:{_UNSAFE_VALUE})")')


def _json_safe(emitted: str) -> bool:
    if _JSON_UNSAFE.search(emitted):
        return False
    if not emitted.isascii():
        try:  # an escaped surrogate ("\ud83d") comes out as undecodable bytes: YAML rejects it
            emitted.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


def _has_tag(text: str) -> bool:
    """A `!tag` (the JSON emitter drops tags): a '!' at the start of a token."""
    at = text.find("!")
    while at != -1:
        if at == 0 or text[at - 1] in " \t\n\r[]{},:":
            return True
        at = text.find("!", at + 1)
    return False


def _mapping(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads hook: duplicate and empty keys go to the PyYAML path, which reports them."""
    out = dict(pairs)
    if len(out) != len(pairs) or "" in out:
        raise _Unsupported
    return out


def _node(tree: Any, node: int) -> Any:
    """One `type()` call per node; the flags are tested here (each ryml call costs ~1 µs)."""
    kind = tree.type(node)
    if kind & _MAP:
        out: dict[Any, Any] = {}
        child = tree.first_child(node)
        while child != _NONE:
            ckind = tree.type(child)
            if ckind & (_KEYREF | _KEYANCH | _KEYTAG):
                raise _Unsupported
            raw = tree.key(child)
            key = _scalar("" if raw is None else bytes(raw).decode(), bool(ckind & _KEYQUO), None)
            if key in out or not isinstance(key, str | int):
                raise _Unsupported
            out[key] = _node(tree, child)
            child = tree.next_sibling(child)
        return out
    if kind & _SEQ:
        items = []
        child = tree.first_child(node)
        while child != _NONE:
            items.append(_node(tree, child))
            child = tree.next_sibling(child)
        return items
    if not kind & _VAL:
        return None
    raw = tree.val(node)
    if raw is None:
        return None
    tag = bytes(tree.val_tag(node)).decode() if kind & _VALTAG else None
    return _scalar(bytes(raw).decode(), bool(kind & _VALQUO), tag)
