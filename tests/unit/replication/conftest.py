"""Every replication unit test runs with its own listing cache directory, and the
replicator tests run twice: with the listing cache (the default) and without it."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _own_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("DRO_NO_CACHE", raising=False)
    monkeypatch.delenv("DRO_LISTING_CACHE_MAX_AGE", raising=False)


@pytest.fixture(params=["listing-cache", "full-listing"])
def listing_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DRO_LISTING_CACHE", "1" if request.param == "listing-cache" else "0")
    return str(request.param)
