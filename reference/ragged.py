"""Every layout a batch of sequences takes, and exact conversions between them.

* **padded + mask**: ``x (B, T, ...)`` with a boolean ``(B, T)`` mask (Keras).
  The mask may have holes; a conversion that compacts keeps the valid steps
  of each row in order.
* **ragged**: ``values (N, ...)`` with int64 ``row_splits (B + 1,)``
  (``tf.RaggedTensor``): row ``b`` is ``values[row_splits[b]:row_splits[b + 1]]``.
* **packed**: :class:`PackedSequences`, PyTorch's ``PackedSequence`` layout:
  time-major ``data``, ``batch_sizes`` per step, rows sorted by decreasing
  length.
* **unpadded** (varlen attention): ``values (N, ...)``, the flat indices of
  the valid steps in ``(B * T)``, int32 ``cu_seqlens (B + 1,)`` and
  ``max_seqlen``.

Lengths and row splits are integers (``TypeError`` otherwise) and never
negative (``ValueError``).
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from maskref.api.checks import (
    PADDING_SIDES,
    check_choice,
    check_integer_dtype,
    check_mask_dtype,
    check_mask_shape,
    check_maxlen,
    check_min_rank,
    check_rank,
    lengths_exceed_error,
    negative_lengths_error,
    normalize_single_axis,
)
from maskref.api.dtypes import cast_scalar

from .padding import pad_flat, padding_mask

__all__ = [
    "PackedSequences",
    "first_valid",
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


class PackedSequences(NamedTuple):
    """A batch packed as PyTorch's ``PackedSequence`` lays it out.

    ``data``: ``(sum(lengths), ...)``, time-major (step 0 of every row, then
    step 1 of the rows that have one, ...), rows in ``sorted_indices`` order.
    ``batch_sizes``: int64 ``(max(lengths),)``, how many rows have step ``t``.
    ``sorted_indices``: int64 ``(B,)``, the original row at each sorted
    position (by decreasing length, ties in their original order).
    ``unsorted_indices``: its inverse permutation.
    """

    data: np.ndarray
    batch_sizes: np.ndarray
    sorted_indices: np.ndarray
    unsorted_indices: np.ndarray


def check_lengths(lengths: object, name: str = "lengths") -> np.ndarray:
    """``lengths`` as a 1-D int64 array of non-negative integers."""
    arr = np.asarray(lengths)
    if arr.size == 0 and arr.dtype.kind == "f":  # [] from a list
        arr = arr.astype(np.int64)
    check_integer_dtype(arr.dtype.name, name)
    check_rank(arr.shape, 1, name)
    if arr.size and arr.min() < 0:
        raise negative_lengths_error(name)
    return arr.astype(np.int64)


def _mask_2d(x: np.ndarray, mask: object) -> np.ndarray:
    m = np.asarray(mask)
    check_mask_dtype(str(m.dtype))
    check_rank(m.shape, 2, "mask")
    check_mask_shape(m.shape, x.shape)
    return m


def row_splits_from_lengths(lengths: object) -> np.ndarray:
    """int64 ``(B + 1,)``: ``[0, l0, l0 + l1, ...]``.

    >>> row_splits_from_lengths([2, 0, 3])
    array([0, 2, 2, 5])
    """
    lengths = check_lengths(lengths)
    return np.concatenate([np.zeros(1, np.int64), np.cumsum(lengths, dtype=np.int64)])


def check_row_splits_values(first: int, steps_ok: bool, name: str = "row_splits") -> None:
    if first != 0:
        raise ValueError(f"{name} must start at 0, got {first}")
    if not steps_ok:
        raise ValueError(f"{name} must be non-decreasing (a row length below 0 has no meaning)")


def lengths_from_row_splits(row_splits: object) -> np.ndarray:
    """int64 ``(B,)``: ``row_splits[1:] - row_splits[:-1]``.

    ``row_splits`` must be 1-D integers, at least one element, starting at 0,
    non-decreasing (``ValueError`` otherwise).

    >>> lengths_from_row_splits([0, 2, 2, 5])
    array([2, 0, 3])
    """
    splits = np.asarray(row_splits)
    check_integer_dtype(splits.dtype.name, "row_splits")
    check_rank(splits.shape, 1, "row_splits")
    if splits.size == 0:
        raise ValueError("row_splits must have at least one element (B + 1 for B rows)")
    lengths = np.diff(splits.astype(np.int64))
    check_row_splits_values(int(splits[0]), bool((lengths >= 0).all()))
    return lengths


def ragged_from_padded(x: object, mask: object) -> tuple[np.ndarray, np.ndarray]:
    """``(values, row_splits)``: the valid steps of each row, in order, concatenated.

    Rule: ``values = x[mask]`` (row-major: row 0's valid steps, then row 1's;
    a mask with holes is compacted), ``row_splits = row_splits_from_lengths(
    mask.sum(1))``. ``mask`` is ``(B, T)`` for ``x (B, T, ...)``.

    >>> ragged_from_padded(np.array([[1, 2, 0], [0, 3, 4]]), [[True, True, False],
    ...                                                      [False, True, True]])
    (array([1, 2, 3, 4]), array([0, 2, 4]))
    """
    x = np.asarray(x)
    check_min_rank(x.shape, 2, "x")
    m = _mask_2d(x, mask)
    return x[m], row_splits_from_lengths(m.sum(axis=1))


def padded_from_ragged(
    values: object,
    row_splits: object,
    *,
    maxlen: int | None = None,
    padding: str = "post",
    truncating: str = "pre",
    value: object = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(x, mask)``: the rows of a ragged batch padded to ``maxlen``, and where they landed.

    Rule: as :func:`reference.pad_sequences` on the rows (``maxlen`` defaults
    to the longest row; ``truncating="pre"``, the default as in Keras, keeps
    the last steps, while ``RaggedTensor.to_tensor`` and
    ``to_padded_tensor`` keep the first: pass ``truncating="post"`` for
    theirs; ``value`` cast losslessly to ``values``'s dtype), except that
    ``padding`` defaults to ``"post"``. ``mask[b, t]`` is True where a step of row ``b``
    landed.

    >>> x, mask = padded_from_ragged(np.array([1, 2, 3]), np.array([0, 2, 3]))
    >>> x, mask.astype(int)
    (array([[1, 2],
           [3, 0]]), array([[1, 1],
           [1, 0]]))
    """
    lengths = lengths_from_row_splits(row_splits)
    values = np.asarray(values)
    check_min_rank(values.shape, 1, "values")
    if int(np.asarray(row_splits)[-1]) != values.shape[0]:
        raise ValueError(
            f"row_splits end at {int(np.asarray(row_splits)[-1])} but values has "
            f"{values.shape[0]} steps"
        )
    x = pad_flat(values, lengths, maxlen, padding, truncating, value)
    return x, padding_mask(np.minimum(lengths, x.shape[1]), x.shape[1], padding)


