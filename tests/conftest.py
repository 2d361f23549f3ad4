"""Session-wide fixtures: the real local servers.

`make test` starts them (scripts/services.sh) and sets DRO_REQUIRE_SERVICES=1, so a
missing server is a failure there; a developer running a single test file without
the servers gets a skip that says how to start them.
"""

from __future__ import annotations

import pytest

from tests import servers


def need_service(name: str) -> None:
    port = servers.PORTS[name]
    if servers.reachable(port):
        return
    msg = f"{name} server not reachable on 127.0.0.1:{port}; run `scripts/services.sh start`"
    if servers.required():
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    need_service("s3")
    return servers.S3_ENDPOINT


@pytest.fixture(scope="session")
def azure_conn() -> str:
    need_service("azure")
    return servers.AZURE_CONN


@pytest.fixture(scope="session")
def gcs_endpoint() -> str:
    need_service("gcs")
    return servers.GCS_ENDPOINT


@pytest.fixture(scope="session")
def ssh_server() -> dict[str, object]:
    """Two sshd hosts on 127.0.0.1:2222/2223 sharing a client key and known_hosts."""
    need_service("ssh")
    need_service("ssh2")
    return {"host": "127.0.0.1", "ports": servers.SSH_PORTS, "user": "root",
            "key": servers.SSH_CLIENT_KEY, "known_hosts": servers.SSH_KNOWN_HOSTS}


@pytest.fixture(scope="session")
def pg_clusters() -> dict[str, str]:
    need_service("pg-primary")
    need_service("pg-recovery")
    return {"primary": servers.PG_PRIMARY, "recovery": servers.PG_RECOVERY}
