"""Every layout a batch of sequences takes, in TensorFlow, and exact conversions between them.

Mirrors :mod:`reference.ragged` (the rules are stated there): same functions,
signatures, results and error classes; results are ``tf.Tensor`` (row splits,
indices, lengths, batch sizes and positions ``tf.int64``, ``cu_seqlens``
``tf.int32``, masks ``tf.bool``). Inputs may be tensors, NumPy arrays or
Python lists, and are never modified. Everything is vectorised (gathers
driven by index arithmetic, no loop over rows) and runs inside ``tf.function``
with static ranks; there the data-dependent checks become assertions.

Under ``tf.function(jit_compile=True)`` every function compiles, those whose
result size depends on the data too (XLA's bounded dynamic sizes), except
:func:`pack_sequences`, which XLA miscompiles (TensorFlow 2.21: wrong sizes,
or an abort for an empty batch): it raises ``NotImplementedError`` there.
XLA drops assertions, so compiled code does not check the data.
:func:`to_ragged_tensor` and :func:`from_ragged_tensor` convert from and to
``tf.RaggedTensor``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import tensorflow as tf

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
from reference.ragged import (
    PackedSequences,
    check_indices,
    check_int,
    check_lengths,
    check_packed,
    check_row_splits_values,
    permutations_error,
)
from reference.ragged import lengths_from_row_splits as _reference_lengths_from_row_splits

from ._convert import as_tensor, cast_fill, eager, python_errors, require, static_shape, with_checks
from .padding import _pad_core
from .padding import padding_mask as _padding_mask

__all__ = [
    "PackedSequences",
    "first_valid",
    "from_ragged_tensor",
    "last_valid",
    "lengths_from_row_splits",
    "pack_sequences",
    "padded_from_ragged",
    "positions_from_mask",
    "ragged_from_padded",
    "repad",
    "reverse_sequences",
    "row_splits_from_lengths",
    "to_ragged_tensor",
    "unpack_sequences",
    "unpad",
]

Checks = list

try:  # TensorFlow's own test for "tracing for XLA" (not public API)
    from tensorflow.python.ops.control_flow_util import GraphOrParentsInXlaContext as _xla_context
except ImportError:  # pragma: no cover - a TensorFlow that moved it
    _xla_context = None


# --- validation: the reference's helpers, plus assertions for symbolic tensors ------------


def _reference_error(check: Callable[..., object], *args: object) -> Exception:
    """The exception the reference's ``check`` raises on these (NumPy) arguments.

    Called only once the TensorFlow version of the check has failed (eager
    mode), so the error is the reference's own, message included.
    """
    try:
        check(*args)
    except (ValueError, TypeError) as err:
        return err
    return ValueError(f"{getattr(check, '__name__', 'check')} failed")  # pragma: no cover


def _is_tensor(value: object) -> bool:
    return isinstance(value, (tf.Tensor, tf.Variable))


def _dim(t: tf.Tensor, shape: tuple[int | None, ...], axis: int) -> int | tf.Tensor:
    """Size of ``axis``: a Python int when static, else an int64 scalar tensor."""
    if shape[axis] is not None:
        return shape[axis]
    return tf.shape(t, out_type=tf.int64)[axis]


def _size(value: object, name: str, *, optional: bool) -> tuple[int | tf.Tensor | None, Checks]:
    """``check_maxlen(value, name)``, plus integer scalar tensors (symbolic in ``tf.function``).

    ``optional=False``: ``None`` is a ``TypeError`` (the reference fails on it
    with a ``TypeError`` too, multiplying ``None``).
    """
    if _is_tensor(value):
        if value.shape.rank != 0 or not value.dtype.is_integer:
            raise TypeError(
                f"{name} must be None or a non-negative int, got {value!r} "
                f"of type {type(value).__name__}"
            )
        if eager():
            return check_maxlen(int(value), name), []
        size = tf.cast(value, tf.int64)
        return size, require(
            size >= 0,
            lambda: ValueError(f"{name} must be non-negative"),
            f"{name} must be non-negative",
        )
    size = check_maxlen(value, name)
    if size is None and not optional:
        raise TypeError(f"{name} must be a non-negative int, got None")
    return size, []


def _lengths(lengths: object, name: str = "lengths") -> tuple[tf.Tensor, Checks]:
    """Mirrors ``reference.ragged.check_lengths``: 1-D non-negative integers, as int64."""
    if not _is_tensor(lengths):
        if isinstance(lengths, (tf.RaggedTensor, tf.SparseTensor)):
            as_tensor(lengths, name)  # raises the TypeError
        return tf.constant(check_lengths(lengths, name)), []
    t = tf.convert_to_tensor(lengths)
    shape = static_shape(t, name)
    if t.dtype.is_floating and 0 in shape:  # as the reference: an empty float array is []
        t = tf.zeros([0 if d is None else d for d in shape], tf.int64)
    check_integer_dtype(t.dtype.name, name)
    check_rank(shape, 1, name)
    t = tf.cast(t, tf.int64)
    checks = require(
        tf.reduce_min(tf.concat([t, tf.zeros([1], tf.int64)], 0)) >= 0,
        lambda: negative_lengths_error(name),
        f"{name} must be non-negative",
    )
    return t, checks


def _row_splits(row_splits: object) -> tuple[tf.Tensor, tf.Tensor, Checks]:
    """``(splits, lengths, checks)``, both int64, as ``reference.lengths_from_row_splits``."""
    if not _is_tensor(row_splits):
        if isinstance(row_splits, (tf.RaggedTensor, tf.SparseTensor)):
            as_tensor(row_splits, "row_splits")  # raises the TypeError
        splits = np.asarray(row_splits)
        lengths = _reference_lengths_from_row_splits(splits)
        return tf.constant(splits.astype(np.int64)), tf.constant(lengths), []
    t = tf.convert_to_tensor(row_splits)
    check_integer_dtype(t.dtype.name, "row_splits")
    shape = static_shape(t, "row_splits")
    check_rank(shape, 1, "row_splits")
    splits = tf.cast(t, tf.int64)
    if shape[0] == 0:
        raise _reference_error(_reference_lengths_from_row_splits, np.zeros(0, np.int64))
    if shape[0] is None:
        splits = with_checks(
            splits,
            require(
                tf.size(splits) > 0,
                lambda: _reference_error(_reference_lengths_from_row_splits, np.zeros(0, np.int64)),
                "row_splits must have at least one element (B + 1 for B rows)",
            ),
        )
    lengths = splits[1:] - splits[:-1]
    steps_ok = tf.reduce_all(lengths >= 0)
    checks = require(
        tf.logical_and(tf.equal(splits[0], 0), steps_ok),
        lambda: _reference_error(check_row_splits_values, int(splits[0]), bool(steps_ok)),
        "row_splits must start at 0 and be non-decreasing",
    )
    return splits, lengths, checks


def _in_xla() -> bool:
    """True while tracing for XLA (``tf.function(jit_compile=True)``)."""
    if eager() or _xla_context is None:
        return False
    return bool(_xla_context(tf.compat.v1.get_default_graph()))


def _data(x: object, name: str, min_rank: int) -> tuple[tf.Tensor, tuple[int | None, ...]]:
    x = as_tensor(x, name)
    shape = static_shape(x, name)
    check_min_rank(shape, min_rank, name)
    return x, shape


def _mask_2d(
    x: tf.Tensor, x_shape: tuple[int | None, ...], mask: object
) -> tuple[tf.Tensor, Checks]:
    """Mirrors ``reference.ragged._mask_2d``: a bool ``(B, T)`` mask for ``x (B, T, ...)``."""
    m = as_tensor(mask, "mask")
    check_mask_dtype(m.dtype.name)
    shape = static_shape(m, "mask")
    check_rank(shape, 2, "mask")
    check_mask_shape(shape, x_shape)
    checks: Checks = []
    if None in shape or None in x_shape[:2]:
        checks = require(
            tf.reduce_all(tf.equal(tf.shape(m), tf.shape(x)[:2])),
            lambda: ValueError(f"mask shape must be a leading prefix of x shape {x_shape}"),
            "mask shape must be a leading prefix of x shape",
        )
    return m, checks


def _rows_match(
    count: tf.Tensor, count_static: int | None, rows: int | tf.Tensor, message: Callable[[], str]
) -> Checks:
    """``lengths`` has one entry per row of ``x``: raised now if static, else asserted."""
    if count_static is not None and isinstance(rows, int):
        if count_static != rows:
            raise ValueError(message())
        return []
    return require(
        tf.equal(tf.cast(count, tf.int64), tf.cast(rows, tf.int64)),
        lambda: ValueError(message()),
        "lengths must have one entry per row of x",
    )


def _flat_steps(x: tf.Tensor) -> tf.Tensor:
    """``x (B, T, ...)`` as ``(B * T, ...)`` (no -1: steps may have no elements)."""
    dims = tf.shape(x)
    return tf.reshape(x, tf.concat([[dims[0] * dims[1]], dims[2:]], 0))


# --- the compaction at the heart of ragged_from_padded and unpad ---------------------------


_COMPILE_FROM = 2**16  # elements of x; smaller batches run op by op (no tracing)


def _compact(x: tf.Tensor, shape: tuple[int | None, ...], m: tf.Tensor) -> tuple[tf.Tensor, ...]:
    """``(values, indices, row_splits)`` of the valid steps, row-major (``x[mask]``).

    One ``tf.where`` on the mask and one gather (int64 ``indices`` into the
    ``(B * T)`` steps). The row splits come from the sorted indices by a
    binary search (no second pass over the mask). An all-valid mask (no
    padding at all) is a reshape: no copy. Eagerly, a large batch runs
    through a traced graph (a few percent faster: the graph runtime's
    allocations).
    """
    if eager() and x.shape.num_elements() >= _COMPILE_FROM:
        return _compacting(x.dtype, len(shape) - 2)(x, m)
    return _compact_ops(x, shape, m)


def _compact_ops(
    x: tf.Tensor, shape: tuple[int | None, ...], m: tf.Tensor
) -> tuple[tf.Tensor, ...]:
    flat = _flat_steps(x)
    dims = tf.shape(m, out_type=tf.int64)
    starts = tf.range(dims[0] + 1, dtype=tf.int64) * dims[1]

    def gathered() -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        indices = tf.where(tf.reshape(m, [-1]))[:, 0]
        splits = tf.searchsorted(indices, starts, side="left", out_type=tf.int64)
        return tf.gather(flat, indices), indices, splits

    def whole() -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        return flat, tf.range(dims[0] * dims[1], dtype=tf.int64), starts

    everything = tf.reduce_all(m)
    if eager():
        return whole() if bool(everything) else gathered()
    values, indices, splits = tf.cond(everything, whole, gathered)
    values.set_shape([None, *shape[2:]])
    indices.set_shape([None])
    splits.set_shape([None if shape[0] is None else shape[0] + 1])
    return values, indices, splits


@functools.cache
def _compacting(dtype: tf.DType, inner_rank: int) -> Callable[..., tuple[tf.Tensor, ...]]:
    """:func:`_compact_ops` as a concrete function, traced once per dtype and step rank."""
    spec = [tf.TensorSpec([None] * (2 + inner_rank), dtype), tf.TensorSpec([None, None], tf.bool)]

    @tf.function(input_signature=spec, autograph=False)
    def run(x: tf.Tensor, m: tf.Tensor) -> tuple[tf.Tensor, ...]:
        return _compact_ops(x, static_shape(x, "x"), m)

    return run.get_concrete_function()


# --- row splits and lengths ---------------------------------------------------------------


@python_errors
def row_splits_from_lengths(lengths: object) -> tf.Tensor:
    """Mirrors ``reference.row_splits_from_lengths`` (rule stated there): ``[0, l0, l0 + l1, ...]``.

    ``lengths``: 1-D integers (tensor, array or list); int64 ``(B + 1,)``.
    Negative lengths are a ``ValueError`` (an assertion in ``tf.function``).

    >>> row_splits_from_lengths(tf.constant([2, 0, 3])).numpy()
    array([0, 2, 2, 5])
    """
    lengths, checks = _lengths(lengths)
    splits = tf.concat([tf.zeros([1], tf.int64), tf.cumsum(lengths)], 0)
    return with_checks(splits, checks)


@python_errors
def lengths_from_row_splits(row_splits: object) -> tf.Tensor:
    """Mirrors ``reference.lengths_from_row_splits`` (rule stated there): the row lengths.

    ``row_splits``: 1-D integers starting at 0, non-decreasing (``ValueError``
    otherwise; an assertion in ``tf.function``); int64 ``(B,)``.

    >>> lengths_from_row_splits(tf.constant([0, 2, 2, 5])).numpy()
    array([2, 0, 3])
    """
    _, lengths, checks = _row_splits(row_splits)
    return with_checks(lengths, checks)


# --- padded <-> ragged --------------------------------------------------------------------


@python_errors
def ragged_from_padded(x: object, mask: object) -> tuple[tf.Tensor, tf.Tensor]:
    """Mirrors ``reference.ragged_from_padded`` (rule stated there): ``(x[mask], row_splits)``.

    ``x (B, T, ...)`` of any dtype (strings too) and a bool ``(B, T)`` mask,
    holes allowed; ``values (N, ...)`` keep ``x``'s dtype, ``row_splits`` are
    int64. The same work as ``tf.RaggedTensor.from_tensor(x, lengths=...)``
    (one ``tf.where``, one gather), for any mask; an all-valid mask costs no
    copy. Compiles under XLA (``values`` has a bounded dynamic size).

    >>> values, splits = ragged_from_padded(tf.constant([[1, 2, 0], [0, 3, 4]]),
    ...                                     [[True, True, False], [False, True, True]])
    >>> values.numpy(), splits.numpy()
    (array([1, 2, 3, 4], dtype=int32), array([0, 2, 4]))
    """
    x, shape = _data(x, "x", 2)
    m, checks = _mask_2d(x, shape, mask)
    m = with_checks(m, checks)
    values, _, splits = _compact(x, shape, m)
    return values, splits


@python_errors
def padded_from_ragged(
    values: object,
    row_splits: object,
    *,
    maxlen: int | None = None,
    padding: str = "post",
    truncating: str = "pre",
    value: object = 0,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Mirrors ``reference.padded_from_ragged`` (rule stated there): ``(x, mask)``.

    The rows of ``values (N, ...)`` split by ``row_splits``, padded by
    ``RaggedTensor.to_tensor`` where its rule is this one (post-padding that
    keeps the first steps), else by ``tf_impl.pad_flat``'s vectorised gather;
    ``mask`` (``tf.bool``) marks where the kept steps landed. ``value`` is cast
    to ``values``'s dtype by the lossless-cast rule (a string for string
    values). ``maxlen`` may be an integer scalar tensor in ``tf.function``.
    Compiles under XLA (by the gather). A ``tf.RaggedTensor`` goes through
    :func:`from_ragged_tensor`.

    >>> x, mask = padded_from_ragged(tf.constant([1, 2, 3]), tf.constant([0, 2, 3]))
    >>> x.numpy(), mask.numpy()
    (array([[1, 2],
           [3, 0]], dtype=int32), array([[ True,  True],
           [ True, False]]))
    """
    splits, lengths, checks = _row_splits(row_splits)
    values, shape = _data(values, "values", 1)
    end, steps = splits[-1], _dim(values, shape, 0)
    checks += require(
        tf.equal(end, tf.cast(steps, tf.int64)),
        lambda: ValueError(f"row_splits end at {int(end)} but values has {int(steps)} steps"),
        "row_splits must end at the number of steps in values",
    )
    check_choice("padding", padding, PADDING_SIDES)
    check_choice("truncating", truncating, PADDING_SIDES)
    maxlen, more = _size(maxlen, "maxlen", optional=True)
    checks += more
    fill = cast_fill(value, values.dtype, "value", allow_string=True)
    splits, lengths = with_checks([splits, lengths], checks)  # graph mode: assert, then pad
    if padding == "post" and _keeps_heads(lengths, maxlen, truncating) and not _in_xla():
        # TensorFlow's own kernel: one pass, where the gather needs values + fill concatenated
        rt = tf.RaggedTensor.from_row_splits(values, splits, validate=False)
        width = None if maxlen is None else [None, maxlen, *shape[1:]]
        x = rt.to_tensor(default_value=fill, shape=width)
    else:
        x = _pad_core(values, lengths, maxlen, padding, truncating, fill)
    width = _dim(x, static_shape(x, "x"), 1)
    return x, _padding_mask(tf.minimum(lengths, tf.cast(width, tf.int64)), width, padding)


