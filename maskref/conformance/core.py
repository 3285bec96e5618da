"""Conformance cases: what an API is compared with, on which inputs, and what was found.

A :class:`Case` pairs one API (a maskref backend or a framework's own
function) with the reference rule it is measured against, over a hypothesis
strategy of inputs. :func:`probe` searches for a divergence and shrinks it to
the smallest input hypothesis can find. The tests and ``maskref report`` run
the same registry, so a case added here is both tested and reported.
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky, HypothesisWarning

Inputs = dict[str, Any]


@dataclass(frozen=True)
class Raised:
    """An outcome that is an exception: only its class and message are kept."""

    error: type[BaseException]
    message: str

    def __repr__(self) -> str:
        first = (self.message.splitlines() or [""])[0]
        return f"raises {self.error.__name__}: {first[:160]}"


@dataclass(frozen=True)
class OnBackend:
    """What a Keras case records on one of Keras's other backends where Keras does not do
    there what it does on TensorFlow: a divergence's name (None: it agrees there), why, and
    the divergence's smallest input."""

    expect: str | None
    explanation: str
    example: Inputs | None = None


@dataclass(frozen=True)
class Case:
    """One API measured against one reference rule.

    ``expect`` is None when the API is asserted to agree with the reference on
    every input ``inputs`` draws; otherwise it names the divergence that the
    case records (and the tests assert that it is still there).
    ``same_error_class``: when both sides raise, the exception classes must
    match too (required of maskref's own backends; a framework's own API is
    allowed its own error classes). Floats are compared within ``rtol`` and
    ``atol``, or within ``tolerances[dtype name]`` when the table names the
    expected result's dtype.
    """

    operation: str
    api: str
    inputs: Callable[[], st.SearchStrategy[Inputs]]
    reference: Callable[[Inputs], Any]
    candidate: Callable[[Inputs], Any]
    requires: tuple[str, ...] = ()
    expect: str | None = None
    explanation: str = ""
    domain: str = ""
    kind: str = "native"  # "backend" for maskref's own tf_impl/torch_impl
    same_error_class: bool = False
    rtol: float = 0.0
    atol: float = 0.0
    tolerances: dict[str, tuple[float, float]] | None = None
    check_dtype: bool = True
    example: Inputs | None = field(default=None, compare=False)
    #: For a case of Keras's behaviour: the Keras backends it runs on (None: every one;
    #: ``("tensorflow",)`` for a case whose own code needs TensorFlow).
    keras_backends: tuple[str, ...] | None = None
    #: For a case of Keras's behaviour: the Keras backends where Keras does not do what the
    #: case records on TensorFlow, and what it records there instead
    #: (:func:`maskref.keras_backends.on_backend`).
    keras_elsewhere: dict[str, OnBackend] | None = None

    @property
    def case_id(self) -> str:
        tail = f"[{self.expect}]" if self.expect else f"[{self.domain}]" if self.domain else ""
        return f"{self.operation}:{self.api}{tail}"

    def missing(self) -> list[str]:
        """The modules this case needs that are not installed."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]


def case_family(**shared: Any) -> Callable[..., Case]:
    """A maker of the cases of one API: ``shared`` holds the fields they have in common.

    The maker takes a recorded divergence in the order it is written down,
    ``(expect, inputs, example, explanation)``, and any other field by name;
    called with no ``expect`` it makes the agreement case.
    """

    def make(expect=None, inputs=None, example=None, explanation="", **fields: Any) -> Case:
        merged = {**shared, **fields}
        if inputs is not None:
            merged["inputs"] = inputs
        return Case(**merged, expect=expect, example=example, explanation=explanation)

    return make


def outcome(fn: Callable[[Inputs], Any], inputs: Inputs) -> Any:
    """Run ``fn``; return its result as NumPy data, or a :class:`Raised`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return to_numpy(fn(inputs))
        except Exception as err:  # every failure is an outcome to compare
            return Raised(type(err), str(err))


