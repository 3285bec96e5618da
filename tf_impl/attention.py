"""Attention kernels in TensorFlow (rules and checks: the front ends, :mod:`maskref.api.attention`).

Masks are ``tf.bool`` with ``True`` = the query may attend to the key; the
layout is PyTorch's, ``query (..., L, E)``, ``key (..., S, E)``,
``value (..., S, Ev)``. Everything runs in ``tf.function`` (ranks must be
static, sizes may be unknown: the front ends assert them at run time, checks
that XLA under ``jit_compile=True`` does not run) and under
``jit_compile=True``. Attention keeps the mask at its broadcastable shape (a
``(B, 1, 1, S)`` key padding mask is never expanded to ``(B, H, L, S)``),
sanitises with ``tf.where`` before every matmul (query rows that see no key;
keys and values that no query of the slice can see), and computes float16
and bfloat16 in float32. The gradients are finite and exactly 0 for those
rows, keys and values, NaN or inf stored there included.
"""

from __future__ import annotations

import contextlib
import types
from typing import TypeAlias

import numpy as np
import tensorflow as tf

from maskref.api.attention import band_rule

from ._convert import eager

Size: TypeAlias = (
    int | tf.Tensor
)  # a static size, or an int64 scalar tensor when unknown at trace time


def _arange(n: Size) -> tf.Tensor:
    return tf.range(tf.cast(n, tf.int64), dtype=tf.int64)


#: The array namespace ``band_rule`` writes the band with (int64 positions).
_XP = types.SimpleNamespace(arange=_arange)


def _placed(device: str | None) -> contextlib.AbstractContextManager:
    """``tf.device(device)``, or no placement for None."""
    return contextlib.nullcontext() if device is None else tf.device(device)


def _size(t: tf.Tensor, axis: int) -> Size:
    """One size of ``t``: an int when known at trace time, else an int64 scalar tensor."""
    size = t.shape[axis]
    return size if size is not None else tf.shape(t, out_type=tf.int64)[axis]


def _band(query_len: Size, key_len: Size, causal: bool, align: str, window: int | None):
    if not isinstance(query_len, int) or not isinstance(key_len, int):
        query_len, key_len = tf.cast(query_len, tf.int64), tf.cast(key_len, tf.int64)
    return band_rule(query_len, key_len, causal, align, window, xp=_XP)


# --- masks ---------------------------------------------------------------------------


def causal_mask(
    query_len: Size, key_len: Size, align: str, window: int | None, device: str | None
) -> tf.Tensor:
    """``query_len``/``key_len`` may be integer scalar tensors (symbolic ones inside
    ``tf.function``, e.g. ``tf.shape(x)[1]``); ``device`` a TensorFlow device string
    (``"cpu"``, ``"/GPU:0"``) or ``tf.DeviceSpec`` the mask is made on.

    >>> causal_mask(2, 4, align="bottom_right").numpy().astype(int)
    array([[1, 1, 1, 0],
           [1, 1, 1, 1]])
    """
    with _placed(device):
        return _band(query_len, key_len, True, align, window)


def _same_segment(q: tf.Tensor, k: tf.Tensor) -> tf.Tensor:
    if q.dtype != k.dtype:
        q, k = tf.cast(q, tf.int64), tf.cast(k, tf.int64)
    qi, ki = q[:, :, None], k[:, None, :]
    return tf.logical_and(tf.equal(qi, ki), tf.not_equal(qi, tf.zeros([], q.dtype)))


def attention_mask(
    query_mask: tf.Tensor | None,
    key_mask: tf.Tensor | None,
    query_segment_ids: tf.Tensor | None,
    key_segment_ids: tf.Tensor | None,
    causal: bool,
    align: str,
    window: int | None,
    sizes: tuple[Size, Size, Size],
    device: str | None,
) -> tf.Tensor:
    """``query_len``/``key_len`` may be integer scalar tensors; ``device`` a TensorFlow device
    string. Inside ``tf.function`` sizes unknown at trace time are asserted to agree.

    >>> attention_mask(tf.constant([[True, True, False]]), causal=True).numpy().astype(int)
    array([[[1, 0, 0],
            [1, 1, 0],
            [0, 0, 0]]])
    """
    batch, lq, lk = sizes
    with _placed(device):
        keep = _band(lq, lk, causal, align, window)
        if query_mask is not None:
            keep = tf.logical_and(keep, query_mask[:, :, None])
        if key_mask is not None:
            keep = tf.logical_and(keep, key_mask[:, None, :])
        if query_segment_ids is not None:
            keep = tf.logical_and(keep, _same_segment(query_segment_ids, key_segment_ids))
        shape = tf.stack([tf.cast(n, tf.int64) for n in (batch, lq, lk)])
        return tf.broadcast_to(keep, shape)


