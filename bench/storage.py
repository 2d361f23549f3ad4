"""Storage throughput: dro's backends vs `rclone copy`, same data, same local servers, same run.

    scripts/services.sh start
    .venv/bin/python bench/storage.py [--size-mib 1024] [--backends local,s3,gcs,azure,sftp]

For each backend: upload a SIZE MiB file of random bytes with dro (`put` of the open
file: streamed, multipart/blocks/resumable), download it with dro (`open_read` to a
file), then the same with `rclone copy` (configured through RCLONE_CONFIG_* env vars),
checking every downloaded copy byte-for-byte (sha256). Prints a Markdown table of
MiB/s and the dro/rclone ratio. Servers: moto_server :5000, fake-gcs-server :4443,
Azurite :10000, sshd :2222 (scripts/services.sh).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dr_orchestrator.storage import open_backend  # noqa: E402
from tests import servers  # noqa: E402

MiB = 1 << 20
WORK = Path(os.environ.get("DRO_BENCH_DIR", "/tmp/dro-bench-storage"))


@dataclass
class Target:
    name: str
    url: str
    options: dict[str, str]
    rclone_env: dict[str, str]
    rclone_remote: str  # "remote:path" or a local path
    note: str = ""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 * MiB):
            h.update(chunk)
    return h.hexdigest()


def make_source(size_mib: int) -> Path:
    src = WORK / "up" / "data.bin"  # the only file in up/, which `rclone copy` sends
    if src.exists() and src.stat().st_size == size_mib * MiB:
        return src
    src.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(MiB))
    return src


def targets(names: list[str]) -> list[Target]:
    tag = uuid.uuid4().hex[:8]
    out: list[Target] = []
    for name in names:
        if name == "local":
            out.append(Target("local dir", f"file://{WORK / 'local-store'}", {}, {},
                              str(WORK / "rclone-local-store")))
        elif name == "s3":
            import boto3

            bucket = f"bench-{tag}"
            boto3.client("s3", endpoint_url=servers.S3_ENDPOINT, region_name="us-east-1",
                         aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(Bucket=bucket)
            env = {"RCLONE_CONFIG_S3_TYPE": "s3", "RCLONE_CONFIG_S3_PROVIDER": "Other",
                   "RCLONE_CONFIG_S3_ENDPOINT": servers.S3_ENDPOINT, "RCLONE_CONFIG_S3_REGION": "us-east-1",
                   "RCLONE_CONFIG_S3_ACCESS_KEY_ID": "testing", "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": "testing",
                   "RCLONE_CONFIG_S3_FORCE_PATH_STYLE": "true"}
            out.append(Target("S3 (moto_server)", f"s3://{bucket}",
                              {"endpoint": servers.S3_ENDPOINT, "region": "us-east-1",
                               "access_key_id": "testing", "secret_access_key": "testing"},
                              env, f"s3:{bucket}/rclone"))
        elif name == "gcs":
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage

            bucket = f"bench-{tag}"
            storage.Client(project="bench", credentials=AnonymousCredentials(),
                           client_options={"api_endpoint": servers.GCS_ENDPOINT}).create_bucket(bucket)
            env = {"RCLONE_CONFIG_GCS_TYPE": "google cloud storage", "RCLONE_CONFIG_GCS_ANONYMOUS": "true",
                   "RCLONE_CONFIG_GCS_ENDPOINT": f"{servers.GCS_ENDPOINT}/storage/v1/",
                   "RCLONE_CONFIG_GCS_PROJECT_NUMBER": "bench"}
            out.append(Target("GCS (fake-gcs-server)", f"gs://{bucket}",
                              {"endpoint": servers.GCS_ENDPOINT, "project": "bench"}, env, f"gcs:{bucket}/rclone"))
        elif name == "azure":
            from datetime import UTC, datetime, timedelta

            from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

            container = f"bench-{tag}"
            BlobServiceClient.from_connection_string(servers.AZURE_CONN).create_container(container)
            # rclone 1.60 cannot reach Azurite by account/key (its endpoint is a host suffix,
            # always https) nor by use_emulator (it builds a URL without a scheme): a container
            # SAS URL with http works.
            key = servers.AZURE_CONN.split("AccountKey=")[1].split(";")[0]
            sas = generate_container_sas("devstoreaccount1", container, account_key=key,
                                         permission=ContainerSasPermissions(read=True, write=True, delete=True,
                                                                            list=True, add=True, create=True),
                                         expiry=datetime.now(UTC) + timedelta(hours=2))
            env = {"RCLONE_CONFIG_AZ_TYPE": "azureblob",
                   "RCLONE_CONFIG_AZ_SAS_URL": f"http://127.0.0.1:10000/devstoreaccount1/{container}?{sas}"}
            out.append(Target("Azure Blob (Azurite)", f"az://devstoreaccount1/{container}",
                              {"connection_string": servers.AZURE_CONN}, env, f"az:{container}/rclone"))
        elif name == "sftp":
            path = f"/tmp/dro-bench-sftp-{tag}"
            env = {"RCLONE_CONFIG_SF_TYPE": "sftp", "RCLONE_CONFIG_SF_HOST": "127.0.0.1",
                   "RCLONE_CONFIG_SF_PORT": str(servers.SSH_PORTS[0]), "RCLONE_CONFIG_SF_USER": "root",
                   "RCLONE_CONFIG_SF_KEY_FILE": servers.SSH_CLIENT_KEY,
                   "RCLONE_CONFIG_SF_KNOWN_HOSTS_FILE": servers.SSH_KNOWN_HOSTS}
            out.append(Target("SFTP (OpenSSH sshd)", f"sftp://root@127.0.0.1:{servers.SSH_PORTS[0]}{path}",
                              {"key": servers.SSH_CLIENT_KEY, "known_hosts": servers.SSH_KNOWN_HOSTS},
                              env, f"sf:{path}/rclone"))
        else:
            raise SystemExit(f"unknown backend {name!r}")
    return out


def run_dro(t: Target, src: Path, digest: str) -> tuple[float, float, str]:
    backend = open_backend(t.url, t.options)
    try:
        start = time.perf_counter()
        with open(src, "rb") as f:
            backend.put("dro/data.bin", f)
        up = time.perf_counter() - start
        dst = WORK / "down-dro" / "data.bin"
        dst.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        with backend.open_read("dro/data.bin") as r, open(dst, "wb") as w:
            while chunk := r.read(MiB):
                w.write(chunk)
        down = time.perf_counter() - start
        ok = "ok" if sha256_file(dst) == digest else "MISMATCH"
        backend.delete("dro/data.bin")
        dst.unlink()
        return up, down, ok
    finally:
        backend.close()


def run_rclone(t: Target, src: Path, digest: str) -> tuple[float | None, float | None, str]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}  # rclone's S3 fails on it
    env.update(t.rclone_env, RCLONE_CONFIG="/dev/null")
    base = ["rclone", "copy", "--stats", "0", "-q"]
    start = time.perf_counter()
    r = subprocess.run([*base, str(src.parent), t.rclone_remote], env=env, capture_output=True, text=True)
    up = time.perf_counter() - start
    if r.returncode != 0:
        return None, None, "upload failed: " + (r.stderr.strip().splitlines() or ["?"])[-1][:200]
    down_dir = WORK / "down-rclone"
    shutil.rmtree(down_dir, ignore_errors=True)
    start = time.perf_counter()
    r = subprocess.run([*base, t.rclone_remote, str(down_dir)], env=env, capture_output=True, text=True)
    down = time.perf_counter() - start
    if r.returncode != 0:
        return up, None, "download failed: " + (r.stderr.strip().splitlines() or ["?"])[-1][:200]
    ok = "ok" if sha256_file(down_dir / "data.bin") == digest else "MISMATCH"
    subprocess.run(["rclone", "purge", t.rclone_remote], env=env, capture_output=True)
    shutil.rmtree(down_dir, ignore_errors=True)
    return up, down, ok


def fmt(mib: float, seconds: float | None) -> str:
    return "—" if seconds is None else f"{mib / seconds:,.0f}"


def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None else f"{b / a:.2f}"  # throughput ratio = time(rclone)/time(dro)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--backends", default="local,s3,gcs,azure,sftp")
    ap.add_argument("--no-rclone", action="store_true")
    ap.add_argument("--size-for", action="append", default=[], metavar="BACKEND=MIB",
                    help="a smaller size for one backend (fake-gcs-server's resumable uploads slow down "
                         "more than linearly with object size: --size-for gcs=256)")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    sizes = {k: int(v) for k, v in (x.split("=", 1) for x in args.size_for)}
    names = args.backends.split(",")
    rows = []
    for backend_name, t in zip(names, targets(names), strict=True):
        mib = sizes.get(backend_name, args.size_mib)
        src = make_source(mib)
        digest = sha256_file(src)
        print(f"# {t.name}: dro …", file=sys.stderr, flush=True)
        d_up, d_down, d_ok = run_dro(t, src, digest)
        r_up: float | None = None
        r_down: float | None = None
        r_ok = "skipped"
        if not args.no_rclone:
            print(f"# {t.name}: rclone …", file=sys.stderr, flush=True)
            r_up, r_down, r_ok = run_rclone(t, src, digest)
        rows.append((t.name, mib, d_up, r_up, d_down, r_down, f"dro {d_ok}; rclone {r_ok}"))
        print(f"#   dro up {d_up:.1f}s down {d_down:.1f}s {d_ok}; rclone {r_up} {r_down} {r_ok}",
              file=sys.stderr, flush=True)
    print("\nOne object of random bytes; MiB/s (higher is better); ratio = dro / rclone throughput\n")
    print("| backend (server) | MiB | dro up | rclone up | up ratio | dro down | rclone down | down ratio | check |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, mib, du, ru, dd, rd, note in rows:
        print(f"| {name} | {mib} | {fmt(mib, du)} | {fmt(mib, ru)} | {ratio(du, ru)} | {fmt(mib, dd)} "
              f"| {fmt(mib, rd)} | {ratio(dd, rd)} | {note} |")


if __name__ == "__main__":
    main()