def to_numpy(value: Any) -> Any:
    """Framework tensors (and lists/tuples of them) as NumPy arrays."""
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple
        return type(value)(*(to_numpy(v) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(to_numpy(v) for v in value)
    if value is None or isinstance(value, (np.ndarray, int, float, bool)):
        return value
    if hasattr(value, "detach"):  # torch
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            value = value.float()
        return value.numpy()
    if hasattr(value, "numpy"):  # tensorflow, jax
        return value.numpy()
    return np.asarray(value)


def differences(case: Case, expected: Any, got: Any) -> str | None:
    """Why ``got`` differs from ``expected`` (None when they agree).

    Equal means: both raise (of the same class where the case asks for it),
    or the same structure, shapes, dtypes (unless the case ignores dtypes),
    NaN pattern and values (exact for integers, bools and strings; within the
    case's ``rtol``/``atol`` for floats).
    """
    if isinstance(expected, Raised) or isinstance(got, Raised):
        if isinstance(expected, Raised) and isinstance(got, Raised):
            if case.same_error_class and expected.error is not got.error:
                return f"error class {got.error.__name__} != {expected.error.__name__}"
            return None
        return "one raises, the other returns"
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(expected):
            return "different number of parts"
        for e, g in zip(expected, got):
            why = differences(case, e, g)
            if why:
                return why
        return None
    expected, got = np.asarray(expected), np.asarray(got)
    if expected.shape != got.shape:
        return f"shape {got.shape} != {expected.shape}"
    if case.check_dtype and expected.dtype != got.dtype:
        return f"dtype {got.dtype} != {expected.dtype}"
    if expected.dtype.kind in "OUS" or got.dtype.kind in "OUS":
        return None if expected.tolist() == got.tolist() else "values differ"
    if expected.dtype.kind in "biu" and got.dtype.kind in "biu":
        return None if np.array_equal(expected, got) else "values differ"
    e, g = expected.astype(np.float64), got.astype(np.float64)
    if not np.array_equal(np.isnan(e), np.isnan(g)):
        return "NaN pattern differs"
    rtol, atol = (case.tolerances or {}).get(expected.dtype.name, (case.rtol, case.atol))
    with np.errstate(invalid="ignore"):
        ok = np.isclose(e, g, rtol=rtol, atol=atol, equal_nan=True) | (e == g)
    return None if ok.all() else "values differ"


@dataclass
class Finding:
    """What :func:`probe` found for one case."""

    case: Case
    status: str  # "agrees" | "diverges" | "unavailable"
    inputs: Inputs | None = None
    expected: Any = None
    got: Any = None
    why: str = ""
    examples: int = 0

    @property
    def as_expected(self) -> bool:
        """True when the finding is what the registry records for the case."""
        if self.status == "unavailable":
            return True
        return (self.status == "agrees") == (self.case.expect is None)


class _Diverged(Exception):
    def __init__(self, found: Finding):
        super().__init__(found.why)
        self.found = found


def check_inputs(case: Case, inputs: Inputs) -> Finding | None:
    """Compare the case on one input; a Finding if it diverges there."""
    expected = outcome(case.reference, inputs)
    got = outcome(case.candidate, inputs)
    why = differences(case, expected, got)
    if why is None:
        return None
    return Finding(case, "diverges", inputs, expected, got, why)


def probe(case: Case, examples: int = 100, *, derandomize: bool = True) -> Finding:
    """Search ``examples`` drawn inputs for a divergence, shrunk to the smallest.

    The case's pinned ``example`` (if any) is checked first: a recorded
    divergence is then shown by its known smallest input even when the
    search is short.
    """
    missing = case.missing()
    if missing:
        return Finding(case, "unavailable", why="needs " + ", ".join(missing))
    if case.example is not None:
        found = check_inputs(case, case.example)
        if found is not None:
            found.examples = 1
            return found

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=derandomize,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        print_blob=False,
    )
    @given(case.inputs())
    def search(inputs: Inputs) -> None:
        found = check_inputs(case, inputs)
        if found is not None:
            raise _Diverged(found)

    try:
        with warnings.catch_warnings():
            # hypothesis notes that an API under test raised the recursion limit: not a finding
            warnings.filterwarnings("ignore", "The recursion limit", HypothesisWarning)
            search()
    except _Diverged as d:
        d.found.examples = examples
        return d.found
    except Flaky as err:  # pragma: no cover - a nondeterministic API
        return Finding(case, "diverges", why=f"flaky: {err}", examples=examples)
    return Finding(case, "agrees", examples=examples)


def describe(value: Any, limit: int = 300) -> str:
    """A compact, readable rendering of inputs and outcomes."""
    if isinstance(value, Raised):
        text = repr(value)
    elif isinstance(value, dict):
        text = ", ".join(f"{k}={describe(v, limit)}" for k, v in value.items())
    elif isinstance(value, np.ndarray) and value.size == 0 and value.ndim > 1:
        text = f"empty {value.dtype} array of shape {value.shape}"
    elif isinstance(value, np.ndarray):
        body = value.tolist()
        text = f"{body}" if value.dtype in (np.int64, np.bool_) else f"array({body}, {value.dtype})"
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(describe(v, limit) for v in value) + "]"
    elif isinstance(value, float) and math.isnan(value):
        text = "nan"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
