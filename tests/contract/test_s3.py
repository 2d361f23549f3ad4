"""S3 backend against the storage contract, on moto_server (buckets in us-east-1 and eu-west-1)."""

from tests.contract.contract import BackendContract
from tests.contract.locations import s3_location as make_location  # noqa: F401


class TestS3(BackendContract):
    pass
