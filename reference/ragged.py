"""Ragged, packed and unpadded layouts in NumPy (rules and checks: the front ends,
:mod:`maskref.api.ragged`).

Lengths, splits and indices arrive as int64 arrays, already checked.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

import reference as _public  # the public functions (bound at package import)
from maskref.api.dtypes import cast_scalar
from maskref.api.ragged import PackedSequences

from .padding import padding_mask

__all__ = [
    "PackedSequences",
    "are_distinct",
    "first_valid",
    "is_inverse_permutation",
    "last_valid",
    "lengths_from_row_splits",
    "pack_sequences",
    "padded_from_ragged",
    "positions_from_mask",
    "ragged_from_padded",
    "repad",
    "reverse_sequences",
    "row_splits_from_lengths",
    "unpack_sequences",
    "unpad",
]


def _splits(counts: np.ndarray, dtype: type = np.int64) -> np.ndarray:
    """``[0, c0, c0 + c1, ...]`` in ``dtype``."""
    return np.concatenate([np.zeros(1, dtype), np.cumsum(counts, dtype=dtype)])


def row_splits_from_lengths(lengths: np.ndarray) -> np.ndarray:
    return _splits(lengths)


def lengths_from_row_splits(row_splits: np.ndarray) -> np.ndarray:
    return np.diff(row_splits)


def ragged_from_padded(x: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x[mask], _splits(mask.sum(axis=1))


def padded_from_ragged(
    values: np.ndarray,
    row_splits: np.ndarray,
    lengths: np.ndarray,
    maxlen: int | None,
    padding: str,
    truncating: str,
    value: object,
) -> tuple[np.ndarray, np.ndarray]:
    x = _public.pad_flat(values, lengths, maxlen, padding, truncating, value)
    width = x.shape[1]
    return x, padding_mask(np.minimum(lengths, width), width, padding)


def pack_sequences(x: np.ndarray, lengths: np.ndarray, enforce_sorted: bool) -> PackedSequences:
    if enforce_sorted:
        order = np.arange(lengths.size, dtype=np.int64)
    else:
        order = np.argsort(-lengths, kind="stable").astype(np.int64)
    sorted_lengths = lengths[order]
    steps = int(sorted_lengths[0]) if lengths.size else 0
    valid = np.arange(steps)[:, None] < sorted_lengths[None, :]  # (T', B) time-major
    data = np.swapaxes(x[order, :steps], 0, 1)[valid]
    return PackedSequences(
        data, valid.sum(axis=1, dtype=np.int64), order, np.argsort(order).astype(np.int64)
    )


def is_inverse_permutation(inverse: np.ndarray, order: np.ndarray) -> bool:
    """``inverse[order] == arange(B)`` (``order`` already in ``[0, B)``, both of ``B`` rows):
    then ``order`` is a permutation and ``inverse`` its inverse."""
    return bool(np.array_equal(inverse[order], np.arange(order.shape[0])))


def unpack_sequences(
    data: np.ndarray,
    batch_sizes: np.ndarray,
    order: np.ndarray,
    inverse: np.ndarray,
    width: int,
    padding_value: object,
) -> tuple[np.ndarray, np.ndarray]:
    rows = order.shape[0]
    sorted_lengths = (batch_sizes[None, :] > np.arange(rows)[:, None]).sum(axis=1)
    fill = cast_scalar(padding_value, data.dtype, "padding_value")
    out = np.full((width, rows) + data.shape[1:], fill, dtype=data.dtype)
    out[np.arange(width)[:, None] < sorted_lengths[None, :]] = data
    x = np.swapaxes(out, 0, 1)[inverse]
    return x, sorted_lengths[inverse].astype(np.int64)


def unpad(x: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    counts = mask.sum(axis=1, dtype=np.int64)
    indices = np.flatnonzero(mask).astype(np.int64)
    values = x.reshape((x.shape[0] * x.shape[1],) + x.shape[2:])[indices]
    cu = _splits(counts).astype(np.int32)  # the front end checks that the total fits
    return values, indices, cu, int(counts.max()) if counts.size else 0


def are_distinct(indices: np.ndarray, size: int) -> bool:
    """No index repeats (``indices`` already in ``[0, size)``)."""
    return bool(np.unique(indices).size == indices.size)


def repad(values: np.ndarray, indices: np.ndarray, batch: int, seqlen: int) -> np.ndarray:
    out = np.zeros((batch * seqlen,) + values.shape[1:], values.dtype)
    out[indices] = values
    return out.reshape((batch, seqlen) + values.shape[1:])


def _reversed_positions(lengths: np.ndarray, steps: int, padding: str) -> np.ndarray:
    """``(B, steps)``: the step each output step of ``reverse_sequences`` reads."""
    t = np.arange(steps)[None, :]
    n = lengths[:, None]
    if padding == "post":
        return np.where(t < n, n - 1 - t, t)
    start = steps - n
    return np.where(t >= start, start + steps - 1 - t, t)


def reverse_sequences(x: np.ndarray, lengths: np.ndarray, axis: int, padding: str) -> np.ndarray:
    steps = x.shape[axis]
    source = _reversed_positions(lengths, steps, padding)
    shape = [1] * x.ndim
    shape[0], shape[axis] = x.shape[0], steps
    return np.take_along_axis(x, source.reshape(shape), axis=axis)


def positions_from_mask(mask: np.ndarray, start: int, fill: int) -> np.ndarray:
    positions = np.cumsum(mask, axis=-1, dtype=np.int64) - 1 + np.int64(start)
    return np.where(mask, positions, np.int64(fill))


def _edge_valid(x: np.ndarray, mask: np.ndarray, empty: object, last: bool) -> np.ndarray:
    fill = cast_scalar(empty, x.dtype, "empty")
    steps = x.shape[1]
    if steps == 0:
        return np.full((x.shape[0],) + x.shape[2:], fill, dtype=x.dtype)
    has = mask.any(axis=1)
    index = steps - 1 - np.argmax(mask[:, ::-1], axis=1) if last else np.argmax(mask, axis=1)
    picked = np.take_along_axis(x, index.reshape((-1, 1) + (1,) * (x.ndim - 2)), axis=1)[:, 0]
    return np.where(has.reshape((-1,) + (1,) * (x.ndim - 2)), picked, cast(Any, fill)).astype(
        x.dtype
    )


def last_valid(x: np.ndarray, mask: np.ndarray, empty: object) -> np.ndarray:
    return _edge_valid(x, mask, empty, last=True)


def first_valid(x: np.ndarray, mask: np.ndarray, empty: object) -> np.ndarray:
    return _edge_valid(x, mask, empty, last=False)
