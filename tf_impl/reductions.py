"""Masked reductions, masked cumulative sum and masked softmax, in TensorFlow.

Mirrors :mod:`reference.reductions` (the common rules are stated there): the
same functions, signatures, defaults, result dtypes and errors, on
``tf.Tensor`` data (tensors, variables, arrays or lists in; tensors out).

TensorFlow notes shared by every function:

* Masked values are replaced with ``tf.where`` *before* each operation
  (double ``where`` around ``log``/``sqrt``/division), so NaN or inf under the
  mask never reach a result or a gradient: the gradient with respect to ``x``
  is finite and exactly 0 at masked positions, fully masked slices included.
* float16 and bfloat16 data are computed in float32 and rounded once.
* Everything runs in ``tf.function`` (the rank must be static) and under
  ``jit_compile=True``; the mask's values never change the traced graph.
* ``tf.reduce_max``/``tf.reduce_min`` drop NaN under XLA (and perhaps on
  GPU); outside eager CPU execution the extremes map NaN to the winning
  infinity and restore it, so a valid NaN propagates as in NumPy.
* Fast paths for the common ``(B, T)`` mask reduced over axis 1 of large
  float32/float64 data: ``masked_sum``/``masked_mean`` use one batched matmul
  of the 0/1 mask with ``x`` (it reads ``x`` once, with no masked copy), kept
  only when its result is finite (``0 * NaN`` is NaN: NaN or inf anywhere,
  padding included, falls back to the ``where`` path); its gradient is
  ``mask * upstream``, exactly 0 at masked positions. Eager
  ``masked_max``/``masked_min`` reduce a gather of the valid rows (see
  ``_gather_kernel``) instead of a ``where`` copy.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from maskref.api.checks import (
    check_choice,
    check_mask_shape,
    check_scalar,
    normalize_axis,
    normalize_single_axis,
)
from maskref.api.masks import as_mask as _as_mask
from reference.reductions import LOG_SOFTMAX_EMPTY, SOFTMAX_EMPTY

from ._backend import BACKEND
from ._convert import (
    as_tensor,
    cast_fill,
    cast_tensor,
    eager,
    python_errors,
    require,
    static_shape,
    with_checks,
)

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

Shape = tuple[int | None, ...]

#: Elements of ``x`` from which the (B, T)-mask fast paths are taken (eager, or known sizes).
_FAST_FROM = 2**16


class _Data(NamedTuple):
    """Validated inputs: ``m`` is the mask with ``x``'s rank (size-1 trailing axes)."""

    x: tf.Tensor
    mask: tf.Tensor  # the mask as given (rank k)
    m: tf.Tensor  # the mask reshaped to broadcast against x
    k: int
    shape: Shape


# --- inputs --------------------------------------------------------------------------


def _broadcast(x: object, mask: object) -> _Data:
    """Mirrors ``reference.reductions.broadcast_mask``: checks, in the reference's order."""
    try:
        xt = as_tensor(x, "x")
    except TypeError:  # data TensorFlow cannot hold: the mask is checked first, as there
        shape = tuple(np.shape(x)) if not isinstance(x, tf.RaggedTensor) else None
        if shape is not None:
            check_mask_shape(static_shape(_as_mask(BACKEND, mask), "mask"), shape)
        raise
    shape = static_shape(xt, "x")
    mask = _as_mask(BACKEND, mask)
    mask_shape = static_shape(mask, "mask")
    check_mask_shape(mask_shape, shape)
    k = len(mask_shape)
    if not eager() and (None in mask_shape or None in shape[:k]):
        same = tf.reduce_all(tf.equal(tf.shape(mask), tf.shape(xt)[:k]))
        checks = require(
            same,
            lambda: ValueError(f"mask shape must be a leading prefix of x shape {shape}"),
            "mask shape must be a leading prefix of x shape",
        )
        mask = with_checks(mask, checks)
    m = mask[(Ellipsis,) + (tf.newaxis,) * (len(shape) - k)] if len(shape) > k else mask
    return _Data(xt, mask, m, k, shape)


