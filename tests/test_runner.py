"""The report's runner: worker processes give the same findings, and the progress bar fits."""

from __future__ import annotations

import collections
import io

import pytest
from conftest import require

from maskref import cli, runner
from maskref.conformance import all_cases
from maskref.progress import ProgressBar
from maskref.report import select


def _laws(n: int = 4):
    """A few of the reference's laws: NumPy only, so the workers start quickly."""
    return [c for c in select(all_cases(), "law:") if not c.requires][:n]


def _key(f):
    return f.case.case_id, f.status, repr(f.inputs), repr(f.expected), repr(f.got), f.why


def test_workers_find_what_one_process_finds():
    cases = _laws()
    seen: list[int] = []
    one = runner.run(cases, 5)
    two = runner.run(cases, 5, lambda i, n, case, s: seen.append(i), jobs=2)
    assert [_key(f) for f in one] == [_key(f) for f in two]
    assert [f.case for f in two] == cases  # in the order given, whatever finished first
    assert seen == list(range(1, len(cases) + 1))


def test_a_case_outside_the_registry_runs_in_this_process():
    import dataclasses

    law = _laws(1)[0]
    made_here = dataclasses.replace(law, api=law.api + " (made by a caller)")
    findings = runner.run([made_here, *_laws(2)], 3, jobs=2)
    assert findings[0].case is made_here and findings[0].status == "agrees"


def test_the_progress_line_fits_the_terminal():
    bar = ProgressBar(io.StringIO(), width=80)
    label = "attention_mask:torch.nn.MultiheadAttention.key_padding_mask[" + "x" * 100 + "]"
    for done in (0, 7, 604):
        line = bar.line(done, 604, label)
        assert len(line) <= 79, line
        assert line.startswith(f"[{done:>3}/604]")
    assert "░" not in bar.line(604, 604, "") and "█" not in bar.line(0, 604, "")
    assert len(ProgressBar(io.StringIO(), width=10).line(3, 604, label)) <= 20


def test_progress_off_a_terminal_is_one_short_line_per_update():
    out = io.StringIO()
    bar = ProgressBar(out, width=60)
    bar.update(1, 2, "a")
    bar.update(2, 2, "b")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in out.getvalue()
    assert all(len(line) <= 59 for line in lines)


@pytest.mark.parametrize("bad", ["abc", "0", "-2", "1.5"])
def test_counts_are_checked_with_a_readable_message(bad, capsys):
    for option in ("--examples", "--jobs"):
        with pytest.raises(SystemExit) as exit_:
            cli.main(["report", option, bad])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert f"argument {option}" in err and "expected a whole number >= 1" in err
        assert "_positive" not in err


def test_only_an_operation_name_selects_that_operation_alone():
    chosen = select(all_cases(), "sequence_mask")
    assert chosen and {c.operation for c in chosen} == {"sequence_mask"}
    broad = select(all_cases(), "sequence_mask:")  # a substring of the id
    assert {c.operation for c in broad} == {"sequence_mask"}
    assert select(all_cases(), "*keras*pad_sequences*")  # a glob


def test_the_default_jobs_is_the_core_count():
    assert runner.default_jobs() >= 1
    sub = cli.parser()._subparsers._group_actions[0].choices["report"]  # type: ignore[union-attr]
    assert f"number of cores, {runner.default_jobs()} here" in " ".join(sub.format_help().split())


def _dying_worker(after_ready: bool):
    """A worker command that dies at start, or once it has said it is ready."""
    import sys

    code = "import sys; print('killed for memory', flush=True)\n"
    if after_ready:
        code += (
            "from maskref.worker import send\n"
            "import os\n"
            "send(os.fdopen(int(sys.argv[1]), 'wb'), 'ready')\n"
            "sys.stdin.readline()\n"
        )
    code += "import os; os._exit(1)\n"
    return lambda backend, examples, fd: [sys.executable, "-c", code, str(fd)]


@pytest.mark.parametrize("after_ready", [False, True])
def test_a_dead_worker_costs_time_not_the_report(monkeypatch, capsys, after_ready):
    cases = _laws(3)
    monkeypatch.setattr(runner, "_command", _dying_worker(after_ready))
    findings = runner.run(cases, 3, jobs=2)
    assert [f.case for f in findings] == cases
    assert all(f.status == "agrees" for f in findings)
    err = capsys.readouterr().err
    assert "a worker process died; running the 3 cases left in this process" in err
    assert "killed for memory" in err


def test_a_dead_worker_of_another_backend_leaves_its_cases_unavailable(monkeypatch):
    cases = _laws(5)
    monkeypatch.setattr(runner, "_command", _dying_worker(after_ready=True))
    mine, theirs = runner.run_all(cases[:1], {"torch": cases}, 3, jobs=2)
    assert [f.status for f in mine] == ["agrees"]  # the report's own case ran here
    assert [f.case.api for f in theirs["torch"]] == [f"{c.api} (keras/torch)" for c in cases]
    assert {f.status for f in theirs["torch"]} == {"unavailable"}
    assert all(f.why == "keras/torch: the worker died: killed for memory" for f in theirs["torch"])


