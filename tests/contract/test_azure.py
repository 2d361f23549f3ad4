"""Azure Blob backend against the storage contract, on Azurite."""

from tests.contract.contract import BackendContract
from tests.contract.locations import azure_location as make_location  # noqa: F401


class TestAzure(BackendContract):
    pass
