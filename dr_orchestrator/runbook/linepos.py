"""Where one data path was written, found by scanning the lines of block-style YAML.

The reference way to get positions is to compose the whole document with PyYAML
(slowyaml): ~2.5 s for a 10,000-service runbook. An error or warning needs the
position of a handful of paths, so this scanner answers those directly from the text
in microseconds, for the YAML people write by hand: block mappings and sequences,
plain or quoted keys, flow lists of scalars on one line. For anything else (flow
mappings, multi-line flow lists, block scalars on the way down, anchors, tabs,
escapes in quoted keys) it answers UNKNOWN and the caller composes the document after
all. A differential test holds it to PyYAML's positions on every runbook in the repo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dr_orchestrator.runbook.yamlpos import PathKey, Pos

UNKNOWN = None  # the scanner cannot tell: compose the document
_MISSING: Any = object()  # not indexed yet
ABSENT = "absent"  # the scanner is sure the path is not in this text

# `&name` / `*name` where a node starts (`&&` in a shell line or `* * *` in a cron line are not)
_ANCHOR_OR_ALIAS = re.compile(r"(?:^|[ \[{,:])[&*][^\s,\[\]{}*/\"'&|>;]")
_UNSUPPORTED = re.compile(r"^ *(%|--- *[^ \n]|\.\.\.)", re.MULTILINE)  # directives, `--- value`, `...`


@dataclass(frozen=True)
class _Node:
    """A node's first token at (line, col) (0-based); it extends to line `end` (exclusive)."""

    line: int
    col: int
    end: int


