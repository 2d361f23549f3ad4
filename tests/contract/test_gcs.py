"""GCS backend against the storage contract, on fake-gcs-server."""

from tests.contract.contract import BackendContract
from tests.contract.locations import gcs_location as make_location  # noqa: F401


class TestGCS(BackendContract):
    pass