def _keeps_heads(lengths: tf.Tensor, maxlen: int | tf.Tensor | None, truncating: str) -> bool:
    """True when padding keeps the first steps of every row (``RaggedTensor.to_tensor``'s rule)."""
    if maxlen is None or truncating == "post":
        return not isinstance(maxlen, tf.Tensor)
    if eager():  # nothing to truncate: "pre" changes nothing
        return int(tf.reduce_max(tf.concat([lengths, tf.zeros([1], tf.int64)], 0))) <= maxlen
    return False


@python_errors
def to_ragged_tensor(x: object, mask: object) -> tf.RaggedTensor:
    """:func:`ragged_from_padded` as a ``tf.RaggedTensor`` (ragged rank 1, uniform step shape).

    ``to_ragged_tensor(x, mask)[b]`` holds row ``b``'s valid steps in order
    (holes compacted); equal to ``tf.RaggedTensor.from_tensor(x, lengths=...)``
    on post-padded data, and exact for any mask. Row splits are int64.

    >>> to_ragged_tensor(tf.constant([[1, 2, 0], [0, 3, 4]]),
    ...                  [[True, True, False], [False, True, True]]).to_list()
    [[1, 2], [3, 4]]
    """
    values, splits = ragged_from_padded(x, mask)
    return tf.RaggedTensor.from_row_splits(values, splits, validate=False)


