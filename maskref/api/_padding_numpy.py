"""Padding in NumPy, shared by the reference's kernels and by the backends that read plain
Python lists in NumPy before they become tensors (the rules are :mod:`maskref.api.padding`'s).

:func:`scatter` pads concatenated steps: one filled array, the kept steps placed by one
boolean mask. :func:`pad_lists` is the fast path for a batch of Python lists (or tuples):
read chunk by chunk (:func:`maskref.api._sequences.chunks`, about 64k steps each, one row
at a time for long rows), each chunk written straight into the output, with no
concatenated copy of the whole batch; a chunk that the fast read refuses (a float among
integers, an integer beyond int64, a string) is re-read alone by the rule's reader, so one
odd value costs one chunk, not the batch. Values and errors are the rule's (the same
reading functions). Both take ``allocate`` for the output: ``np.full``, or
:func:`aligned_full` for a batch handed to JAX, which then adopts it without a copy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._sequences import chunks, read_chunk
from .dtypes import cast_scalar
from .padding import check_padded_size

#: ``allocate(shape, fill, dtype)``: makes the filled output.
Allocate = Callable[[Any, Any, Any], np.ndarray]

#: XLA's CPU client adopts a NumPy buffer without a copy when it is this aligned.
ALIGN = 64


def aligned_full(shape: tuple[int, ...], fill: object, dtype: np.dtype) -> np.ndarray:
    """``np.full``, its buffer aligned to :data:`ALIGN` bytes, so that a backend that hands
    the padded batch to JAX (``jax.device_put``) shares it instead of copying it."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if dtype.hasobject or nbytes == 0:
        return np.full(shape, fill, dtype=dtype)
    buffer = np.empty(nbytes + ALIGN, np.uint8)
    start = -buffer.ctypes.data % ALIGN
    out = buffer[start : start + nbytes].view(dtype).reshape(shape)
    out[...] = fill
    return out


def padding_mask(kept: np.ndarray, maxlen: int, padding: str) -> np.ndarray:
    """Boolean ``(B, maxlen)``: where the ``kept[i]`` steps of row ``i`` land.

    ``padding="post"`` puts them first, ``"pre"`` last. ``kept`` must already
    be clipped to ``[0, maxlen]``.

    >>> padding_mask(np.array([2, 0]), 3, "pre")
    array([[False,  True,  True],
           [False, False, False]])
    """
    steps = np.arange(maxlen)
    if padding == "post":
        return steps < kept[:, None]
    return steps >= (maxlen - kept)[:, None]


def truncation_keep(lengths: np.ndarray, maxlen: int, truncating: str) -> np.ndarray | None:
    """Boolean over the concatenated steps: which survive truncation (None = all)."""
    if lengths.size == 0 or lengths.max() <= maxlen:
        return None
    starts = np.cumsum(lengths) - lengths
    pos = np.arange(int(lengths.sum())) - np.repeat(starts, lengths)
    if truncating == "post":
        return pos < maxlen
    return pos >= np.repeat(lengths - maxlen, lengths)


def scatter(
    values: np.ndarray,
    lengths: np.ndarray,
    maxlen: int,
    padding: str,
    truncating: str,
    fill: object,
    dtype: np.dtype,
    allocate: Allocate = np.full,
) -> np.ndarray:
    """The padded batch: ``fill`` everywhere, then the kept steps where they land."""
    out = allocate((lengths.size, maxlen) + values.shape[1:], fill, dtype)
    keep = truncation_keep(lengths, maxlen, truncating)
    if keep is not None:
        values = values[keep]
    out[padding_mask(np.minimum(lengths, maxlen), maxlen, padding)] = values
    return out


def _place(
    out: np.ndarray,
    part: np.ndarray,
    lengths: np.ndarray,
    width: int,
    padding: str,
    truncating: str,
) -> None:
    """Write the steps ``part`` of the rows ``out`` (their lengths ``lengths``) where they
    land: one slice for one row, one masked scatter for several."""
    if len(lengths) == 1:
        n = int(lengths[0])
        k = min(n, width)
        if k:
            src = part[n - k :] if truncating == "pre" else part[:k]
            if padding == "pre":
                out[0, width - k :] = src
            else:
                out[0, :k] = src
        return
    keep = truncation_keep(lengths, width, truncating)
    if keep is not None:
        part = part[keep]
    out[padding_mask(np.minimum(lengths, width), width, padding)] = part


def pad_lists(
    sequences: object,
    maxlen: int | None,
    dtype: np.dtype,
    padding: str,
    truncating: str,
    value: object,
    allocate: Allocate = np.full,
) -> np.ndarray | None:
    """The padded batch, or None where the gate says no (not a list of lists, or steps of
    different shapes, which the rule's reading names)."""
    if not isinstance(sequences, (list, tuple)) or not sequences:
        return None
    if not set(map(type, sequences)) <= {list, tuple}:
        return None
    rows = sequences if isinstance(sequences, list) else list(sequences)
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    width = maxlen if maxlen is not None else int(lengths.max())
    fill = cast_scalar(value, dtype, "value")
    out = None
    inner: tuple[int, ...] = ()
    for first, stop, steps in chunks(rows, lengths):
        part = read_chunk(rows, lengths, first, steps, dtype)
        if part is None:
            return None
        if not part.shape[0]:
            continue  # rows with no steps: all fill
        if out is None:
            inner = part.shape[1:]
            check_padded_size(len(rows), width, inner, dtype.str, maxlen, "max(len(sequences))")
            out = allocate((len(rows), width, *inner), fill, dtype)
        elif part.shape[1:] != inner:
            return None
        _place(out[first:stop], part, lengths[first:stop], width, padding, truncating)
    if out is None:
        check_padded_size(len(rows), width, (), dtype.str, maxlen, "max(len(sequences))")
        out = allocate((len(rows), width), fill, dtype)
    return out