def pack_sequences(x: object, lengths: object, *, enforce_sorted: bool = False) -> PackedSequences:
    """The padded batch ``x (B, T, ...)`` packed time-major as PyTorch's ``PackedSequence``.

    Rule: rows sorted by decreasing length, ties in their original order (a
    stable sort; PyTorch's sort is not stable from 17 rows on, so its order of
    tied rows may differ); ``data`` holds
    step 0 of every sorted row that has one, then step 1, ...;
    ``batch_sizes[t]`` counts the rows longer than ``t``. With
    ``enforce_sorted=True`` the lengths must already be non-increasing
    (``ValueError`` otherwise) and the indices are the identity (PyTorch
    gives None there). Zero-length rows are allowed (PyTorch refuses them):
    they sort last and contribute no step; ``sorted_indices`` still has all
    ``B`` rows, so unpacking restores them. ``x`` is batch-first, as
    everywhere in maskref; ``lengths`` at most ``T``.

    >>> p = pack_sequences(np.array([[1, 2, 0], [3, 4, 5]]), [2, 3])
    >>> p.data, p.batch_sizes, p.sorted_indices
    (array([3, 1, 4, 2, 5]), array([2, 2, 1]), array([1, 0]))
    """
    x = np.asarray(x)
    check_min_rank(x.shape, 2, "x")
    lengths = check_lengths(lengths)
    if lengths.shape[0] != x.shape[0]:
        raise ValueError(f"lengths has {lengths.shape[0]} rows but x has {x.shape[0]}")
    if lengths.size and lengths.max() > x.shape[1]:
        raise lengths_exceed_error(x.shape[1])
    if enforce_sorted:
        if (np.diff(lengths) > 0).any():
            raise ValueError(
                f"enforce_sorted=True needs lengths in non-increasing order, got {lengths.tolist()}"
            )
        order = np.arange(lengths.size)
    else:
        order = np.argsort(-lengths, kind="stable")
    sorted_lengths = lengths[order]
    steps = int(sorted_lengths[0]) if lengths.size else 0
    valid = np.arange(steps)[:, None] < sorted_lengths[None, :]  # (T', B) time-major
    data = np.swapaxes(x[order, :steps], 0, 1)[valid]
    return PackedSequences(
        data,
        valid.sum(axis=1, dtype=np.int64),
        order.astype(np.int64),
        np.argsort(order).astype(np.int64),
    )


