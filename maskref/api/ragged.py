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

Lengths, row splits, indices and batch sizes are integers (``TypeError``
otherwise; a list ``[]`` counts as an empty batch of integers) from 0 to
``2**63 - 1``, what int64 holds (``ValueError`` otherwise, uint64 values at
or above ``2**63`` included). An empty batch is valid everywhere and gives
empty results. Sizes set by an argument (``maxlen``, ``total_length``,
``batch`` and ``seqlen``) are checked against the machine's memory before
anything is allocated (``ValueError`` naming the argument and the bytes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, cast

import numpy as np

from .checks import (
    INT64_MAX,
    PADDING_SIDES,
    check_choice,
    check_data,
    check_flag,
    check_int,
    check_lengths_dtype,
    check_mask_shape,
    check_min_rank,
    check_nbytes,
    check_rank,
    lengths_exceed_error,
    normalize_single_axis,
)
from .core import Backend, frontend
from .masks import as_mask
from .types import Array, ArrayLike, Scalar
from .values import check_lengths

#: The most valid steps ``cu_seqlens`` (int32, as fused varlen kernels take it) can count.
INT32_MAX = 2**31 - 1


class PackedSequences(NamedTuple):
    """A batch packed as PyTorch's ``PackedSequence`` lays it out (one class for every backend;
    its fields hold that backend's arrays).

    ``data``: ``(sum(lengths), ...)``, time-major (step 0 of every row, then
    step 1 of the rows that have one, ...), rows in ``sorted_indices`` order.
    ``batch_sizes``: int64 ``(max(lengths),)``, how many rows have step ``t``.
    ``sorted_indices``: int64 ``(B,)``, the original row at each sorted
    position (by decreasing length, ties in their original order).
    ``unsorted_indices``: its inverse permutation.
    """

    data: Array
    batch_sizes: Array
    sorted_indices: Array
    unsorted_indices: Array


# --- argument helpers (static checks, then value checks through B.require) -------------------


def _integers(B: Backend, value: object, name: str, like: object = None, rank: int = 1) -> Array:
    """An integer argument (lengths, row splits, indices, batch sizes) as the backend's array.

    Lists and NumPy arrays are read by NumPy first, so every backend names the same dtype
    in its ``TypeError`` (``<U2`` for strings); ``[]`` is an empty batch of int64.
    """
    check_data(value, name)
    if not B.a.is_tensor(value):
        value = np.asarray(value)
        check_lengths_dtype(str(value.dtype), value.shape, name, rank)
        if value.dtype.kind == "f":  # `[]`, empty
            value = value.astype(np.int64)
        return B.a.asarray(value, name, like)
    arr = B.a.asarray(value, name, like)
    shape, dtype = B.a.shape_of(arr), B.a.dtype_name(arr)
    check_lengths_dtype(dtype, shape, name, rank)
    if dtype == "float64":  # an empty float64 tensor: no integers to read
        arr = B.a.asarray(np.zeros(shape, np.int64), name, like if like is not None else arr)
    return arr


def _lengths(B: Backend, lengths: object, name: str = "lengths", like: object = None) -> Array:
    """1-D integers from 0 to ``2**63 - 1``, as int64."""
    arr = _integers(B, lengths, name, like)
    return B.a.int64(check_lengths(B, arr, name))


def _data(B: Backend, x: object, name: str, min_rank: int) -> tuple[Array, tuple]:
    arr = B.a.asarray(x, name)
    shape = B.a.shape_of(arr)
    check_min_rank(shape, min_rank, name)
    return arr, shape


def _equal_sizes(
    B: Backend, a: object, b: object, error: Callable[[], Exception], text: str
) -> None:
    """Require the sizes ``a == b``: raised at once when both are known, else asserted."""
    if isinstance(a, int) and isinstance(b, int):
        if a != b:
            raise error()
        return
    B.require(a == b, error, text)


def _mask_2d(B: Backend, mask: object, x: Array, x_shape: tuple) -> Array:
    """A boolean ``(B, T)`` mask for ``x (B, T, ...)``, on ``x``'s device."""
    m = as_mask(B, mask, like=x)
    shape = B.a.shape_of(m)
    check_rank(shape, 2, "mask")
    check_mask_shape(shape, x_shape)
    for axis in (0, 1):
        if shape[axis] is None or x_shape[axis] is None:  # unknown while tracing
            _equal_sizes(
                B,
                B.a.dim(m, axis),
                B.a.dim(x, axis),
                lambda: ValueError(f"mask shape must be a leading prefix of x shape {x_shape}"),
                "mask shape must be a leading prefix of x shape",
            )
    return m


def _rows_match(B: Backend, lengths: Array, x: Array, name: str = "lengths") -> None:
    count, rows = B.a.dim(lengths, 0), B.a.dim(x, 0)
    _equal_sizes(
        B,
        count,
        rows,
        lambda: ValueError(f"{name} has {int(count)} rows but x has {int(rows)}"),
        f"{name} must have one entry per row of x",
    )


def _at_most_steps(B: Backend, lengths: Array, steps: object) -> None:
    longest = B.a.longest(lengths)
    B.require(
        longest <= steps,
        lambda: lengths_exceed_error(int(cast(Any, steps))),
        "lengths must be at most the padded length",
    )


def _itemsize(B: Backend, x: Array) -> int:
    """Bytes per element of ``x`` (8 for a dtype NumPy does not name: strings, bfloat16)."""
    try:
        return max(np.dtype(B.a.dtype_name(x)).itemsize, 1)
    except TypeError:
        return 8


def _inner(shape: tuple) -> tuple:
    return tuple(0 if d is None else d for d in shape)


def _size(B: Backend, value: object, name: str) -> int | Array:
    """A size that must be given (``batch``, ``seqlen``): a non-negative int up to
    ``2**63 - 1`` (an integer scalar tensor inside ``tf.function``). None, bools, floats and
    strings are a ``TypeError`` naming it."""
    if B.a.is_symbolic(value):
        return B.a.check_maxlen(value, name)
    return _at_most_int64(check_int(value, name, minimum=0), name)


def _optional_size(B: Backend, value: object, name: str) -> int | Array | None:
    """None, or a size as :func:`_size` takes it (``maxlen``, ``total_length``)."""
    return _at_most_int64(B.a.check_maxlen(value, name), name)


def _at_most_int64(size: object, name: str) -> object:
    if isinstance(size, int) and size > INT64_MAX:
        raise ValueError(f"{name}={size} is more than int64 holds (2**63 - 1)")
    return size


def _int64_option(B: Backend, value: object, name: str) -> int | Array:
    """An int in the int64 range (NumPy and 0-d integer tensors too; a symbolic integer
    scalar passes through inside ``tf.function``)."""
    if B.a.is_symbolic(value):
        if tuple(B.a.shape_of(value)) != () or "int" not in B.a.dtype_name(value):
            raise TypeError(f"{name} must be an int, got {value!r}")
        return B.a.int64(value)
    number = check_int(value, name)
    if not -(2**63) <= number <= INT64_MAX:
        raise ValueError(f"{name}={number} is outside the int64 range")
    return number


def _scalar(value: object, name: str) -> object:
    """A fill value (cast by the kernel, losslessly, to the data's dtype); None is a
    ``TypeError``."""
    if value is None:
        raise TypeError(f"{name} must be a scalar of the data's dtype, got None")
    return value


def permutations_error() -> ValueError:
    return ValueError(
        "sorted_indices and unsorted_indices must be permutations of the B rows, "
        "each the inverse of the other"
    )


# --- row splits and lengths ------------------------------------------------------------------


@frontend
def row_splits_from_lengths(B: Backend, lengths: ArrayLike) -> Array:
    """int64 ``(B + 1,)``: ``[0, l0, l0 + l1, ...]``.

    ``lengths``: 1-D integers from 0 to ``2**63 - 1``; ``[]`` gives ``[0]``.
    Lengths whose sum int64 cannot hold are a ``ValueError`` (the splits
    would wrap around).

    >>> row_splits_from_lengths([2, 0, 3])
    array([0, 2, 2, 5])
    """
    lengths = _lengths(B, lengths)
    splits = B.k.row_splits_from_lengths(lengths)
    # each length fits in int64, so the first partial sum past 2**63 - 1 wraps below 0
    B.require(
        B.a.all(splits >= 0),
        lambda: ValueError(
            f"lengths sum to {sum(int(n) for n in B.a.numpy(lengths))}, more than "
            f"2**63 - 1 (what int64 holds): their row splits would wrap around"
        ),
        "lengths must sum to at most 2**63 - 1",
    )
    return splits


def _row_splits(B: Backend, row_splits: object) -> tuple[Array, Array]:
    """``(splits, lengths)`` as int64, with every check of :func:`lengths_from_row_splits`."""
    splits = _integers(B, row_splits, "row_splits")
    count = B.a.shape_of(splits)[0]

    def empty() -> ValueError:
        return ValueError("row_splits must have at least one element (B + 1 for B rows)")

    if count == 0:
        raise empty()
    if count is None:
        B.require(B.a.dim(splits, 0) > 0, empty, "row_splits must have at least one element")
    splits = B.a.int64(check_lengths(B, splits, "row_splits"))
    first = splits[0]
    B.require(
        first == 0,
        lambda: ValueError(f"row_splits must start at 0, got {int(B.a.numpy(first))}"),
        "row_splits must start at 0",
    )
    B.require(
        B.a.all(splits[1:] >= splits[:-1]),
        lambda: ValueError(
            "row_splits must be non-decreasing (a row length below 0 has no meaning)"
        ),
        "row_splits must be non-decreasing",
    )
    return splits, B.k.lengths_from_row_splits(splits)


@frontend
def lengths_from_row_splits(B: Backend, row_splits: ArrayLike) -> Array:
    """int64 ``(B,)``: ``row_splits[1:] - row_splits[:-1]``.

    ``row_splits`` must be 1-D integers, at least one element, starting at 0,
    non-decreasing (``ValueError`` otherwise).

    >>> lengths_from_row_splits([0, 2, 2, 5])
    array([2, 0, 3])
    """
    return _row_splits(B, row_splits)[1]


# --- padded <-> ragged -----------------------------------------------------------------------


@frontend
def ragged_from_padded(B: Backend, x: ArrayLike, mask: ArrayLike) -> tuple[Array, Array]:
    """``(values, row_splits)``: the valid steps of each row, in order, concatenated.

    Rule: ``values = x[mask]`` (row-major: row 0's valid steps, then row 1's;
    a mask with holes is compacted), ``row_splits = row_splits_from_lengths(
    mask.sum(1))``. ``mask`` is ``(B, T)`` for ``x (B, T, ...)``.

    >>> ragged_from_padded(np.array([[1, 2, 0], [0, 3, 4]]), [[True, True, False],
    ...                                                      [False, True, True]])
    (array([1, 2, 3, 4]), array([0, 2, 4]))
    """
    x, shape = _data(B, x, "x", 2)
    return B.k.ragged_from_padded(x, _mask_2d(B, mask, x, shape))


@frontend
def padded_from_ragged(
    B: Backend,
    values: ArrayLike,
    row_splits: ArrayLike,
    *,
    maxlen: int | None = None,
    padding: str = "post",
    truncating: str = "pre",
    value: Scalar = 0,
) -> tuple[Array, Array]:
    """``(x, mask)``: the rows of a ragged batch padded to ``maxlen``, and where they landed.

    Rule: as :func:`pad_sequences` on the rows (``maxlen`` defaults
    to the longest row; ``truncating="pre"``, the default as in Keras, keeps
    the last steps, while ``RaggedTensor.to_tensor`` and
    ``to_padded_tensor`` keep the first: pass ``truncating="post"`` for
    theirs; ``value`` cast losslessly to ``values``'s dtype), except that
    ``padding`` defaults to ``"post"``. ``mask[b, t]`` is True where a step of
    row ``b`` landed. ``row_splits`` must end at ``len(values)``; a ``maxlen``
    whose result would not fit in memory is a ``ValueError``.

    >>> x, mask = padded_from_ragged(np.array([1, 2, 3]), np.array([0, 2, 3]))
    >>> x, mask.astype(int)
    (array([[1, 2],
           [3, 0]]), array([[1, 1],
           [1, 0]]))
    """
    splits, lengths = _row_splits(B, row_splits)
    values, shape = _data(B, values, "values", 1)
    end, steps = splits[-1], B.a.dim(values, 0)
    B.require(
        end == steps,
        lambda: ValueError(
            f"row_splits end at {int(B.a.numpy(end))} but values has {int(steps)} steps"
        ),
        "row_splits must end at the number of steps in values",
    )
    check_choice("padding", padding, PADDING_SIDES)
    check_choice("truncating", truncating, PADDING_SIDES)
    maxlen = _optional_size(B, maxlen, "maxlen")
    width, sized_by = (maxlen, "maxlen") if maxlen is not None else (B.a.longest(lengths), "")
    rows = B.a.shape_of(lengths)[0]
    if isinstance(width, int) and isinstance(rows, int):
        check_nbytes(
            (rows, width, *_inner(shape[1:])),
            _itemsize(B, values),
            sized_by or "max(row_splits[1:] - row_splits[:-1])",
            width,
        )
    value = _scalar(value, "value")
    return B.k.padded_from_ragged(values, splits, lengths, maxlen, padding, truncating, value)


# --- packed (PyTorch's PackedSequence layout) ------------------------------------------------


@frontend
def pack_sequences(
    B: Backend, x: ArrayLike, lengths: ArrayLike, *, enforce_sorted: bool = False
) -> PackedSequences:
    """The padded batch ``x (B, T, ...)`` packed time-major as PyTorch's ``PackedSequence``.

    Rule: rows sorted by decreasing length, ties in their original order (a
    stable sort; PyTorch's sort is not stable from 17 rows on, so its order of
    tied rows may differ); ``data`` holds
    step 0 of every sorted row that has one, then step 1, ...;
    ``batch_sizes[t]`` counts the rows longer than ``t``. With
    ``enforce_sorted=True`` (a bool) the lengths must already be
    non-increasing (``ValueError`` otherwise) and the indices are the identity
    (PyTorch gives None there). Zero-length rows are allowed (PyTorch refuses
    them): they sort last and contribute no step; ``sorted_indices`` still has
    all ``B`` rows, so unpacking restores them. An empty batch (``lengths=[]``,
    ``x`` of shape ``(0, T, ...)``) packs to empty arrays. ``x`` is
    batch-first, as everywhere in maskref; ``lengths`` at most ``T``.

    >>> p = pack_sequences(np.array([[1, 2, 0], [3, 4, 5]]), [2, 3])
    >>> p.data, p.batch_sizes, p.sorted_indices
    (array([3, 1, 4, 2, 5]), array([2, 2, 1]), array([1, 0]))
    """
    x, _ = _data(B, x, "x", 2)
    enforce_sorted = check_flag(enforce_sorted, "enforce_sorted")
    lengths = _lengths(B, lengths, like=x)
    _rows_match(B, lengths, x)
    _at_most_steps(B, lengths, B.a.dim(x, 1))
    if enforce_sorted:
        B.require(
            B.a.all(lengths[1:] <= lengths[:-1]),
            lambda: ValueError(
                "enforce_sorted=True needs lengths in non-increasing order, got "
                f"{B.a.numpy(lengths).tolist()}"
            ),
            "enforce_sorted=True needs lengths in non-increasing order",
        )
    return B.k.pack_sequences(x, lengths, enforce_sorted)


def _packed_parts(packed: object) -> tuple:
    if not isinstance(packed, (tuple, list)):
        raise TypeError(
            "packed must be a PackedSequences (data, batch_sizes, sorted_indices, "
            f"unsorted_indices), got {type(packed).__name__}"
        )
    if len(packed) != 4:
        raise ValueError(
            "packed must have 4 parts (data, batch_sizes, sorted_indices, unsorted_indices), "
            f"got {len(packed)}"
        )
    return tuple(packed)


@frontend
def unpack_sequences(
    B: Backend,
    packed: PackedSequences,
    *,
    total_length: int | None = None,
    padding_value: Scalar = 0,
) -> tuple[Array, Array]:
    """``(x, lengths)``: the packed batch back as batch-first ``(B, T, ...)``, original order.

    Rule: the inverse of :func:`pack_sequences`. ``T`` is the longest length,
    or ``total_length`` (at least the longest length: ``ValueError``
    otherwise, as PyTorch; a size beyond memory too); padding holds
    ``padding_value``, cast losslessly to ``data``'s dtype. ``lengths`` is
    int64. The number of rows is ``len(sorted_indices)``; the packing is
    checked (``batch_sizes`` positive, non-increasing, at most the rows,
    summing to ``len(data)``; the indices inverse permutations).

    >>> unpack_sequences(pack_sequences(np.array([[1, 2, 0], [3, 4, 5]]), [2, 3]))
    (array([[1, 2, 0],
           [3, 4, 5]]), array([2, 3]))
    """
    data, batch_sizes, order, inverse = _packed_parts(packed)
    data, shape = _data(B, data, "data", 1)
    order = _integers(B, order, "sorted_indices", like=data)
    inverse = _integers(B, inverse, "unsorted_indices", like=data)
    sizes = _integers(B, batch_sizes, "batch_sizes", like=data)
    total_length = _optional_size(B, total_length, "total_length")
    rows, n, steps = B.a.dim(order, 0), B.a.dim(data, 0), B.a.dim(sizes, 0)
    _equal_sizes(B, B.a.dim(inverse, 0), rows, permutations_error, "the indices differ in size")
    width = steps
    if total_length is not None:
        width = total_length
        B.require(
            total_length >= steps,
            lambda: ValueError(
                f"total_length={int(total_length)} is shorter than the longest sequence "
                f"({int(steps)})"
            ),
            "total_length is shorter than the longest sequence",
        )
    if isinstance(width, int) and isinstance(rows, int):
        sized_by = "batch_sizes" if total_length is None else "total_length"
        check_nbytes((rows, width, *_inner(shape[1:])), _itemsize(B, data), sized_by, width)
    for index in (order, inverse):
        B.require(B.a.all(B.a.in_int64(index)), permutations_error, "indices out of range")
    order, inverse = B.a.int64(order), B.a.int64(inverse)
    B.require(
        B.a.all((order >= 0) & (order < rows)),
        permutations_error,
        "sorted_indices must lie in [0, B)",
    )
    inverse_of = B.kernel("ragged", "is_inverse_permutation")
    B.require(inverse_of(inverse, order), permutations_error, "the indices must be inverses")
    _check_batch_sizes(B, sizes, rows, n)
    sizes = B.a.int64(sizes)
    padding_value = _scalar(padding_value, "padding_value")
    return B.k.unpack_sequences(data, sizes, order, inverse, width, padding_value)


def _check_batch_sizes(B: Backend, sizes: Array, rows: object, n: object) -> None:
    def shape_error() -> ValueError:
        return ValueError(
            "batch_sizes must be positive, non-increasing and at most the "
            f"{int(cast(Any, rows))} rows, "
            f"got {B.a.numpy(sizes).tolist()}"
        )

    B.require(B.a.all(B.a.in_int64(sizes)), shape_error, "batch_sizes out of range")
    sizes = B.a.int64(sizes)
    B.require(
        B.a.all(sizes >= 1) & B.a.all(sizes[1:] <= sizes[:-1]) & (B.a.longest(sizes) <= rows),
        shape_error,
        "batch_sizes must be positive, non-increasing and at most the rows",
    )
    total = B.k.row_splits_from_lengths(sizes)[-1]  # at most rows * steps: no wrap
    B.require(
        total == n,
        lambda: ValueError(
            f"batch_sizes sum to {int(B.a.numpy(total))} but data has {int(cast(Any, n))} steps"
        ),
        "batch_sizes must sum to the number of steps in data",
    )


# --- unpadded (varlen attention) -------------------------------------------------------------


@frontend
def unpad(B: Backend, x: ArrayLike, mask: ArrayLike) -> tuple[Array, Array, Array, int]:
    """``(values, indices, cu_seqlens, max_seqlen)``: the varlen-attention layout.

    Rule: ``indices`` (int64) are the flat positions ``b * T + t`` of the valid
    steps, in order; ``values = x.reshape(B * T, ...)[indices]``;
    ``cu_seqlens`` (int32, as fused varlen kernels take it) is
    ``[0, n0, n0 + n1, ...]`` with ``n_b`` the valid steps of row ``b``;
    ``max_seqlen`` the largest ``n_b`` (a Python int; 0 for no rows). A mask
    with holes is compacted, as in :func:`ragged_from_padded`. More than
    ``2**31 - 1`` valid steps (what int32 ``cu_seqlens`` holds) is a
    ``ValueError``.

    >>> unpad(np.array([[5, 6], [7, 8]]), [[True, False], [True, True]])
    (array([5, 7, 8]), array([0, 2, 3]), array([0, 1, 3], dtype=int32), 2)
    """
    x, shape = _data(B, x, "x", 2)
    m = _mask_2d(B, mask, x, shape)
    result = B.k.unpad(x, m)
    count = B.a.dim(result[1], 0)
    B.require(
        count <= INT32_MAX,
        lambda: ValueError(
            f"mask has {int(count)} valid steps; cu_seqlens (int32, as varlen kernels take "
            f"them) cannot count more than 2**31 - 1"
        ),
        "mask has more valid steps than int32 cu_seqlens holds",
    )
    return result


@frontend
def repad(B: Backend, values: ArrayLike, indices: ArrayLike, batch: int, seqlen: int) -> Array:
    """The inverse of :func:`unpad`: ``(batch, seqlen, ...)`` zeros with ``values`` at ``indices``.

    ``indices``: distinct integers in ``[0, batch * seqlen)``, one per step
    of ``values``; ``batch`` and ``seqlen`` non-negative ints (a result beyond
    memory is a ``ValueError``).

    >>> repad(np.array([5, 7, 8]), np.array([0, 2, 3]), 2, 2)
    array([[5, 0],
           [7, 8]])
    """
    batch, seqlen = _size(B, batch, "batch"), _size(B, seqlen, "seqlen")
    values, shape = _data(B, values, "values", 1)
    if isinstance(batch, int) and isinstance(seqlen, int):
        check_nbytes(
            (batch, seqlen, *_inner(shape[1:])),
            _itemsize(B, values),
            "batch * seqlen",
            batch * seqlen,
        )
    idx = _integers(B, indices, "indices", like=values)
    size = batch * seqlen
    count, entries = B.a.dim(values, 0), B.a.dim(idx, 0)
    _equal_sizes(
        B,
        entries,
        count,
        lambda: ValueError(f"indices has {int(entries)} entries but values has {int(count)} steps"),
        "indices must have one entry per step of values",
    )

    def outside() -> ValueError:
        return ValueError(f"indices must lie in [0, batch * seqlen) = [0, {int(size)})")

    B.require(B.a.all(B.a.in_int64(idx)), outside, "indices must lie in [0, batch * seqlen)")
    idx = B.a.int64(idx)
    B.require(B.a.all(idx < size), outside, "indices must lie in [0, batch * seqlen)")
    distinct = B.kernel("ragged", "are_distinct")
    B.require(
        distinct(idx, size),
        lambda: ValueError("indices must not repeat (two steps cannot land in one slot)"),
        "indices must not repeat",
    )
    return B.k.repad(values, idx, batch, seqlen)


# --- per-row operations ----------------------------------------------------------------------


@frontend
def reverse_sequences(
    B: Backend, x: ArrayLike, lengths: ArrayLike, *, axis: int = 1, padding: str = "post"
) -> Array:
    """Reverse the valid steps of each row along ``axis``; padding stays where it is.

    Rule (``tf.reverse_sequence`` with ``batch_axis=0``): with
    ``padding="post"`` the first ``lengths[b]`` steps of row ``b`` are
    reversed; with ``"pre"`` the last ``lengths[b]`` (the valid steps of a
    left-padded row). Reversing twice is the identity: the building block of
    a masked backward RNN. ``lengths`` at most the size of ``axis`` (not 0).

    >>> reverse_sequences(np.array([[1, 2, 3, 0], [4, 5, 0, 0]]), [3, 2])
    array([[3, 2, 1, 0],
           [5, 4, 0, 0]])
    """
    x, shape = _data(B, x, "x", 2)
    check_choice("padding", padding, PADDING_SIDES)
    ax = normalize_single_axis(axis, len(shape))
    if ax == 0:
        raise ValueError("axis must not be 0, the batch axis")
    lengths = _lengths(B, lengths, like=x)
    _rows_match(B, lengths, x)
    _at_most_steps(B, lengths, B.a.dim(x, ax))
    return B.k.reverse_sequences(x, lengths, ax, padding)


@frontend
def positions_from_mask(B: Backend, mask: ArrayLike, *, start: int = 0, fill: int = 0) -> Array:
    """int64 position ids: valid steps numbered within their row from ``start``, else ``fill``.

    Rule: ``cumsum(mask, axis=-1) - 1 + start`` at valid steps (the rule
    generation code applies to left-padded batches), ``fill`` at masked ones,
    so a left-padded and a right-padded batch give the same positions to the
    same tokens. Hugging Face fills masked steps with 1; the default here is 0.
    ``start`` and ``fill`` are ints in the int64 range; a position past
    ``2**63 - 1`` is a ``ValueError`` (it would wrap around).

    >>> positions_from_mask([[False, True, True], [True, True, False]])
    array([[0, 0, 1],
           [0, 1, 0]])
    """
    m = as_mask(B, mask)
    shape = B.a.shape_of(m)
    check_min_rank(shape, 1, "mask")
    start, fill = _int64_option(B, start, "start"), _int64_option(B, fill, "fill")
    steps = shape[-1]
    if isinstance(start, int) and start > 0 and (steps is None or start + steps - 1 > INT64_MAX):
        room = INT64_MAX - start  # positions start, ..., start + room fit in int64
        longest = B.a.longest(B.k.lengths_from_mask(m))
        B.require(
            longest - 1 <= room,
            lambda: ValueError(
                f"start={start} with {int(longest)} valid steps in a row gives positions past "
                f"2**63 - 1 (what int64 holds)"
            ),
            "positions would pass 2**63 - 1",
        )
    return B.k.positions_from_mask(m, start, fill)


@frontend
def last_valid(B: Backend, x: ArrayLike, mask: ArrayLike, *, empty: Scalar = 0) -> Array:
    """``(B, ...)``: each row's last valid step (what a many-to-one RNN returns).

    Rule: ``x[b, t_b]`` with ``t_b`` the largest ``t`` where ``mask[b, t]``
    (holes allowed); a row with no valid step gives ``empty``, cast losslessly
    to ``x``'s dtype (0: a masked Keras RNN returns its initial state there).

    >>> last_valid(np.array([[1, 2, 0], [3, 0, 0]]), [[True, True, False], [False] * 3])
    array([2, 0])
    """
    x, shape = _data(B, x, "x", 2)
    return B.k.last_valid(x, _mask_2d(B, mask, x, shape), _scalar(empty, "empty"))


@frontend
def first_valid(B: Backend, x: ArrayLike, mask: ArrayLike, *, empty: Scalar = 0) -> Array:
    """``(B, ...)``: each row's first valid step (the first token of a left-padded row).

    Rule: as :func:`last_valid` with the smallest valid ``t``.

    >>> first_valid(np.array([[0, 1, 2], [0, 0, 0]]), [[False, True, True], [False] * 3])
    array([1, 0])
    """
    x, shape = _data(B, x, "x", 2)
    return B.k.first_valid(x, _mask_2d(B, mask, x, shape), _scalar(empty, "empty"))
