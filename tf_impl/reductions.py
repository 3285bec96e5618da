"""Masked reduction kernels in TensorFlow (rules and checks: :mod:`maskref.api.reductions`).

TensorFlow notes shared by every function:

* Masked values are replaced with ``tf.where`` *before* each operation
  (double ``where`` around ``log``/``sqrt``/division), so NaN or inf under the
  mask never reach a result or a gradient: the gradient with respect to ``x``
  is finite and exactly 0 at masked positions, fully masked slices included,
  whatever the incoming gradient holds.
* float16 and bfloat16 data are computed in float32 and rounded once.
* Everything runs in ``tf.function`` (the rank must be static; a mask whose
  sizes are unknown while tracing is checked by an assertion) and under
  ``jit_compile=True``; the mask's values never change the traced graph.
* Platform and size-dependent paths (:mod:`tf_impl._fast_reductions`): under
  XLA (and perhaps on GPU), where ``tf.reduce_max`` drops NaN, the extremes
  restore it; a ``(B, T)`` mask reduced over axis 1 of large float32/float64
  data is summed by one batched matmul (NaN or inf anywhere falls back to
  ``where``), and eager ``masked_max``/``masked_min`` reduce a gather of the
  valid rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from maskref.api.reductions import (
    count_factor,
    float_dtype,
    identity_of_max,
    sum_dtype,
    work_dtype,
)

from . import _fast_reductions as fast
from ._backend import after_checks, require
from ._convert import cast_fill, cast_tensor, eager

Axes = tuple[int, ...]
Shape = tuple[int | None, ...]


class _Data(NamedTuple):
    """Kernel inputs: ``m`` is the mask with ``x``'s rank (size-1 trailing axes)."""

    x: tf.Tensor
    mask: tf.Tensor  # the mask as given (rank k)
    m: tf.Tensor  # the mask reshaped to broadcast against x
    k: int
    shape: Shape


def _data(x: tf.Tensor, mask: tf.Tensor) -> _Data:
    """``x`` and ``mask`` for the kernels; a size unknown while tracing is asserted equal."""
    shape = tuple(x.shape.as_list())
    mask_shape = tuple(mask.shape.as_list())
    k = len(mask_shape)
    if not eager() and (None in mask_shape or None in shape[:k]):
        require(
            tf.reduce_all(tf.equal(tf.shape(mask), tf.shape(x)[:k])),
            lambda: ValueError(f"mask shape must be a leading prefix of x shape {shape}"),
            "mask shape must be a leading prefix of x shape",
        )
        mask = after_checks(mask)  # the assertion, not an op using the mask, reports
    m = mask[(Ellipsis,) + (tf.newaxis,) * (len(shape) - k)] if len(shape) > k else mask
    return _Data(x, mask, m, k, shape)


def _dtype(name: str) -> tf.DType:
    return tf.as_dtype(name)


# --- shapes, counts and the empty rule -----------------------------------------------


def _size(d: _Data, axes: Sequence[int]) -> int | tf.Tensor:
    """Number of elements of ``x`` over ``axes`` (a Python int when sizes are static)."""
    factor = count_factor(d.shape, 0, axes)
    if factor is not None:
        return factor
    return tf.reduce_prod(tf.gather(tf.shape(d.x, out_type=tf.int64), list(axes)))


def _count(d: _Data, axes: Sequence[int], keepdims: bool) -> tf.Tensor:
    """Valid elements per slice (int64), shaped to broadcast against the result."""
    count = tf.reduce_sum(tf.cast(d.m, tf.int64), axis=list(axes), keepdims=keepdims)
    trailing = [a for a in axes if a >= d.k]  # axes the mask is broadcast over
    if trailing:
        count = count * _size(d, trailing)
    return count


def _out_shape(d: _Data, axes: Sequence[int], keepdims: bool) -> list | tf.Tensor:
    """The result's shape: a list of ints when static, else an int32 tensor."""
    keep = _static_out(d, axes, keepdims)
    if None not in keep:
        return keep
    dynamic = tf.shape(d.x)
    parts = [1 if a in axes else dynamic[a] for a in range(len(d.shape))]
    return tf.stack([p for a, p in enumerate(parts) if keepdims or a not in axes])


def _static_out(d: _Data, axes: Sequence[int], keepdims: bool) -> list:
    return [(1 if a in axes else s) for a, s in enumerate(d.shape) if keepdims or a not in axes]