def check_packed(batch_sizes: np.ndarray, rows: int, steps_in_data: int) -> None:
    """``ValueError`` unless ``batch_sizes`` is a valid non-increasing count of ``rows``."""
    check_integer_dtype(batch_sizes.dtype.name, "batch_sizes")
    check_rank(batch_sizes.shape, 1, "batch_sizes")
    if batch_sizes.size and (
        batch_sizes.min() < 1 or (np.diff(batch_sizes) > 0).any() or batch_sizes[0] > rows
    ):
        raise ValueError(
            f"batch_sizes must be positive, non-increasing and at most the {rows} rows, "
            f"got {batch_sizes.tolist()}"
        )
    if int(batch_sizes.sum()) != steps_in_data:
        raise ValueError(
            f"batch_sizes sum to {int(batch_sizes.sum())} but data has {steps_in_data} steps"
        )


def permutations_error() -> ValueError:
    return ValueError(
        "sorted_indices and unsorted_indices must be permutations of the B rows, "
        "each the inverse of the other"
    )


def check_permutations(order: np.ndarray, inverse: np.ndarray) -> int:
    """The number of rows; ``ValueError`` unless ``inverse`` undoes ``order``."""
    for name, index in (("sorted_indices", order), ("unsorted_indices", inverse)):
        check_integer_dtype(index.dtype.name, name)
        check_rank(index.shape, 1, name)
    rows = order.shape[0]
    if inverse.shape[0] != rows:
        raise permutations_error()
    if rows and (
        order.min() < 0
        or order.max() >= rows
        or not np.array_equal(inverse[order], np.arange(rows))
    ):
        raise permutations_error()
    return rows


