"""A worker process of the report: probes the cases it is sent, one at a time.

Run as ``python -m maskref.worker BACKEND EXAMPLES FD``, with ``KERAS_BACKEND``
set to ``BACKEND`` (Keras 3 picks its backend once, at import). It builds the
registry once, then reads case ids from standard input, one per line (JSON
strings), and answers each with one record on file descriptor ``FD``: an
8-byte little-endian length, then the pickled record. One case in flight at a
time lets the parent hand the next case to whichever worker is free, so the
workers finish together. The worker's standard output and error are the
parent's log: frameworks print there at import.

On the report's own backend a record carries the finding's inputs and
outcomes (described, where they cannot be pickled); on another Keras backend
it carries their descriptions, as that backend's findings are shown.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import sys
from typing import Any, BinaryIO

from .conformance import Finding, all_cases, describe, probe
from .keras_backends import Described, on_backend

HEADER = struct.Struct("<Q")


def record(f: Finding, *, other_backend: bool) -> dict[str, Any]:
    """What travels back to the parent for finding ``f``."""
    if other_backend:
        diverges = f.status == "diverges"
        return {
            "status": f.status,
            "why": f.why,
            "examples": f.examples,
            "inputs": describe(f.inputs, 2000) if f.inputs is not None else None,
            "expected": describe(f.expected, 2000) if diverges else "",
            "got": describe(f.got, 2000) if diverges else "",
        }
    found = {
        "status": f.status,
        "inputs": f.inputs,
        "expected": f.expected,
        "got": f.got,
        "why": f.why,
        "examples": f.examples,
    }
    try:
        pickle.dumps(found)
    except Exception:  # an outcome that cannot travel: its description does
        for key in ("inputs", "expected", "got"):
            if found[key] is not None:
                found[key] = Described(describe(found[key], 2000))
    return found


def keep_maps_in_bounds(limit: float = 0.5) -> None:
    """Clear JAX's compilation caches once this process's memory maps pass ``limit`` of
    the kernel's ``vm.max_map_count``. Every executable XLA compiles for the CPU maps
    pages of its own, and Keras on JAX compiles for every shape a case draws: measured,
    16,000 maps after 80 of its cases at 30 examples; at 65,530 (Linux's default) LLVM
    fails to allocate and the process crashes. Clearing after every case would cost
    about a third more time in recompiling, so it waits until it is needed."""
    jax = sys.modules.get("jax")
    if jax is None:
        return
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            most = int(f.read())
        with open("/proc/self/maps", "rb") as f:
            maps = sum(1 for _ in f)
    except (OSError, ValueError):  # not on Linux
        return
    if maps > limit * most:
        jax.clear_caches()


def send(out: BinaryIO, message: Any) -> None:
    data = pickle.dumps(message)
    out.write(HEADER.pack(len(data)) + data)
    out.flush()


def receive(fd: int) -> Any:
    """The next message on ``fd``; EOFError when the worker is gone."""
    (size,) = HEADER.unpack(_read_exactly(fd, HEADER.size))
    return pickle.loads(_read_exactly(fd, size))


def _read_exactly(fd: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def main(argv: list[str]) -> int:
    backend, examples, fd = argv[0], int(argv[1]), int(argv[2])
    other_backend = backend != "-"
    if other_backend:
        import keras

        if keras.backend.backend() != backend:
            raise RuntimeError(f"Keras runs on {keras.backend.backend()}, not {backend}")
    registry = {c.case_id: c for c in all_cases()}
    with os.fdopen(fd, "wb") as out:
        send(out, "ready")
        for line in sys.stdin:
            case = registry[json.loads(line)]
            f = probe(on_backend(case, backend) if other_backend else case, examples)
            keep_maps_in_bounds()
            send(out, record(f, other_backend=other_backend))
    return 0


if __name__ == "__main__":  # pragma: no cover - the child process
    status = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # skip the interpreter's teardown, where TF and JAX together may crash
