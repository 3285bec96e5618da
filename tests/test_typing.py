"""Type hints: every public function is annotated, and mypy accepts the packages."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

from conftest import require

from maskref.api.core import FRONTENDS

ROOT = Path(__file__).resolve().parents[1]


def test_every_front_end_is_fully_annotated():
    import reference

    functions = [n for n in reference.__all__ if inspect.isfunction(getattr(reference, n))]
    assert set(functions) <= set(FRONTENDS)  # every public function is a front end
    for name, front in FRONTENDS.items():
        sig = inspect.signature(front)
        missing = [p.name for p in list(sig.parameters.values())[1:] if p.annotation is p.empty]
        assert not missing, f"{name}: parameters without a type: {missing}"
        assert sig.return_annotation is not sig.empty, f"{name}: no return type"


def test_mypy_accepts_the_packages(tmp_path):
    require("mypy")
    for framework in ("tensorflow", "torch", "jax"):  # their stubs type the backends
        require(framework)
    cmd = [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