def _check_numeric(x: tf.Tensor) -> None:
    d = x.dtype
    if not (d.is_bool or d.is_integer or d.is_floating):
        raise TypeError(f"x must hold numbers or bools, got dtype {d.name}")


def _prepare(x: object, mask: object, axis: object) -> tuple[_Data, tuple[int, ...]]:
    d = _broadcast(x, mask)
    _check_numeric(d.x)
    return d, normalize_axis(axis, len(d.shape))


# --- dtypes and constants ------------------------------------------------------------


def _sum_dtype(dtype: tf.DType) -> tf.DType:
    """int64 for bool and integer data, else the data's dtype."""
    return tf.int64 if dtype.is_bool or dtype.is_integer else dtype


def _float_dtype(dtype: tf.DType) -> tf.DType:
    """float64 for bool and integer data, else the data's dtype."""
    return tf.float64 if dtype.is_bool or dtype.is_integer else dtype


def _work(dtype: tf.DType) -> tf.DType:
    """The dtype computations run in: float16 and bfloat16 are widened to float32."""
    return tf.float32 if dtype in (tf.float16, tf.bfloat16) else dtype


def _const(value: object, dtype: tf.DType) -> tf.Tensor:
    return tf.constant(value, dtype)


def _identity_of_max(dtype: tf.DType, largest: bool) -> object:
    """The identity of max (smallest value) or of min (largest value) for ``dtype``."""
    if dtype.is_bool:
        return not largest
    if dtype.is_integer:
        return dtype.min if largest else dtype.max
    return -np.inf if largest else np.inf


@functools.cache
def _has_gpu() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def _nan_propagates() -> bool:
    """True where ``tf.reduce_max``/``reduce_min`` propagate NaN: eager ops on CPU."""
    return eager() and not _has_gpu()


def _matmul_exact(dtype: tf.DType) -> bool:
    """float32 matmuls run in TF32 on recent GPUs unless that is switched off."""
    return (
        dtype == tf.float64
        or not _has_gpu()
        or not tf.config.experimental.tensor_float_32_execution_enabled()
    )


# --- shapes, counts and the empty rule -----------------------------------------------


def _size(d: _Data, axes: Sequence[int]) -> int | tf.Tensor:
    """Number of elements of ``x`` over ``axes`` (a Python int when sizes are static)."""
    sizes = [d.shape[a] for a in axes]
    if None not in sizes:
        return int(np.prod(sizes, dtype=np.int64))
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
    keep = [(1 if a in axes else s) for a, s in enumerate(d.shape) if keepdims or a not in axes]
    if None not in keep:
        return keep
    dynamic = tf.shape(d.x)
    parts = [1 if a in axes else dynamic[a] for a in range(len(d.shape))]
    return tf.stack([p for a, p in enumerate(parts) if keepdims or a not in axes])


def _static_out(d: _Data, axes: Sequence[int], keepdims: bool) -> list:
    return [(1 if a in axes else s) for a, s in enumerate(d.shape) if keepdims or a not in axes]


def _squeeze(t: tf.Tensor, axes: Sequence[int]) -> tf.Tensor:
    return tf.squeeze(t, axis=list(axes)) if axes else t  # squeeze(axis=[]) drops every 1


def _finish(
    result: tf.Tensor, has_valid: tf.Tensor, empty: object, dtype: tf.DType, name: str = "empty"
) -> tf.Tensor:
    """``result`` cast to ``dtype``, with ``empty`` where a slice had no valid element.

    As in the reference, ``empty`` is cast by the lossless rule even when every
    slice has a valid element (``empty=nan`` for an integer sum is a ``ValueError``).
    """
    fill = cast_fill(empty, dtype, name)
    if result.dtype != dtype:
        result = tf.cast(result, dtype)
    return tf.where(has_valid, result, fill)


# --- shared kernels ------------------------------------------------------------------


