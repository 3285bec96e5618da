"""Running the report's cases: in this process, or spread over worker processes.

Every case is probed with a derandomized search (:func:`maskref.conformance.probe`),
so its finding does not depend on which process runs it or in what order:
``--jobs 1`` and ``--jobs N`` give the same report.

The work is one pool of queues: the report's own cases, and Keras's cases again
on each other Keras backend (Keras picks its backend once per process, so those
run in processes of their own). ``jobs`` slots each run one worker process
(:mod:`maskref.worker`) at a time; a free slot serves the queue with the most
work left per worker already on it, and a worker is handed one case at a time,
so the slots finish together whatever each case costs. Workers are new
processes, not forks (forking a process that has started TensorFlow's or
torch's threads can deadlock), and their output goes to log files, so
frameworks' start-up lines never reach the report or the progress bar.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO, cast

from .conformance import Case, Finding, probe
from .keras_backends import Described, on_backend
from .worker import keep_maps_in_bounds, receive

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


#: The report's own backend, as a worker's ``BACKEND`` argument.
HERE = "-"

#: What one case costs on each backend, relative to the report's own (measured; only
#: used to choose which queue a free slot serves first).
COST = {HERE: 1.0, "tensorflow": 1.0, "torch": 1.0, "jax": 3.5}

#: A backend whose workers died this often has its other cases marked unavailable.
DEATHS = 3


def run(
    cases: Sequence[Case], examples: int, progress: Progress | None = None, jobs: int = 1
) -> list[Finding]:
    """Probe every case, in the order given; ``jobs`` > 1 runs them in worker processes.

    Cases whose framework is missing are answered here without a worker.
    """
    return run_all(cases, {}, examples, progress, jobs)[0]


def run_all(
    cases: Sequence[Case],
    others: Mapping[str, Sequence[Case]],
    examples: int,
    progress: Progress | None = None,
    jobs: int = 1,
) -> tuple[list[Finding], dict[str, list[Finding]]]:
    """Probe ``cases`` on this process's Keras backend and ``others[b]`` with Keras on
    backend ``b``: the findings of each, in the order given (another backend's are labelled
    with it, :func:`maskref.keras_backends.on_backend`).

    ``jobs`` = 1 runs ``cases`` here and each other backend in one worker after them;
    ``jobs`` > 1 shares everything among that many worker processes.
    """
    run = _Run(cases, others, examples, progress)
    todo = []
    for i, case in enumerate(cases):
        if case.missing():
            run.finish(HERE, i, probe(case, examples), 0.0)
        else:
            todo.append(i)
    if jobs <= 1 or (len(todo) <= 1 and not others):  # a worker would only add its start
        run.here(todo)
    else:
        from .conformance import all_cases

        registered = {c.case_id for c in all_cases()}
        run.here([i for i in todo if cases[i].case_id not in registered])  # made by the caller
        run.queues[HERE] = collections.deque(i for i in todo if cases[i].case_id in registered)
    run.in_workers(max(1, jobs))
    if run.left_here:
        print(
            f"a worker process died; running the {len(run.left_here)} cases left in this "
            "process" + (f"; the workers' last output:\n{run.died_with}" if run.died_with else ""),
            file=sys.stderr,
        )
        run.here(sorted(run.left_here))
    mine = [f for f in run.findings[HERE] if f is not None]
    theirs = {b: [f for f in run.findings[b] if f is not None] for b in others}
    return mine, theirs


class _Run:
    """One run's queues, findings and progress, shared by the slots' threads."""

    def __init__(
        self,
        cases: Sequence[Case],
        others: Mapping[str, Sequence[Case]],
        examples: int,
        progress: Progress | None,
    ):
        self.cases = {HERE: list(cases), **{b: list(c) for b, c in others.items()}}
        self.examples = examples
        self.progress = progress
        self.total = sum(len(c) for c in self.cases.values())
        self.done = 0
        self.findings: dict[str, list[Finding | None]] = {
            b: [None] * len(c) for b, c in self.cases.items()
        }
        self.queues: dict[str, collections.deque[int]] = {
            b: collections.deque(range(len(c))) for b, c in others.items()
        }
        self.serving: collections.Counter[str] = collections.Counter()
        self.deaths: collections.Counter[str] = collections.Counter()
        self.left_here: list[int] = []
        self.died_with = ""
        self.lock = threading.Lock()

    def finish(self, backend: str, i: int, finding: Finding, seconds: float) -> None:
        with self.lock:
            self.findings[backend][i] = finding
            self.done += 1
            if self.progress:
                self.progress(self.done, self.total, finding.case, seconds)

    def here(self, todo: Iterable[int]) -> None:
        for i in todo:
            start = time.perf_counter()
            finding = probe(self.cases[HERE][i], self.examples)
            keep_maps_in_bounds()
            self.finish(HERE, i, finding, _seconds(start))

    # -- the slots ---------------------------------------------------------------------

    def in_workers(self, slots: int) -> None:
        if not any(self.queues.values()):
            return
        with tempfile.TemporaryDirectory() as logs:
            threads = [
                threading.Thread(target=self._slot, args=(Path(logs) / f"slot{k}",), daemon=True)
                for k in range(slots)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

    def _pick(self) -> str | None:
        """The queue a free slot serves: the most work left per worker already on it."""
        with self.lock:
            waiting = [b for b, q in self.queues.items() if q]
            if not waiting:
                return None
            backend = max(
                waiting,
                key=lambda b: len(self.queues[b]) * COST.get(b, 1.0) / (self.serving[b] + 1),
            )
            self.serving[backend] += 1
            return backend

    def _take(self, backend: str) -> int | None:
        with self.lock:
            queue = self.queues[backend]
            return queue.popleft() if queue else None

    def _slot(self, log: Path) -> None:
        while (backend := self._pick()) is not None:
            try:
                self._serve(backend, log)
            finally:
                with self.lock:
                    self.serving[backend] -= 1

    def _serve(self, backend: str, log: Path) -> None:
        with _Worker(backend, self.examples, log) as worker:
            try:
                worker.ready()
            except EOFError:
                self._died(backend, None, worker.tail())
                return
            while (i := self._take(backend)) is not None:
                case = self.cases[backend][i]
                start = time.perf_counter()
                try:
                    record = worker.ask(case.case_id)
                except EOFError:
                    self._died(backend, i, worker.tail())
                    return
                if backend == HERE:
                    finding = Finding(case, **record)
                else:
                    finding = _theirs(backend, case, record)
                self.finish(backend, i, finding, _seconds(start))

    def _died(self, backend: str, i: int | None, tail: str) -> None:
        """A worker died (killed for memory, most often), with case ``i`` in flight. The
        report's own cases then run in this process, late but whole; another backend's case
        is unavailable there, and so are the rest after repeated deaths."""
        with self.lock:
            queue = self.queues[backend]
            if backend == HERE:
                self.left_here += ([] if i is None else [i]) + list(queue)
                queue.clear()
                self.died_with = tail[-2000:]
                return
            self.deaths[backend] += 1
            lost = [] if i is None else [i]
            if i is None or self.deaths[backend] >= DEATHS:
                lost += list(queue)
                queue.clear()
        last = (tail.strip().splitlines() or ["no output"])[-1]
        for k in lost:
            case = on_backend(self.cases[backend][k], backend)
            why = f"keras/{backend}: the worker died: {last}"
            self.finish(backend, k, Finding(case, "unavailable", why=why), 0.0)


def _seconds(start: float) -> float:
    return time.perf_counter() - start


def _theirs(backend: str, case: Case, record: dict[str, Any]) -> Finding:
    """A finding of Keras on another ``backend``, from its worker's descriptions."""
    inputs = Described(record["inputs"]) if record["inputs"] is not None else None
    return Finding(
        on_backend(case, backend),
        record["status"],
        cast(Any, inputs),  # the worker's description stands in for the inputs dict
        Described(record["expected"]),
        Described(record["got"]),
        record["why"],
        record["examples"],
    )


