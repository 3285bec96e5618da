"""Conversions for the reference: inputs to NumPy arrays, shapes and dtype names.

The same small set of helpers exists in every backend (``tf_impl._convert``,
``torch_impl._convert``) so that a front end in :mod:`maskref.api` can read
any backend's arrays the same way: ``B.a.asarray``, ``B.a.shape_of``,
``B.a.dtype_name``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from maskref.api.checks import INT64_MAX, check_data
from maskref.api.checks import check_maxlen as check_maxlen  # the adapter's, as is
from maskref.api.dtypes import dtype_label


def asarray(x: object, name: str, like: object = None) -> np.ndarray:
    """``x`` as a NumPy array (nothing is copied); ``None`` is a ``TypeError`` naming ``name``.

    ``like`` (the array whose device the result must share) has no meaning here.
    """
    check_data(x, name)
    return np.asarray(x)


def shape_of(x: object) -> tuple[int, ...]:
    """The shape of an array, or of what ``np.asarray`` would make of ``x``."""
    value: Any = x  # any array-like
    return tuple(np.shape(value))


def dtype_name(x: np.ndarray) -> str:
    """The dtype's name as :mod:`maskref.api.checks` reads it (``"int64"``, ``"bool"``,
    ``"str"``: :func:`maskref.api.dtypes.dtype_label`)."""
    return dtype_label(x.dtype)


def all(x: np.ndarray) -> bool:
    """True when every element is true (a Python bool)."""
    return bool(np.all(x))


def in_int64(t: np.ndarray) -> np.ndarray:
    """Per element: an integer from 0 to ``2**63 - 1`` (what int64 holds)."""
    if t.dtype.kind == "u":
        return t <= INT64_MAX if t.dtype.itemsize == 8 else np.ones(t.shape, bool)
    return t >= 0


def numpy(t: np.ndarray) -> np.ndarray:
    """The values as a NumPy array (for error messages)."""
    return np.asarray(t)


def is_tensor(x: object) -> bool:
    """True for the backend's own array type (NumPy arrays are plain data here)."""
    return False


def is_symbolic(x: object) -> bool:
    """True for a value that cannot be read while tracing (never, in NumPy)."""
    return False


def longest(lengths: np.ndarray) -> int:
    """``max(lengths)``, 0 for no lengths, as a Python int (lengths already checked)."""
    return int(lengths.max()) if lengths.size else 0


def int64(t: np.ndarray) -> np.ndarray:
    """An integer array as int64 (its values already checked to fit; no copy when it is)."""
    return np.asarray(t).astype(np.int64, copy=False)


def dim(x: np.ndarray, axis: int) -> int:
    """The size of ``axis`` (a Python int)."""
    return int(np.shape(x)[axis])


def to_int64(x: np.ndarray) -> np.ndarray:
    """Integers already checked to fit in int64, as int64 (no copy when they are int64)."""
    return x.astype(np.int64, copy=False)


def total(x: np.ndarray) -> np.int64:
    """The int64 sum of ``x`` (callers check first that it cannot wrap around)."""
    return x.sum(dtype=np.int64)


def device(value: object) -> None:
    """Where results are made: the reference computes on the CPU, so ``device`` must be None or
    ``"cpu"`` (returned as None); anything else is a ``ValueError`` naming it."""
    if value is None or (isinstance(value, str) and value == "cpu"):
        return None
    raise ValueError(f"device={value!r}: the reference runs on 'cpu' only")


def dense_rows(x: object) -> None:
    """``x`` padded with 0 when it is the backend's own ragged type; None otherwise (NumPy has
    no ragged type: always None)."""
    return None


def cast(x: np.ndarray, dtype: str) -> np.ndarray:
    """``x`` as ``dtype`` (a name); callers cast only values the dtype holds."""
    return x.astype(dtype)