@python_errors
def from_ragged_tensor(
    rt: tf.RaggedTensor,
    *,
    maxlen: int | None = None,
    padding: str = "post",
    truncating: str = "pre",
    value: object = 0,
) -> tuple[tf.Tensor, tf.Tensor]:
    """:func:`padded_from_ragged` on a ``tf.RaggedTensor``: ``(x, mask)``.

    ``rt`` must have ragged rank 1 (uniform steps: ``(B, None, ...)``);
    another ragged rank is a ``ValueError``, anything but a ``tf.RaggedTensor``
    a ``TypeError``. Options as :func:`padded_from_ragged` (post-padding by
    default, truncating the head of long rows).

    >>> x, mask = from_ragged_tensor(tf.ragged.constant([[1, 2], [3]]), maxlen=3)
    >>> x.numpy().tolist(), mask.numpy().tolist()
    ([[1, 2, 0], [3, 0, 0]], [[True, True, False], [True, False, False]])
    """
    if not isinstance(rt, tf.RaggedTensor):
        raise TypeError(f"rt must be a tf.RaggedTensor, got {type(rt).__name__}")
    if rt.ragged_rank != 1:
        raise ValueError(
            f"rt must have ragged rank 1 (rows of uniform steps), got ragged rank {rt.ragged_rank}"
        )
    return padded_from_ragged(
        rt.values, rt.row_splits, maxlen=maxlen, padding=padding, truncating=truncating, value=value
    )


