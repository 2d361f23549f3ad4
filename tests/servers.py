"""Where the real local test servers are (started by scripts/services.sh).

Tests ask for a server through the fixtures in conftest.py. When
DRO_REQUIRE_SERVICES=1 (as in `make test`) a missing server fails the test;
otherwise (a developer running one file) it is skipped with the reason.
"""

from __future__ import annotations

import os
import socket

SERVICES_DIR = os.environ.get("DRO_SERVICES_DIR", "/tmp/dro-services")
S3_ENDPOINT = os.environ.get("DRO_TEST_S3_ENDPOINT", "http://127.0.0.1:5000")
AZURE_CONN = os.environ.get(
    "DRO_TEST_AZURE_CONN",
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
)
GCS_ENDPOINT = os.environ.get("DRO_TEST_GCS_ENDPOINT", "http://127.0.0.1:4443")
SSH_DIR = os.environ.get("DRO_TEST_SSH_DIR", f"{SERVICES_DIR}/ssh")
SSH_PORTS = (2222, 2223)  # two sshd "hosts"
SSH_CLIENT_KEY = f"{SSH_DIR}/client_ed25519"
SSH_KNOWN_HOSTS = f"{SSH_DIR}/known_hosts"
PG_PRIMARY = os.environ.get("DRO_TEST_PG_PRIMARY", "postgresql://postgres@127.0.0.1:5433/postgres")
PG_RECOVERY = os.environ.get("DRO_TEST_PG_RECOVERY", "postgresql://postgres@127.0.0.1:5434/postgres")
PG_PORTS = {"primary": 5433, "recovery": 5434}

PORTS = {"s3": 5000, "azure": 10000, "gcs": 4443, "ssh": 2222, "ssh2": 2223,
         "pg-primary": 5433, "pg-recovery": 5434}


def reachable(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def required() -> bool:
    return os.environ.get("DRO_REQUIRE_SERVICES") == "1"
