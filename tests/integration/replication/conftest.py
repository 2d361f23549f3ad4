"""Fresh locations on the real local servers (fixtures shared with the storage contract suite)."""

from tests.contract.locations import azure_location, gcs_location, local_location, s3_location  # noqa: F401
