"""The code base is ruff clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import require


def test_ruff_check():
    require("ruff")
    ruff = shutil.which("ruff")
    root = Path(__file__).resolve().parents[1]
    cmd = [ruff, "check", str(root)] if ruff else [sys.executable, "-m", "ruff", "check", str(root)]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