def _squeeze(t: tf.Tensor, axes: Sequence[int]) -> tf.Tensor:
    return tf.squeeze(t, axis=list(axes)) if axes else t  # squeeze(axis=[]) drops every 1


def _finish(result: tf.Tensor, has_valid: tf.Tensor, empty: object, dtype: tf.DType) -> tf.Tensor:
    """``result`` in ``dtype``, with ``empty`` where a slice had no valid element."""
    fill = cast_fill(empty, dtype, "empty")
    if result.dtype != dtype:
        result = tf.cast(result, dtype)
    return tf.where(has_valid, result, fill)


def _masked_total(d: _Data, axes: Axes, keepdims: bool, work: tf.DType) -> tf.Tensor:
    """``sum(where(mask, x, 0))`` in ``work`` (by a matmul for large pooling shapes)."""

    def by_where() -> tf.Tensor:
        xs = tf.where(d.m, d.x, tf.zeros([], d.x.dtype))
        return tf.reduce_sum(tf.cast(xs, work), axis=list(axes), keepdims=keepdims)

    if not fast.pooling_applies(d.x, d.k, axes):
        return by_where()
    out, static = _out_shape(d, axes, keepdims), _static_out(d, axes, keepdims)
    return fast.matmul_total(d.x, d.mask, out, static, by_where)


# --- reductions ----------------------------------------------------------------------


def masked_sum(
    x: tf.Tensor, mask: tf.Tensor, axes: Axes, keepdims: bool, empty: object
) -> tf.Tensor:
    """float16/bfloat16 are summed in float32. Large ``(B, T, ...)`` float data with a
    ``(B, T)`` mask over axis 1 are summed by a matmul of the mask with ``x``.

    >>> masked_sum(tf.constant([[1.0, np.nan], [3.0, 4.0]]), [[True, False], [True, True]],
    ...            axis=1).numpy()
    array([1., 7.], dtype=float32)
    """
    d = _data(x, mask)
    out = _dtype(sum_dtype(x.dtype))
    total = _masked_total(d, axes, keepdims, _dtype(work_dtype(out)))
    return _finish(total, _count(d, axes, keepdims) > 0, empty, out)


def masked_prod(
    x: tf.Tensor, mask: tf.Tensor, axes: Axes, keepdims: bool, empty: object
) -> tf.Tensor:
    """Integer products wrap around in int64.

    >>> masked_prod(tf.constant([2, 3, 4]), [True, False, True]).numpy()
    np.int64(8)
    """
    d = _data(x, mask)
    out = _dtype(sum_dtype(x.dtype))
    xs = tf.where(d.m, d.x, tf.ones([], d.x.dtype))
    total = tf.reduce_prod(tf.cast(xs, _dtype(work_dtype(out))), axis=list(axes), keepdims=keepdims)
    return _finish(total, _count(d, axes, keepdims) > 0, empty, out)


def masked_count(
    x: tf.Tensor, mask: tf.Tensor, axes: Axes, keepdims: bool, empty: object
) -> tf.Tensor:
    d = _data(x, mask)
    count = tf.broadcast_to(_count(d, axes, keepdims), _out_shape(d, axes, keepdims))
    return _finish(count, count > 0, empty, tf.int64)


def masked_mean(
    x: tf.Tensor, mask: tf.Tensor, axes: Axes, keepdims: bool, empty: object
) -> tf.Tensor:
    """float16/bfloat16 in float32; the sum takes ``masked_sum``'s matmul path.

    >>> masked_mean(tf.constant([[1.0, 5.0], [np.inf, 2.0]]), [[True, True], [False, True]],
    ...             axis=1).numpy()
    array([3., 2.], dtype=float32)
    """
    d = _data(x, mask)
    out = _dtype(float_dtype(x.dtype))
    work = _dtype(work_dtype(out))
    count = _count(d, axes, keepdims)
    total = _masked_total(d, axes, keepdims, work)
    mean = total / tf.cast(tf.maximum(count, 1), work)
    return _finish(mean, count > 0, empty, out)