def segment_mask(query_segment_ids: tf.Tensor, key_segment_ids: tf.Tensor) -> tf.Tensor:
    """Any integer dtypes (the ids are compared as int64 when they differ).

    >>> segment_mask(tf.constant([[1, 1, 2, 0]])).numpy().astype(int)
    array([[[1, 1, 0, 0],
            [1, 1, 0, 0],
            [0, 0, 1, 0],
            [0, 0, 0, 0]]])
    """
    return _same_segment(query_segment_ids, key_segment_ids)


def document_ends(lengths: tf.Tensor, seqlen: Size) -> tf.Tensor:
    """Running totals of each row's int64 lengths, each length capped at ``seqlen + 1``."""
    cap = tf.cast(seqlen, tf.int64) + 1
    return tf.cumsum(tf.minimum(lengths, cap), axis=1)


def segment_ids_from_lengths(ends: tf.Tensor, seqlen: Size) -> tf.Tensor:
    """``lengths_per_row`` may also be a ``tf.RaggedTensor`` (padded with 0) and ``seqlen``
    an integer scalar tensor. Computed without a loop: a scatter-add marks where each
    document starts and a cumulative sum numbers them.

    >>> segment_ids_from_lengths(tf.ragged.constant([[2, 1], [3]]), 4).numpy()
    array([[1, 1, 2, 0],
           [1, 1, 1, 0]])
    """
    n = tf.cast(seqlen, tf.int64)
    shape = tf.shape(ends, out_type=tf.int64)
    zero = tf.zeros([shape[0], 1], tf.int64)
    totals = tf.concat([zero, ends], axis=1)[:, -1]  # 0 for rows of no document
    # Where documents 2, 3, ... begin (an empty one adds to the next); capped at seqlen so
    # that the scatter stays in range even when the (asserted) totals are too large.
    starts = tf.minimum(ends[:, :-1], n)
    rows = tf.broadcast_to(tf.range(shape[0])[:, None], tf.shape(starts, out_type=tf.int64))
    marks = tf.tensor_scatter_nd_add(
        tf.zeros(tf.stack([shape[0], n + 1]), tf.int64),
        tf.stack([rows, starts], axis=-1),
        tf.ones_like(starts),
    )
    ids = tf.cumsum(marks[:, :-1], axis=1) + 1
    steps = tf.range(n, dtype=tf.int64)
    return tf.where(steps[None, :] < totals[:, None], ids, tf.zeros([], tf.int64))


# --- attention -----------------------------------------------------------------------


def _any_along(m: tf.Tensor, axis: int, size: Size) -> tf.Tensor:
    """``any`` over ``axis`` of the broadcast mask: a size-1 axis of ``m`` stands for ``size``."""
    found = tf.reduce_any(m, axis=axis, keepdims=True)
    if isinstance(size, int):
        return found if size > 0 else tf.zeros_like(found)
    return tf.logical_and(found, size > 0)


def _scale(scale: object, embed: Size, work: tf.DType) -> tf.Tensor:
    """The scale in the working dtype: ``1 / sqrt(E)`` from the run-time size when the front
    end could not compute it (None); a symbolic scalar is cast."""
    if scale is None:
        e = tf.cast(embed, tf.float64)
        return tf.cast(tf.where(e > 0, 1.0 / tf.sqrt(tf.maximum(e, 1.0)), 1.0), work)
    if isinstance(scale, (tf.Tensor, tf.Variable)):
        return tf.cast(scale, work)
    return tf.constant(scale, work)


def _parts(q, k, mask, causal, scale, align, window):
    """The mask (and band) broadcastable to the scores, the keys some query of the slice may
    see ``(..., S, 1)``, the rows that see some key ``(..., L, 1)``, the working dtype and
    the weights (0 at hidden pairs and in empty rows)."""
    m = tf.ones([1, 1], tf.bool) if mask is None else mask
    lq, lk = _size(q, -2), _size(k, -2)
    if causal or window is not None:
        m = tf.logical_and(m, _band(lq, lk, causal, align, window))
    work = tf.float32 if q.dtype in (tf.float16, tf.bfloat16) else q.dtype
    seen = tf.linalg.matrix_transpose(_any_along(m, -2, lq))
    has_key = _any_along(m, -1, lk)
    # Sanitise before the matmul: rows that see no key, keys that no query sees.
    qs = tf.cast(tf.where(has_key, q, tf.zeros([], q.dtype)), work)
    ks = tf.cast(tf.where(seen, k, tf.zeros([], k.dtype)), work)
    scores = tf.linalg.matmul(qs, ks, transpose_b=True) * _scale(scale, _size(q, -1), work)
    # Softmax over the visible keys; the shift (the row's max) is held constant.
    minus_inf = tf.constant(-np.inf, work)
    top = tf.reduce_max(tf.where(m, scores, minus_inf), axis=-1, keepdims=True)
    shift = tf.stop_gradient(tf.where(has_key, top, tf.zeros_like(top)))
    e = tf.exp(tf.where(m, scores - shift, minus_inf))
    total = tf.reduce_sum(e, axis=-1, keepdims=True)
    weights = tf.where(m, e / tf.where(has_key, total, tf.ones_like(total)), tf.zeros([], work))
    return m, seen, has_key, work, weights, lk


