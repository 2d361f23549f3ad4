"""The runbook shown in the README is a valid runbook (docs match the code)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_runbook_validates(tmp_path):
    (block,) = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)[:1]
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "playbooks").symlink_to(ROOT / "playbooks")
    path = tmp_path / "runbooks" / "readme.yaml"
    path.write_text(block)
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "dro"), "validate", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "error" not in out.stderr
