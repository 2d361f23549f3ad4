"""`make demo`'s loop, end to end: the data restored from the surviving region is the data that was lost."""

from __future__ import annotations

import filecmp
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import junitparser

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / ".dro-demo"


def test_demo_loop_restores_the_lost_data_byte_for_byte(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DRO_PASSWORD", "DRO_STATE_DIR")}
    out = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "PASSED" in out.stdout and "identical" in out.stdout
    # The reports the demo points a newcomer to exist and parse.
    for name in ("report.html", "report.md", "report.json", "junit.xml"):
        assert (DEMO / "report" / name).is_file(), name
    report = json.loads((DEMO / "report" / "report.json").read_text())
    assert report["passed"] and all(c["ok"] for c in report["cleanup"])
    junit = junitparser.JUnitXml.fromfile(str(DEMO / "report" / "junit.xml"))
    assert all(case.is_passed for suite in junit for case in suite)
    assert not (DEMO / "drill").exists(), "the drill cleaned up its targets"
    assert not (DEMO / "primary").exists(), "the primary region was really lost"

    # What was lost, made again (the demo's sample data is deterministic) ...
    subprocess.run(["python3", str(ROOT / "runbooks" / "quickstart" / "demo_app.py"), "seed", "--dir",
                    str(tmp_path / "original")], check=True, capture_output=True)
    original = tmp_path / "original"
    # ... against what the demo restored from the recovery region after the disaster.
    restored_uploads = DEMO / "verify" / "uploads" / str(DEMO / "primary" / "uploads").lstrip("/")
    names = sorted(p.name for p in (original / "uploads").iterdir())
    assert names and names == sorted(p.name for p in restored_uploads.iterdir())
    match, mismatch, errors = filecmp.cmpfiles(original / "uploads", restored_uploads, names, shallow=False)
    assert match == names and not mismatch and not errors  # byte for byte
    restored_db = DEMO / "verify" / "appdb" / "shop-db" / "app.db"

    def dump(path: Path) -> list[str]:
        conn = sqlite3.connect(path)
        try:
            return list(conn.iterdump())
        finally:
            conn.close()

    # A SQLite online backup rewrites header counters, so the database is compared by content.
    assert dump(restored_db) == dump(original / "app.db")
