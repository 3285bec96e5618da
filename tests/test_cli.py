"""The maskref command."""

from __future__ import annotations

import io
import json
import re

import pytest
from conftest import require

from maskref import cli, report


def test_report_json_on_the_reference_laws(capsys):
    status = cli.main(["report", "--only", "law:", "--examples", "5", "--format", "json"])
    assert status == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cases"] and all(c["status"] == "agrees" for c in data["cases"])
    assert all(c["kind"] == "invariant" for c in data["cases"])
    n = len(data["cases"])
    assert data["summary"] == {
        "cases": n,
        "agrees": n,
        "diverges": 0,
        "unexpected": 0,
        "unavailable": 0,
        "recorded_divergences": 0,
    }
    assert data["summary_line"] == f"{n} agree"


def test_report_text_shows_a_divergence_with_its_smallest_input():
    require("keras")
    out = io.StringIO()
    status = report.report(
        5, "text", "maxlen-0-truncating-pre", out, progress=False, keras_backends=[]
    )
    text = out.getvalue()
    assert status == 0
    assert "diverges: maxlen-0-truncating-pre-raises" in text
    assert "input:     sequences=[[0, 0]], maxlen=0" in text
    assert "could not broadcast" in text


def test_report_markdown_table():
    out = io.StringIO()
    report.report(3, "markdown", "law: apply_mask", out, progress=False)
    lines = out.getvalue().splitlines()
    assert lines[0] == "# maskref behaviour report"
    assert any(
        line.startswith("| apply_mask | law: apply_mask is idempotent | agrees") for line in lines
    )
    header = next(line for line in lines if line.startswith("| operation"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert len(columns) == len(set(columns)) and "why" in columns


def test_a_recorded_divergence_in_markdown_and_text_keeps_its_why():
    pattern = "nan-under-the-mask-leaks"  # a NumPy idiom: runs without any framework
    out = io.StringIO()
    assert report.report(3, "markdown", pattern, out, progress=False) == 0
    row = next(line for line in out.getvalue().splitlines() if pattern in line)
    why = report.select(report.all_cases(), pattern)[0].explanation
    assert why and report._md(why) in row
    assert "Summary: 1 diverges (all recorded)." in out.getvalue()
    out = io.StringIO()
    report.report(3, "text", pattern, out, progress=False)
    assert "summary: 1 diverges (all recorded)" in out.getvalue()


def test_report_fails_when_a_maskref_backend_diverges(monkeypatch):
    from maskref.conformance import Case

    bad = Case(
        operation="sequence_mask",
        api="broken.sequence_mask",
        inputs=lambda: __import__("hypothesis.strategies").strategies.just({"lengths": [1]}),
        reference=lambda i: [[True]],
        candidate=lambda i: [[False]],
        kind="backend",
    )
    monkeypatch.setattr(report, "all_cases", lambda: [bad])
    out = io.StringIO()
    assert report.report(3, "text", None, out, progress=False) == 1
    assert "DIVERGES (unexpected)" in out.getvalue()
    assert "summary: 1 diverges (none recorded)" in out.getvalue()


@pytest.mark.parametrize("fmt", ["html", "json"])
def test_report_output_file(fmt, tmp_path, capsys):
    path = tmp_path / f"report.{fmt}"
    args = ["report", "--only", "law: apply_mask", "--examples", "3", "--jobs", "1"]
    assert cli.main([*args, "--format", fmt, "-o", str(path)]) == 0
    assert capsys.readouterr().out == ""
    text = path.read_text(encoding="utf-8")
    if fmt == "html":
        assert text.startswith("<!DOCTYPE html>") and "law: apply_mask is idempotent" in text
    else:
        assert json.loads(text)["summary"]["agrees"] == 1


def test_format_help_lists_the_formats():
    sub = next(a for a in cli.parser()._actions if a.dest == "command")
    help_text = sub.choices["report"].format_help()
    assert all(f in help_text for f in ("text", "markdown", "json", "html", "--output FILE"))


def test_unknown_pattern_and_bad_examples(capsys):
    assert cli.main(["report", "--only", "no-such-case-anywhere"]) == 2
    with pytest.raises(SystemExit):
        cli.main(["report", "--examples", "0"])


def test_cases_lists_the_registry(capsys):
    assert cli.main(["cases", "--only", "keras.utils.pad_sequences"]) == 0
    out = capsys.readouterr().out
    assert "expects divergence maxlen-0-truncating-pre-raises" in out


def test_report_without_a_framework_lists_it_and_names_the_extra(monkeypatch):
    from hypothesis import strategies as st

    from maskref.conformance import Case

    needs = Case(
        operation="pad_sequences",
        api="absent.pad_sequences",
        inputs=lambda: st.just({}),
        reference=lambda i: 0,
        candidate=lambda i: 0,
        requires=("torch", "maskref_no_such_module"),
    )
    law = report.all_cases()[0]
    monkeypatch.setattr(report, "all_cases", lambda: [law, needs])
    out = io.StringIO()
    assert report.report(3, "text", None, out, progress=False) == 0
    text = out.getvalue()
    assert "not installed" in text
    assert re.search(r"needs (torch, )?maskref_no_such_module", text)
    assert "more cases with: pip install -c constraints.txt 'maskref[" in text


def test_conventions_prints_the_table(capsys):
    assert cli.main(["conventions"]) == 0
    out = capsys.readouterr().out
    assert "| `torch.nn.MultiheadAttention.key_padding_mask` | drop |" in out
    assert "| `transformers` | int |" in out


def test_keras_cases_run_on_another_keras_backend():
    require("keras")
    require("torch")
    out = io.StringIO()
    pattern = "*keras.layers.Masking(0.0) (eager)*"
    assert report.report(3, "text", pattern, out, progress=False, keras_backends=["torch"]) == 0
    text = out.getvalue()
    assert "keras.layers.Masking(0.0) (eager) (keras/torch)" in text
    assert "summary: 2 agree" in text


def test_unknown_keras_backend_is_refused():
    with pytest.raises(SystemExit):
        cli.main(["report", "--keras-backends", "theano"])


def test_python_dash_m_maskref_is_the_command():
    import subprocess
    import sys

    import maskref

    done = subprocess.run(
        [sys.executable, "-m", "maskref", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert maskref.__version__ in done.stdout