def _variance(
    x: tf.Tensor, mask: tf.Tensor, axes: Axes, keepdims: bool, ddof: int
) -> tuple[tf.Tensor, tf.Tensor, tf.DType]:
    """(variance in the working dtype, where the slice has room, result dtype)."""
    d = _data(x, mask)
    out = _dtype(float_dtype(x.dtype))
    work = _dtype(work_dtype(out))
    count = _count(d, axes, True)
    xs = tf.cast(tf.where(d.m, d.x, tf.zeros([], d.x.dtype)), work)
    mean = tf.reduce_sum(xs, axis=list(axes), keepdims=True) / tf.cast(tf.maximum(count, 1), work)
    dev = tf.where(d.m, xs - mean, tf.zeros([], work))
    denom = count - ddof
    total = tf.reduce_sum(dev * dev, axis=list(axes), keepdims=True)
    var = total / tf.cast(tf.maximum(denom, 1), work)
    if not keepdims:
        var, denom = _squeeze(var, axes), _squeeze(denom, axes)
    return var, denom > 0, out


def masked_var(
    x: tf.Tensor, mask: tf.Tensor, axes: Axes, keepdims: bool, ddof: int, empty: object
) -> tf.Tensor:
    """float16/bfloat16 in float32.

    >>> masked_var(tf.constant([1.0, 3.0, np.nan]), [True, True, False]).numpy()
    np.float32(1.0)
    """
    var, room, out = _variance(x, mask, axes, keepdims, ddof)
    return _finish(var, room, empty, out)


def masked_std(
    x: tf.Tensor, mask: tf.Tensor, axes: Axes, keepdims: bool, ddof: int, empty: object
) -> tf.Tensor:
    """The square root is double-``where``'d: a zero variance (one valid element, or none)
    has gradient 0, not ``0 * inf = NaN``.

    >>> masked_std(tf.constant([1.0, 3.0, np.nan]), [True, True, False]).numpy()
    np.float32(1.0)
    """
    var, room, out = _variance(x, mask, axes, keepdims, ddof)
    zero = tf.equal(var, 0)
    std = tf.where(zero, tf.zeros_like(var), tf.sqrt(tf.where(zero, tf.ones_like(var), var)))
    return _finish(std, room, empty, out)


def _extreme(x: tf.Tensor, mask: tf.Tensor, axes: Axes, keepdims: bool, empty, largest: bool):
    d = _data(x, mask)
    if fast.gather_applies(x, mask, axes):
        top = fast.gather_extreme(x, mask, cast_fill(empty, x.dtype, "empty"), largest)
        return tf.reshape(top, _out_shape(d, axes, keepdims))
    fill = tf.constant(identity_of_max(x.dtype, largest), x.dtype)
    result = fast.nan_safe_extreme(lambda: tf.where(d.m, x, fill), axes, keepdims, largest)
    return _finish(result, _count(d, axes, keepdims) > 0, empty, x.dtype)


def masked_max(
    x: tf.Tensor, mask: tf.Tensor, axes: Axes, keepdims: bool, empty: object
) -> tf.Tensor:
    """A valid NaN propagates, also under XLA (whose max drops NaN). The gradient goes to the
    valid elements equal to the max, split evenly between ties.

    >>> masked_max(tf.constant([[1, 9], [4, 2]]), [[True, False], [True, True]], axis=1).numpy()
    array([1, 4], dtype=int32)
    """
    return _extreme(x, mask, axes, keepdims, empty, largest=True)


def masked_min(
    x: tf.Tensor, mask: tf.Tensor, axes: Axes, keepdims: bool, empty: object
) -> tf.Tensor:
    """As ``masked_max``.

    >>> masked_min(tf.constant([[1, 9], [4, 2]]), [[False, True], [True, True]], axis=1).numpy()
    array([9, 2], dtype=int32)
    """
    return _extreme(x, mask, axes, keepdims, empty, largest=False)


def masked_logsumexp(
    x: tf.Tensor, mask: tf.Tensor, axes: Axes, keepdims: bool, empty: object
) -> tf.Tensor:
    """The shift ``c`` is held constant for the gradient (the result does not depend on it),
    and ``log`` is double-``where``'d for empty sums.

    >>> masked_logsumexp(tf.constant([0.0, 0.0, np.nan]), [True, True, False]).numpy().round(4)
    np.float32(0.6931)
    """
    d = _data(x, mask)
    out = _dtype(float_dtype(x.dtype))
    work = _dtype(work_dtype(out))
    minus_inf = tf.constant(-np.inf, work)
    xs = tf.cast(tf.where(d.m, d.x, tf.zeros([], d.x.dtype)), work)
    top = tf.reduce_max(tf.where(d.m, xs, minus_inf), axis=list(axes), keepdims=True)
    shift = tf.stop_gradient(tf.where(tf.math.is_finite(top), top, tf.zeros_like(top)))
    total = tf.reduce_sum(tf.exp(tf.where(d.m, xs - shift, minus_inf)), list(axes), keepdims=True)
    nothing = tf.equal(total, 0)
    logs = tf.math.log(tf.where(nothing, tf.ones_like(total), total))
    result = tf.where(nothing, minus_inf, logs) + shift
    if not keepdims:
        result = _squeeze(result, axes)
    return _finish(result, _count(d, axes, keepdims) > 0, empty, out)