# --- packed (PyTorch's PackedSequence layout) -----------------------------------------------


@python_errors
def pack_sequences(x: object, lengths: object, *, enforce_sorted: bool = False) -> PackedSequences:
    """Mirrors ``reference.pack_sequences`` (rule stated there): ``PackedSequences`` of tensors.

    ``x (B, T, ...)`` batch-first and 1-D integer ``lengths`` (at most ``T``;
    zero allowed). The stable sort by decreasing length is ``tf.math.top_k``
    (ties keep their order); ``data`` is one gather from ``x`` in time-major
    order. ``batch_sizes``, ``sorted_indices`` and ``unsorted_indices`` are
    int64. Under XLA (``jit_compile=True``), a ``NotImplementedError``: XLA
    miscompiles the data-dependent size of ``data`` (see the module notes).

    >>> p = pack_sequences(tf.constant([[1, 2, 0], [3, 4, 5]]), [2, 3])
    >>> p.data.numpy(), p.batch_sizes.numpy(), p.sorted_indices.numpy()
    (array([3, 1, 4, 2, 5], dtype=int32), array([2, 2, 1]), array([1, 0]))
    """
    if _in_xla():
        raise NotImplementedError(
            "pack_sequences cannot run under XLA (jit_compile=True): XLA miscompiles the "
            "data-dependent size of the packed data (TensorFlow 2.21: wrong sizes, or an abort "
            "for an empty batch); call it outside the compiled function"
        )
    x, shape = _data(x, "x", 2)
    lengths, checks = _lengths(lengths)
    rows, steps = _dim(x, shape, 0), _dim(x, shape, 1)
    count = tf.size(lengths, out_type=tf.int64)
    checks += _rows_match(
        count,
        lengths.shape[0],
        rows,
        lambda: f"lengths has {int(count)} rows but x has {int(rows)}",
    )
    longest = tf.reduce_max(tf.concat([lengths, tf.zeros([1], tf.int64)], 0))
    checks += require(
        longest <= tf.cast(steps, tf.int64),
        lambda: lengths_exceed_error(int(steps)),
        "lengths must be at most the padded length",
    )
    if enforce_sorted:
        checks += require(
            tf.reduce_all(lengths[1:] <= lengths[:-1]),
            lambda: ValueError(
                "enforce_sorted=True needs lengths in non-increasing order, got "
                f"{lengths.numpy().tolist()}"
            ),
            "enforce_sorted=True needs lengths in non-increasing order",
        )
        lengths = with_checks(lengths, checks)
        order, sorted_lengths = tf.range(count, dtype=tf.int64), lengths
    else:
        lengths = with_checks(lengths, checks)
        top = tf.math.top_k(lengths, k=tf.cast(count, tf.int32))
        order, sorted_lengths = tf.cast(top.indices, tf.int64), top.values
    t = tf.range(longest, dtype=tf.int64)[:, None]
    valid = t < sorted_lengths[None, :]  # (T', B) time-major
    source = tf.boolean_mask(order[None, :] * tf.cast(steps, tf.int64) + t, valid)
    data = tf.gather(_flat_steps(x), source)
    batch_sizes = tf.reduce_sum(tf.cast(valid, tf.int64), axis=1)
    return PackedSequences(data, batch_sizes, order, tf.math.invert_permutation(order))


