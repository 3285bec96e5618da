"""The paths of tf_impl's masked reductions that depend on the platform or the size.

:mod:`tf_impl.reductions` states each kernel as the plain rule (``where``, then
the reduction); these are the places where TensorFlow needs more:

* :func:`nan_safe_extreme`: ``tf.reduce_max``/``reduce_min`` drop NaN under XLA
  (and perhaps on GPU); there NaN is made to win as an infinity and restored,
  so a valid NaN propagates as in NumPy.
* :func:`matmul_total`: the sum over axis 1 of large float32/float64 data with a
  ``(B, T)`` mask, as one batched matmul of the 0/1 mask with ``x`` (it reads
  ``x`` once, with no masked copy), kept only when its result is finite
  (``0 * NaN`` is NaN: NaN or inf anywhere, padding included, falls back to
  the ``where`` path). Its gradient is ``where(mask, upstream, 0)``: exactly 0
  at masked steps even when ``upstream`` is inf or NaN (a matmul's own gradient,
  ``mask * upstream``, would give ``0 * inf = NaN`` there).
* :func:`gather_extreme`: eager ``masked_max``/``masked_min`` over axis 1 of
  large data reduce a gather of the valid rows instead of a ``where`` copy. Its
  gradient goes to the valid elements equal to the result, split evenly between
  ties (as ``tf.reduce_max``'s), never to the rows that stood in for masked ones.

:func:`pooling_applies` is the size gate of the last two.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from ._convert import eager

__all__ = [
    "FAST_FROM",
    "gather_applies",
    "gather_extreme",
    "matmul_total",
    "nan_propagates",
    "nan_safe_extreme",
    "pooling_applies",
    "rows",
]

#: Elements of ``x`` from which the (B, T)-mask fast paths are taken (eager, or known sizes).
FAST_FROM = 2**16


@functools.cache
def _has_gpu() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def nan_propagates() -> bool:
    """True where ``tf.reduce_max``/``reduce_min`` propagate NaN: eager ops on CPU."""
    return eager() and not _has_gpu()


def _matmul_exact(dtype: tf.DType) -> bool:
    """float32 matmuls run in TF32 on recent GPUs unless that is switched off."""
    return (
        dtype == tf.float64
        or not _has_gpu()
        or not tf.config.experimental.tensor_float_32_execution_enabled()
    )


def pooling_applies(x: tf.Tensor, mask_ndim: int, axes: tuple[int, ...]) -> bool:
    """A (B, T) mask reduced over axis 1 of large float32/float64 data."""
    if mask_ndim != 2 or axes != (1,) or x.dtype not in (tf.float32, tf.float64):
        return False
    size = x.shape.num_elements()
    return size >= FAST_FROM if size is not None else not eager()


def gather_applies(x: tf.Tensor, mask: tf.Tensor, axes: tuple[int, ...]) -> bool:
    """:func:`gather_extreme` serves eager CPU code in :func:`pooling_applies`'s shapes,
    when some step is valid (a masked row needs a valid one to stand in for it)."""
    if not (nan_propagates() and pooling_applies(x, len(mask.shape), axes)):
        return False
    return bool(tf.reduce_any(mask))


def rows(x: tf.Tensor) -> tf.Tensor:
    """``x`` as ``(B, T, D)``, D being the product of the trailing sizes (1 for none)."""
    shape = x.shape.as_list()
    if None not in shape:
        return tf.reshape(x, [shape[0], shape[1], int(np.prod(shape[2:], dtype=int))])
    dynamic = tf.shape(x)
    return tf.reshape(x, tf.stack([dynamic[0], dynamic[1], tf.reduce_prod(dynamic[2:])]))


def _mask_matmul(x3: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """``sum over T of mask * x3`` as ``(B, 1, D)``, with a gradient that selects."""

    @tf.custom_gradient
    def total(x3: tf.Tensor) -> tuple[tf.Tensor, Callable]:
        weights = tf.cast(mask, x3.dtype)[:, tf.newaxis, :]

        def grad(upstream: tf.Tensor) -> tf.Tensor:
            keep = mask[:, :, tf.newaxis]
            return tf.where(keep, upstream, tf.zeros([], upstream.dtype))

        return tf.linalg.matmul(weights, x3), grad

    return total(x3)


def matmul_total(
    x: tf.Tensor,
    mask: tf.Tensor,
    out_shape: list | tf.Tensor,
    static_out: list,
    by_where: Callable[[], tf.Tensor],
) -> tf.Tensor:
    """The masked sum over axis 1 by :func:`_mask_matmul` (exact float matmuls only), or
    ``by_where()`` where that is not finite (NaN or inf anywhere in ``x``)."""
    if not _matmul_exact(x.dtype):
        return by_where()
    total = tf.reshape(_mask_matmul(rows(x), mask), out_shape)
    finite = tf.reduce_all(tf.math.is_finite(total))  # 0 * NaN or 0 * inf when masked
    if eager():
        return total if bool(finite) else by_where()
    total = tf.cond(finite, lambda: total, by_where)
    total.set_shape(static_out)
    return total


def nan_safe_extreme(
    sanitised: Callable[[], tf.Tensor], axes: Sequence[int], keepdims: bool, largest: bool
) -> tf.Tensor:
    """``max``/``min`` over ``axes`` of the data ``sanitised()`` builds; a NaN propagates.

    XLA's max and min (and perhaps GPU kernels) drop NaN: there NaN is made to
    win as an infinity, and only where the winner is that infinity does a
    second pass (a ``tf.cond`` branch, rebuilt from the inputs so that nothing
    of ``x``'s size is kept) tell NaN from a real infinity.
    """
    axes = list(axes)
    xs = sanitised()
    if xs.dtype.is_bool:
        reduce_bool = tf.reduce_any if largest else tf.reduce_all
        return reduce_bool(xs, axis=axes, keepdims=keepdims)
    reduce = tf.reduce_max if largest else tf.reduce_min
    if not xs.dtype.is_floating or nan_propagates():
        return reduce(xs, axis=axes, keepdims=keepdims)
    win = tf.constant(np.inf if largest else -np.inf, xs.dtype)
    top = reduce(tf.where(tf.math.is_nan(xs), win, xs), axis=axes, keepdims=keepdims)
    hit = tf.equal(top, win)

    def restore() -> tf.Tensor:
        had_nan = tf.reduce_any(tf.math.is_nan(sanitised()), axis=axes, keepdims=keepdims)
        return tf.where(tf.logical_and(hit, had_nan), tf.constant(np.nan, xs.dtype), top)

    return tf.cond(tf.reduce_any(hit), restore, lambda: top)


@functools.cache
def _gather_kernel(dtype: tf.DType, largest: bool) -> Callable[..., tf.Tensor]:
    """The forward pass of :func:`gather_extreme`, traced once per dtype as a graph function
    (its steps reuse their buffers and cost one eager dispatch).

    Every masked row is replaced by a valid row of the same batch entry (of any
    entry when it has none), so only valid values are read and duplicates cannot
    change a max or a min; a row gather moves memory faster than an element-wise
    ``where``. Entries with no valid row get ``fill``.
    """
    spec = [
        tf.TensorSpec([None, None, None], dtype),
        tf.TensorSpec([None, None], tf.bool),
        tf.TensorSpec([], dtype),
    ]

    @tf.function(input_signature=spec)
    def run(x3: tf.Tensor, mask: tf.Tensor, fill: tf.Tensor) -> tf.Tensor:
        shape = tf.shape(x3, out_type=tf.int64)
        batch, steps, inner = shape[0], shape[1], shape[2]
        has_valid = tf.reduce_any(mask, axis=1, keepdims=True)[..., tf.newaxis]
        flat = tf.reshape(tf.range(batch * steps), tf.stack([batch, steps]))
        past = batch * steps
        first = tf.reduce_min(tf.where(mask, flat, past), axis=1, keepdims=True)
        anywhere = tf.reduce_min(first)  # the caller makes sure that some row is valid
        index = tf.where(mask, flat, tf.where(first < past, first, anywhere))
        valid = tf.gather(tf.reshape(x3, tf.stack([past, inner])), index)
        reduce = tf.reduce_max if largest else tf.reduce_min
        return tf.where(has_valid, reduce(valid, axis=1, keepdims=True), fill)

    return run.get_concrete_function()


def _tie_gradient(x3: tf.Tensor, mask: tf.Tensor, top: tf.Tensor, upstream: tf.Tensor) -> tf.Tensor:
    """``upstream`` to the valid elements equal to ``top`` (NaN to NaN), split evenly."""
    hit = tf.equal(x3, top)
    if x3.dtype.is_floating:
        hit = tf.logical_or(hit, tf.logical_and(tf.math.is_nan(x3), tf.math.is_nan(top)))
    hit = tf.logical_and(hit, mask[:, :, tf.newaxis])
    ties = tf.reduce_sum(tf.cast(hit, upstream.dtype), axis=1, keepdims=True)
    share = upstream / tf.maximum(ties, tf.ones([], upstream.dtype))
    return tf.where(hit, share, tf.zeros([], upstream.dtype))


def gather_extreme(x: tf.Tensor, mask: tf.Tensor, fill: tf.Tensor, largest: bool) -> tf.Tensor:
    """The masked max/min over axis 1 of ``x`` (``(B, T, ...)``, ``(B, T)`` mask with some
    valid step somewhere) as ``(B, 1, D)``, eagerly, by the gather of valid rows."""
    run = _gather_kernel(x.dtype, largest)

    @tf.custom_gradient
    def extreme(x3: tf.Tensor) -> tuple[tf.Tensor, Callable]:
        top = run(x3, mask, fill)
        return top, lambda upstream: _tie_gradient(x3, mask, top, upstream)

    return extreme(rows(x))
