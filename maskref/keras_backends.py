"""Keras's cases on each of its backends: one subprocess per ``KERAS_BACKEND``.

Keras 3 picks its backend (TensorFlow, PyTorch or JAX) once, at import, from
the ``KERAS_BACKEND`` environment variable. The report runs in one process
with one backend; :func:`run_on_backend` runs the Keras cases of the registry
again in a child process for each other backend and brings the findings back
as JSON. A finding of another backend is labelled with it (``keras/torch``),
and the report marks where Keras's own backends disagree with each other.

Run as ``python -m maskref.keras_backends BACKEND EXAMPLES OUT`` with the case
ids on standard input (one per line): it writes one JSON list of findings to
the file ``OUT`` (frameworks print to standard output at import).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, cast

from .conformance import Case, Finding, describe

#: Keras's backends and the module each one needs.
KERAS_BACKENDS = {"tensorflow": "tensorflow", "torch": "torch", "jax": "jax"}


class Described(str):
    """An outcome as the child process described it (shown as is)."""

    def __repr__(self) -> str:
        return str(self)


def installed_backends() -> list[str]:
    """The Keras backends whose framework is installed (Keras itself included)."""
    if importlib.util.find_spec("keras") is None:
        return []
    return [b for b, module in KERAS_BACKENDS.items() if importlib.util.find_spec(module)]


def current_backend() -> str | None:
    """The backend Keras uses in this process (without importing Keras)."""
    if importlib.util.find_spec("keras") is None:
        return None
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def is_keras_case(case: Case) -> bool:
    """A case of Keras's own behaviour, which every Keras backend should share. maskref's
    ``tf_impl`` Keras classes (``kind="backend"``) are TensorFlow code: they run on the
    TensorFlow backend alone."""
    return "keras" in case.requires and case.kind != "backend"


def on_backend(case: Case, backend: str) -> Case:
    """``case`` labelled with the Keras backend its finding comes from."""
    return dataclasses.replace(case, api=f"{case.api} (keras/{backend})")


def run_on_backend(backend: str, cases: list[Case], examples: int) -> list[Finding]:
    """Probe ``cases`` with Keras on ``backend`` in a child process."""
    if not cases:
        return []
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env.setdefault("JAX_PLATFORMS", "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "findings.json")
        done = subprocess.run(
            [sys.executable, "-m", __name__, backend, str(examples), out],
            input="\n".join(c.case_id for c in cases),
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        records = _records(Path(out), len(cases))
    by_id = {c.case_id: c for c in cases}
    if records is None:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return [
            Finding(on_backend(c, backend), "unavailable", why=f"keras/{backend}: {tail}")
            for c in cases
        ]
    findings = []
    for record in records:
        case = on_backend(by_id[record["id"]], backend)
        inputs = Described(record["input"]) if record["input"] is not None else None
        findings.append(
            Finding(
                case,
                record["status"],
                cast(Any, inputs),  # the child's description stands in for the inputs dict
                Described(record["reference"] or ""),
                Described(record["api_result"] or ""),
                record["why"],
                record["examples"],
            )
        )
    return findings


def _records(path: Path, expected: int) -> list[dict[str, Any]] | None:
    """The child's findings, when it wrote them all (a child that crashed while exiting,
    as TensorFlow and JAX loaded together sometimes do, still counts)."""
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return records if isinstance(records, list) and len(records) == expected else None


def _probe_here(backend: str, examples: int, ids: list[str]) -> list[dict[str, Any]]:
    import keras

    from .conformance import all_cases, probe

    if keras.backend.backend() != backend:
        raise RuntimeError(f"Keras runs on {keras.backend.backend()}, not {backend}")
    cases = {c.case_id: c for c in all_cases()}
    records = []
    for case_id in ids:
        f = probe(cases[case_id], examples)
        records.append(
            {
                "id": case_id,
                "status": f.status,
                "why": f.why,
                "examples": f.examples,
                "input": describe(f.inputs, 2000) if f.inputs is not None else None,
                "reference": describe(f.expected, 2000) if f.status == "diverges" else None,
                "api_result": describe(f.got, 2000) if f.status == "diverges" else None,
            }
        )
    return records


def main(argv: list[str] | None = None) -> int:
    backend, examples, out = (argv or sys.argv[1:])[:3]
    ids = [line.strip() for line in sys.stdin if line.strip()]
    records = _probe_here(backend, int(examples), ids)
    with open(out, "w") as f:
        json.dump(records, f)
    return 0


if __name__ == "__main__":  # pragma: no cover - the child process
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # skip the interpreter's teardown, where TF and JAX together may crash
