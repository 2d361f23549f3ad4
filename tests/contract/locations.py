"""`make_location` fixtures for the contract suite: fresh buckets on the real local servers.

Each returns a callable `make(variant="main") -> (url, options)`; see contract.py.
Names carry a uuid so parallel test runs on the shared servers never collide.
At teardown large objects are deleted (moto keeps objects in memory) and empty buckets dropped.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.contract.contract import Location

S3_CREDS = {"access_key_id": "testing", "secret_access_key": "testing"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def local_location(tmp_path: Path) -> Callable[..., Location]:
    def make(variant: str = "main") -> Location:
        if variant == "locked":
            pytest.skip("the local backend has no object lock")
        return (f"file://{tmp_path / unique(variant)}", {})

    return make


def s3_client(endpoint: str, region: str):  # type: ignore[no-untyped-def]
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, region_name=region, aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(s3={"addressing_style": "path"}))


@pytest.fixture
def s3_location(s3_endpoint: str) -> Iterator[Callable[..., Location]]:
    made: list[tuple[str, str]] = []

    def make(variant: str = "main") -> Location:
        region = "eu-west-1" if variant == "other" else "us-east-1"
        bucket = unique(f"dro-{variant}")
        client = s3_client(s3_endpoint, region)
        kwargs: dict[str, object] = {}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        if variant == "locked":
            kwargs["ObjectLockEnabledForBucket"] = True
        client.create_bucket(Bucket=bucket, **kwargs)
        made.append((bucket, region))
        return (f"s3://{bucket}", {"endpoint": s3_endpoint, "region": region, **S3_CREDS})

    yield make
    for bucket, region in made:
        with contextlib.suppress(Exception):
            empty_s3_bucket(s3_client(s3_endpoint, region), bucket)


# Teardown frees what costs the shared servers memory (objects over 64 KiB) and drops
# empty buckets; thousands of tiny objects (the listing case) are cheaper left than deleted.
BIG = 64 * 1024


def empty_s3_bucket(client, bucket: str) -> None:  # type: ignore[no-untyped-def]
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        objs = [{"Key": o["Key"]} for o in page.get("Contents", ()) if o["Size"] > BIG]
        if objs:
            client.delete_objects(Bucket=bucket, Delete={"Objects": objs, "Quiet": True})
    client.delete_bucket(Bucket=bucket)  # fails (ignored) while tiny objects remain


def gcs_client(endpoint: str):  # type: ignore[no-untyped-def]
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="test-project", credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": endpoint})


@pytest.fixture
def gcs_location(gcs_endpoint: str) -> Iterator[Callable[..., Location]]:
    client = gcs_client(gcs_endpoint)
    made: list[str] = []

    def make(variant: str = "main") -> Location:
        if variant == "locked":
            pytest.skip("fake-gcs-server ignores retention policies; the gcs backend reports no object lock")
        bucket = unique(f"dro-{variant}")
        client.create_bucket(bucket)
        made.append(bucket)
        return (f"gs://{bucket}", {"endpoint": gcs_endpoint, "project": "test-project"})

    yield make
    for bucket in made:
        with contextlib.suppress(Exception):
            big = [blob for blob in client.list_blobs(bucket) if (blob.size or 0) > BIG]
            with ThreadPoolExecutor(8) as pool:  # one request per object: spread them
                list(pool.map(lambda blob: blob.delete(), big))
            client.bucket(bucket).delete()  # fails (ignored) while tiny objects remain


@pytest.fixture
def azure_location(azure_conn: str) -> Iterator[Callable[..., Location]]:
    from azure.storage.blob import BlobServiceClient

    svc = BlobServiceClient.from_connection_string(azure_conn)
    made: list[str] = []

    def make(variant: str = "main") -> Location:
        if variant == "locked":
            pytest.skip("Azurite does not implement immutability policies; the azure backend reports none")
        container = unique(f"dro-{variant}")
        svc.create_container(container)
        made.append(container)
        return (f"az://devstoreaccount1/{container}", {"connection_string": azure_conn})

    yield make
    for container in made:
        with contextlib.suppress(Exception):
            svc.delete_container(container)
