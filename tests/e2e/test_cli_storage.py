"""`dro storage ls|cat|check` as a user runs them, against a local dir and the real S3/Azure servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.contract.locations import s3_client, unique

DRO = [sys.executable, "-m", "dr_orchestrator.cli.main"]


def dro(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DRO, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_check_ls_cat_on_a_local_dir(tmp_path: Path) -> None:
    loc = tmp_path / "store"
    r = dro("storage", "check", str(loc), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["ok"] and [s["step"] for s in report["steps"]] == ["open", "list", "write", "read", "stat",
                                                                     "delete"]
    (loc / "a").mkdir()
    (loc / "a" / "one").write_bytes(b"hello")
    r = dro("storage", "ls", f"file://{loc}", "a/", "--json")
    listed = json.loads(r.stdout)
    assert [(o["key"], o["size"], o["checksums"]) for o in listed] == [("a/one", 5, {})]
    r = dro("storage", "cat", str(loc), "a/one", "--offset", "1", "--length", "3")
    assert r.stdout == "ell"
    r = dro("storage", "cat", str(loc), "a/missing")
    assert r.returncode == 1 and "not found" in r.stderr


def test_check_s3_ok_and_diagnoses_missing_bucket_and_dead_endpoint(s3_endpoint: str) -> None:
    bucket = unique("dro-cli")
    s3_client(s3_endpoint, "us-east-1").create_bucket(Bucket=bucket)
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    r = dro("storage", "check", f"s3://{bucket}/pfx?endpoint={s3_endpoint}&region=us-east-1", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "reachable, writable, readable and deletable" in r.stdout
    r = dro("storage", "ls", f"s3://{bucket}?endpoint={s3_endpoint}", "--json", env=env)
    assert json.loads(r.stdout) == []  # the probe was deleted
    r = dro("storage", "check", f"s3://{bucket}-missing?endpoint={s3_endpoint}", "--json", env=env)
    assert r.returncode == 4
    rep = json.loads(r.stdout)
    assert rep["steps"][-1]["step"] == "list" and "bucket does not exist" in rep["diagnosis"]
    r = dro("storage", "check", f"s3://{bucket}?endpoint=http://127.0.0.1:9", env=env)
    assert r.returncode == 4 and "could not be reached" in r.stdout


def test_check_azure_never_prints_the_account_key(azure_conn: str) -> None:
    from azure.storage.blob import BlobServiceClient

    container = unique("dro-cli")
    BlobServiceClient.from_connection_string(azure_conn).create_container(container)
    key = azure_conn.split("AccountKey=")[1].split(";")[0]
    env = {"DRO_CLI_AZ": azure_conn}
    r = dro("storage", "check", f"az://devstoreaccount1/{container}", "-o", "connection_string=env:DRO_CLI_AZ",
            "--json", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["ok"]
    bad = azure_conn.replace(key, "d3Jvbmcta2V5LXdyb25nLWtleQ==")
    r = dro("storage", "check", f"az://devstoreaccount1/{container}", "-o", "connection_string=env:DRO_CLI_AZ",
            env={"DRO_CLI_AZ": bad})
    assert r.returncode == 4
    assert "access denied" in r.stdout.lower() or "authentication" in r.stdout.lower()
    for out in (r.stdout, r.stderr):
        assert key not in out and "d3Jvbmcta2V5" not in out