def masked_any(
    x: tf.Tensor, mask: tf.Tensor, axes: Axes, keepdims: bool, empty: object
) -> tf.Tensor:
    d = _data(x, mask)
    nonzero = tf.not_equal(d.x, tf.zeros([], d.x.dtype))
    result = tf.reduce_any(tf.logical_and(d.m, nonzero), axis=list(axes), keepdims=keepdims)
    return _finish(result, _count(d, axes, keepdims) > 0, empty, tf.bool)


def masked_all(
    x: tf.Tensor, mask: tf.Tensor, axes: Axes, keepdims: bool, empty: object
) -> tf.Tensor:
    d = _data(x, mask)
    nonzero = tf.not_equal(d.x, tf.zeros([], d.x.dtype))
    result = tf.reduce_all(
        tf.logical_or(tf.logical_not(d.m), nonzero), axis=list(axes), keepdims=keepdims
    )
    return _finish(result, _count(d, axes, keepdims) > 0, empty, tf.bool)


def _arg(x: tf.Tensor, mask: tf.Tensor, axis: int | None, keepdims: bool, empty, largest: bool):
    d = _data(x, mask)
    ndim = len(d.shape)
    if axis is None:
        full = tf.broadcast_to(d.m, tf.shape(d.x))
        flat_x, flat_m = tf.reshape(d.x, [-1]), tf.reshape(full, [-1])
        d = _Data(flat_x, flat_m, flat_m, 1, (d.x.shape.num_elements(),))
        ax = 0
    else:
        ax = axis
    fill = tf.constant(identity_of_max(d.x.dtype, largest), d.x.dtype)
    best = fast.nan_safe_extreme(lambda: tf.where(d.m, d.x, fill), [ax], True, largest)
    same = tf.equal(d.x, best)
    if d.x.dtype.is_floating:
        same = tf.logical_or(same, tf.logical_and(tf.math.is_nan(d.x), tf.math.is_nan(best)))
    hit = tf.logical_and(d.m, same)
    n = d.shape[ax] if d.shape[ax] is not None else tf.shape(d.x, out_type=tf.int64)[ax]
    steps = tf.reshape(tf.range(n, dtype=tf.int64), [-1] + [1] * (len(d.shape) - ax - 1))
    index = tf.reduce_min(tf.where(hit, steps, tf.cast(n, tf.int64)), axis=ax, keepdims=True)
    index = _finish(index, _count(d, (ax,), True) > 0, empty, tf.int64)  # the first hit
    if axis is None:
        return tf.reshape(index, [1] * ndim if keepdims else [])
    return index if keepdims else tf.squeeze(index, axis=ax)


def masked_argmax(
    x: tf.Tensor, mask: tf.Tensor, axis: int | None, keepdims: bool, empty: object
) -> tf.Tensor:
    """Ties are resolved explicitly (the smallest index), not by ``tf.argmax``.

    >>> masked_argmax(tf.constant([[5, 1, 5], [3, 3, 0]]),
    ...               [[False, True, True], [False, True, True]], axis=1).numpy()
    array([2, 1])
    """
    return _arg(x, mask, axis, keepdims, empty, largest=True)


def masked_argmin(
    x: tf.Tensor, mask: tf.Tensor, axis: int | None, keepdims: bool, empty: object
) -> tf.Tensor:
    """As ``masked_argmax``.

    >>> masked_argmin(tf.constant([0, 2, 1]), [False, True, True]).numpy()
    np.int64(2)
    """
    return _arg(x, mask, axis, keepdims, empty, largest=False)