def _fast_applies(d: _Data, axes: tuple[int, ...]) -> bool:
    """A (B, T) mask reduced over axis 1 of large float32/float64 data."""
    if d.k != 2 or axes != (1,) or d.x.dtype not in (tf.float32, tf.float64):
        return False
    size = d.x.shape.num_elements()
    return size >= _FAST_FROM if size is not None else not eager()


def _rows(d: _Data) -> tf.Tensor:
    """``x`` as ``(B, T, D)``, D being the product of the trailing sizes (1 for none)."""
    if None not in d.shape:
        return tf.reshape(d.x, [d.shape[0], d.shape[1], int(np.prod(d.shape[2:], dtype=int))])
    shape = tf.shape(d.x)
    return tf.reshape(d.x, tf.stack([shape[0], shape[1], tf.reduce_prod(shape[2:])]))


def _masked_total(d: _Data, axes: tuple[int, ...], keepdims: bool, work: tf.DType) -> tf.Tensor:
    """``sum(where(mask, x, 0))`` in ``work`` (the matmul fast path where it applies)."""

    def by_where() -> tf.Tensor:
        xs = tf.where(d.m, d.x, tf.zeros([], d.x.dtype))
        return tf.reduce_sum(tf.cast(xs, work), axis=list(axes), keepdims=keepdims)

    if not (_fast_applies(d, axes) and _matmul_exact(d.x.dtype)):
        return by_where()
    x3 = _rows(d)
    weights = tf.cast(d.mask, d.x.dtype)[:, tf.newaxis, :]
    total = tf.reshape(tf.linalg.matmul(weights, x3), _out_shape(d, axes, keepdims))
    finite = tf.reduce_all(tf.math.is_finite(total))  # 0 * NaN or 0 * inf when masked
    if eager():
        return total if bool(finite) else by_where()
    total = tf.cond(finite, lambda: total, by_where)
    total.set_shape(_static_out(d, axes, keepdims))
    return total


