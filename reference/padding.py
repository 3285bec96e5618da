"""Padding kernels in NumPy (the rules and checks are the front ends', :mod:`maskref.api.padding`).

Plain data is read by :func:`maskref.api._sequences.read_sequences`; strings
and objects (which only this backend pads) by :func:`_read_strings`. The
padded batch is one ``np.full`` with the kept steps scattered into it; lists of
Python lists take the fused path (:mod:`maskref.api._padding_numpy`, shared with the
backends that read lists in NumPy).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import numpy as np

from maskref.api._padding_numpy import pad_lists, padding_mask, scatter
from maskref.api._sequences import read_sequences, rows_of
from maskref.api.dtypes import bfloat16, cast_array, cast_scalar
from maskref.api.padding import check_padded_size

#: This backend pads strings and objects too (read by the front end).
HOLDS_STRINGS = True


def pad_flat(
    values: np.ndarray,
    lengths: np.ndarray,
    maxlen: int | None,
    padding: str,
    truncating: str,
    value: object,
) -> np.ndarray:
    lengths = lengths.astype(np.int64, copy=False)
    if maxlen is None:
        maxlen = int(lengths.max()) if lengths.size else 0
    fill = cast_scalar(value, values.dtype, "value")
    return scatter(values, lengths, maxlen, padding, truncating, fill, values.dtype)


def _numpy_dtype(name: str) -> np.dtype:
    return bfloat16() if name == "bfloat16" else np.dtype(name)


def _read_strings(sequences: Iterable, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """String and object dtypes: one array per row (inner shapes checked), concatenated."""
    rows = rows_of(sequences)
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    as_type = object if dtype.kind == "O" else None
    arrays = []
    inner: tuple | None = None
    for i, s in enumerate(rows):
        try:
            a = np.asarray(s, dtype=as_type)
        except ValueError as err:
            raise ValueError(f"sequences[{i}] has ragged inner dimensions: {err}") from None
        if len(a) == 0 and a.ndim == 1:
            arrays.append(a)
            continue  # an empty list fits any inner shape
        if inner is None:
            inner = a.shape[1:]
        elif a.shape[1:] != inner:
            raise ValueError(
                f"sequences[{i}] has steps of shape {a.shape[1:]}, but earlier sequences "
                f"have steps of shape {inner}"
            )
        arrays.append(a)
    inner = inner or ()
    arrays = [a.reshape((0,) + inner) if len(a) == 0 else a for a in arrays]
    if not arrays:
        return np.zeros((0,), dtype=dtype if dtype.kind not in "US" else dtype.kind), lengths
    kinds = {a.dtype.kind for a in arrays if a.size}
    if dtype.kind in "US" and kinds <= {"U", "S"} and len(kinds) <= 1:
        empty_kind = kinds.pop() if kinds else dtype.kind
        arrays = [a.astype(empty_kind) if a.size == 0 else a for a in arrays]
    return cast_array(np.concatenate(arrays), dtype, "sequences"), lengths


def pad_sequences(
    sequences: object, maxlen: int | None, dtype: str, padding: str, truncating: str, value: object
) -> np.ndarray:
    """Strings pad with ``dtype=str`` (sized to fit the data and ``value``), a fixed-width
    string dtype (a string it would cut is a ``ValueError``) or ``dtype=object`` (any
    Python object, unchanged). ``dtype="bfloat16"`` uses the ``ml_dtypes`` package.

    >>> pad_sequences([["a", "bb"], ["ccc"]], dtype=str, value="<pad>")
    array([['a', 'bb'],
           ['<pad>', 'ccc']], dtype='<U5')
    """
    target = _numpy_dtype(dtype)
    if target.kind in "OUS":
        values, lengths = _read_strings(cast(Any, sequences), target)
        if target.kind in "US" and target.itemsize == 0:
            fill = cast_scalar(value, np.dtype(target.kind), "value")
            target = np.result_type(values.dtype, np.asarray(fill).dtype)
            values = values.astype(target)
    else:
        fast = pad_lists(sequences, maxlen, target, padding, truncating, value)
        if fast is not None:
            return fast
        values, lengths = read_sequences(cast(Any, sequences), target)
    fill = cast_scalar(value, target, "value")
    width = maxlen if maxlen is not None else (int(lengths.max()) if lengths.size else 0)
    check_padded_size(
        lengths.size, width, values.shape[1:], target.str, maxlen, "max(len(sequences))"
    )
    return scatter(values, lengths, width, padding, truncating, fill, target)


def unpad_sequences(padded: np.ndarray, lengths: np.ndarray, padding: str) -> list[np.ndarray]:
    if not lengths.size:
        return []
    valid = padded[padding_mask(lengths, padded.shape[1], padding)]
    return np.split(valid, np.cumsum(lengths)[:-1])