def masked_cumsum(x: tf.Tensor, mask: tf.Tensor, axis: int, empty: object) -> tf.Tensor:
    """float16/bfloat16 accumulate in float32.

    >>> masked_cumsum(tf.constant([1.0, np.nan, 2.0]), [True, False, True]).numpy()
    array([1., 1., 3.], dtype=float32)
    """
    d = _data(x, mask)
    out = _dtype(sum_dtype(x.dtype))
    xs = tf.cast(tf.where(d.m, d.x, tf.zeros([], d.x.dtype)), _dtype(work_dtype(out)))
    total = tf.cumsum(xs, axis=axis)
    # along a trailing axis the mask is constant: seen there is the mask itself
    seen = tf.cumsum(tf.cast(d.m, tf.int64), axis=axis) > 0 if axis < d.k else d.m
    return _finish(total, seen, empty, out)


class _SoftmaxParts(NamedTuple):
    d: _Data
    ax: int
    out: tf.DType
    work: tf.DType
    shifted: tf.Tensor  # x - c at valid positions, -inf at masked ones
    total: tf.Tensor  # sum over valid positions of exp(shifted)
    has_valid: tf.Tensor


def _softmax_parts(x: tf.Tensor, mask: tf.Tensor, axis: int) -> _SoftmaxParts:
    d = _data(x, mask)
    out = _dtype(float_dtype(x.dtype))
    work = _dtype(work_dtype(out))
    minus_inf = tf.constant(-np.inf, work)
    xs = tf.cast(tf.where(d.m, d.x, tf.zeros([], d.x.dtype)), work)
    top = tf.reduce_max(tf.where(d.m, xs, minus_inf), axis=axis, keepdims=True)
    has_valid = _count(d, (axis,), True) > 0
    shift = tf.stop_gradient(tf.where(has_valid, top, tf.zeros_like(top)))
    shifted = tf.where(d.m, xs - shift, minus_inf)
    total = tf.reduce_sum(tf.exp(shifted), axis=axis, keepdims=True)  # exp(-inf) = 0 if masked
    return _SoftmaxParts(d, axis, out, work, shifted, total, has_valid)


def _empty_rows(result: tf.Tensor, parts: _SoftmaxParts, empty: str, log: bool) -> tf.Tensor:
    """Slices with no valid element set by ``empty``."""
    dtype, work = parts.out, parts.work
    n = parts.d.shape[parts.ax]
    if empty in ("zeros", "-inf"):
        fill = cast_fill(-np.inf if log else 0.0, dtype, "empty")
    elif empty == "nan":
        fill = cast_fill(np.nan, dtype, "empty")
    elif n is not None:  # uniform over every position of the slice, masked or not
        if log:
            with np.errstate(divide="ignore"):
                fill = cast_fill(-np.log(n), dtype, "empty")
        else:
            fill = tf.cast(tf.constant(1.0 / n if n else 0.0, work), dtype)
    else:
        size = tf.cast(tf.shape(parts.d.x)[parts.ax], tf.float64)
        if log:
            fill = cast_tensor(-tf.math.log(size), dtype, "empty")
        else:
            share = tf.math.divide_no_nan(tf.constant(1.0, tf.float64), size)
            fill = tf.cast(tf.cast(share, work), dtype)
    return tf.where(parts.has_valid, tf.cast(result, dtype), fill)


def masked_softmax(x: tf.Tensor, mask: tf.Tensor, axis: int, empty: str) -> tf.Tensor:
    """The max shift is held constant for the gradient; the sum is double-``where``'d.

    >>> masked_softmax(tf.constant([[0.0, 0.0, np.nan], [1.0, 2.0, 3.0]]),
    ...                [[True, True, False], [False] * 3]).numpy()
    array([[0.5, 0.5, 0. ],
           [0. , 0. , 0. ]], dtype=float32)
    """
    p = _softmax_parts(x, mask, axis)
    total = tf.where(p.has_valid, p.total, tf.ones_like(p.total))
    y = tf.where(p.d.m, tf.exp(p.shifted) / total, tf.zeros([], p.work))
    return _empty_rows(y, p, empty, log=False)


def masked_log_softmax(x: tf.Tensor, mask: tf.Tensor, axis: int, empty: str) -> tf.Tensor:
    """Computed as ``shifted - log(total)``, never as ``log(softmax)``.

    >>> masked_log_softmax(tf.constant([0.0, 0.0, 5.0]), [True, True, False]).numpy().round(4)
    array([-0.6931, -0.6931,    -inf], dtype=float32)
    """
    p = _softmax_parts(x, mask, axis)
    logs = tf.math.log(tf.where(p.has_valid, p.total, tf.ones_like(p.total)))
    y = tf.where(p.d.m, p.shifted - logs, tf.constant(-np.inf, p.work))
    return _empty_rows(y, p, empty, log=True)
