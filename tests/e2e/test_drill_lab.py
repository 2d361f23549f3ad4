"""`dro drill` of runbooks/lab.yaml against the real local servers, through the CLI.

S3 in two "regions" (moto), the two sshd hosts and the two PostgreSQL clusters of
scripts/services.sh. The runbook is used as written except for its variables, which a
copy makes unique for this run (buckets, database, `${lab}` root, ports), because other
tests share the same servers.

The lab is built and drilled once per session (`lab_drill`); test_report_chromium.py
renders the HTML report of that same drill.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import junitparser
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from ruamel.yaml import YAML

from tests import servers

ROOT = Path(__file__).resolve().parents[2]
DRO = str(ROOT / ".venv" / "bin" / "dro")
LAB_RUNBOOK = ROOT / "runbooks" / "lab.yaml"
PRIMARY_PG, RECOVERY_PG = servers.PG_PORTS["primary"], servers.PG_PORTS["recovery"]
INVOICES = 12
SERVICES = ("database", "app", "web")
DATA_CLASSES = ("shop-db", "shop-files")
TIMEOUT = 600  # the machine is shared with benchmarks: generous


def psql(port: int, sql: str, db: str = "postgres") -> str:
    out = subprocess.run(["psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(port),
                          "-U", "postgres", "-d", db, "-c", sql], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def db_exists(port: int, name: str) -> bool:
    return psql(port, f"select count(*) from pg_database where datname = '{name}'") == "1"


def drop_db(port: int, name: str) -> None:
    psql(port, f'drop database if exists "{name}" with (force)')


def create_db(port: int, name: str) -> None:
    drop_db(port, name)
    psql(port, f'create database "{name}"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def s3(region: str) -> Any:
    return boto3.client("s3", endpoint_url=servers.S3_ENDPOINT, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing",  # noqa: S106 - moto
                        config=Config(s3={"addressing_style": "path"}))


def create_bucket(name: str, region: str) -> None:
    kwargs: dict[str, Any] = {}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3(region).create_bucket(Bucket=name, **kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
            raise


def delete_bucket(name: str, region: str) -> None:
    client = s3(region)
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=name, Delete={"Objects": keys})
        client.delete_bucket(Bucket=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchBucket":
            raise


@dataclass
class Lab:
    dir: Path
    runbook: Path
    env: dict[str, str]
    vars: dict[str, Any]
    report_dir: Path | None = None
    drill: subprocess.CompletedProcess[str] | None = None
    logs: list[str] = field(default_factory=list)

    @property
    def db(self) -> str:
        return str(self.vars["db"])

    @property
    def drill_db(self) -> str:
        return f"{self.db}_drill"

    @property
    def root(self) -> Path:
        return Path(self.vars["lab"])

    @property
    def drill_dir(self) -> Path:
        return self.root / "drill"  # runbooks/lab.yaml: drill.paths ${lab}/euw1 -> ${lab}/drill

    @property
    def uploads(self) -> Path:
        return self.root / "use1" / "srv" / "shop" / "uploads"

    def dro(self, *args: str, runbook: Path | None = None) -> subprocess.CompletedProcess[str]:
        argv = [DRO, *[str(runbook or self.runbook) if a == "RUNBOOK" else a for a in args]]
        start = time.monotonic()
        out = subprocess.run(argv, capture_output=True, text=True, env=self.env, cwd=self.dir, timeout=TIMEOUT)
        self.logs.append(f"$ dro {' '.join(args)} -> {out.returncode} in {time.monotonic() - start:.1f}s\n"
                         f"{out.stdout}{out.stderr}")
        return out

    def variant(self, name: str, edit: Any) -> Path:
        """A copy of the lab runbook changed by `edit(data)` (ruamel round trip)."""
        yaml = YAML()
        data = yaml.load(self.runbook.read_text())
        edit(data)
        path = self.runbook.with_name(f"{name}.yaml")
        with open(path, "w") as f:
            yaml.dump(data, f)
        return path


def make_lab(base: Path) -> Lab:
    """A copy of runbooks/lab.yaml whose variables are unique to this run (nothing created yet)."""
    tag = uuid.uuid4().hex[:8]
    yaml = YAML()
    data = yaml.load(LAB_RUNBOOK.read_text())
    v = data["variables"]
    v["lab"] = str(base / "lab")
    v["ssh_dir"] = servers.SSH_DIR
    v["s3"] = servers.S3_ENDPOINT
    v["bucket_use1"] = f"dro-lab-use1-{tag}"
    v["bucket_euw1"] = f"dro-lab-euw1-{tag}"
    v["db"] = f"lab_shop_{tag}"
    v["app_port"], v["drill_app_port"] = free_port(), free_port()
    runbook = base / "lab.yaml"
    with open(runbook, "w") as f:
        yaml.dump(data, f)
    env = {k: val for k, val in os.environ.items() if not k.startswith("AWS_")}
    env.update({"DRO_PASSWORD": f"lab-{tag}", "DRO_STATE_DIR": str(base / "state"),
                "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_EC2_METADATA_DISABLED": "true"})
    return Lab(base, runbook, env, dict(v))


def populate_lab(lab: Lab) -> None:
    """Buckets, the primary's database and file tree; then backup, replicate, status."""
    v = lab.vars
    create_bucket(str(v["bucket_use1"]), "us-east-1")
    create_bucket(str(v["bucket_euw1"]), "eu-west-1")
    # The shop's database on the primary cluster: pgbench tables, 100000 accounts.
    create_db(PRIMARY_PG, lab.db)
    out = subprocess.run(["pgbench", "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", str(PRIMARY_PG),
                          "-U", "postgres", lab.db], capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr
    # The production database on the recovery cluster, provisioned empty: a drill must not touch it.
    create_db(RECOVERY_PG, lab.db)
    # The primary host's file tree, with a checksum manifest the failover verifies.
    lab.uploads.mkdir(parents=True)
    for i in range(1, INVOICES + 1):
        (lab.uploads / f"invoice-{i:04d}.txt").write_text(f"invoice {i}\n" + "line item\n" * (i * 50))
    (lab.uploads / "scratch.tmp").write_text("excluded from backups\n")
    sums = subprocess.run(["sha256sum", *sorted(p.name for p in lab.uploads.glob("invoice-*"))],
                          cwd=lab.uploads, capture_output=True, text=True, check=True)
    (lab.uploads / "MANIFEST.sha256").write_text(sums.stdout)

    for args in (["backup", "RUNBOOK", "--data-class", "shop-db"],
                 ["backup", "RUNBOOK", "--data-class", "shop-files"], ["replicate", "RUNBOOK"],
                 ["status", "RUNBOOK"]):
        out = lab.dro(*args)
        assert out.returncode == 0, "\n".join(lab.logs)


def prepare_drill_db(lab: Lab) -> None:
    """Work around a gap: a drill restores into its drill database but never creates it
    (pg_restore needs an existing database), so it is created here, as an operator would."""
    create_db(RECOVERY_PG, lab.drill_db)


def destroy_lab(lab: Lab) -> None:
    for port in (PRIMARY_PG, RECOVERY_PG):
        drop_db(port, lab.db)
    drop_db(RECOVERY_PG, lab.drill_db)
    delete_bucket(str(lab.vars["bucket_use1"]), "us-east-1")
    delete_bucket(str(lab.vars["bucket_euw1"]), "eu-west-1")
    shutil.rmtree(lab.root, ignore_errors=True)


# One lab and one passing drill per session, shared with test_report_chromium.py.
_SHARED: dict[str, Any] = {"lab": None, "users": 0, "error": None}


def acquire_lab_drill(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    _SHARED["users"] += 1
    if _SHARED["error"] is not None:
        pytest.fail(f"the lab could not be set up earlier in this session: {_SHARED['error']}")
    if _SHARED["lab"] is None:
        lab = _SHARED["lab"] = make_lab(tmp_path_factory.mktemp("lab"))  # release_lab() destroys it
        try:
            populate_lab(lab)
            prepare_drill_db(lab)
            lab.report_dir = lab.dir / "report"
            lab.drill = lab.dro("drill", "RUNBOOK", "--report-dir", str(lab.report_dir), "--auto-approve")
        except BaseException as exc:
            _SHARED["error"] = str(exc)[:2000]
            raise
    lab = _SHARED["lab"]
    assert isinstance(lab, Lab)
    return lab


def release_lab() -> None:
    _SHARED["users"] -= 1
    if _SHARED["users"] == 0 and _SHARED["lab"] is not None:
        lab, _SHARED["lab"] = _SHARED["lab"], None
        destroy_lab(lab)


@pytest.fixture(scope="session")
def lab_drill(s3_endpoint, ssh_server, pg_clusters, tmp_path_factory):
    try:
        yield acquire_lab_drill(tmp_path_factory)
    finally:
        release_lab()


def report_json(path: Path) -> dict[str, Any]:
    return json.loads((path / "report.json").read_text())


def assert_drill_targets_gone(lab: Lab) -> None:
    assert not db_exists(RECOVERY_PG, lab.drill_db), "the drill database was not dropped"
    assert not lab.drill_dir.exists(), f"drill path left behind: {list(lab.drill_dir.rglob('*'))[:5]}"
    assert not port_open(int(lab.vars["drill_app_port"])), "the drill's app server is still running"


def assert_production_untouched(lab: Lab) -> None:
    # The recovery cluster's production database is still the empty one provisioned above …
    tables = psql(RECOVERY_PG, "select count(*) from pg_tables where schemaname = 'public'", lab.db)
    assert tables == "0", "a drill restored into the production database"
    # … the recovery host's production paths were never created, and nothing serves on the production port.
    assert not (lab.root / "euw1").exists(), "a drill wrote to the recovery host's production path"
    assert not port_open(int(lab.vars["app_port"]))
    # The primary's data is as it was.
    assert psql(PRIMARY_PG, "select count(*) from pgbench_accounts", lab.db) == "100000"


def test_lab_runbook_is_valid():
    out = subprocess.run([DRO, "validate", "runbooks/lab.yaml", "--strict"], capture_output=True, text=True,
                         cwd=ROOT, timeout=TIMEOUT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "runbooks/lab.yaml: valid" in out.stdout and "3 service(s)" in out.stdout


def test_lab_drill_passes_with_expected_junit_cases(lab_drill):
    lab = lab_drill
    assert lab.drill is not None and lab.report_dir is not None
    assert lab.drill.returncode == 0, "\n".join(lab.logs)
    assert "PASSED" in lab.drill.stdout

    junit = junitparser.JUnitXml.fromfile(str(lab.report_dir / "junit.xml"))
    cases = [c for suite in junit for c in suite]
    graded = {(c.classname, c.name) for c in cases if c.classname != "dro.cleanup"}
    expected = ({("dro.services", s) for s in SERVICES}
                | {("dro.objectives.rto", f"RTO {s}") for s in (*SERVICES, "plan")}
                | {("dro.objectives.rpo", f"RPO {d}") for d in DATA_CLASSES})
    assert graded == expected
    assert len([c for c in cases if c.classname != "dro.cleanup"]) == len(expected)  # no duplicates
    cleanup = [c for c in cases if c.classname == "dro.cleanup"]
    assert len(cleanup) == 3  # the drill database, the drill path on app1, the app server's teardown
    assert all(c.is_passed for c in cases), [c.name for c in cases if not c.is_passed]

    data = report_json(lab.report_dir)
    assert data["passed"] is True
    steps = {f"{s['service']}/{s['name']}": s for s in data["steps"]}
    assert len(steps) == 9 and all(s["status"] == "succeeded" for s in steps.values())
    rpo = {o["subject"]: o for o in data["objectives"] if o["kind"] == "RPO"}
    assert set(rpo) == set(DATA_CLASSES)
    for dc, obj in rpo.items():
        assert obj["achieved_s"] is not None and 0 <= obj["achieved_s"] < obj["target_s"], (dc, obj)
    assert all(c["ok"] for c in data["cleanup"])
    assert {c["kind"] for c in data["cleanup"] if c.get("kind")} >= {"database", "path"}

    # The drill database existed during the drill: its check counted the restored accounts in it.
    journal = (Path(lab.env["DRO_STATE_DIR"]) / "runs" / data["run_id"] / "journal.jsonl").read_text()
    events = [json.loads(line) for line in journal.splitlines() if line.strip()]
    check = [e for e in events if e.get("step") == "database/1/db-has-accounts" and e.get("details")]
    assert check and check[-1]["details"]["result"] == "100000", check
    restore = [e for e in events if e.get("step") == "database/0/restore-db"]
    assert any(lab.drill_db in json.dumps(e) for e in restore), "the restore did not target the drill database"
    assert_drill_targets_gone(lab)
    assert_production_untouched(lab)

    html = (lab.report_dir / "report.html").read_text()
    assert html.count('class="bar"') == len(steps)
    md = (lab.report_dir / "report.md").read_text()
    assert all(s in md for s in SERVICES)


def test_lab_drill_with_a_failing_check_exits_1_and_cleans_up(lab_drill, tmp_path):
    lab = lab_drill

    def break_storefront(data: Any) -> None:
        check = data["services"]["web"]["failover"][0]
        assert check["name"] == "storefront-lists-invoices"
        check["expect_body"] = "text the shop never shows"
        check["deadline"] = "3s"

    runbook = lab.variant("lab-broken-web", break_storefront)
    prepare_drill_db(lab)
    out = lab.dro("drill", "RUNBOOK", "--report-dir", str(tmp_path / "r"), "--auto-approve", runbook=runbook)
    assert out.returncode == 1, "\n".join(lab.logs[-1:])
    data = report_json(tmp_path / "r")
    assert data["passed"] is False
    failed = [f"{s['service']}/{s['name']}" for s in data["steps"] if s["status"] == "failed"]
    assert failed == ["web/storefront-lists-invoices"]
    # database and app recovered into the drill targets before the check failed …
    assert {s["service"] for s in data["steps"] if s["status"] == "succeeded"} == {"database", "app"}
    # … and every drill target went: database dropped, path removed on the host, app server stopped.
    assert len(data["cleanup"]) == 3 and all(c["ok"] for c in data["cleanup"]), data["cleanup"]
    assert_drill_targets_gone(lab)
    assert_production_untouched(lab)
    junit = junitparser.JUnitXml.fromfile(str(tmp_path / "r" / "junit.xml"))
    failing = {(c.classname, c.name) for suite in junit for c in suite if not c.is_passed}
    assert ("dro.services", "web") in failing and ("dro.objectives.rto", "RTO web") in failing
