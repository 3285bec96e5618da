"""Keras's cases on each of its backends: worker processes per ``KERAS_BACKEND``.

Keras 3 picks its backend (TensorFlow, PyTorch or JAX) once, at import, from
the ``KERAS_BACKEND`` environment variable. The report runs in one process
with one backend; the Keras cases of the registry (:func:`cases_for`) run
again in worker processes for each other backend (:mod:`maskref.runner`). A
finding of another backend is labelled with it (``keras/torch``), and the
report marks where Keras's own backends disagree with each other.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Iterable

from .conformance import Case

#: Keras's backends and the module each one needs.
KERAS_BACKENDS = {"tensorflow": "tensorflow", "torch": "torch", "jax": "jax"}


class Described(str):
    """An outcome as a worker process described it (shown as is)."""

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


def on_backend(case: Case, backend: str, *, label: bool = True) -> Case:
    """``case`` as Keras on ``backend`` should find it: labelled with the backend (unless
    ``label`` is False) and recording what Keras does there where that differs from
    TensorFlow (``Case.keras_elsewhere``). A divergence that does not show on ``backend``
    keeps its name in the case id."""
    there = (case.keras_elsewhere or {}).get(backend)
    if label:
        case = dataclasses.replace(case, api=f"{case.api} (keras/{backend})")
    if there is None:
        return case
    return dataclasses.replace(
        case,
        expect=there.expect,
        explanation=there.explanation,
        example=there.example if there.expect else None,
        domain=case.expect if there.expect is None and case.expect else case.domain,
    )


def cases_for(backend: str, cases: Iterable[Case]) -> list[Case]:
    """The Keras cases among ``cases`` that run on ``backend`` (``Case.keras_backends``)."""
    return [
        c
        for c in cases
        if is_keras_case(c) and (c.keras_backends is None or backend in c.keras_backends)
    ]