def _index_vector(value: object, name: str) -> tf.Tensor:
    t = as_tensor(value, name)
    check_integer_dtype(t.dtype.name, name)
    check_rank(static_shape(t, name), 1, name)
    return tf.cast(t, tf.int64)


def _permutations(order: object, inverse: object) -> tuple[tf.Tensor, int | tf.Tensor, Checks]:
    """Mirrors ``reference.ragged.check_permutations``: ``(inverse, rows, checks)``."""
    order = _index_vector(order, "sorted_indices")
    inverse = _index_vector(inverse, "unsorted_indices")
    rows = _dim(order, static_shape(order, "sorted_indices"), 0)
    checks: Checks = []
    if isinstance(rows, int) and inverse.shape[0] is not None:
        if inverse.shape[0] != rows:
            raise permutations_error()
    else:
        checks += require(
            tf.equal(tf.size(inverse, out_type=tf.int64), rows),
            permutations_error,
            "sorted_indices and unsorted_indices differ in size",
        )
        inverse = with_checks(inverse, checks)  # graph mode: same size before reading it
    rows64 = tf.cast(rows, tf.int64)
    in_range = tf.reduce_all((order >= 0) & (order < rows64))
    safe = tf.clip_by_value(order, 0, tf.maximum(rows64 - 1, 0))  # read inverse in range
    undone = tf.reduce_all(tf.equal(tf.gather(inverse, safe), tf.range(rows64)))
    checks += require(
        in_range & undone,
        permutations_error,
        "unsorted_indices must be the inverse permutation of sorted_indices",
    )
    return inverse, rows, checks


