"""Keep resolved secret values out of everything we write or print.

Every secret the run resolves (env:NAME, file:PATH references) is registered here;
journal lines, step output, error messages and summaries pass through `redact`
before they leave memory. Values shorter than 4 characters are not registered
(redacting "1" everywhere would destroy the output and protect nothing).
"""

from __future__ import annotations

import json
import threading

MASK = "***"
MIN_LENGTH = 4


class Redactor:
    def __init__(self, secrets: list[str] | tuple[str, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._values: list[str] = []
        for value in secrets:
            self.add(value)

    def add(self, value: str | None) -> None:
        if not value or len(value) < MIN_LENGTH:
            return
        forms = {value, json.dumps(value)[1:-1]}  # raw and JSON-escaped
        forms.update(line for line in value.splitlines() if len(line) >= MIN_LENGTH)
        with self._lock:
            for form in forms:
                if form not in self._values:
                    self._values.append(form)
            self._values.sort(key=len, reverse=True)  # longest first: no partial leftovers

    def __bool__(self) -> bool:
        return bool(self._values)

    def redact(self, text: str) -> str:
        if not self._values or not text:
            return text
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        return text