class LineFinder:
    def __init__(self, text: str, name: str) -> None:
        self.name = name
        self._text: str | None = text  # split on the first lookup: a valid runbook never asks
        self.lines: list[str] = []
        self.usable = False
        self._entries: dict[_Node, dict[str, tuple[int, int, int]] | None] = {}
        self._items: dict[_Node, list[int] | None] = {}

    def _prepare(self) -> None:
        text, self._text = self._text, None
        if text is None:
            return
        self.lines = text.split("\n")
        self.usable = ("\t" not in text and "<<" not in text and not _ANCHOR_OR_ALIAS.search(text)
                       and not _UNSUPPORTED.search(text))

    def find(self, path: PathKey) -> tuple[Pos | None, Pos | None] | str | None:
        """(key position, value position), ABSENT, or UNKNOWN (None)."""
        self._prepare()
        if not self.usable or not path:
            return UNKNOWN
        first = self._next_content(0, len(self.lines))
        if first is not None and self.lines[first].rstrip() == "---":  # an explicit document start
            first = self._next_content(first + 1, len(self.lines))
        if first is None:
            return UNKNOWN
        node = _Node(first, _indent(self.lines[first]), len(self.lines))
        key_pos: Pos | None = None
        value_pos: Pos | None = None
        for part in path:
            found = self._child(node, part)
            if not isinstance(found, tuple):
                return found  # ABSENT or UNKNOWN
            key_at, node = found
            if node is None:
                return UNKNOWN  # an empty value: where PyYAML puts it is not worth guessing
            key_pos = self._pos(*key_at) if key_at is not None else None
            value_pos = self._pos(node.line, node.col)
        return key_pos, value_pos

    # -- one step down ------------------------------------------------------------------

    def _child(self, node: _Node | None, part: Any) -> Any:
        if node is None:
            return UNKNOWN
        text = self.lines[node.line][node.col:]
        if text.startswith("- ") or text == "-":
            return self._item(node, part) if isinstance(part, int) else ABSENT
        if text.startswith("["):
            return self._flow_item(node, part) if isinstance(part, int) else UNKNOWN
        if text.startswith("{"):
            return self._flow_entry(node, part) if isinstance(part, str) else UNKNOWN
        if text[:1] in ("|", ">", "!", "&", "*", "?"):
            return UNKNOWN
        if not isinstance(part, str):
            return UNKNOWN
        return self._entry(node, part)

    def _entry(self, node: _Node, wanted: str) -> Any:
        """The mapping entry `wanted` of the block mapping starting at `node`."""
        entries = self._indexed(self._entries, node, self._index_mapping)
        if entries is UNKNOWN:
            return UNKNOWN
        found = entries.get(wanted)
        if found is None:
            return ABSENT
        number, after, end = found
        return (number, node.col), self._value(number, after, node.col, end)

    def _index_mapping(self, node: _Node) -> dict[str, tuple[int, int, int]] | None:
        """key -> (its line, the column after its ':', where its value's lines end); built once
        per mapping, so a thousand lookups in one big mapping scan its lines once."""
        line, col = node.line, node.col
        starts: list[int] = []  # lines of this mapping's keys
        key, after = _key(self.lines[line], col)
        if key is _NOT_A_KEY:
            return UNKNOWN  # a scalar (or something the scanner does not read)
        for number in range(line, node.end):
            text = self.lines[number]
            if number == line:
                starts.append(number)
                continue
            stripped = text.lstrip(" ")
            if not stripped or stripped.startswith("#"):
                continue
            indent = len(text) - len(stripped)
            if indent < col:
                return UNKNOWN  # the region is not what the scanner thought
            if indent == col and not (stripped.startswith("- ") or stripped == "-"):
                starts.append(number)
        entries: dict[str, tuple[int, int, int]] = {}
        for index, number in enumerate(starts):
            key, after = _key(self.lines[number], col)
            if key is _NOT_A_KEY or key in entries:
                return UNKNOWN  # (a duplicate key is the composer's to report)
            entries[key] = (number, after, starts[index + 1] if index + 1 < len(starts) else node.end)
        return entries

    def _value(self, line: int, after: int, key_col: int, end: int) -> _Node | None:
        """Where the value of the key on `line` (text after the colon from `after`) starts."""
        text = self.lines[line]
        rest = text[after:]
        stripped = rest.lstrip(" ")
        if stripped and not stripped.startswith("#"):
            return _Node(line, len(text) - len(stripped), end)
        nxt = self._next_content(line + 1, end)
        if nxt is None:
            return None  # an empty value (null): its position is PyYAML's business
        indent = _indent(self.lines[nxt])
        if indent < key_col or (indent == key_col and not self.lines[nxt].lstrip(" ").startswith("-")):
            return None
        return _Node(nxt, indent, end)

    def _item(self, node: _Node, wanted: int) -> Any:
        """Item `wanted` of the block sequence whose first '-' is at `node`."""
        items = self._indexed(self._items, node, self._index_sequence)
        return UNKNOWN if items is UNKNOWN else self._item_at(node, items, wanted)

    def _index_sequence(self, node: _Node) -> list[int] | None:
        """Lines of the items of a block sequence (built once per sequence)."""
        col = node.col
        items: list[int] = []
        for number in range(node.line, node.end):
            text = self.lines[number]
            stripped = text[col:] if number == node.line else text.lstrip(" ")
            if number != node.line:
                if not stripped or stripped.startswith("#"):
                    continue
                indent = len(text) - len(stripped)
                if indent < col:
                    return UNKNOWN
                if indent > col:
                    continue
            if stripped.startswith("- ") or stripped == "-":
                items.append(number)
            elif number != node.line:
                return UNKNOWN  # a key at the sequence's indentation: not a plain block sequence
        return items

    def _item_at(self, node: _Node, items: list[int], wanted: int) -> Any:
        col = node.col
        if wanted < 0 or wanted >= len(items):
            return ABSENT
        number = items[wanted]
        end = items[wanted + 1] if wanted + 1 < len(items) else node.end
        text = self.lines[number]
        rest = text[col + 1:]
        stripped = rest.lstrip(" ")
        if stripped.startswith("- ") or stripped == "-":
            return UNKNOWN  # a sequence in a sequence on one line
        if stripped and not stripped.startswith("#"):
            return None, _Node(number, len(text) - len(stripped), end)
        nxt = self._next_content(number + 1, end)
        if nxt is None:
            return UNKNOWN
        return None, _Node(nxt, _indent(self.lines[nxt]), end)

    def _flow_item(self, node: _Node, wanted: int) -> Any:
        """Item `wanted` of a one-line flow list of scalars (`depends_on: [db, cache]`)."""
        text = self.lines[node.line]
        starts = _flow_items(text, node.col)
        if starts is None:
            return UNKNOWN
        if wanted < 0 or wanted >= len(starts):
            return ABSENT
        return None, _Node(node.line, starts[wanted], node.line + 1)

    @staticmethod
    def _indexed(cache: dict[_Node, Any], node: _Node, build: Any) -> Any:
        """`build(node)`, computed once per node (UNKNOWN results are remembered too)."""
        found = cache.get(node, _MISSING)
        if found is _MISSING:
            found = cache[node] = build(node)
        return found

    def _flow_entry(self, node: _Node, wanted: str) -> Any:
        """Entry `wanted` of a one-line flow mapping of scalars (`retention: {keep_daily: 7}`)."""
        text = self.lines[node.line]
        starts = _flow_items(text, node.col, "}")
        if starts is None:
            return UNKNOWN
        for start in starts:
            key, after = _key(text, start)
            if key is _NOT_A_KEY:
                return UNKNOWN
            if key == wanted:
                value = len(text) - len(text[after:].lstrip(" "))
                if text[value:value + 1] in (",", "}"):
                    return UNKNOWN  # `{a: , b: 1}`: an empty value
                return (node.line, start), _Node(node.line, value, node.line + 1)
        return ABSENT

    # -- helpers ------------------------------------------------------------------------

    def _next_content(self, start: int, end: int) -> int | None:
        for number in range(start, end):
            stripped = self.lines[number].lstrip(" ")
            if stripped and not stripped.startswith("#"):
                return number
        return None

    def _pos(self, line: int, col: int) -> Pos:
        return Pos(self.name, line + 1, col + 1)


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


