"""Masked reductions, masked cumulative sum and masked softmax in TensorFlow.

Mirrors :mod:`reference.reductions` function by function; the rules (mask
validation and broadcast, empty slices, axes, result dtypes) are stated
there. Masked values are replaced with ``tf.where`` *before* every
operation, and every division or logarithm that an empty slice would reach
gets a safe operand first (the "double where"), so with NaN or inf under
the mask the ``tf.GradientTape`` gradient with respect to ``x`` is finite
everywhere and exactly 0 at masked positions. float16 and bfloat16 data are
computed in float32 and rounded once. Works inside ``tf.function`` (the rank
must be static) and under XLA (``jit_compile=True``).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from reference._checks import (
    check_choice,
    check_mask_shape,
    normalize_axis,
    normalize_single_axis,
)
from reference.reductions import LOG_SOFTMAX_EMPTY, SOFTMAX_EMPTY

from ._convert import as_tensor, cast_fill, python_errors, static_shape
from .masks import as_mask

__all__ = [
    "masked_all",
    "masked_any",
    "masked_argmax",
    "masked_argmin",
    "masked_count",
    "masked_cumsum",
    "masked_log_softmax",
    "masked_logsumexp",
    "masked_max",
    "masked_mean",
    "masked_min",
    "masked_prod",
    "masked_softmax",
    "masked_std",
    "masked_sum",
    "masked_var",
]

Axes = tuple[int, ...]
LOW_PRECISION = (tf.float16, tf.bfloat16)


def broadcast_mask(x: object, mask: object) -> tuple[tf.Tensor, tf.Tensor]:
    """``x`` as a tensor and ``mask`` validated, with size-1 trailing axes added so that it
    broadcasts against ``x`` (it is never materialised at ``x``'s size)."""
    x = as_tensor(x, "x")
    if not (x.dtype.is_floating or x.dtype.is_integer or x.dtype == tf.bool):
        raise TypeError(f"x must hold numbers or bools, got dtype {x.dtype.name}")
    mask = as_mask(mask)
    mask_shape, shape = static_shape(mask, "mask"), static_shape(x, "x")
    check_mask_shape(mask_shape, shape)
    return x, mask[(...,) + (tf.newaxis,) * (len(shape) - len(mask_shape))]


def _prepare(x, mask, axis) -> tuple[tf.Tensor, tf.Tensor, Axes]:
    x, m = broadcast_mask(x, mask)
    return x, m, normalize_axis(axis, len(static_shape(x, "x")))


def sum_dtype(dtype: tf.DType) -> tf.DType:
    """int64 for bool and integer data, else the data's dtype."""
    return dtype if dtype.is_floating else tf.int64


def float_dtype(dtype: tf.DType) -> tf.DType:
    """float64 for bool and integer data, else the data's dtype."""
    return dtype if dtype.is_floating else tf.float64


def _work(dtype: tf.DType) -> tf.DType:
    return tf.float32 if dtype in LOW_PRECISION else dtype


def _const(value: object, dtype: tf.DType) -> tf.Tensor:
    return tf.constant(value, dtype=dtype)


def _count(m: tf.Tensor, x: tf.Tensor, axes: Axes, keepdims: bool) -> tf.Tensor:
    """Valid elements per slice, counted on the small mask: the trailing axes it
    broadcasts over multiply the count by their sizes."""
    shape = tf.shape(x, out_type=tf.int64)
    one = tf.constant(1, tf.int64)
    factor = one
    for a in axes:
        if m.shape[a] == 1:  # a size-1 mask axis broadcasts over x's axis
            factor *= shape[a]
    count = tf.reduce_sum(tf.cast(m, tf.int64), axis=list(axes), keepdims=True) * factor
    if not m.shape.rank:
        return count
    kept = tf.stack([one if a in axes else shape[a] for a in range(m.shape.rank)])
    count = tf.broadcast_to(count, kept)
    return count if keepdims or not axes else tf.squeeze(count, list(axes))


def _finish(result: tf.Tensor, has_valid: tf.Tensor, empty: object, dtype: tf.DType) -> tf.Tensor:
    """``result`` as ``dtype``, with ``empty`` where a slice had no valid element."""
    result = tf.cast(result, dtype)
    return tf.where(has_valid, result, cast_fill(empty, dtype, "empty"))


def _identity_of_max(dtype: tf.DType, largest: bool) -> object:
    if dtype == tf.bool:
        return not largest
    if dtype.is_floating:
        return -np.inf if largest else np.inf
    return dtype.min if largest else dtype.max


def _sanitised(x: tf.Tensor, m: tf.Tensor, neutral: int, dtype: tf.DType) -> tf.Tensor:
    """``where(m, x, neutral)`` (0 or 1) cast to ``dtype``: the cast comes after the selection."""
    fill = tf.zeros((), x.dtype) if neutral == 0 else tf.ones((), x.dtype)
    return tf.cast(tf.where(m, x, fill), dtype)


@python_errors
def masked_sum(x, mask, axis=None, keepdims=False, *, empty=0) -> tf.Tensor:
    """Sum of the valid elements; mirrors :func:`reference.masked_sum`.

    >>> masked_sum(tf.constant([[1.0, np.nan]]), tf.constant([[True, False]]), axis=1).numpy()
    array([1.], dtype=float32)
    """
    x, m, axes = _prepare(x, mask, axis)
    out = sum_dtype(x.dtype)
    total = _masked_total(x, m, axes, keepdims, _work(out))
    return _finish(total, _count(m, x, axes, keepdims) > 0, empty, out)


@python_errors
def masked_prod(x, mask, axis=None, keepdims=False, *, empty=1) -> tf.Tensor:
    """Product of the valid elements; mirrors :func:`reference.masked_prod`.

    >>> int(masked_prod(tf.constant([2, 3, 4]), tf.constant([True, False, True])))
    8
    """
    x, m, axes = _prepare(x, mask, axis)
    out = sum_dtype(x.dtype)
    xs = _sanitised(x, m, 1, _work(out))
    total = tf.reduce_prod(xs, axis=list(axes), keepdims=keepdims)
    return _finish(total, _count(m, x, axes, keepdims) > 0, empty, out)


@python_errors
def masked_count(x, mask, axis=None, keepdims=False, *, empty=0) -> tf.Tensor:
    """Number of valid elements (int64); mirrors :func:`reference.masked_count`.

    >>> masked_count(tf.zeros((2, 3)), [[True, False, True], [False] * 3], axis=1).numpy()
    array([2, 0])
    """
    x, m, axes = _prepare(x, mask, axis)
    count = _count(m, x, axes, keepdims)
    return _finish(count, count > 0, empty, tf.int64)


def _masked_total(x, m, axes, keepdims, work) -> tf.Tensor:
    """``sum(where(m, x, 0))`` over ``axes``.

    Fast path: when the reduction is over the mask's last axis and the mask
    broadcasts over trailing feature axes (the pooling case), one batched
    matmul of the 0/1 mask with ``x`` reads ``x`` once, with no masked copy.
    It is exact for finite data and its gradient is exactly 0 at masked
    positions; a non-finite result (NaN or inf anywhere in the slice) takes
    the sanitising path instead (``tf.cond``, so only one branch runs).
    """

    def sanitised() -> tf.Tensor:
        return tf.reduce_sum(_sanitised(x, m, 0, work), axis=list(axes), keepdims=keepdims)

    a = axes[0] if len(axes) == 1 else -1
    rank = len(x.shape)
    fast = (
        0 <= a < rank - 1 and x.dtype == work and work in (tf.float32, tf.float64)
        and m.shape[a] != 1 and all(n == 1 for n in m.shape[a + 1 :])
    )
    if not fast:
        return sanitised()
    shape = tf.shape(x)
    rows = tf.reduce_prod(shape[:a])
    weights = tf.reshape(tf.cast(m, work), tf.stack([rows, 1, shape[a]]))
    features = tf.reduce_prod(shape[a + 1 :])
    total = tf.linalg.matmul(weights, tf.reshape(x, tf.stack([rows, shape[a], features])))
    total = tf.reshape(total, tf.concat([shape[:a], [1], shape[a + 1 :]], 0))
    if not keepdims:
        total = tf.squeeze(total, [a])
    return tf.cond(tf.reduce_all(tf.math.is_finite(total)), lambda: total, sanitised)


def _sum_and_count(x, m, axes, keepdims, work):
    return _masked_total(x, m, axes, keepdims, work), _count(m, x, axes, keepdims)


@python_errors
def masked_mean(x, mask, axis=None, keepdims=False, *, empty=float("nan")) -> tf.Tensor:
    """Mean of the valid elements; mirrors :func:`reference.masked_mean`.

    >>> float(masked_mean(tf.constant([1.0, 5.0, np.inf]), tf.constant([True, True, False])))
    3.0
    """
    x, m, axes = _prepare(x, mask, axis)
    out = float_dtype(x.dtype)
    work = _work(out)
    total, count = _sum_and_count(x, m, axes, keepdims, work)
    mean = total / tf.cast(tf.maximum(count, 1), work)
    return _finish(mean, count > 0, empty, out)


def _variance(x, mask, axis, keepdims, ddof):
    x, m, axes = _prepare(x, mask, axis)
    out = float_dtype(x.dtype)
    work = _work(out)
    total, count = _sum_and_count(x, m, axes, True, work)
    mean = total / tf.cast(tf.maximum(count, 1), work)
    xs = _sanitised(x, m, 0, work)
    dev = tf.where(m, xs - mean, tf.zeros_like(xs))
    denom = count - ddof
    var = tf.reduce_sum(dev * dev, axis=list(axes), keepdims=True) / tf.cast(
        tf.maximum(denom, 1), work
    )
    if not keepdims and axes:
        var, denom = tf.squeeze(var, list(axes)), tf.squeeze(denom, list(axes))
    return var, denom > 0, out


@python_errors
def masked_var(x, mask, axis=None, keepdims=False, *, ddof=0, empty=float("nan")) -> tf.Tensor:
    """Two-pass variance of the valid elements; mirrors :func:`reference.masked_var`.

    >>> float(masked_var(tf.constant([1.0, 3.0, np.nan]), tf.constant([True, True, False])))
    1.0
    """
    var, room, out = _variance(x, mask, axis, keepdims, ddof)
    return _finish(var, room, empty, out)


@python_errors
def masked_std(x, mask, axis=None, keepdims=False, *, ddof=0, empty=float("nan")) -> tf.Tensor:
    """Standard deviation of the valid elements; mirrors :func:`reference.masked_std`.

    The square root gets a safe operand where the variance is 0, so its
    gradient there is 0, not NaN.

    >>> float(masked_std(tf.constant([1.0, 3.0, np.nan]), tf.constant([True, True, False])))
    1.0
    """
    var, room, out = _variance(x, mask, axis, keepdims, ddof)
    positive = var > 0
    std = tf.where(positive, tf.sqrt(tf.where(positive, var, tf.ones_like(var))), var)
    return _finish(std, room, empty, out)


def _masked_extreme(x, m, axes, keepdims, empty, largest: bool) -> tf.Tensor:
    fill = _identity_of_max(x.dtype, largest)
    if x.dtype == tf.bool:
        xs = tf.where(m, x, _const(fill, tf.bool))
        reduce = tf.reduce_any if largest else tf.reduce_all
    else:
        xs = tf.where(m, x, _const(fill, x.dtype))
        reduce = tf.reduce_max if largest else tf.reduce_min
    result = reduce(xs, axis=list(axes), keepdims=keepdims)
    empty = fill if empty is None else empty
    return _finish(result, _count(m, x, axes, keepdims) > 0, empty, x.dtype)


@python_errors
def masked_max(x, mask, axis=None, keepdims=False, *, empty=None) -> tf.Tensor:
    """Largest valid element (a valid NaN propagates); mirrors :func:`reference.masked_max`.

    >>> masked_max(tf.constant([[1, 9], [4, 2]]), [[True, False], [True, True]], axis=1).numpy()
    array([1, 4], dtype=int32)
    """
    x, m, axes = _prepare(x, mask, axis)
    return _masked_extreme(x, m, axes, keepdims, empty, largest=True)


@python_errors
def masked_min(x, mask, axis=None, keepdims=False, *, empty=None) -> tf.Tensor:
    """Smallest valid element; mirrors :func:`reference.masked_min`.

    >>> masked_min(tf.constant([[1, 9], [4, 2]]), [[False, True], [True, True]], axis=1).numpy()
    array([9, 2], dtype=int32)
    """
    x, m, axes = _prepare(x, mask, axis)
    return _masked_extreme(x, m, axes, keepdims, empty, largest=False)


@python_errors
def masked_logsumexp(x, mask, axis=None, keepdims=False, *, empty=-float("inf")) -> tf.Tensor:
    """``log(sum(exp(x)))`` over the valid elements; mirrors :func:`reference.masked_logsumexp`.

    >>> float(masked_logsumexp(tf.constant([0.0, 0.0, np.nan]), [True, True, False]))
    0.6931471824645996
    """
    x, m, axes = _prepare(x, mask, axis)
    out = float_dtype(x.dtype)
    work = _work(out)
    neg_inf = _const(-np.inf, work)
    xs = tf.where(m, tf.cast(x, work), neg_inf)
    top = tf.reduce_max(xs, axis=list(axes), keepdims=True)
    shift = tf.stop_gradient(tf.where(tf.math.is_finite(top), top, tf.zeros_like(top)))
    e = tf.where(m, tf.exp(tf.where(m, xs - shift, neg_inf)), tf.zeros_like(xs))
    total = tf.reduce_sum(e, axis=list(axes), keepdims=True)
    has_valid = _count(m, x, axes, True) > 0
    result = tf.math.log(tf.where(has_valid, total, tf.ones_like(total))) + shift
    if not keepdims and axes:
        result, has_valid = tf.squeeze(result, list(axes)), tf.squeeze(has_valid, list(axes))
    return _finish(result, has_valid, empty, out)


@python_errors
def masked_any(x, mask, axis=None, keepdims=False, *, empty=False) -> tf.Tensor:
    """Whether any valid element is non-zero; mirrors :func:`reference.masked_any`.

    >>> bool(masked_any(tf.constant([0, 1]), [True, False]))
    False
    """
    x, m, axes = _prepare(x, mask, axis)
    nonzero = tf.not_equal(x, tf.zeros((), x.dtype))
    result = tf.reduce_any(m & nonzero, axis=list(axes), keepdims=keepdims)
    return _finish(result, _count(m, x, axes, keepdims) > 0, empty, tf.bool)


@python_errors
def masked_all(x, mask, axis=None, keepdims=False, *, empty=True) -> tf.Tensor:
    """Whether every valid element is non-zero; mirrors :func:`reference.masked_all`.

    >>> bool(masked_all(tf.constant([1, 0]), [True, False]))
    True
    """
    x, m, axes = _prepare(x, mask, axis)
    nonzero = tf.not_equal(x, tf.zeros((), x.dtype))
    result = tf.reduce_all(~m | nonzero, axis=list(axes), keepdims=keepdims)
    return _finish(result, _count(m, x, axes, keepdims) > 0, empty, tf.bool)


def _masked_arg(x, mask, axis, keepdims, empty, largest: bool) -> tf.Tensor:
    x, m = broadcast_mask(x, mask)
    m = tf.broadcast_to(m, tf.shape(x))
    shape = static_shape(x, "x")
    if axis is None:
        x, m, ax = tf.reshape(x, [-1]), tf.reshape(m, [-1]), 0
    else:
        ax = normalize_single_axis(axis, len(shape))
    best = _masked_extreme(x, m, (ax,), True, None, largest)
    same = tf.equal(x, best)
    if x.dtype.is_floating:
        same = same | (tf.math.is_nan(x) & tf.math.is_nan(best))
    hit = m & same
    n = tf.shape(x, out_type=tf.int64)[ax]
    rank = len(x.shape)
    steps = tf.reshape(tf.range(n), [-1] + [1] * (rank - ax - 1))
    first = tf.reduce_min(tf.where(hit, steps, n), axis=ax, keepdims=True)
    index = _finish(first, _count(m, x, (ax,), True) > 0, empty, tf.int64)
    if axis is None:
        return tf.reshape(index, [1] * len(shape) if keepdims else [])
    return index if keepdims else tf.squeeze(index, [ax])


@python_errors
def masked_argmax(x, mask, axis=None, keepdims=False, *, empty=-1) -> tf.Tensor:
    """Index of the largest valid element, first on ties; mirrors :func:`reference.masked_argmax`.

    >>> masked_argmax(tf.constant([[5, 1, 5]]), [[False, True, True]], axis=1).numpy()
    array([2])
    """
    return _masked_arg(x, mask, axis, keepdims, empty, largest=True)


@python_errors
def masked_argmin(x, mask, axis=None, keepdims=False, *, empty=-1) -> tf.Tensor:
    """Index of the smallest valid element; mirrors :func:`reference.masked_argmin`.

    >>> int(masked_argmin(tf.constant([0, 2, 1]), [False, True, True]))
    2
    """
    return _masked_arg(x, mask, axis, keepdims, empty, largest=False)


@python_errors
def masked_cumsum(x, mask, axis=-1, *, empty=0) -> tf.Tensor:
    """Running sum of the valid elements; mirrors :func:`reference.masked_cumsum`.

    >>> masked_cumsum(tf.constant([1.0, np.nan, 2.0]), [True, False, True]).numpy()
    array([1., 1., 3.], dtype=float32)
    """
    x, m = broadcast_mask(x, mask)
    ax = normalize_single_axis(axis, len(static_shape(x, "x")))
    out = sum_dtype(x.dtype)
    xs = _sanitised(x, m, 0, _work(out))
    total = tf.math.cumsum(xs, axis=ax)
    seen = tf.math.cumsum(tf.cast(m, tf.int64), axis=ax) > 0
    return _finish(total, seen, empty, out)


def _softmax_parts(x, mask, axis):
    x, m = broadcast_mask(x, mask)
    ax = normalize_single_axis(axis, len(static_shape(x, "x")))
    out = float_dtype(x.dtype)
    work = _work(out)
    neg_inf = _const(-np.inf, work)
    xs = tf.where(m, tf.cast(x, work), neg_inf)
    has_valid = tf.reduce_any(m, axis=ax, keepdims=True)
    top = tf.reduce_max(xs, axis=ax, keepdims=True)
    shift = tf.stop_gradient(tf.where(has_valid, top, tf.zeros_like(top)))
    shifted = tf.where(m, xs - shift, neg_inf)
    e = tf.where(m, tf.exp(shifted), tf.zeros_like(shifted))
    total = tf.where(has_valid, tf.reduce_sum(e, axis=ax, keepdims=True), tf.ones_like(top))
    return m, ax, out, shifted, e, total, has_valid, tf.shape(x)[ax]


def _empty_rows(result, has_valid, empty: str, n, log: bool, dtype) -> tf.Tensor:
    if empty in ("zeros", "-inf"):
        fill = _const(-np.inf if log else 0.0, result.dtype)
    elif empty == "nan":
        fill = _const(np.nan, result.dtype)
    else:  # uniform over every position of the slice, masked or not
        n = tf.cast(n, result.dtype)
        fill = -tf.math.log(n) if log else tf.math.divide_no_nan(tf.ones_like(n), n)
    return tf.cast(tf.where(has_valid, result, fill), dtype)


@python_errors
def masked_softmax(x, mask, axis=-1, *, empty="zeros") -> tf.Tensor:
    """Softmax over the valid elements, 0 elsewhere; mirrors :func:`reference.masked_softmax`.

    >>> masked_softmax(tf.constant([[0.0, 0.0, np.nan]]), [[True, True, False]]).numpy()
    array([[0.5, 0.5, 0. ]], dtype=float32)
    """
    check_choice("empty", empty, SOFTMAX_EMPTY)
    m, _, out, _, e, total, has_valid, n = _softmax_parts(x, mask, axis)
    y = tf.where(m, e / total, tf.zeros_like(e))
    return _empty_rows(y, has_valid, empty, n, False, out)


@python_errors
def masked_log_softmax(x, mask, axis=-1, *, empty="-inf") -> tf.Tensor:
    """``log(masked_softmax)``, ``-inf`` when masked; mirrors :func:`reference.masked_log_softmax`.

    >>> masked_log_softmax(tf.constant([0.0, 0.0, 5.0]), [True, True, False]).numpy()
    array([-0.6931472, -0.6931472,       -inf], dtype=float32)
    """
    check_choice("empty", empty, LOG_SOFTMAX_EMPTY)
    m, _, out, shifted, _, total, has_valid, n = _softmax_parts(x, mask, axis)
    y = tf.where(m, shifted - tf.math.log(total), tf.fill(tf.shape(shifted), _const(
        -np.inf, shifted.dtype)))
    return _empty_rows(y, has_valid, empty, n, True, out)
