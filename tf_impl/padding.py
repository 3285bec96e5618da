"""Padding and truncation of variable-length sequences, in TensorFlow.

Mirrors :mod:`reference.padding` (the rules are stated there). Tensor inputs
(a ``tf.RaggedTensor``, a dense tensor, a list of tensors, or ``pad_flat``'s
flat values + lengths) take one vectorised path: :func:`_pad_core` builds a
gather index for every output slot and fills the rest. Python lists and
NumPy arrays are padded by ``reference.pad_sequences`` and converted.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence

import tensorflow as tf

import reference
from maskref.api.checks import PADDING_SIDES, check_choice, check_maxlen, check_min_rank

from ._convert import (
    as_tensor,
    cast_fill,
    cast_tensor,
    eager,
    python_errors,
    reference_only_error,
    require,
    resolve_dtype,
    static_shape,
    tf_dtype,
    with_checks,
)

__all__ = ["pad_flat", "pad_sequences", "padding_mask", "unpad_sequences"]

_INT32_LIMIT = 2**31 - 1


def padding_mask(kept: object, maxlen: int | tf.Tensor, padding: str) -> tf.Tensor:
    """Mirrors ``reference.padding.padding_mask``: where the kept steps of each row land.

    ``kept`` (B,) integer lengths already clipped to ``[0, maxlen]``; the result
    is a ``(B, maxlen)`` ``tf.bool`` tensor, valid steps first (``padding="post"``)
    or last (``"pre"``). ``maxlen`` may be a scalar tensor (graph mode).

    >>> padding_mask(tf.constant([1, 3]), 3, "pre").numpy()
    array([[False, False,  True],
           [ True,  True,  True]])
    """
    kept = tf.cast(as_tensor(kept, "kept"), tf.int64)
    steps = tf.range(tf.cast(maxlen, tf.int64), dtype=tf.int64)
    if padding == "post":
        return steps < kept[:, None]
    return steps >= (tf.cast(maxlen, tf.int64) - kept)[:, None]


def _maxlen(maxlen: object) -> tuple[int | tf.Tensor | None, list]:
    """``check_maxlen``, plus integer scalar tensors (symbolic ones inside ``tf.function``).

    ``check_maxlen`` reads a tensor's dtype from ``str(dtype)``, which for
    TensorFlow is ``"<dtype: 'int32'>"``, so it refuses TF scalars: they are
    checked here.
    """
    if isinstance(maxlen, (tf.Tensor, tf.Variable)):
        if maxlen.shape.rank != 0 or not maxlen.dtype.is_integer:
            raise TypeError(
                f"maxlen must be None or a non-negative int, got {maxlen!r} "
                f"of type {type(maxlen).__name__}"
            )
        if eager():
            return check_maxlen(int(maxlen)), []
        maxlen = tf.cast(maxlen, tf.int64)
        checks = require(
            maxlen >= 0,
            lambda: ValueError("maxlen must be non-negative"),
            "maxlen must be non-negative",
        )
        return maxlen, checks
    return check_maxlen(maxlen), []


def _lengths(lengths: object, name: str = "lengths") -> tuple[tf.Tensor, list]:
    """Validated (B,) int64 lengths, as ``reference.padding._check_lengths``."""
    t = as_tensor(lengths, name)
    if not t.dtype.is_integer:
        raise TypeError(f"{name} must hold integers, got dtype {t.dtype.name}")
    shape = static_shape(t, name)
    if len(shape) != 1:
        raise ValueError(f"{name} must have 1 axis, got shape {shape}")
    lowest = tf.reduce_min(tf.concat([tf.cast(t, tf.int64), tf.zeros([1], tf.int64)], 0))
    checks = require(
        lowest >= 0,
        lambda: ValueError(f"{name} must be non-negative, got {int(lowest)}"),
        f"{name} must be non-negative",
    )
    return tf.cast(t, tf.int64), checks


def _longest(lengths: tf.Tensor) -> int | tf.Tensor:
    """``max(lengths)`` (0 for no rows): a Python int in eager mode."""
    longest = tf.maximum(tf.reduce_max(lengths), tf.constant(0, tf.int64))
    return int(longest) if eager() else longest


def _gather_index(
    lengths: tf.Tensor,
    n: tf.Tensor,
    maxlen: int | tf.Tensor,
    padding: str,
    truncating: str,
    itype: tf.DType,
) -> tf.Tensor:
    """``(B, maxlen)`` indices into ``concat([values, [fill]])``: ``n`` marks a padded slot."""
    lengths = tf.cast(lengths, itype)
    n = tf.cast(n, itype)
    width = tf.cast(maxlen, itype)
    kept = tf.minimum(lengths, width)
    base = tf.cumsum(lengths, exclusive=True)  # where each row starts in values
    if truncating == "pre":
        base += lengths - kept  # skip the dropped head of the row
    steps = tf.range(width, dtype=itype)
    if padding == "pre":
        base -= width - kept
        valid = steps >= (width - kept)[:, None]
    else:
        valid = steps < kept[:, None]
    return tf.where(valid, base[:, None] + steps, n)


def _gather_padded(
    values: tf.Tensor,
    lengths: tf.Tensor,
    maxlen: int | tf.Tensor,
    padding: str,
    truncating: str,
    fill: tf.Tensor,
    itype: tf.DType,
) -> tf.Tensor:
    """The padded batch: one ``gather_nd`` from ``values`` with ``fill`` appended."""
    inner = tf.shape(values)[1:]
    params = tf.concat([values, tf.fill(tf.concat([[1], inner], 0), fill)], 0)
    n = tf.shape(values, out_type=tf.int64)[0]
    index = _gather_index(lengths, n, maxlen, padding, truncating, itype)
    return tf.gather_nd(params, index[..., None])


@functools.cache
def _compiled(
    padding: str, truncating: str, dtype: tf.DType, inner_rank: int, itype: tf.DType
) -> Callable[..., tf.Tensor]:
    """:func:`_gather_padded` as a graph function, traced once per signature.

    Eager mode runs large batches through it: the graph runtime reuses the
    intermediate buffers, which eager ops cannot (about 25% faster).
    """
    spec = [
        tf.TensorSpec([None] * (1 + inner_rank), dtype),
        tf.TensorSpec([None], tf.int64),
        tf.TensorSpec([], tf.int64),
        tf.TensorSpec([], dtype),
    ]

    @tf.function(input_signature=spec)
    def run(values: tf.Tensor, lengths: tf.Tensor, maxlen: tf.Tensor, fill: tf.Tensor):
        return _gather_padded(values, lengths, maxlen, padding, truncating, fill, itype)

    # A concrete function: traced here, once, and never counted as "retracing".
    return run.get_concrete_function()


_COMPILE_FROM = 2**16  # output elements; smaller batches run op by op (no tracing)


def _pad_core(
    values: tf.Tensor,
    lengths: tf.Tensor,
    maxlen: int | tf.Tensor | None,
    padding: str,
    truncating: str,
    fill: tf.Tensor,
) -> tf.Tensor:
    """Pad validated flat ``values`` (N, *inner) by int64 ``lengths`` (B,) to (B, maxlen, *inner).

    One gather: every output slot reads either its step of ``values`` or the
    appended ``fill``. No loop over rows. Index arithmetic is int32 whenever
    ``N + maxlen`` fits (about twice as fast on CPU), else int64.
    """
    if maxlen is None:
        maxlen = _longest(lengths)
    inner_static = values.shape[1:]
    static = [lengths.shape[0], maxlen if isinstance(maxlen, int) else None, *inner_static]
    if inner_static.is_fully_defined() and inner_static.num_elements() == 0:
        inner = tf.shape(values)[1:]
        shape = tf.concat([tf.shape(lengths), [tf.cast(maxlen, tf.int32)], inner], 0)
        out = tf.fill(shape, fill)  # steps of size 0: nothing to gather
        out.set_shape(static)
        return out
    n = tf.shape(values, out_type=tf.int64)[0]
    if eager():
        itype = tf.int32 if int(n) + int(maxlen) < _INT32_LIMIT else tf.int64
        if int(tf.size(lengths)) * int(maxlen) * inner_static.num_elements() < _COMPILE_FROM:
            out = _gather_padded(values, lengths, maxlen, padding, truncating, fill, itype)
        else:
            run = _compiled(padding, truncating, values.dtype, len(inner_static), itype)
            out = run(values, lengths, tf.constant(maxlen, tf.int64), fill)
    elif inner_static.is_fully_defined():
        small = n + tf.cast(maxlen, tf.int64) < _INT32_LIMIT
        out = tf.cond(
            small,
            lambda: _gather_padded(values, lengths, maxlen, padding, truncating, fill, tf.int32),
            lambda: _gather_padded(values, lengths, maxlen, padding, truncating, fill, tf.int64),
        )
    else:  # unknown step sizes (maybe 0): tf.gather copes, gather_nd does not
        inner = tf.shape(values)[1:]
        params = tf.concat([values, tf.fill(tf.concat([[1], inner], 0), fill)], 0)
        index = _gather_index(lengths, n, maxlen, padding, truncating, tf.int64)
        out = tf.gather(params, index)
    out.set_shape(static)
    return out


@python_errors
def pad_flat(
    values: object,
    lengths: object,
    maxlen: int | None = None,
    padding: str = "pre",
    truncating: str = "pre",
    value: object = 0,
) -> tf.Tensor:
    """Mirrors ``reference.pad_flat`` (rule stated there): pad one concatenated buffer.

    ``values`` (N, *inner) and integer ``lengths`` (B,) may be tensors, arrays
    or lists; the result is a ``(B, maxlen, *inner)`` ``tf.Tensor`` of
    ``values``'s dtype, ``value`` cast to it by the lossless-cast rule. The
    work is vectorised (one gather, no loop over rows) and runs inside
    ``tf.function``: ``maxlen`` is then a Python int, ``None`` or an integer
    scalar tensor, and the data checks (non-negative lengths, their sum)
    become assertions. String values are reference-only (``TypeError``).

    >>> pad_flat(tf.constant([1, 2, 3, 4]), tf.constant([3, 1]), padding="post").numpy()
    array([[1, 2, 3],
           [4, 0, 0]], dtype=int32)
    """
    check_choice("padding", padding, PADDING_SIDES)
    check_choice("truncating", truncating, PADDING_SIDES)
    maxlen, checks = _maxlen(maxlen)
    values = as_tensor(values, "values")
    check_min_rank(static_shape(values, "values"), 1, "values")
    if values.dtype == tf.string:
        raise reference_only_error("values dtype", "string")
    lengths, more = _lengths(lengths)
    checks += more
    total = tf.reduce_sum(lengths)
    steps = tf.shape(values, out_type=tf.int64)[0]
    checks += require(
        tf.equal(total, steps),
        lambda: ValueError(f"lengths sum to {int(total)} but values has {int(steps)} steps"),
        "lengths must sum to the number of steps in values",
    )
    fill = cast_fill(value, values.dtype, "value")
    lengths = with_checks(lengths, checks)  # graph mode: assert before gathering
    return _pad_core(values, lengths, maxlen, padding, truncating, fill)


def _uniform_steps(inner: tf.RaggedTensor) -> tuple[tf.Tensor, list]:
    """The steps of a batch with ragged_rank > 1 as a dense tensor, if their shape is uniform."""
    dense = inner.to_tensor()
    uniform = tf.equal(tf.size(dense), tf.size(inner.flat_values))
    checks = require(
        uniform,
        lambda: ValueError(
            "sequences has ragged inner dimensions: every step must have the same shape"
        ),
        "sequences has ragged inner dimensions",
    )
    return dense, checks


def _tensor_batch(sequences: object, dtype: tf.DType) -> tuple[tf.Tensor, tf.Tensor, list] | None:
    """``(flat values, int64 lengths, checks)`` for tensor input, None for anything else."""
    if isinstance(sequences, tf.RaggedTensor):
        lengths = tf.cast(sequences.row_lengths(), tf.int64)
        flat = sequences.values
        checks: list = []
        if isinstance(flat, tf.RaggedTensor):
            flat, checks = _uniform_steps(flat)
        return flat, lengths, checks
    if isinstance(sequences, (tf.Tensor, tf.Variable)):
        dense = tf.convert_to_tensor(sequences)
        shape = static_shape(dense, "sequences")
        if len(shape) == 0:
            raise TypeError("sequences must be an iterable of sequences, got a 0-d array")
        if len(shape) == 1:
            if shape[0] != 0:
                first = dense[0].numpy() if eager() else dense[0]
                raise TypeError(
                    f"sequences[0] must be a sequence (list, tuple or array), got {first!r}"
                )
            return tf.reshape(dense, [0]), tf.zeros([0], tf.int64), []
        dims = tf.shape(dense, out_type=tf.int64)
        flat = tf.reshape(dense, tf.concat([[-1], tf.shape(dense)[2:]], 0))
        return flat, tf.fill(dims[:1], dims[1]), []
    if (
        isinstance(sequences, (list, tuple))
        and sequences
        and all(isinstance(s, (tf.Tensor, tf.Variable)) for s in sequences)
    ):
        return _concat_tensors([tf.convert_to_tensor(s) for s in sequences], dtype)
    return None


def _concat_tensors(seqs: list[tf.Tensor], dtype: tf.DType) -> tuple[tf.Tensor, tf.Tensor, list]:
    """A list of tensors as one buffer: ``tf.concat`` of the rows plus their lengths."""
    inner: tuple | None = None
    for i, s in enumerate(seqs):
        shape = static_shape(s, f"sequences[{i}]")
        if len(shape) == 0:
            got = s.numpy() if eager() else s
            raise TypeError(
                f"sequences[{i}] must be a sequence (list, tuple or array), got {got!r}"
            )
        if shape[0] == 0 and len(shape) == 1:
            continue  # an empty sequence fits any inner shape
        if inner is None:
            inner = shape[1:]
        elif not _compatible(shape[1:], inner):
            raise ValueError(
                f"sequences[{i}] has steps of shape {shape[1:]}, but earlier sequences "
                f"have steps of shape {inner}"
            )
    inner = inner or ()
    empty_inner = [0 if d is None else d for d in inner]
    parts = [
        tf.reshape(s, [0, *empty_inner]) if s.shape.rank == 1 and s.shape[0] == 0 else s
        for s in seqs
    ]
    if len({p.dtype for p in parts}) > 1:  # cast each part; concat needs one dtype
        parts = [cast_tensor(p, dtype, "sequences") for p in parts]
    flat = tf.concat(parts, 0)
    known = [p.shape[0] for p in parts]
    if all(k is not None for k in known):
        lengths = tf.constant(known, tf.int64)
    else:
        lengths = tf.stack([tf.shape(p, out_type=tf.int64)[0] for p in parts])
    return flat, lengths, []


def _compatible(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


@python_errors
def pad_sequences(
    sequences: Iterable[Sequence] | tf.RaggedTensor | tf.Tensor,
    maxlen: int | None = None,
    dtype: object = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: object = 0.0,
) -> tf.Tensor:
    """Mirrors ``reference.pad_sequences`` (rule stated there): a ``(B, maxlen, ...)`` tensor.

    Accepted ``sequences``: a ``tf.RaggedTensor`` (uniform step shape; ragged
    inner dimensions that turn out uniform are accepted), a dense tensor
    (B rows of length T), a list/tuple of tensors (rows of any length), or
    anything ``reference.pad_sequences`` accepts (Python lists, NumPy arrays),
    which is padded by the reference and converted. Tensor input is padded by
    the vectorised ``pad_flat`` path and works inside ``tf.function``.

    ``dtype``: a name (``"int32"``), ``np.dtype`` or ``tf.DType``; the result
    has exactly that dtype. Data and ``value`` are cast by the lossless-cast
    rule (``ValueError`` in eager mode, an assertion in graph mode). String and
    object dtypes are reference-only (``TypeError``).

    >>> rt = tf.ragged.constant([[1, 2, 3], [4, 5], [1, 4, 8, 19]])
    >>> pad_sequences(rt, padding="post").numpy()
    array([[ 1,  2,  3,  0],
           [ 4,  5,  0,  0],
           [ 1,  4,  8, 19]], dtype=int32)
    >>> pad_sequences([[1], [2, 3]], maxlen=0, dtype=tf.int64).shape
    TensorShape([2, 0])
    """
    check_choice("padding", padding, PADDING_SIDES)
    check_choice("truncating", truncating, PADDING_SIDES)
    maxlen, checks = _maxlen(maxlen)
    np_target = resolve_dtype(dtype)
    target = tf_dtype(np_target)
    batch = _tensor_batch(sequences, target)
    if batch is None:
        if isinstance(maxlen, tf.Tensor):
            raise TypeError("a tensor maxlen needs tensor sequences (a RaggedTensor or tensors)")
        padded = reference.pad_sequences(sequences, maxlen, np_target, padding, truncating, value)
        return tf.convert_to_tensor(padded, dtype=target)
    flat, lengths, more = batch
    checks += more
    flat = cast_tensor(flat, target, "sequences")
    fill = cast_fill(value, target, "value")
    lengths = with_checks(lengths, checks)  # graph mode: assert before gathering
    return _pad_core(flat, lengths, maxlen, padding, truncating, fill)


@python_errors
def unpad_sequences(padded: object, lengths: object, padding: str = "post") -> list[tf.Tensor]:
    """Mirrors ``reference.unpad_sequences`` (rule stated there): the valid part of each row.

    ``padded`` (B, T, ...) and integer ``lengths`` (B,) may be tensors, arrays or
    lists; returns a list of B tensors (``tf.boolean_mask`` then ``tf.split``,
    no loop over rows). In a ``tf.function`` the batch size must be static
    (the list has one tensor per row) and the length checks become assertions.

    >>> [t.numpy().tolist() for t in unpad_sequences(tf.constant([[1, 2, 0], [3, 0, 0]]), [2, 1])]
    [[1, 2], [3]]
    """
    check_choice("padding", padding, PADDING_SIDES)
    padded = as_tensor(padded, "padded")
    shape = static_shape(padded, "padded")
    check_min_rank(shape, 2, "padded")
    lengths, checks = _lengths(lengths)
    count = lengths.shape[0]
    rows, steps = shape[0], shape[1]
    if count is not None and rows is not None and count != rows:
        raise ValueError(f"lengths has {count} entries but padded has {rows} rows")
    dims = tf.shape(padded, out_type=tf.int64)
    if count is None or rows is None:
        checks += require(
            tf.equal(tf.size(lengths, out_type=tf.int64), dims[0]),
            lambda: ValueError("lengths must have one entry per row of padded"),
            "lengths must have one entry per row of padded",
        )
    longest = tf.reduce_max(tf.concat([lengths, tf.zeros([1], tf.int64)], 0))
    checks += require(
        longest <= dims[1],
        lambda: ValueError(
            f"lengths must be at most padded.shape[1] = {steps}, got {int(longest)}"
        ),
        "lengths must be at most padded.shape[1]",
    )
    num = count if count is not None else rows
    if num is None:
        raise ValueError("unpad_sequences needs a static batch size inside tf.function")
    if num == 0:
        return []
    lengths = with_checks(lengths, checks)  # graph mode: assert before splitting
    valid = tf.boolean_mask(padded, padding_mask(lengths, dims[1], padding))
    return tf.split(valid, lengths, num=num, axis=0)