def _empty_fill(empty: str, key_len: Size, work: tf.DType) -> tf.Tensor:
    """The weight of an empty row: 0, NaN or ``1 / S`` (0 when ``S == 0``)."""
    if empty == "zeros":
        return tf.zeros([], work)
    if empty == "nan":
        return tf.constant(np.nan, work)
    if isinstance(key_len, int):
        return tf.constant(1.0 / key_len if key_len else 0.0, work)
    size = tf.cast(key_len, tf.float64)
    return tf.cast(tf.math.divide_no_nan(tf.constant(1.0, tf.float64), size), work)


def attention_weights(q, k, mask, causal, scale, empty, align, window) -> tf.Tensor:
    """``scale`` may be a scalar tensor. Gradients as :func:`scaled_dot_product_attention`.

    >>> attention_weights(tf.zeros((2, 1)), tf.zeros((3, 1)), [[True, True, False]] * 2).numpy()
    array([[0.5, 0.5, 0. ],
           [0.5, 0.5, 0. ]], dtype=float32)
    """
    _, _, has_key, work, weights, lk = _parts(q, k, mask, causal, scale, align, window)
    return tf.cast(tf.where(has_key, weights, _empty_fill(empty, lk, work)), q.dtype)


def _weighted_values(weights: tf.Tensor, values: tf.Tensor, m: tf.Tensor) -> tf.Tensor:
    """``weights @ values``, where a hidden (query, key) pair adds nothing even if inf/NaN.

    With finite values a hidden pair's weight 0 does that; otherwise ``0 * inf``
    would be NaN, so the non-finite values are left out of the matmul and their
    visible contributions (``+inf``, ``-inf`` or NaN, as NumPy's sum gives them)
    counted with 0/1 matmuls instead of an ``(..., L, S, Ev)`` product.
    """
    finite = tf.math.is_finite(values)

    def plain() -> tf.Tensor:
        return tf.linalg.matmul(weights, values)

    def guarded() -> tf.Tensor:
        work = weights.dtype
        base = tf.linalg.matmul(weights, tf.where(finite, values, tf.zeros([], work)))
        visible = tf.broadcast_to(m, tf.shape(weights))

        def hits(pairs: tf.Tensor, special: tf.Tensor) -> tf.Tensor:
            return tf.linalg.matmul(tf.cast(pairs, work), tf.cast(special, work)) > 0

        inf = tf.constant(np.inf, work)
        counted = tf.logical_and(visible, weights > 0)
        nan = tf.logical_or(
            hits(visible, tf.math.is_nan(values)),
            hits(tf.logical_and(visible, tf.equal(weights, 0)), tf.math.is_inf(values)),
        )
        plus = hits(counted, tf.equal(values, inf))
        minus = hits(counted, tf.equal(values, -inf))
        nan = tf.logical_or(nan, tf.logical_and(plus, minus))
        zero = tf.zeros([], work)
        extra = tf.where(
            nan, tf.constant(np.nan, work), tf.where(plus, inf, tf.where(minus, -inf, zero))
        )
        return base + extra

    everywhere = tf.reduce_all(finite)
    if eager():
        return plain() if bool(everywhere) else guarded()
    return tf.cond(everywhere, plain, guarded)


def scaled_dot_product_attention(q, k, v, mask, causal, scale, empty, align, window) -> tf.Tensor:
    """Written with TF ops: query rows that see no key and keys/values that no query of the
    slice sees are zeroed with ``tf.where`` before the matmuls, so the gradients with respect
    to ``query``, ``key`` and ``value`` are finite and exactly 0 there, NaN/inf stored there
    included (with ``empty="mean"`` an empty row's output is the mean of every value, so they
    all get its gradient). The mask stays at its broadcastable shape. Valid non-finite values
    at a hidden pair are left out without a ``(..., L, S, Ev)`` product.
    ``jit_compile=True`` works.

    >>> q = tf.zeros((2, 1)); k = tf.zeros((3, 1)); v = tf.constant([[1.0], [3.0], [np.nan]])
    >>> scaled_dot_product_attention(q, k, v, [[True, True, False], [False] * 3]).numpy()
    array([[2.],
           [0.]], dtype=float32)
    """
    m, seen, has_key, work, weights, lk = _parts(q, k, mask, causal, scale, align, window)
    vs = tf.cast(tf.where(seen, v, tf.zeros([], v.dtype)), work)
    out = _weighted_values(weights, vs, m)
    if empty == "mean":  # every value as given, masked ones included
        total = tf.reduce_sum(tf.cast(v, work), axis=-2, keepdims=True)
        fill = total / tf.cast(tf.maximum(tf.cast(lk, tf.int64), 1), work)
    else:
        fill = _empty_fill(empty, lk, work)
    return tf.cast(tf.where(has_key, out, fill), v.dtype)
