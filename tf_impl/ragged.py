"""Ragged, packed and unpadded layouts in TensorFlow (rules and checks: the front ends,
:mod:`maskref.api.ragged`).

Results are ``tf.Tensor`` (row splits, indices, lengths, batch sizes and
positions ``tf.int64``, ``cu_seqlens`` ``tf.int32``, masks ``tf.bool``).
Everything is vectorised (gathers driven by index arithmetic, no loop over
rows) and runs inside ``tf.function`` with static ranks; there the
data-dependent checks become assertions. Under ``tf.function(jit_compile=True)``
every function compiles, those whose result size depends on the data too
(XLA's bounded dynamic sizes), except ``pack_sequences``, which XLA
miscompiles (TensorFlow 2.21: wrong sizes, or an abort for an empty batch): it
raises ``NotImplementedError`` there. XLA drops assertions, so compiled code
does not check the data. :func:`to_ragged_tensor` and
:func:`from_ragged_tensor` convert from and to ``tf.RaggedTensor``; the paths
that depend on the size or the data are in :mod:`tf_impl._fast_ragged`.
"""

from __future__ import annotations

import tensorflow as tf

import tf_impl as _public  # the public functions (bound at package import)
from maskref.api.ragged import PackedSequences

from . import _fast_ragged
from ._convert import cast_fill, eager, python_errors
from .padding import _pad_core, padding_mask


def _dim(t: tf.Tensor, axis: int) -> int | tf.Tensor:
    """Size of ``axis``: a Python int when static, else an int64 scalar tensor."""
    size = t.shape[axis]
    return size if size is not None else tf.shape(t, out_type=tf.int64)[axis]


def _flat_steps(x: tf.Tensor) -> tf.Tensor:
    """``x (B, T, ...)`` as ``(B * T, ...)`` (no -1: steps may have no elements)."""
    dims = tf.shape(x)
    return tf.reshape(x, tf.concat([[dims[0] * dims[1]], dims[2:]], 0))


def _longest(lengths: tf.Tensor) -> tf.Tensor:
    return tf.reduce_max(tf.concat([lengths, tf.zeros([1], tf.int64)], 0))


# --- row splits and lengths ---------------------------------------------------------------


def row_splits_from_lengths(lengths: tf.Tensor) -> tf.Tensor:
    """Inside ``tf.function`` a sum past ``2**63 - 1`` is an assertion.

    >>> row_splits_from_lengths(tf.constant([2, 0, 3])).numpy()
    array([0, 2, 2, 5])
    """
    return tf.concat([tf.zeros([1], tf.int64), tf.cumsum(lengths)], 0)


def lengths_from_row_splits(row_splits: tf.Tensor) -> tf.Tensor:
    return row_splits[1:] - row_splits[:-1]


# --- padded <-> ragged --------------------------------------------------------------------


