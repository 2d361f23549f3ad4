"""Fresh locations on the real local servers (fixtures shared with the storage contract suite)."""

import pytest

from tests.contract.locations import azure_location, gcs_location, local_location, s3_location  # noqa: F401


@pytest.fixture(autouse=True)
def _own_cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """dro's caches (the listing cache of local ends among them) stay out of ~/.cache here."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