def unpack_sequences(
    packed: PackedSequences, *, total_length: int | None = None, padding_value: object = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``(x, lengths)``: the packed batch back as batch-first ``(B, T, ...)``, original order.

    Rule: the inverse of :func:`pack_sequences`. ``T`` is the longest length,
    or ``total_length`` (at least the longest length: ``ValueError``
    otherwise, as PyTorch); padding holds ``padding_value``, cast losslessly
    to ``data``'s dtype. ``lengths`` is int64. The number of rows is
    ``len(sorted_indices)``.

    >>> unpack_sequences(pack_sequences(np.array([[1, 2, 0], [3, 4, 5]]), [2, 3]))
    (array([[1, 2, 0],
           [3, 4, 5]]), array([2, 3]))
    """
    data, batch_sizes, order, inverse = (np.asarray(p) for p in packed)
    check_min_rank(data.shape, 1, "data")
    rows = check_permutations(order, inverse)
    check_packed(batch_sizes, rows, data.shape[0])
    total_length = check_maxlen(total_length, "total_length")
    steps = batch_sizes.shape[0]
    if total_length is not None and total_length < steps:
        raise ValueError(
            f"total_length={total_length} is shorter than the longest sequence ({steps})"
        )
    width = steps if total_length is None else total_length
    sorted_lengths = (batch_sizes[None, :] > np.arange(rows)[:, None]).sum(axis=1)
    fill = cast_scalar(padding_value, data.dtype, "padding_value")
    out = np.full((width, rows) + data.shape[1:], fill, dtype=data.dtype)
    out[np.arange(width)[:, None] < sorted_lengths[None, :]] = data
    x = np.swapaxes(out, 0, 1)[inverse]
    return x, sorted_lengths[inverse].astype(np.int64)


def unpad(x: object, mask: object) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``(values, indices, cu_seqlens, max_seqlen)``: the varlen-attention layout.

    Rule: ``indices`` (int64) are the flat positions ``b * T + t`` of the valid
    steps, in order; ``values = x.reshape(B * T, ...)[indices]``;
    ``cu_seqlens`` (int32, as fused varlen kernels take it) is
    ``[0, n0, n0 + n1, ...]`` with ``n_b`` the valid steps of row ``b``;
    ``max_seqlen`` the largest ``n_b`` (a Python int; 0 for no rows). A mask
    with holes is compacted, as in :func:`ragged_from_padded`.

    >>> unpad(np.array([[5, 6], [7, 8]]), [[True, False], [True, True]])
    (array([5, 7, 8]), array([0, 2, 3]), array([0, 1, 3], dtype=int32), 2)
    """
    x = np.asarray(x)
    check_min_rank(x.shape, 2, "x")
    m = _mask_2d(x, mask)
    counts = m.sum(axis=1)
    indices = np.flatnonzero(m).astype(np.int64)
    values = x.reshape((x.shape[0] * x.shape[1],) + x.shape[2:])[indices]
    cu = np.concatenate([np.zeros(1, np.int32), np.cumsum(counts, dtype=np.int32)])
    return values, indices, cu, int(counts.max()) if counts.size else 0


def check_indices(indices: np.ndarray, size: int, count: int) -> None:
    """``indices`` must be ``count`` distinct integers in ``[0, size)``."""
    check_integer_dtype(indices.dtype.name, "indices")
    check_rank(indices.shape, 1, "indices")
    if indices.shape[0] != count:
        raise ValueError(f"indices has {indices.shape[0]} entries but values has {count} steps")
    if indices.size and (indices.min() < 0 or indices.max() >= size):
        raise ValueError(f"indices must lie in [0, batch * seqlen) = [0, {size})")
    if np.unique(indices).size != indices.size:
        raise ValueError("indices must not repeat (two steps cannot land in one slot)")


def repad(values: object, indices: object, batch: int, seqlen: int) -> np.ndarray:
    """The inverse of :func:`unpad`: ``(batch, seqlen, ...)`` zeros with ``values`` at ``indices``.

    >>> repad(np.array([5, 7, 8]), np.array([0, 2, 3]), 2, 2)
    array([[5, 0],
           [7, 8]])
    """
    for name, size in (("batch", batch), ("seqlen", seqlen)):
        if size is None:
            raise TypeError(f"{name} must be a non-negative int, got None")
    batch, seqlen = check_maxlen(batch, "batch"), check_maxlen(seqlen, "seqlen")
    values, indices = np.asarray(values), np.asarray(indices)
    check_min_rank(values.shape, 1, "values")
    check_indices(indices, batch * seqlen, values.shape[0])
    out = np.zeros((batch * seqlen,) + values.shape[1:], values.dtype)
    out[indices] = values
    return out.reshape((batch, seqlen) + values.shape[1:])


def reverse_sequences(
    x: object, lengths: object, *, axis: int = 1, padding: str = "post"
) -> np.ndarray:
    """Reverse the valid steps of each row along ``axis``; padding stays where it is.

    Rule (``tf.reverse_sequence`` with ``batch_axis=0``): with
    ``padding="post"`` the first ``lengths[b]`` steps of row ``b`` are
    reversed; with ``"pre"`` the last ``lengths[b]`` (the valid steps of a
    left-padded row). Reversing twice is the identity: the building block of
    a masked backward RNN. ``lengths`` at most the size of ``axis``.

    >>> reverse_sequences(np.array([[1, 2, 3, 0], [4, 5, 0, 0]]), [3, 2])
    array([[3, 2, 1, 0],
           [5, 4, 0, 0]])
    """
    x = np.asarray(x)
    check_min_rank(x.shape, 2, "x")
    check_choice("padding", padding, PADDING_SIDES)
    ax = normalize_single_axis(axis, x.ndim)
    if ax == 0:
        raise ValueError("axis must not be 0, the batch axis")
    lengths = check_lengths(lengths)
    if lengths.shape[0] != x.shape[0]:
        raise ValueError(f"lengths has {lengths.shape[0]} rows but x has {x.shape[0]}")
    steps = x.shape[ax]
    if lengths.size and lengths.max() > steps:
        raise lengths_exceed_error(steps)
    source = reversed_positions(lengths, steps, padding)
    shape = [1] * x.ndim
    shape[0], shape[ax] = x.shape[0], steps
    return np.take_along_axis(x, source.reshape(shape), axis=ax)


def reversed_positions(lengths: np.ndarray, steps: int, padding: str) -> np.ndarray:
    """``(B, steps)``: the step each output step of :func:`reverse_sequences` reads."""
    t = np.arange(steps)[None, :]
    n = lengths[:, None]
    if padding == "post":
        return np.where(t < n, n - 1 - t, t)
    start = steps - n
    return np.where(t >= start, start + steps - 1 - t, t)


def check_int(value: object, name: str) -> int:
    """``value`` as an int in the int64 range: Python or NumPy integers, 0-d integer arrays."""
    if hasattr(value, "shape") and tuple(value.shape) == () and hasattr(value, "dtype"):
        kind = getattr(value.dtype, "kind", None) or ("i" if "int" in str(value.dtype) else "")
        if kind in ("i", "u") and "bool" not in str(value.dtype):
            value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if not -(2**63) <= int(value) < 2**63:
        raise ValueError(f"{name}={value} is outside the int64 range")
    return int(value)


def positions_from_mask(mask: object, *, start: int = 0, fill: int = 0) -> np.ndarray:
    """int64 position ids: valid steps numbered within their row from ``start``, else ``fill``.

    Rule: ``cumsum(mask, axis=-1) - 1 + start`` at valid steps (the rule
    generation code applies to left-padded batches), ``fill`` at masked ones,
    so a left-padded and a right-padded batch give the same positions to the
    same tokens. Hugging Face fills masked steps with 1; the default here is 0.

    >>> positions_from_mask([[False, True, True], [True, True, False]])
    array([[0, 0, 1],
           [0, 1, 0]])
    """
    m = np.asarray(mask)
    check_mask_dtype(str(m.dtype))
    check_min_rank(m.shape, 1, "mask")
    start, fill = check_int(start, "start"), check_int(fill, "fill")
    positions = np.cumsum(m, axis=-1, dtype=np.int64) - 1 + start
    return np.where(m, positions, np.int64(fill))


def _edge_valid(x: object, mask: object, empty: object, last: bool) -> np.ndarray:
    x = np.asarray(x)
    check_min_rank(x.shape, 2, "x")
    m = _mask_2d(x, mask)
    fill = cast_scalar(empty, x.dtype, "empty")
    steps = x.shape[1]
    has = m.any(axis=1)
    if steps == 0:
        return np.full((x.shape[0],) + x.shape[2:], fill, dtype=x.dtype)
    index = steps - 1 - np.argmax(m[:, ::-1], axis=1) if last else np.argmax(m, axis=1)
    picked = np.take_along_axis(x, index.reshape((-1, 1) + (1,) * (x.ndim - 2)), axis=1)[:, 0]
    return np.where(has.reshape((-1,) + (1,) * (x.ndim - 2)), picked, fill).astype(x.dtype)


def last_valid(x: object, mask: object, *, empty: object = 0) -> np.ndarray:
    """``(B, ...)``: each row's last valid step (what a many-to-one RNN returns).

    Rule: ``x[b, t_b]`` with ``t_b`` the largest ``t`` where ``mask[b, t]``
    (holes allowed); a row with no valid step gives ``empty``, cast losslessly
    to ``x``'s dtype (0: a masked Keras RNN returns its initial state there).

    >>> last_valid(np.array([[1, 2, 0], [3, 0, 0]]), [[True, True, False], [False] * 3])
    array([2, 0])
    """
    return _edge_valid(x, mask, empty, last=True)


def first_valid(x: object, mask: object, *, empty: object = 0) -> np.ndarray:
    """``(B, ...)``: each row's first valid step (the first token of a left-padded row).

    Rule: as :func:`last_valid` with the smallest valid ``t``.

    >>> first_valid(np.array([[0, 1, 2], [0, 0, 0]]), [[False, True, True], [False] * 3])
    array([1, 0])
    """
    return _edge_valid(x, mask, empty, last=False)
