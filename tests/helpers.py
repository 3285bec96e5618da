"""Assertion helpers shared by every test module (one place, built on the conformance core).

* :func:`assert_same`: a backend result equals an expected NumPy result: same
  structure, shape, dtype, NaN pattern; exact for integers, bools and strings,
  within a tolerance per dtype for floats (``FLOAT_TOLERANCES``, the registry's).
* :func:`agree`: a backend's public function gives the reference's result, or
  raises the reference's error class *and message*.
* :func:`plant`: NaN/inf written at the masked positions of an array (what a
  masked value must never change).
* :func:`native`: NumPy data as a backend's tensor.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

from maskref.conformance.core import Case, differences, to_numpy
from maskref.conformance.operations import FLOAT_TOLERANCES, to_native

__all__ = ["agree", "assert_same", "native", "plant", "to_numpy"]

_EXACT = Case("", "", None, None, None, check_dtype=True)  # type: ignore[arg-type]


def _case(rtol: float | None, atol: float | None, check_dtype: bool) -> Case:
    if rtol is None and atol is None:
        tolerances = FLOAT_TOLERANCES
        return Case("", "", None, None, None, tolerances=tolerances, check_dtype=check_dtype)  # type: ignore[arg-type]
    return Case(
        "",
        "",
        None,
        None,
        None,
        rtol=rtol or 0.0,
        atol=atol or 0.0,  # type: ignore[arg-type]
        check_dtype=check_dtype,
    )


def assert_same(
    got: Any,
    expected: Any,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    check_dtype: bool = True,
) -> None:
    """``got`` (tensors, arrays, lists/tuples/NamedTuples of them, ints) equals ``expected``.

    Floats within ``rtol``/``atol`` when given, else within the registry's tolerance for
    the expected dtype; integers, bools and strings exactly.
    """
    if isinstance(expected, int) and not isinstance(expected, bool):
        assert type(got) is int and got == expected, (got, expected)
        return
    if isinstance(expected, tuple) and hasattr(expected, "_fields"):
        assert type(got).__name__ == type(expected).__name__, (type(got), type(expected))
    why = differences(_case(rtol, atol, check_dtype), to_numpy(expected), to_numpy(got))
    assert why is None, f"{why}\n got: {to_numpy(got)!r}\n expected: {to_numpy(expected)!r}"


def agree(
    backend: str | Any,
    name: str,
    *args: Any,
    rtol: float | None = None,
    atol: float | None = None,
    **kwargs: Any,
) -> Any:
    """``backend.name(*args, **kwargs)`` equals ``reference.name(*args, **kwargs)``, or both
    raise the same class with the same message. Returns the reference's result."""
    module = importlib.import_module(backend) if isinstance(backend, str) else backend
    reference = importlib.import_module("reference")
    try:
        expected = getattr(reference, name)(*args, **kwargs)
    except (ValueError, TypeError) as err:
        with pytest.raises(type(err)) as info:
            getattr(module, name)(*args, **kwargs)
        assert str(info.value) == str(err), (str(info.value), str(err))
        return None
    assert_same(getattr(module, name)(*args, **kwargs), expected, rtol=rtol, atol=atol)
    return expected


def plant(
    x: np.ndarray, mask: np.ndarray, values: tuple[float, ...] = (np.nan, np.inf, -np.inf)
) -> np.ndarray:
    """A copy of float ``x`` with ``values`` written, in turn, at the masked positions
    (``mask`` is a leading-prefix mask of ``x``)."""
    x = np.array(x, copy=True)
    keep = np.broadcast_to(mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim)), x.shape)
    masked = np.flatnonzero(~keep)
    if masked.size:
        x.flat[masked] = np.resize(np.asarray(values, x.dtype), masked.size)
    return x


def native(backend: str, array: Any) -> Any:
    """NumPy data (or a list) as ``backend``'s tensor (the reference keeps NumPy)."""
    array = np.asarray(array)
    return array if backend == "reference" else to_native(backend, array)


def die_at_start(log: str) -> None:
    """A worker initializer that dies, as a worker killed for memory does."""
    import os

    os._exit(1)