def _compact(x: tf.Tensor, m: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """``(values, indices, row_splits)`` of the valid steps, row-major (``x[mask]``).

    One ``tf.where`` on the mask and one gather (int64 ``indices`` into the
    ``(B * T)`` steps); the row splits come from the sorted indices by a binary
    search (no second pass over the mask).
    """
    dims = tf.shape(m, out_type=tf.int64)
    starts = tf.range(dims[0] + 1, dtype=tf.int64) * dims[1]
    indices = tf.where(tf.reshape(m, [-1]))[:, 0]
    splits = tf.searchsorted(indices, starts, side="left", out_type=tf.int64)
    return tf.gather(_flat_steps(x), indices), indices, splits


def ragged_from_padded(x: tf.Tensor, mask: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Any dtype (strings too). The same work as ``tf.RaggedTensor.from_tensor(x,
    lengths=...)`` (one ``tf.where``, one gather), for any mask; an all-valid mask costs no
    copy. Compiles under XLA (``values`` has a bounded dynamic size).

    >>> values, splits = ragged_from_padded(tf.constant([[1, 2, 0], [0, 3, 4]]),
    ...                                     [[True, True, False], [False, True, True]])
    >>> values.numpy(), splits.numpy()
    (array([1, 2, 3, 4], dtype=int32), array([0, 2, 4]))
    """
    values, _, splits = _fast_ragged.compact(x, mask, _compact)
    return values, splits


def padded_from_ragged(
    values: tf.Tensor,
    row_splits: tf.Tensor,
    lengths: tf.Tensor,
    maxlen: int | tf.Tensor | None,
    padding: str,
    truncating: str,
    value: object,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Padded by ``RaggedTensor.to_tensor`` where its rule is this one (post-padding that
    keeps the first steps), else by ``pad_flat``'s vectorised gather; ``value`` may be a
    string for string values, ``maxlen`` an integer scalar tensor in ``tf.function``.
    Compiles under XLA (by the gather). A ``tf.RaggedTensor`` goes through
    :func:`from_ragged_tensor`.

    >>> x, mask = padded_from_ragged(tf.constant([1, 2, 3]), tf.constant([0, 2, 3]))
    >>> x.numpy(), mask.numpy()
    (array([[1, 2],
           [3, 0]], dtype=int32), array([[ True,  True],
           [ True, False]]))
    """
    fill = cast_fill(value, values.dtype, "value", allow_string=True)
    if _fast_ragged.to_tensor_applies(lengths, maxlen, padding, truncating):
        x = _fast_ragged.to_tensor(values, row_splits, maxlen, fill)
    else:
        x = _pad_core(values, lengths, maxlen, padding, truncating, fill)
    width = _dim(x, 1)
    kept = tf.minimum(lengths, tf.cast(width, tf.int64))
    return x, padding_mask(kept, width, padding)


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
    values, splits = _public.ragged_from_padded(x, mask)
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
    return _public.padded_from_ragged(
        rt.values, rt.row_splits, maxlen=maxlen, padding=padding, truncating=truncating, value=value
    )


# --- packed (PyTorch's PackedSequence layout) -----------------------------------------------


def pack_sequences(x: tf.Tensor, lengths: tf.Tensor, enforce_sorted: bool) -> PackedSequences:
    """The stable sort by decreasing length is ``tf.math.top_k`` (ties keep their order);
    ``data`` is one gather from ``x`` in time-major order. Under XLA
    (``jit_compile=True``), a ``NotImplementedError``: XLA miscompiles the data-dependent
    size of ``data``.

    >>> p = pack_sequences(tf.constant([[1, 2, 0], [3, 4, 5]]), [2, 3])
    >>> p.data.numpy(), p.batch_sizes.numpy(), p.sorted_indices.numpy()
    (array([3, 1, 4, 2, 5], dtype=int32), array([2, 2, 1]), array([1, 0]))
    """
    if _fast_ragged.in_xla():
        raise NotImplementedError(
            "pack_sequences cannot run under XLA (jit_compile=True): XLA miscompiles the "
            "data-dependent size of the packed data (TensorFlow 2.21: wrong sizes, or an abort "
            "for an empty batch); call it outside the compiled function"
        )
    count = tf.size(lengths, out_type=tf.int64)
    if enforce_sorted:
        order, sorted_lengths = tf.range(count, dtype=tf.int64), lengths
    else:
        top = tf.math.top_k(lengths, k=tf.cast(count, tf.int32))
        order, sorted_lengths = tf.cast(top.indices, tf.int64), top.values
    t = tf.range(_longest(lengths), dtype=tf.int64)[:, None]
    valid = t < sorted_lengths[None, :]  # (T', B) time-major
    steps = tf.cast(_dim(x, 1), tf.int64)
    source = tf.boolean_mask(order[None, :] * steps + t, valid)
    data = tf.gather(_flat_steps(x), source)
    batch_sizes = tf.reduce_sum(tf.cast(valid, tf.int64), axis=1)
    return PackedSequences(data, batch_sizes, order, tf.math.invert_permutation(order))


def is_inverse_permutation(inverse: tf.Tensor, order: tf.Tensor) -> tf.Tensor:
    """``inverse[order] == range(B)``, reading ``inverse`` only in range."""
    rows = tf.size(order, out_type=tf.int64)
    safe = tf.clip_by_value(order, 0, tf.maximum(rows - 1, 0))
    return tf.reduce_all(tf.equal(tf.gather(inverse, safe), tf.range(rows)))


def unpack_sequences(
    data: tf.Tensor,
    batch_sizes: tf.Tensor,
    order: tf.Tensor,
    inverse: tf.Tensor,
    width: int | tf.Tensor,
    padding_value: object,
) -> tuple[tf.Tensor, tf.Tensor]:
    """One gather from ``data`` with ``padding_value`` appended (a string for string data).
    Compiles under XLA.

    >>> x, lengths = unpack_sequences(pack_sequences(tf.constant([[1, 2, 0], [3, 4, 5]]),
    ...                                              [2, 3]))
    >>> x.numpy(), lengths.numpy()
    (array([[1, 2, 0],
           [3, 4, 5]], dtype=int32), array([2, 3]))
    """
    fill = cast_fill(padding_value, data.dtype, "padding_value", allow_string=True)
    rows = tf.size(order, out_type=tf.int64)
    n = tf.shape(data, out_type=tf.int64)[0]
    steps = tf.size(batch_sizes, out_type=tf.int64)
    width64 = tf.cast(width, tf.int64)
    sorted_lengths = tf.reduce_sum(
        tf.cast(batch_sizes[None, :] > tf.range(rows)[:, None], tf.int64), axis=1
    )
    offsets = tf.pad(tf.cumsum(batch_sizes, exclusive=True), [[0, width64 - steps]])
    j = inverse[:, None]  # the sorted position of each output row
    t = tf.range(width64)[None, :]
    lengths = tf.gather(sorted_lengths, inverse)
    index = tf.where(t < lengths[:, None], offsets[None, :] + j, n)  # n: the padding value
    inner = tf.shape(data)[1:]
    params = tf.concat([data, tf.fill(tf.concat([[1], inner], 0), fill)], 0)
    x = tf.gather(params, index)
    x.set_shape([inverse.shape[0], width if isinstance(width, int) else None, *data.shape[1:]])
    return x, lengths


# --- unpadded (varlen attention) ----------------------------------------------------------


def unpad(x: tf.Tensor, mask: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, int | tf.Tensor]:
    """``max_seqlen`` is a Python int in eager mode, a 0-d int64 tensor inside
    ``tf.function``. The compaction is ``ragged_from_padded``'s (no copy for an all-valid
    mask). Compiles under XLA.

    >>> values, indices, cu, longest = unpad(tf.constant([[5, 6], [7, 8]]),
    ...                                      [[True, False], [True, True]])
    >>> values.numpy(), indices.numpy(), cu.numpy(), longest
    (array([5, 7, 8], dtype=int32), array([0, 2, 3]), array([0, 1, 3], dtype=int32), 2)
    """
    values, indices, splits = _fast_ragged.compact(x, mask, _compact)
    longest = _longest(splits[1:] - splits[:-1])
    return values, indices, tf.cast(splits, tf.int32), int(longest) if eager() else longest


def are_distinct(indices: tf.Tensor, size: object) -> tf.Tensor:
    """No index repeats: one comparison when ``indices`` increase strictly (as ``unpad`` makes
    them), else the sorted indices must increase strictly."""
    increasing = tf.reduce_all(indices[1:] > indices[:-1])

    def sorted_increasing() -> tf.Tensor:
        ordered = tf.sort(indices)
        return tf.reduce_all(ordered[1:] > ordered[:-1])

    if eager():
        return increasing if bool(increasing) else sorted_increasing()
    return tf.cond(increasing, lambda: increasing, sorted_increasing)


def repad(
    values: tf.Tensor, indices: tf.Tensor, batch: int | tf.Tensor, seqlen: int | tf.Tensor
) -> tf.Tensor:
    """One scatter of the small inverse map, then one gather: empty strings for string
    values. ``batch`` and ``seqlen`` may be integer scalar tensors inside ``tf.function``.
    Compiles under XLA for static ``batch`` and ``seqlen``.

    >>> repad(tf.constant([5, 7, 8]), tf.constant([0, 2, 3]), 2, 2).numpy()
    array([[5, 0],
           [7, 8]], dtype=int32)
    """
    size = tf.cast(batch, tf.int64) * tf.cast(seqlen, tf.int64)
    n = tf.size(indices, out_type=tf.int64)
    slot = tf.range(1, n + 1, dtype=tf.int64)
    source = tf.scatter_nd(indices[:, None], slot, size[None])  # 1 + the step in each slot
    inner = tf.shape(values)[1:]
    params = tf.concat([tf.zeros(tf.concat([[1], inner], 0), values.dtype), values], 0)
    out = tf.gather(params, source)
    dims = tf.stack([tf.cast(batch, tf.int64), tf.cast(seqlen, tf.int64)])
    out = tf.reshape(out, tf.concat([dims, tf.cast(inner, tf.int64)], 0))
    static = [b if isinstance(b, int) else None for b in (batch, seqlen)]
    out.set_shape([*static, *values.shape[1:]])
    return out


# --- per-row operations -------------------------------------------------------------------


def _reversed_positions(lengths: tf.Tensor, steps: tf.Tensor, padding: str) -> tf.Tensor:
    """``(B, steps)``: the step each output step of ``reverse_sequences`` reads."""
    t = tf.range(steps, dtype=tf.int64)[None, :]
    n = lengths[:, None]
    if padding == "post":
        return tf.where(t < n, n - 1 - t, t)
    start = steps - n
    return tf.where(t >= start, start + steps - 1 - t, t)


def reverse_sequences(x: tf.Tensor, lengths: tf.Tensor, axis: int, padding: str) -> tf.Tensor:
    """``tf.reverse_sequence``'s rule for ``padding="post"``, extended to left-padded rows;
    one batched gather along ``axis``. Compiles under XLA.

    >>> reverse_sequences(tf.constant([[0, 1, 2, 3], [0, 0, 4, 5]]), [3, 2], padding="pre").numpy()
    array([[0, 3, 2, 1],
           [0, 0, 5, 4]], dtype=int32)
    """
    source = _reversed_positions(lengths, tf.cast(_dim(x, axis), tf.int64), padding)
    return tf.gather(x, source, axis=axis, batch_dims=1)


def positions_from_mask(
    mask: tf.Tensor, start: int | tf.Tensor, fill: int | tf.Tensor
) -> tf.Tensor:
    """``start`` and ``fill`` may be integer scalar tensors inside ``tf.function``.
    Compiles under XLA.

    >>> positions_from_mask(tf.constant([[False, True, True], [True, True, False]])).numpy()
    array([[0, 0, 1],
           [0, 1, 0]])
    """
    positions = tf.cumsum(tf.cast(mask, tf.int64), axis=-1) - 1 + tf.cast(start, tf.int64)
    return tf.where(mask, positions, tf.cast(fill, tf.int64))


def _edge_valid(x: tf.Tensor, m: tf.Tensor, empty: object, last: bool) -> tf.Tensor:
    """Each row's last (first) valid step: one batched gather of an index in range."""
    fill = cast_fill(empty, x.dtype, "empty", allow_string=True)
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
        rank = len(x.shape)
        keep = tf.reshape(has, tf.concat([tf.shape(has), tf.ones([rank - 2], tf.int32)], 0))
        return tf.where(keep, edge, fill)

    def nothing() -> tf.Tensor:
        return tf.fill(out_shape, fill)

    steps = x.shape[1] if x.shape[1] is not None else m.shape[1]
    if steps is not None:
        out = picked() if steps else nothing()
    else:
        out = tf.cond(tf.shape(m)[1] > 0, picked, nothing)
    out.set_shape([x.shape[0], *x.shape[2:]])
    return out


def last_valid(x: tf.Tensor, mask: tf.Tensor, empty: object) -> tf.Tensor:
    """One batched gather; only valid steps are read into the result, so NaN/inf in padding
    never reach it (and the gradient there is exactly 0). Compiles under XLA.

    >>> last_valid(tf.constant([[1, 2, 0], [3, 0, 0]]), [[True, True, False], [False] * 3]).numpy()
    array([2, 0], dtype=int32)
    """
    return _edge_valid(x, mask, empty, last=True)


def first_valid(x: tf.Tensor, mask: tf.Tensor, empty: object) -> tf.Tensor:
    """As ``last_valid``, with the smallest valid step.

    >>> first_valid(tf.constant([[0, 1, 2], [0, 0, 0]]), [[False, True, True], [False] * 3]).numpy()
    array([1, 0], dtype=int32)
    """
    return _edge_valid(x, mask, empty, last=False)
