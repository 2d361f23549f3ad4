"""Local-directory backend against the storage contract."""

from tests.contract.contract import BackendContract
from tests.contract.locations import local_location as make_location  # noqa: F401


class TestLocal(BackendContract):
    list_keys = 5000
