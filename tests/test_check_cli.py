"""``maskref check FILE.py[:FUNCTION]``: exit status, text and JSON output, bad targets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require

from maskref import cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "check_lstm.py"

NUMPY_TARGET = """
import numpy as np
import reference as mr


def _batch():
    mask = np.arange(5)[None, :] < np.array([5, 2, 3])[:, None]
    x = np.random.default_rng(0).standard_normal((3, 5, 2)).astype("float32")
    x[~mask] = 0
    return x, mask


def make_model():
    return (lambda x, mask: mr.masked_mean(x, mask, axis=1)), _batch(), {"mask_arg": "mask"}


def make_leaky():
    return {"model": lambda x, mask: x.mean(1), "batch": _batch(), "mask_arg": "mask"}


def make_nothing():
    return 42
"""


@pytest.fixture
def target(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(NUMPY_TARGET)
    return path


def test_a_passing_model_exits_0(target, capsys):
    assert cli.main(["check", str(target), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("maskref check: <lambda> (numpy adapter")
    assert "summary: 6 passed, 0 failed, 0 not applicable" in out


def test_a_failing_model_exits_1_with_json(target, capsys):
    status = cli.main(["check", f"{target}:make_leaky", "--format", "json", "--no-progress"])
    assert status == 1
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is False
    assert data["failures"] == ["one_by_one", "extra_padding", "pad_contents", "mask_used"]
    assert data["checks"][0]["smallest"]["lengths"] == [1]  # one valid step, then padding


def test_options_narrow_the_check(target, capsys):
    argv = ["check", f"{target}:make_leaky", "--checks", "pad_side,mask_used"]
    assert cli.main([*argv, "--padding-sides", "post", "--no-shrink", "--seed", "3"]) == 1
    out = capsys.readouterr().out
    assert "n/a     pad_side" in out and "FAILED  mask_used" in out
    assert "one_by_one" not in out


@pytest.mark.parametrize(
    ("suffix", "message"),
    [
        (":make_nothing", "must return (model, batch)"),
        (":make_unknown", "defines no function 'make_unknown'"),
    ],
)
def test_bad_targets_exit_2(target, capsys, suffix, message):
    assert cli.main(["check", f"{target}{suffix}"]) == 2
    assert message in capsys.readouterr().err


def test_missing_file_and_unknown_check_exit_2(target, capsys):
    assert cli.main(["check", "no/such/file.py"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert cli.main(["check", str(target), "--checks", "one_by_two"]) == 2
    assert "one_by_two" in capsys.readouterr().err


def test_the_example_passes_and_its_unpacked_twin_fails(capsys):
    require("torch")
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: one thread is fastest on a busy machine
    try:
        check_example(capsys)
    finally:
        torch.set_num_threads(threads)


def check_example(capsys):
    assert cli.main(["check", str(EXAMPLE), "--no-progress"]) == 0
    assert "summary: 5 passed, 0 failed, 1 not applicable" in capsys.readouterr().out
    assert cli.main(["check", f"{EXAMPLE}:make_unpacked", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "failed: one_by_one, extra_padding, pad_contents" in out


def test_the_command_line_exit_status(target):
    result = subprocess.run(
        [sys.executable, "-m", "maskref.cli", "check", f"{target}:make_leaky"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 1, result.stderr
    assert "FAILED  one_by_one" in result.stdout