@python_errors
def unpack_sequences(
    packed: PackedSequences, *, total_length: int | None = None, padding_value: object = 0
) -> tuple[tf.Tensor, tf.Tensor]:
    """Mirrors ``reference.unpack_sequences`` (rule stated there): ``(x, lengths)``.

    ``packed``: a :class:`PackedSequences` (or any 4-sequence) of tensors,
    arrays or lists. The batch-first ``(B, T, ...)`` result is one gather from
    ``data`` with ``padding_value`` appended (cast losslessly to ``data``'s
    dtype); ``lengths`` are int64. The packing is checked as in the reference
    (assertions in ``tf.function``). Compiles under XLA.

    >>> x, lengths = unpack_sequences(pack_sequences(tf.constant([[1, 2, 0], [3, 4, 5]]), [2, 3]))
    >>> x.numpy(), lengths.numpy()
    (array([[1, 2, 0],
           [3, 4, 5]], dtype=int32), array([2, 3]))
    """
    data, batch_sizes, order, inverse = packed
    data, shape = _data(data, "data", 1)
    inverse, rows, checks = _permutations(order, inverse)
    batch_sizes = as_tensor(batch_sizes, "batch_sizes")
    check_integer_dtype(batch_sizes.dtype.name, "batch_sizes")
    check_rank(static_shape(batch_sizes, "batch_sizes"), 1, "batch_sizes")
    sizes = tf.cast(batch_sizes, tf.int64)
    n = _dim(data, shape, 0)
    rows64, n64 = tf.cast(rows, tf.int64), tf.cast(n, tf.int64)
    first = tf.reduce_max(tf.concat([sizes, tf.zeros([1], tf.int64)], 0))  # if non-increasing
    ok = tf.reduce_all(sizes >= 1) & tf.reduce_all(sizes[1:] <= sizes[:-1]) & (first <= rows64)
    checks += require(
        ok & tf.equal(tf.reduce_sum(sizes), n64),
        lambda: _reference_error(check_packed, batch_sizes.numpy(), int(rows), int(n)),
        "batch_sizes must be positive, non-increasing, at most the rows, and sum to the steps",
    )
    total_length, more = _size(total_length, "total_length", optional=True)
    checks += more
    steps = tf.size(sizes, out_type=tf.int64)
    if total_length is None:
        width = steps if batch_sizes.shape[0] is None else batch_sizes.shape[0]
    else:
        width = total_length
        checks += require(
            tf.cast(width, tf.int64) >= steps,
            lambda: ValueError(
                f"total_length={int(width)} is shorter than the longest sequence ({int(steps)})"
            ),
            "total_length is shorter than the longest sequence",
        )
    fill = cast_fill(padding_value, data.dtype, "padding_value", allow_string=True)
    sizes, inverse = with_checks([sizes, inverse], checks)  # graph mode: assert, then gather
    width64 = tf.cast(width, tf.int64)
    sorted_lengths = tf.reduce_sum(
        tf.cast(sizes[None, :] > tf.range(rows64)[:, None], tf.int64), axis=1
    )
    offsets = tf.pad(tf.cumsum(sizes, exclusive=True), [[0, width64 - steps]])  # (width,)
    j = inverse[:, None]  # the sorted position of each output row
    t = tf.range(width64)[None, :]
    valid = t < tf.gather(sorted_lengths, inverse)[:, None]
    index = tf.where(valid, offsets[None, :] + j, n64)  # n: the appended padding_value
    inner = tf.shape(data)[1:]
    params = tf.concat([data, tf.fill(tf.concat([[1], inner], 0), fill)], 0)
    x = tf.gather(params, index)
    x.set_shape([inverse.shape[0], width if isinstance(width, int) else None, *shape[1:]])
    return x, tf.gather(sorted_lengths, inverse)


# --- unpadded (varlen attention) ----------------------------------------------------------


@python_errors
def unpad(x: object, mask: object) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, int | tf.Tensor]:
    """Mirrors ``reference.unpad`` (rule stated there): the varlen-attention layout.

    ``(values, indices, cu_seqlens, max_seqlen)``: ``indices`` int64 (flat
    ``b * T + t``), ``cu_seqlens`` int32, ``max_seqlen`` a Python int in eager
    mode (a 0-d int64 tensor inside ``tf.function``). The compaction is
    :func:`ragged_from_padded`'s (holes compacted, no copy for an all-valid
    mask). Compiles under XLA.

    >>> values, indices, cu, longest = unpad(tf.constant([[5, 6], [7, 8]]),
    ...                                      [[True, False], [True, True]])
    >>> values.numpy(), indices.numpy(), cu.numpy(), longest
    (array([5, 7, 8], dtype=int32), array([0, 2, 3]), array([0, 1, 3], dtype=int32), 2)
    """
    x, shape = _data(x, "x", 2)
    m, checks = _mask_2d(x, shape, mask)
    m = with_checks(m, checks)
    values, indices, splits = _compact(x, shape, m)
    counts = splits[1:] - splits[:-1]
    longest = tf.reduce_max(tf.concat([counts, tf.zeros([1], tf.int64)], 0))
    return values, indices, tf.cast(splits, tf.int32), int(longest) if eager() else longest