def test_other_backends_share_the_workers_with_the_same_findings():
    require("keras")
    require("torch")
    cases = _laws(3)
    seen: list[tuple[int, int]] = []
    one = runner.run_all(cases, {"torch": cases[:2]}, 3)
    two = runner.run_all(cases, {"torch": cases[:2]}, 3, lambda i, n, c, s: seen.append((i, n)), 2)
    assert [_key(f) for f in one[0]] == [_key(f) for f in two[0]]
    assert [_key(f) for f in one[1]["torch"]] == [_key(f) for f in two[1]["torch"]]
    assert [f.case.api for f in two[1]["torch"]] == [f"{c.api} (keras/torch)" for c in cases[:2]]
    assert seen == [(i, 5) for i in range(1, 6)]


def test_a_free_slot_serves_the_queue_with_the_most_work_per_worker(monkeypatch):
    monkeypatch.setattr(runner, "COST", {runner.HERE: 1.0, "jax": 3.0, "torch": 1.0})
    cases = _laws(4)
    run = runner._Run(cases, {"jax": cases[:2], "torch": cases[:1]}, 3, None)
    run.queues[runner.HERE] = collections.deque(range(4))
    # work left: here 4 x 1, jax 2 x 3, torch 1 x 1; divided by the workers on it + 1
    assert [run._pick() for _ in range(3)] == ["jax", runner.HERE, "jax"]
    assert run._take("jax") == 0 and run._take("torch") == 0 and run._take("torch") is None
    assert run._pick() == runner.HERE  # 4/2 against jax's 3/3; torch's queue is empty


def test_default_jobs_leaves_room_in_memory(monkeypatch):
    monkeypatch.setattr(runner, "available_memory", lambda: runner.WORKER_BYTES + 1)
    assert runner.default_jobs() == 1
    monkeypatch.setattr(runner, "available_memory", lambda: 0)
    assert runner.default_jobs() == 1
    monkeypatch.setattr(runner, "available_memory", lambda: None)
    assert runner.default_jobs() >= 1


def test_what_frameworks_print_while_cases_run_reaches_neither_stream():
    import subprocess
    import sys

    code = (
        "import os, sys\n"
        "from maskref.runner import quiet_output\n"
        "with quiet_output() as err:\n"
        "    os.write(1, b'framework noise on stdout\\n')\n"
        "    os.write(2, b'framework noise on stderr\\n')\n"
        "    print('a warning', file=sys.stderr)\n"
        "    print('progress', file=err)\n"
        "print('the report')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "the report\n"
    assert done.stderr == "progress\n"


def test_the_log_is_shown_when_the_run_fails():
    import subprocess
    import sys

    code = (
        "import os\n"
        "from maskref.runner import quiet_output\n"
        "with quiet_output():\n"
        "    os.write(2, b'why it broke\\n')\n"
        "    raise SystemExit(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 3
    assert "output of the frameworks before the error:\nwhy it broke" in done.stderr


def test_a_case_of_tensorflow_code_runs_on_the_tensorflow_backend_alone():
    import dataclasses

    from maskref.keras_backends import cases_for

    law = _laws(1)[0]
    anywhere = dataclasses.replace(law, api="keras anywhere", requires=("keras",))
    tf_only = dataclasses.replace(anywhere, api="keras tf only", keras_backends=("tensorflow",))
    assert cases_for("torch", [law, anywhere, tf_only]) == [anywhere]
    assert cases_for("tensorflow", [law, anywhere, tf_only]) == [anywhere, tf_only]


def test_jax_caches_are_cleared_before_the_memory_maps_run_out():
    require("jax")
    import jax
    import jax.numpy as jnp

    from maskref.worker import keep_maps_in_bounds

    double = jax.jit(lambda x: 2 * x)
    double(jnp.ones(3))
    keep_maps_in_bounds()  # far from the limit: kept
    assert double._cache_size() == 1
    keep_maps_in_bounds(limit=0.0)
    assert double._cache_size() == 0


def test_a_case_records_what_keras_does_on_each_backend():
    import dataclasses

    from maskref.conformance import OnBackend
    from maskref.keras_backends import on_backend

    law = _laws(1)[0]
    case = dataclasses.replace(
        law,
        api="keras x",
        requires=("keras",),
        expect="tf-only-bug",
        explanation="TensorFlow's reason",
        example={"x": 1},
        keras_elsewhere={
            "jax": OnBackend(None, "JAX's reason"),
            "torch": OnBackend("torch-bug", "torch's reason", {"x": 2}),
        },
    )
    jax = on_backend(case, "jax")
    assert (jax.expect, jax.explanation, jax.example) == (None, "JAX's reason", None)
    assert jax.case_id == law.operation + ":keras x (keras/jax)[tf-only-bug]"
    torch = on_backend(case, "torch")
    assert (torch.expect, torch.example) == ("torch-bug", {"x": 2})
    tf = on_backend(case, "tensorflow")
    assert (tf.expect, tf.explanation, tf.api) == (
        "tf-only-bug",
        "TensorFlow's reason",
        "keras x (keras/tensorflow)",
    )
    assert on_backend(case, "jax", label=False).api == "keras x"
