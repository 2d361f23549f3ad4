"""'did you mean …?' for misspelt names and keys."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, candidates: Iterable[object]) -> str | None:
    names = [str(c) for c in candidates]
    matches = difflib.get_close_matches(str(word), names, n=1, cutoff=0.6)
    if not matches:  # case-only or prefix slips that difflib's ratio misses
        lowered = {n.lower(): n for n in names}
        return lowered.get(str(word).lower())
    return matches[0]


def did_you_mean(word: str, candidates: Iterable[object], *, fallback: str | None = None) -> str | None:
    """A hint: "did you mean 'x'?", else the list of valid names (short lists) or `fallback`."""
    names = sorted({str(c) for c in candidates})
    match = closest(word, names)
    if match is not None:
        return f"did you mean '{match}'?"
    if names and len(names) <= 8:
        return "expected one of: " + ", ".join(f"'{n}'" for n in names)
    if not names and fallback is None:
        return None
    return fallback