@python_errors
def repad(values: object, indices: object, batch: int, seqlen: int) -> tf.Tensor:
    """Mirrors ``reference.repad`` (rule stated there): ``values`` back at ``indices``, 0 elsewhere.

    ``batch`` and ``seqlen``: non-negative ints (integer scalar tensors inside
    ``tf.function``). ``indices`` must be distinct integers in
    ``[0, batch * seqlen)``, one per step of ``values`` (``ValueError``;
    assertions in ``tf.function``). One scatter of the small inverse map, then
    one gather: ``(batch, seqlen, ...)`` of ``values``'s dtype (empty strings
    for string values). Compiles under XLA for static ``batch`` and ``seqlen``.

    >>> repad(tf.constant([5, 7, 8]), tf.constant([0, 2, 3]), 2, 2).numpy()
    array([[5, 0],
           [7, 8]], dtype=int32)
    """
    batch, checks = _size(batch, "batch", optional=False)
    seqlen, more = _size(seqlen, "seqlen", optional=False)
    checks += more
    values, shape = _data(values, "values", 1)
    idx = as_tensor(indices, "indices")
    check_integer_dtype(idx.dtype.name, "indices")
    check_rank(static_shape(idx, "indices"), 1, "indices")
    idx = tf.cast(idx, tf.int64)
    size = tf.cast(batch, tf.int64) * tf.cast(seqlen, tf.int64)
    count = _dim(values, shape, 0)
    n = tf.size(idx, out_type=tf.int64)

    def reference_error() -> Exception:
        return _reference_error(check_indices, idx.numpy(), int(size), int(count))

    if idx.shape[0] is not None and isinstance(count, int):
        if idx.shape[0] != count:
            raise reference_error()
    else:
        checks += require(
            tf.equal(n, tf.cast(count, tf.int64)),
            reference_error,
            "indices must have one entry per step of values",
        )
    lowest = tf.reduce_min(tf.concat([idx, tf.zeros([1], tf.int64)], 0))
    highest = tf.reduce_max(tf.concat([idx, -tf.ones([1], tf.int64)], 0))
    checks += require(
        (lowest >= 0) & (highest < size), reference_error, "indices must lie in [0, batch * seqlen)"
    )
    idx = with_checks(idx, checks)  # graph mode: assert before scattering
    slot = tf.range(1, n + 1, dtype=tf.int64)
    source = tf.scatter_nd(idx[:, None], slot, size[None])  # 1 + the step landing in each slot
    distinct = tf.reduce_all(tf.equal(tf.gather(source, idx), slot))  # a repeat sums two slots
    source = with_checks(source, require(distinct, reference_error, "indices must not repeat"))
    inner = tf.shape(values)[1:]
    params = tf.concat([tf.zeros(tf.concat([[1], inner], 0), values.dtype), values], 0)
    out = tf.gather(params, source)
    dims = tf.stack([tf.cast(batch, tf.int64), tf.cast(seqlen, tf.int64)])
    out = tf.reshape(out, tf.concat([dims, tf.cast(inner, tf.int64)], 0))
    out.set_shape(
        [
            batch if isinstance(batch, int) else None,
            seqlen if isinstance(seqlen, int) else None,
            *shape[1:],
        ]
    )
    return out


# --- per-row operations -------------------------------------------------------------------


@python_errors
def reverse_sequences(
    x: object, lengths: object, *, axis: int = 1, padding: str = "post"
) -> tf.Tensor:
    """Mirrors ``reference.reverse_sequences`` (rule stated there): valid steps reversed in place.

    ``tf.reverse_sequence``'s rule for ``padding="post"``, extended to
    left-padded rows (``"pre"``); one batched gather along ``axis`` (not 0).
    ``lengths``: 1-D integers, at most the size of ``axis``. Compiles under XLA.

    >>> reverse_sequences(tf.constant([[0, 1, 2, 3], [0, 0, 4, 5]]), [3, 2], padding="pre").numpy()
    array([[0, 3, 2, 1],
           [0, 0, 5, 4]], dtype=int32)
    """
    x, shape = _data(x, "x", 2)
    check_choice("padding", padding, PADDING_SIDES)
    ax = normalize_single_axis(axis, len(shape))
    if ax == 0:
        raise ValueError("axis must not be 0, the batch axis")
    lengths, checks = _lengths(lengths)
    rows, steps = _dim(x, shape, 0), _dim(x, shape, ax)
    count = tf.size(lengths, out_type=tf.int64)
    checks += _rows_match(
        count,
        lengths.shape[0],
        rows,
        lambda: f"lengths has {int(count)} rows but x has {int(rows)}",
    )
    longest = tf.reduce_max(tf.concat([lengths, tf.zeros([1], tf.int64)], 0))
    checks += require(
        longest <= tf.cast(steps, tf.int64),
        lambda: lengths_exceed_error(int(steps)),
        "lengths must be at most the padded length",
    )
    lengths = with_checks(lengths, checks)
    source = _reversed_positions(lengths, tf.cast(steps, tf.int64), padding)
    return tf.gather(x, source, axis=ax, batch_dims=1)


