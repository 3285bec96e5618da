"""Running the report's cases: in this process, or spread over worker processes.

Every case is probed with a derandomized search (:func:`maskref.conformance.probe`),
so its finding does not depend on which process runs it or in what order:
``--jobs 1`` and ``--jobs N`` give the same report. Workers are *spawned*, not
forked (forking a process that has started TensorFlow's or torch's threads can
deadlock), each builds the registry once, and their standard output and error
go to a log file, so frameworks' start-up lines never reach the report or the
progress bar. Keras's cases on another Keras backend run in child processes of
their own (:mod:`maskref.keras_backends`), one task of the pool per chunk.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from .conformance import Case, Finding, describe, probe
from .keras_backends import Described, run_on_backend

#: ``progress(done, total, case, seconds)``, called as each case finishes.
Progress = Callable[[int, int, Case, float], None]


#: What one worker holds once TensorFlow, PyTorch and JAX are imported (measured: ~2 GiB).
WORKER_BYTES = 3 * 2**30


def default_jobs() -> int:
    """The cores this process may run on, fewer where memory would not hold that many
    workers (a worker killed for memory would cost the run)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    available = available_memory()
    if available is None:
        return cores
    return max(1, min(cores, available // WORKER_BYTES))


def available_memory() -> int | None:
    """``MemAvailable`` in bytes (Linux), else None."""
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def run(
    cases: Sequence[Case], examples: int, progress: Progress | None = None, jobs: int = 1
) -> list[Finding]:
    """Probe every case, in the order given; ``jobs`` > 1 runs them in worker processes.

    Cases whose framework is missing are answered here without a worker.
    """
    findings: list[Finding | None] = [None] * len(cases)
    done = 0

    def finish(i: int, finding: Finding, seconds: float) -> None:
        nonlocal done
        findings[i] = finding
        done += 1
        if progress:
            progress(done, len(cases), cases[i], seconds)

    todo = []
    for i, case in enumerate(cases):
        if case.missing():
            finish(i, probe(case, examples), 0.0)
        else:
            todo.append(i)
    if jobs <= 1 or len(todo) <= 1:
        for i in todo:
            start = time.perf_counter()
            finish(i, probe(cases[i], examples), time.perf_counter() - start)
    else:
        _run_in_workers(cases, todo, examples, jobs, finish)
    return [f for f in findings if f is not None]


def run_on_other_backends(
    cases: Sequence[Case], backends: Sequence[str], examples: int, jobs: int = 1
) -> list[Finding]:
    """Keras's ``cases`` on each of ``backends`` (those a case allows: ``Case.keras_backends``):
    a child process per backend and chunk."""
    chunks = []
    for backend in backends:
        mine = [c for c in cases if c.keras_backends is None or backend in c.keras_backends]
        chunks += [(backend, mine[k::jobs]) for k in range(max(1, min(jobs, len(mine))))]
    chunks = [(b, c) for b, c in chunks if c]
    if jobs <= 1 or len(chunks) <= 1:
        results = [run_on_backend(b, c, examples) for b, c in chunks]
    else:  # each task waits on its own child process: threads are enough
        with cf.ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(lambda bc: run_on_backend(bc[0], bc[1], examples), chunks))
    return [f for r in results for f in r]  # backend by backend, as `backends` lists


@contextlib.contextmanager
def quiet_output() -> Iterator[TextIO]:
    """While the cases run here, what frameworks print (start-up logs, warnings, to standard
    output or error) goes to a log file, so it can neither corrupt a report written to
    standard output nor break the progress line. Yields a stream on the real standard
    error, for the progress bar; the log's tail is shown if the run raises."""
    try:
        fds = (sys.stdout.fileno(), sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):  # captured streams (tests): nothing to do
        yield sys.stderr
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in fds]
    err = os.fdopen(os.dup(saved[1]), "w", buffering=1)
    with tempfile.TemporaryFile("w+") as log:
        for fd in fds:
            os.dup2(log.fileno(), fd)
        try:
            yield err
        except BaseException:
            log.seek(0)
            tail = log.read()[-2000:]
            if tail.strip():
                print(f"output of the frameworks before the error:\n{tail}", file=err)
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, old in zip(fds, saved):
                os.dup2(old, fd)
                os.close(old)
            err.close()


# -- worker processes --------------------------------------------------------------------

_REGISTRY: dict[str, Case] = {}


def _start_worker(log: str) -> None:
    """Send the worker's output to ``log`` and build the registry once."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from .conformance import all_cases

    _REGISTRY.update((c.case_id, c) for c in all_cases())


def _probe_in_worker(case_id: str, examples: int) -> tuple[dict[str, Any], float]:
    start = time.perf_counter()
    f = probe(_REGISTRY[case_id], examples)
    record = {
        "status": f.status,
        "inputs": f.inputs,
        "expected": f.expected,
        "got": f.got,
        "why": f.why,
        "examples": f.examples,
    }
    try:
        pickle.dumps(record)
    except Exception:  # an outcome that cannot travel: its description does
        for key in ("inputs", "expected", "got"):
            if record[key] is not None:
                record[key] = Described(describe(record[key], 2000))
    return record, time.perf_counter() - start


def _run_in_workers(
    cases: Sequence[Case],
    todo: list[int],
    examples: int,
    jobs: int,
    finish: Callable[[int, Finding, float], None],
) -> None:
    from .conformance import all_cases

    registered = {c.case_id for c in all_cases()}
    here = [i for i in todo if cases[i].case_id not in registered]  # made by the caller
    for i in here:
        start = time.perf_counter()
        finish(i, probe(cases[i], examples), time.perf_counter() - start)
    todo = [i for i in todo if i not in set(here)]
    left = set(todo)
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "workers.log")
        context = multiprocessing.get_context("spawn")
        try:
            with cf.ProcessPoolExecutor(
                max_workers=min(jobs, len(todo)),
                mp_context=context,
                initializer=_start_worker,
                initargs=(log,),
            ) as pool:
                futures = {
                    pool.submit(_probe_in_worker, cases[i].case_id, examples): i for i in todo
                }
                for future in cf.as_completed(futures):
                    i = futures[future]
                    record, seconds = future.result()
                    finish(i, Finding(cases[i], **record), seconds)
                    left.discard(i)
        except cf.process.BrokenProcessPool:
            # A worker died (killed for memory, most often): the cases it left run here, so
            # the report is late but whole.
            tail = Path(log).read_text(errors="replace")[-2000:] if os.path.exists(log) else ""
            print(
                f"a worker process died; running the {len(left)} cases left in this process"
                + (f"; the workers' last output:\n{tail}" if tail.strip() else ""),
                file=sys.stderr,
            )
            for i in sorted(left):
                start = time.perf_counter()
                finish(i, probe(cases[i], examples), time.perf_counter() - start)
