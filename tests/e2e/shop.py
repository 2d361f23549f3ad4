"""A private copy of the quickstart shop for drill tests: own directory, own ports.

The copy lives in a temp dir (runbook, demo app, data, storage, state), listens on
ports that differ from the demo's, and comes with its data already backed up and
replicated to the recovery "region", ready to drill.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
DRO = str(ROOT / ".venv" / "bin" / "dro")
PORTS = {18081: 28081, 18082: 28082, 19081: 29081, 19082: 29082}


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Shop:
    dir: Path
    runbook: Path
    env: dict[str, str]

    def dro(self, *args: str, timeout: float = 300, runbook: Path | None = None) -> subprocess.CompletedProcess[str]:
        argv = [DRO, *[str(runbook or self.runbook) if a == "RUNBOOK" else a for a in args]]
        return subprocess.run(argv, capture_output=True, text=True, env=self.env, cwd=self.dir, timeout=timeout)

    def variant(self, name: str, edit: Any) -> Path:
        """A copy of the runbook next to it, changed by `edit(data)` (ruamel round-trip)."""
        yaml = YAML()
        data = yaml.load(self.runbook.read_text())
        edit(data)
        path = self.runbook.with_name(f"{name}.yaml")
        with open(path, "w") as f:
            yaml.dump(data, f)
        return path

    @property
    def drill_dir(self) -> Path:
        return self.dir / ".dro-demo" / "drill"

    def runs(self) -> list[Path]:
        return sorted((self.dir / "state" / "runs").glob("*drill*"))


def make_shop(base: Path) -> Shop:
    rb_dir = base / "runbooks"
    rb_dir.mkdir(parents=True)
    shutil.copytree(ROOT / "runbooks" / "quickstart", rb_dir / "quickstart")
    text = (ROOT / "runbooks" / "quickstart.yaml").read_text()
    for old, new in PORTS.items():
        text = text.replace(str(old), str(new))
    runbook = rb_dir / "quickstart.yaml"
    runbook.write_text(text)
    env = {**os.environ, "DRO_PASSWORD": "shop-test-password", "DRO_STATE_DIR": str(base / "state")}
    shop = Shop(base, runbook, env)
    (base / ".dro-demo").mkdir()
    (base / ".dro-demo" / "password").write_text("shop-test-password\n")  # the runbook's repository_password
    subprocess.run(["python3", str(rb_dir / "quickstart" / "demo_app.py"), "seed", "--dir",
                    str(base / ".dro-demo" / "primary")], check=True, capture_output=True)
    for args in (["backup", "RUNBOOK", "--data-class", "appdb"], ["backup", "RUNBOOK", "--data-class", "uploads"],
                 ["replicate", "RUNBOOK"]):
        out = shop.dro(*args)
        assert out.returncode == 0, out.stdout + out.stderr
    return shop


def report_json(path: Path) -> dict[str, Any]:
    return json.loads((path / "report.json").read_text())