def _command(backend: str, examples: int, fd: int) -> list[str]:
    return [sys.executable, "-m", "maskref.worker", backend, str(examples), str(fd)]


class _Worker:
    """A worker process (:mod:`maskref.worker`) on ``backend``, its output sent to ``log``."""

    def __init__(self, backend: str, examples: int, log: Path):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        env.setdefault("JAX_PLATFORMS", "cpu")
        if backend != HERE:
            env["KERAS_BACKEND"] = backend
        self.log_path = log
        self.log = open(log, "wb")  # noqa: SIM115 - closed by __exit__
        read, write = os.pipe()
        try:
            self.process = subprocess.Popen(
                _command(backend, examples, write),
                stdin=subprocess.PIPE,
                stdout=self.log,
                stderr=subprocess.STDOUT,
                pass_fds=(write,),
                env=env,
            )
        finally:
            os.close(write)
        self.answers = read

    def ready(self) -> None:
        if receive(self.answers) != "ready":
            raise EOFError

    def ask(self, case_id: str) -> dict[str, Any]:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write((json.dumps(case_id) + "\n").encode())
            stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise EOFError from e
        answer: dict[str, Any] = receive(self.answers)
        return answer

    def tail(self) -> str:
        self.process.wait()
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-2000:]

    def __enter__(self) -> _Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            if self.process.stdin:
                self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.answers)
        self.log.close()


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