def _reversed_positions(lengths: tf.Tensor, steps: tf.Tensor, padding: str) -> tf.Tensor:
    """Mirrors ``reference.ragged.reversed_positions``: the step each output step reads."""
    t = tf.range(steps, dtype=tf.int64)[None, :]
    n = lengths[:, None]
    if padding == "post":
        return tf.where(t < n, n - 1 - t, t)
    start = steps - n
    return tf.where(t >= start, start + steps - 1 - t, t)


def _int_option(value: object, name: str) -> int | tf.Tensor:
    """``reference.ragged.check_int``, plus symbolic integer scalars inside ``tf.function``."""
    if _is_tensor(value) and not eager():
        if value.shape.rank != 0 or not value.dtype.is_integer:
            raise TypeError(f"{name} must be an int, got {value!r}")
        return tf.cast(value, tf.int64)
    return check_int(value, name)


@python_errors
def positions_from_mask(mask: object, *, start: int = 0, fill: int = 0) -> tf.Tensor:
    """Mirrors ``reference.positions_from_mask`` (rule stated there): int64 position ids.

    ``cumsum(mask, -1) - 1 + start`` at valid steps, ``fill`` at masked ones;
    ``mask``: bool, any rank >= 1. ``start`` and ``fill`` may be integer scalar
    tensors inside ``tf.function``. Compiles under XLA.

    >>> positions_from_mask(tf.constant([[False, True, True], [True, True, False]])).numpy()
    array([[0, 0, 1],
           [0, 1, 0]])
    """
    m = as_tensor(mask, "mask")
    check_mask_dtype(m.dtype.name)
    check_min_rank(static_shape(m, "mask"), 1, "mask")
    first = _int_option(start, "start")
    other = _int_option(fill, "fill")
    positions = tf.cumsum(tf.cast(m, tf.int64), axis=-1) - 1 + tf.cast(first, tf.int64)
    return tf.where(m, positions, tf.cast(other, tf.int64))


def _edge_valid(x: object, mask: object, empty: object, last: bool) -> tf.Tensor:
    """Mirrors ``reference.ragged._edge_valid``: each row's last (first) valid step."""
    x, shape = _data(x, "x", 2)
    m, checks = _mask_2d(x, shape, mask)
    fill = cast_fill(empty, x.dtype, "empty", allow_string=True)
    m = with_checks(m, checks)
    out_shape = tf.concat([tf.shape(x)[:1], tf.shape(x)[2:]], 0)
    has = tf.reduce_any(m, axis=1)

    def picked() -> tf.Tensor:
        steps = tf.shape(m)[1]
        t = tf.range(steps)[None, :]
        if last:
            index = tf.reduce_max(tf.where(m, t, 0), axis=1)
        else:
            index = tf.reduce_min(tf.where(m, t, steps - 1), axis=1)
        edge = tf.gather(x, index, axis=1, batch_dims=1)  # an index in range, valid or not
        keep = tf.reshape(has, tf.concat([tf.shape(has), tf.ones([len(shape) - 2], tf.int32)], 0))
        return tf.where(keep, edge, fill)

    def nothing() -> tf.Tensor:
        return tf.fill(out_shape, fill)

    if shape[1] is not None:
        out = picked() if shape[1] else nothing()
    else:
        out = tf.cond(tf.shape(m)[1] > 0, picked, nothing)
    out.set_shape([shape[0], *shape[2:]])
    return out


@python_errors
def last_valid(x: object, mask: object, *, empty: object = 0) -> tf.Tensor:
    """Mirrors ``reference.last_valid`` (rule stated there): each row's last valid step.

    ``x (B, T, ...)`` with a bool ``(B, T)`` mask (holes allowed); ``(B, ...)``
    of ``x``'s dtype, ``empty`` (cast losslessly) for rows with no valid step.
    One batched gather; only valid steps are read into the result, so NaN/inf
    in padding never reach it (and the gradient there is exactly 0).
    Compiles under XLA.

    >>> last_valid(tf.constant([[1, 2, 0], [3, 0, 0]]), [[True, True, False], [False] * 3]).numpy()
    array([2, 0], dtype=int32)
    """
    return _edge_valid(x, mask, empty, last=True)


@python_errors
def first_valid(x: object, mask: object, *, empty: object = 0) -> tf.Tensor:
    """Mirrors ``reference.first_valid`` (rule stated there): each row's first valid step.

    As :func:`last_valid`, with the smallest valid step.

    >>> first_valid(tf.constant([[0, 1, 2], [0, 0, 0]]), [[False, True, True], [False] * 3]).numpy()
    array([1, 0], dtype=int32)
    """
    return _edge_valid(x, mask, empty, last=False)