def _reduce_extreme(
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
    if not xs.dtype.is_floating or _nan_propagates():
        return reduce(xs, axis=axes, keepdims=keepdims)
    win = _const(np.inf if largest else -np.inf, xs.dtype)
    top = reduce(tf.where(tf.math.is_nan(xs), win, xs), axis=axes, keepdims=keepdims)
    hit = tf.equal(top, win)

    def restore() -> tf.Tensor:
        had_nan = tf.reduce_any(tf.math.is_nan(sanitised()), axis=axes, keepdims=keepdims)
        return tf.where(tf.logical_and(hit, had_nan), _const(np.nan, xs.dtype), top)

    return tf.cond(tf.reduce_any(hit), restore, lambda: top)


@functools.cache
def _gather_kernel(dtype: tf.DType, largest: bool) -> Callable[..., tf.Tensor]:
    """Eager fast path of ``masked_max``/``masked_min`` for ``(B, T, D)`` data over axis 1.

    Every masked row is replaced by a valid row of the same batch entry (of
    any entry when it has none), so only valid values are read and duplicates
    cannot change a max or a min; a row gather moves memory faster than an
    element-wise ``where``. Entries with no valid row get ``fill`` (the caller
    makes sure that some row is valid: a masked row is never read, so the
    gradient reaches valid rows only). Traced once per dtype as a graph
    function: its steps reuse their buffers and cost one eager dispatch.
    """
    spec = [
        tf.TensorSpec([None, None, None], dtype),
        tf.TensorSpec([None, None], tf.bool),
        tf.TensorSpec([], dtype),
    ]

    @tf.function(input_signature=spec)
    def run(x3: tf.Tensor, mask: tf.Tensor, fill: tf.Tensor) -> tf.Tensor:
        shape = tf.shape(x3, out_type=tf.int64)
        rows, steps, inner = shape[0], shape[1], shape[2]
        has_valid = tf.reduce_any(mask, axis=1, keepdims=True)[..., tf.newaxis]
        flat = tf.reshape(tf.range(rows * steps), tf.stack([rows, steps]))
        past = rows * steps
        first = tf.reduce_min(tf.where(mask, flat, past), axis=1, keepdims=True)
        anywhere = tf.reduce_min(first)  # the caller makes sure that some row is valid
        index = tf.where(mask, flat, tf.where(first < past, first, anywhere))
        valid = tf.gather(tf.reshape(x3, tf.stack([past, inner])), index)
        reduce = tf.reduce_max if largest else tf.reduce_min
        return tf.where(has_valid, reduce(valid, axis=1, keepdims=True), fill)

    return run.get_concrete_function()


def _extreme(d: _Data, axes: tuple[int, ...], keepdims: bool, largest: bool) -> tf.Tensor:
    """``max``/``min`` of ``where(mask, x, identity)`` over ``axes``, in ``x``'s dtype."""
    fill = _const(_identity_of_max(d.x.dtype, largest), d.x.dtype)
    return _reduce_extreme(lambda: tf.where(d.m, d.x, fill), axes, keepdims, largest)


# --- reductions ----------------------------------------------------------------------


@python_errors
def masked_sum(
    x: object, mask: object, axis: object = None, keepdims: bool = False, *, empty: object = 0
) -> tf.Tensor:
    """Mirrors ``reference.masked_sum`` (rule stated there): ``sum(where(mask, x, 0))``.

    ``x``: numeric or bool tensor (array, list); ``mask``: ``tf.bool`` whose
    shape is a leading prefix of ``x``'s. int64 for bool/integer data, else
    ``x``'s dtype (float16/bfloat16 summed in float32). A ``(B, T)`` mask over
    axis 1 of large float data takes the matmul fast path (see the module).

    >>> masked_sum(tf.constant([[1.0, np.nan], [3.0, 4.0]]), [[True, False], [True, True]],
    ...            axis=1).numpy()
    array([1., 7.], dtype=float32)
    """
    d, axes = _prepare(x, mask, axis)
    out = _sum_dtype(d.x.dtype)
    total = _masked_total(d, axes, keepdims, _work(out))
    return _finish(total, _count(d, axes, keepdims) > 0, empty, out)


@python_errors
def masked_prod(
    x: object, mask: object, axis: object = None, keepdims: bool = False, *, empty: object = 1
) -> tf.Tensor:
    """Mirrors ``reference.masked_prod`` (rule stated there): ``prod(where(mask, x, 1))``.

    Dtypes as ``masked_sum``; integer products wrap around in int64.

    >>> masked_prod(tf.constant([2, 3, 4]), [True, False, True]).numpy()
    np.int64(8)
    """
    d, axes = _prepare(x, mask, axis)
    out = _sum_dtype(d.x.dtype)
    xs = tf.where(d.m, d.x, tf.ones([], d.x.dtype))
    total = tf.reduce_prod(tf.cast(xs, _work(out)), axis=list(axes), keepdims=keepdims)
    return _finish(total, _count(d, axes, keepdims) > 0, empty, out)


@python_errors
def masked_count(
    x: object, mask: object, axis: object = None, keepdims: bool = False, *, empty: object = 0
) -> tf.Tensor:
    """Mirrors ``reference.masked_count`` (rule stated there): valid elements per slice, int64.

    Only ``x``'s shape (and dtype check) is used.

    >>> masked_count(tf.zeros((2, 3, 4)), [[True, False, True], [False] * 3],
    ...              axis=(1, 2)).numpy()
    array([8, 0])
    """
    d, axes = _prepare(x, mask, axis)
    count = tf.broadcast_to(_count(d, axes, keepdims), _out_shape(d, axes, keepdims))
    return _finish(count, count > 0, empty, tf.int64)


@python_errors
def masked_mean(
    x: object,
    mask: object,
    axis: object = None,
    keepdims: bool = False,
    *,
    empty: object = np.nan,
) -> tf.Tensor:
    """Mirrors ``reference.masked_mean`` (rule stated there): ``masked_sum / masked_count``.

    float64 for bool/integer data, else ``x``'s dtype (float16/bfloat16 in
    float32). Same fast path as ``masked_sum``.

    >>> masked_mean(tf.constant([[1.0, 5.0], [np.inf, 2.0]]), [[True, True], [False, True]],
    ...             axis=1).numpy()
    array([3., 2.], dtype=float32)
    """
    d, axes = _prepare(x, mask, axis)
    out = _float_dtype(d.x.dtype)
    work = _work(out)
    count = _count(d, axes, keepdims)
    total = _masked_total(d, axes, keepdims, work)
    mean = total / tf.cast(tf.maximum(count, 1), work)
    return _finish(mean, count > 0, empty, out)


def _variance(
    x: object, mask: object, axis: object, keepdims: bool, ddof: object
) -> tuple[tf.Tensor, tf.Tensor, tf.DType]:
    """(variance in the working dtype, where the slice has room, result dtype)."""
    d, axes = _prepare(x, mask, axis)
    check_scalar(ddof, "ddof")
    out = _float_dtype(d.x.dtype)
    work = _work(out)
    count = _count(d, axes, True)
    xs = tf.cast(tf.where(d.m, d.x, tf.zeros([], d.x.dtype)), work)
    mean = tf.reduce_sum(xs, axis=list(axes), keepdims=True) / tf.cast(tf.maximum(count, 1), work)
    dev = tf.where(d.m, xs - mean, _const(0, work))
    denom = tf.cast(count, tf.float64) - tf.cast(ddof, tf.float64)
    var = tf.reduce_sum(dev * dev, axis=list(axes), keepdims=True) / tf.cast(
        tf.maximum(denom, 1.0), work
    )
    if not keepdims:
        var, denom = _squeeze(var, axes), _squeeze(denom, axes)
    return var, denom > 0, out


@python_errors
def masked_var(
    x: object,
    mask: object,
    axis: object = None,
    keepdims: bool = False,
    *,
    ddof: object = 0,
    empty: object = np.nan,
) -> tf.Tensor:
    """Mirrors ``reference.masked_var`` (rule stated there): two-pass ``sum((x - mean)**2) / (n - ddof)``.

    Dtypes as ``masked_mean``; ``n - ddof <= 0`` gives ``empty``.

    >>> masked_var(tf.constant([1.0, 3.0, np.nan]), [True, True, False]).numpy()
    np.float32(1.0)
    """  # noqa: E501
    var, room, out = _variance(x, mask, axis, keepdims, ddof)
    return _finish(var, room, empty, out)


@python_errors
def masked_std(
    x: object,
    mask: object,
    axis: object = None,
    keepdims: bool = False,
    *,
    ddof: object = 0,
    empty: object = np.nan,
) -> tf.Tensor:
    """Mirrors ``reference.masked_std`` (rule stated there): ``sqrt(masked_var)``.

    The square root is double-``where``'d: a zero variance (one valid element,
    or none) has gradient 0, not ``0 * inf = NaN``.

    >>> masked_std(tf.constant([1.0, 3.0, np.nan]), [True, True, False]).numpy()
    np.float32(1.0)
    """
    var, room, out = _variance(x, mask, axis, keepdims, ddof)
    zero = tf.equal(var, 0)
    std = tf.where(zero, tf.zeros_like(var), tf.sqrt(tf.where(zero, tf.ones_like(var), var)))
    return _finish(std, room, empty, out)


def _masked_extreme(
    x: object, mask: object, axis: object, keepdims: bool, empty: object, largest: bool
) -> tf.Tensor:
    d, axes = _prepare(x, mask, axis)
    empty = _identity_of_max(d.x.dtype, largest) if empty is None else empty
    fast = eager() and _nan_propagates() and _fast_applies(d, axes)
    if fast and bool(tf.reduce_any(d.mask)):  # else no valid row to stand in for masked ones
        fill = cast_fill(empty, d.x.dtype, "empty")
        top = _gather_kernel(d.x.dtype, largest)(_rows(d), d.mask, fill)
        return tf.reshape(top, _out_shape(d, axes, keepdims))
    result = _extreme(d, axes, keepdims, largest)
    return _finish(result, _count(d, axes, keepdims) > 0, empty, d.x.dtype)


@python_errors
def masked_max(
    x: object, mask: object, axis: object = None, keepdims: bool = False, *, empty: object = None
) -> tf.Tensor:
    """Mirrors ``reference.masked_max`` (rule stated there): ``max(where(mask, x, lowest))``.

    A valid NaN propagates (also under XLA, whose max drops NaN). Dtype:
    ``x``'s; default ``empty``: ``-inf``, the integer minimum or False.

    >>> masked_max(tf.constant([[1, 9], [4, 2]]), [[True, False], [True, True]], axis=1).numpy()
    array([1, 4], dtype=int32)
    """
    return _masked_extreme(x, mask, axis, keepdims, empty, largest=True)


@python_errors
def masked_min(
    x: object, mask: object, axis: object = None, keepdims: bool = False, *, empty: object = None
) -> tf.Tensor:
    """Mirrors ``reference.masked_min`` (rule stated there): the smallest valid element.

    Default ``empty``: ``+inf``, the integer maximum or True.

    >>> masked_min(tf.constant([[1, 9], [4, 2]]), [[False, True], [True, True]], axis=1).numpy()
    array([9, 2], dtype=int32)
    """
    return _masked_extreme(x, mask, axis, keepdims, empty, largest=False)


@python_errors
def masked_logsumexp(
    x: object,
    mask: object,
    axis: object = None,
    keepdims: bool = False,
    *,
    empty: object = -np.inf,
) -> tf.Tensor:
    """Mirrors ``reference.masked_logsumexp`` (rule stated there): ``c + log(sum(exp(x - c)))``.

    The shift ``c`` is held constant for the gradient (the result does not
    depend on it), and ``log`` is double-``where``'d for empty sums. Dtypes
    as ``masked_mean``.

    >>> masked_logsumexp(tf.constant([0.0, 0.0, np.nan]), [True, True, False]).numpy().round(4)
    np.float32(0.6931)
    """
    d, axes = _prepare(x, mask, axis)
    out = _float_dtype(d.x.dtype)
    work = _work(out)
    minus_inf = _const(-np.inf, work)
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


@python_errors
def masked_any(
    x: object, mask: object, axis: object = None, keepdims: bool = False, *, empty: object = False
) -> tf.Tensor:
    """Mirrors ``reference.masked_any`` (rule stated there): is any valid element non-zero?

    NaN counts as non-zero.

    >>> masked_any(tf.constant([0, 1]), [True, False]).numpy()
    np.False_
    """
    d, axes = _prepare(x, mask, axis)
    nonzero = tf.not_equal(d.x, tf.zeros([], d.x.dtype))
    result = tf.reduce_any(tf.logical_and(d.m, nonzero), axis=list(axes), keepdims=keepdims)
    return _finish(result, _count(d, axes, keepdims) > 0, empty, tf.bool)


@python_errors
def masked_all(
    x: object, mask: object, axis: object = None, keepdims: bool = False, *, empty: object = True
) -> tf.Tensor:
    """Mirrors ``reference.masked_all`` (rule stated there): every valid element non-zero.

    >>> masked_all(tf.constant([1, 0]), [True, False]).numpy()
    np.True_
    """
    d, axes = _prepare(x, mask, axis)
    nonzero = tf.not_equal(d.x, tf.zeros([], d.x.dtype))
    result = tf.reduce_all(
        tf.logical_or(tf.logical_not(d.m), nonzero), axis=list(axes), keepdims=keepdims
    )
    return _finish(result, _count(d, axes, keepdims) > 0, empty, tf.bool)


def _masked_arg(
    x: object, mask: object, axis: object, keepdims: bool, empty: object, largest: bool
) -> tf.Tensor:
    d = _broadcast(x, mask)
    _check_numeric(d.x)
    ndim = len(d.shape)
    if axis is None:
        full = tf.broadcast_to(d.m, tf.shape(d.x))
        flat_x, flat_m = tf.reshape(d.x, [-1]), tf.reshape(full, [-1])
        size = d.x.shape.num_elements()
        d = _Data(flat_x, flat_m, flat_m, 1, (size,))
        ax = 0
    else:
        ax = normalize_single_axis(axis, ndim)
    fill = _const(_identity_of_max(d.x.dtype, largest), d.x.dtype)
    best = _reduce_extreme(lambda: tf.where(d.m, d.x, fill), [ax], True, largest)
    same = tf.equal(d.x, best)
    if d.x.dtype.is_floating:
        both_nan = tf.logical_and(tf.math.is_nan(d.x), tf.math.is_nan(best))
        same = tf.logical_or(same, both_nan)
    hit = tf.logical_and(d.m, same)
    n = d.shape[ax] if d.shape[ax] is not None else tf.shape(d.x, out_type=tf.int64)[ax]
    steps = tf.reshape(tf.range(n, dtype=tf.int64), [-1] + [1] * (len(d.shape) - ax - 1))
    past = tf.cast(n, tf.int64)
    index = tf.reduce_min(tf.where(hit, steps, past), axis=ax, keepdims=True)  # first hit
    index = _finish(index, _count(d, (ax,), True) > 0, empty, tf.int64)
    if axis is None:
        return tf.reshape(index, [1] * ndim if keepdims else [])
    return index if keepdims else tf.squeeze(index, axis=ax)


@python_errors
def masked_argmax(
    x: object, mask: object, axis: object = None, keepdims: bool = False, *, empty: object = -1
) -> tf.Tensor:
    """Mirrors ``reference.masked_argmax`` (rule stated there): first index of the largest valid element.

    A valid NaN counts as the largest. ``axis``: int or None (flattened);
    tuples are a ``TypeError``. int64; empty slices give ``empty`` (-1). Ties
    are resolved explicitly (the smallest index), not by ``tf.argmax``.

    >>> masked_argmax(tf.constant([[5, 1, 5], [3, 3, 0]]),
    ...               [[False, True, True], [False, True, True]], axis=1).numpy()
    array([2, 1])
    """  # noqa: E501
    return _masked_arg(x, mask, axis, keepdims, empty, largest=True)


@python_errors
def masked_argmin(
    x: object, mask: object, axis: object = None, keepdims: bool = False, *, empty: object = -1
) -> tf.Tensor:
    """Mirrors ``reference.masked_argmin`` (rule stated there): first index of the smallest valid element.

    >>> masked_argmin(tf.constant([0, 2, 1]), [False, True, True]).numpy()
    np.int64(2)
    """  # noqa: E501
    return _masked_arg(x, mask, axis, keepdims, empty, largest=False)


@python_errors
def masked_cumsum(x: object, mask: object, axis: int = -1, *, empty: object = 0) -> tf.Tensor:
    """Mirrors ``reference.masked_cumsum`` (rule stated there): running sum of the valid elements.

    Positions before the first valid element get ``empty``. Dtypes as
    ``masked_sum``. ``axis`` is an int.

    >>> masked_cumsum(tf.constant([1.0, np.nan, 2.0]), [True, False, True]).numpy()
    array([1., 1., 3.], dtype=float32)
    """
    d = _broadcast(x, mask)
    _check_numeric(d.x)
    ax = normalize_single_axis(axis, len(d.shape))
    out = _sum_dtype(d.x.dtype)
    xs = tf.cast(tf.where(d.m, d.x, tf.zeros([], d.x.dtype)), _work(out))
    total = tf.cumsum(xs, axis=ax)
    # along a trailing axis the mask is constant: seen there is the mask itself
    seen = tf.cumsum(tf.cast(d.m, tf.int64), axis=ax) > 0 if ax < d.k else d.m
    return _finish(total, seen, empty, out)


class _SoftmaxParts(NamedTuple):
    d: _Data
    ax: int
    out: tf.DType
    work: tf.DType
    shifted: tf.Tensor  # x - c at valid positions, -inf at masked ones
    total: tf.Tensor  # sum over valid positions of exp(shifted)
    has_valid: tf.Tensor


def _softmax_parts(x: object, mask: object, axis: object) -> _SoftmaxParts:
    d = _broadcast(x, mask)
    _check_numeric(d.x)
    ax = normalize_single_axis(axis, len(d.shape))
    out = _float_dtype(d.x.dtype)
    work = _work(out)
    minus_inf = _const(-np.inf, work)
    xs = tf.cast(tf.where(d.m, d.x, tf.zeros([], d.x.dtype)), work)
    top = tf.reduce_max(tf.where(d.m, xs, minus_inf), axis=ax, keepdims=True)
    has_valid = _count(d, (ax,), True) > 0
    shift = tf.stop_gradient(tf.where(has_valid, top, tf.zeros_like(top)))
    shifted = tf.where(d.m, xs - shift, minus_inf)
    total = tf.reduce_sum(tf.exp(shifted), axis=ax, keepdims=True)  # exp(-inf) = 0 when masked
    return _SoftmaxParts(d, ax, out, work, shifted, total, has_valid)


def _empty_rows(result: tf.Tensor, parts: _SoftmaxParts, empty: str, log: bool) -> tf.Tensor:
    """Slices with no valid element set by ``empty``, as ``reference.reductions._empty_rows``."""
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
            fill = tf.cast(_const(1.0 / n if n else 0.0, work), dtype)
    else:
        size = tf.cast(tf.shape(parts.d.x)[parts.ax], tf.float64)
        if log:
            fill = cast_tensor(-tf.math.log(size), dtype, "empty")
        else:
            share = tf.math.divide_no_nan(tf.constant(1.0, tf.float64), size)
            fill = tf.cast(tf.cast(share, work), dtype)
    return tf.where(parts.has_valid, tf.cast(result, dtype), fill)


@python_errors
def masked_softmax(x: object, mask: object, axis: int = -1, *, empty: str = "zeros") -> tf.Tensor:
    """Mirrors ``reference.masked_softmax`` (rule stated there): softmax of the valid elements.

    Masked positions are 0; ``empty`` is ``"zeros"``, ``"nan"`` or
    ``"uniform"``. The max shift is held constant for the gradient; the sum
    is double-``where``'d. Dtypes as ``masked_mean``.

    >>> masked_softmax(tf.constant([[0.0, 0.0, np.nan], [1.0, 2.0, 3.0]]),
    ...                [[True, True, False], [False] * 3]).numpy()
    array([[0.5, 0.5, 0. ],
           [0. , 0. , 0. ]], dtype=float32)
    """
    check_choice("empty", empty, SOFTMAX_EMPTY)
    p = _softmax_parts(x, mask, axis)
    total = tf.where(p.has_valid, p.total, tf.ones_like(p.total))
    y = tf.where(p.d.m, tf.exp(p.shifted) / total, _const(0, p.work))
    return _empty_rows(y, p, empty, log=False)


@python_errors
def masked_log_softmax(
    x: object, mask: object, axis: int = -1, *, empty: str = "-inf"
) -> tf.Tensor:
    """Mirrors ``reference.masked_log_softmax`` (rule stated there): ``log(masked_softmax)``, stably.

    Masked positions are ``-inf``; ``empty`` is ``"-inf"``, ``"nan"`` or
    ``"uniform"``. Dtypes as ``masked_mean``.

    >>> masked_log_softmax(tf.constant([0.0, 0.0, 5.0]), [True, True, False]).numpy().round(4)
    array([-0.6931, -0.6931,    -inf], dtype=float32)
    """  # noqa: E501
    check_choice("empty", empty, LOG_SOFTMAX_EMPTY)
    p = _softmax_parts(x, mask, axis)
    logs = tf.math.log(tf.where(p.has_valid, p.total, tf.ones_like(p.total)))
    y = tf.where(p.d.m, p.shifted - logs, _const(-np.inf, p.work))
    return _empty_rows(y, p, empty, log=True)