_NOT_A_KEY = object()
_PLAIN_KEY_END = re.compile(r":(?: |$)")


def _key(text: str, col: int) -> tuple[Any, int]:
    """The key written at `col` of a line and the column after its ':', or _NOT_A_KEY."""
    rest = text[col:]
    if rest.startswith('"'):
        close = rest.find('"', 1)
        if close == -1 or "\\" in rest[:close]:
            return _NOT_A_KEY, 0
        key, tail = rest[1:close], close + 1
    elif rest.startswith("'"):
        match = re.match(r"'((?:[^']|'')*)'", rest)
        if not match:
            return _NOT_A_KEY, 0
        key, tail = match.group(1).replace("''", "'"), match.end()
    else:
        if not rest or rest.startswith("- ") or rest == "-" or rest[0] in "[]{}#&*!|>%@`?":
            return _NOT_A_KEY, 0
        match = _PLAIN_KEY_END.search(rest)
        if not match or " #" in rest[:match.start()]:
            return _NOT_A_KEY, 0
        key, tail = rest[:match.start()].rstrip(" "), match.start()
    if not rest[tail:].startswith(":") or rest[tail + 1:tail + 2] not in ("", " "):
        return _NOT_A_KEY, 0
    return key, col + tail + 1


def _flow_items(text: str, col: int, close: str = "]") -> list[int] | None:
    """Columns where the items of the flow list (or mapping, `close="}"`) opening at `col`
    start; None when it is not one line of scalars."""
    starts: list[int] = []
    index = col + 1
    prev = text[col]  # the last character outside quotes that was not a space
    quote = ""
    while index < len(text):
        char = text[index]
        if quote:
            if char == quote:
                if quote == "'" and text[index + 1:index + 2] == "'":
                    index += 2
                    continue
                quote = ""
                prev = char
            elif char == "\\" and quote == '"':
                index += 1
        elif char == close:
            tail = text[index + 1:].strip()
            return starts if not tail or tail.startswith("#") else None
        elif char in "[]{}":
            return None
        elif char != " ":
            if prev in "[{,":
                starts.append(index)
            if char in "\"'" and prev in "[{,:":
                quote = char  # a quoted scalar starts here (a key, an item or a mapping's value)
            prev = char
        index += 1
    return None  # the collection goes on past this line
