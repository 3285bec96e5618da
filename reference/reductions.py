"""Masked reductions, masked cumulative sum and masked softmax (the reference rules).

Common rules of every function here:

* ``mask`` is boolean (``True`` = valid) with a shape that is a leading
  prefix of ``x.shape`` (a ``(B, T)`` mask for ``(B, T, D)`` data) or exactly
  ``x.shape``; it is broadcast over the trailing axes.
* Values at masked positions never influence a result: reductions skip them
  (NumPy's ``where=``) and element-wise steps replace them (``np.where``)
  before the operation, so NaN and inf under the mask change nothing.
* Valid values behave as in the unmasked NumPy operation: a NaN among the
  valid values propagates, and with an all-``True`` mask every function equals
  its unmasked counterpart.
* A slice with no valid element returns ``empty`` (each function documents
  its default), cast to the result dtype without loss (``ValueError`` if it
  cannot be: ``empty=nan`` for an integer sum, say).
* ``axis`` is None (every axis), an int or a tuple of ints, NumPy style;
  ``keepdims`` keeps the reduced axes with size 1. Results are NumPy arrays
  (0-d when every axis is reduced).

Result dtypes: ``sum``/``prod``/``cumsum`` of bool or integer data are int64
(float data keep their dtype); ``mean``/``var``/``std``/``logsumexp``/
``softmax``/``log_softmax`` of bool or integer data are float64 (float data
keep their dtype); ``max``/``min`` keep the dtype; ``count``, ``argmax`` and
``argmin`` are int64; ``any``/``all`` are bool. float16 data are computed
with float32 intermediates and rounded once at the end.
"""

from __future__ import annotations

import numpy as np

from maskref.api.checks import (
    check_choice,
    check_mask_dtype,
    check_mask_shape,
    normalize_axis,
    normalize_single_axis,
)
from maskref.api.dtypes import cast_scalar

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

SOFTMAX_EMPTY = ("zeros", "nan", "uniform")
LOG_SOFTMAX_EMPTY = ("-inf", "nan", "uniform")


def broadcast_mask(x: object, mask: object) -> tuple[np.ndarray, np.ndarray]:
    """``x`` as an array and ``mask`` validated, with size-1 trailing axes added so that
    it broadcasts against ``x`` (a ``(B, T, 1)`` view for ``(B, T, D)`` data)."""
    x = np.asarray(x)
    mask = np.asarray(mask)
    check_mask_dtype(str(mask.dtype))
    check_mask_shape(mask.shape, x.shape)
    return x, mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim))


def _prepare(x, mask, axis):
    x, m = broadcast_mask(x, mask)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"x must hold numbers or bools, got dtype {x.dtype}")
    return x, m, normalize_axis(axis, x.ndim)


def sum_dtype(dtype: np.dtype) -> np.dtype:
    """int64 for bool and integer data, else the data's dtype."""
    return np.dtype(np.int64) if dtype.kind in "biu" else dtype


def float_dtype(dtype: np.dtype) -> np.dtype:
    """float64 for bool and integer data, else the data's dtype."""
    return np.dtype(np.float64) if dtype.kind in "biu" else dtype


def _work(dtype: np.dtype) -> np.dtype:
    """The dtype computations run in: float16 is widened to float32."""
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def _count(
    m: np.ndarray, shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool
) -> np.ndarray:
    """Valid elements per slice, counted on the small mask: an axis the mask
    broadcasts over (size 1) multiplies the count by its size in ``x``."""
    factor = int(np.prod([shape[a] for a in axes if m.shape[a] == 1], dtype=np.int64))
    count = np.sum(m, axis=axes, keepdims=True, dtype=np.int64) * factor
    count = np.broadcast_to(count, tuple(1 if i in axes else n for i, n in enumerate(shape)))
    return count if keepdims else count.reshape([n for i, n in enumerate(shape) if i not in axes])


def _masked_total(x, m, axes, keepdims, dtype) -> np.ndarray:
    """``sum(where(m, x, 0))`` over ``axes``, accumulated in ``dtype``.

    NumPy's ``where=`` makes the reduction skip masked elements without
    reading them into the sum (and without a masked copy of ``x``).
    """
    return np.sum(x, axis=axes, keepdims=keepdims, dtype=dtype, where=m)


def _finish(result, has_valid, empty, dtype: np.dtype, name: str = "empty") -> np.ndarray:
    """``result`` cast to ``dtype``, with ``empty`` where a slice had no valid element.

    ``empty`` is checked even when every slice has a valid element.
    """
    fill = cast_scalar(empty, dtype, name)
    result = np.asarray(result).astype(dtype)
    return np.where(has_valid, result, fill).astype(dtype)


def _identity_of_max(dtype: np.dtype, largest: bool) -> object:
    """The identity of max (smallest value) or of min (largest value) for ``dtype``."""
    if dtype.kind == "b":
        return not largest
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return info.min if largest else info.max
    return -np.inf if largest else np.inf


def masked_sum(x, mask, axis=None, keepdims=False, *, empty=0) -> np.ndarray:
    """Sum of the valid elements: ``sum(where(mask, x, 0))``.

    Empty slice: ``empty`` (default 0, the identity). Dtype: int64 for bool and
    integer data, else ``x``'s dtype.

    >>> masked_sum([[1.0, np.nan], [3.0, 4.0]], [[True, False], [True, True]], axis=1)
    array([1., 7.])
    """
    x, m, axes = _prepare(x, mask, axis)
    out = sum_dtype(x.dtype)
    total = _masked_total(x, m, axes, keepdims, _work(out))
    return _finish(total, _count(m, x.shape, axes, keepdims) > 0, empty, out)


def masked_prod(x, mask, axis=None, keepdims=False, *, empty=1) -> np.ndarray:
    """Product of the valid elements: ``prod(where(mask, x, 1))``.

    Empty slice: ``empty`` (default 1, the identity). Dtype as ``masked_sum``
    (integer products wrap around on overflow, as in NumPy).

    >>> masked_prod([2, 3, 4], [True, False, True])
    array(8)
    """
    x, m, axes = _prepare(x, mask, axis)
    out = sum_dtype(x.dtype)
    total = np.prod(x, axis=axes, keepdims=keepdims, dtype=_work(out), where=m)
    return _finish(total, _count(m, x.shape, axes, keepdims) > 0, empty, out)


def masked_count(x, mask, axis=None, keepdims=False, *, empty=0) -> np.ndarray:
    """Number of valid elements: ``sum(mask)`` over the axes, as int64.

    ``x`` gives the shape the mask is broadcast to. Empty slice: ``empty``
    (default 0).

    >>> masked_count(np.zeros((2, 3, 4)), [[True, False, True], [False] * 3], axis=(1, 2))
    array([8, 0])
    """
    x, m, axes = _prepare(x, mask, axis)
    count = _count(m, x.shape, axes, keepdims)
    return _finish(count, count > 0, empty, np.dtype(np.int64))


def masked_mean(x, mask, axis=None, keepdims=False, *, empty=np.nan) -> np.ndarray:
    """Mean of the valid elements: ``masked_sum / masked_count``.

    Empty slice: ``empty`` (default NaN, what ``0 / 0`` gives). Dtype: float64
    for bool and integer data, else ``x``'s dtype.

    >>> masked_mean([[1.0, 5.0], [np.inf, 2.0]], [[True, True], [False, True]], axis=1)
    array([3., 2.])
    """
    x, m, axes = _prepare(x, mask, axis)
    out = float_dtype(x.dtype)
    count = _count(m, x.shape, axes, keepdims)
    total = _masked_total(x, m, axes, keepdims, _work(out))
    mean = total / np.maximum(count, 1)
    return _finish(mean, count > 0, empty, out)


def _variance(x, mask, axis, keepdims, ddof):
    """(variance in the working dtype, where the slice has room, result dtype)."""
    x, m, axes = _prepare(x, mask, axis)
    out = float_dtype(x.dtype)
    count = _count(m, x.shape, axes, True)
    xs = np.where(m, x, 0).astype(_work(out))
    mean = np.sum(xs, axis=axes, keepdims=True) / np.maximum(count, 1)
    dev = np.where(m, xs - mean, 0)
    denom = count - ddof
    var = np.sum(dev * dev, axis=axes, keepdims=True) / np.maximum(denom, 1)
    if not keepdims:
        var, denom = np.squeeze(var, axes), np.squeeze(denom, axes)
    return var, denom > 0, out


def masked_var(x, mask, axis=None, keepdims=False, *, ddof=0, empty=np.nan) -> np.ndarray:
    """Variance of the valid elements, two-pass: ``sum((x - mean)**2) / (n - ddof)``.

    ``n`` is the number of valid elements; a slice with ``n - ddof <= 0`` (no
    valid element, for the default ``ddof=0``) returns ``empty`` (default
    NaN). Dtype as ``masked_mean``.

    >>> masked_var([1.0, 3.0, np.nan], [True, True, False])
    array(1.)
    """
    var, room, out = _variance(x, mask, axis, keepdims, ddof)
    return _finish(var, room, empty, out)


def masked_std(x, mask, axis=None, keepdims=False, *, ddof=0, empty=np.nan) -> np.ndarray:
    """Standard deviation: ``sqrt`` of ``masked_var``; the same rules and defaults.

    >>> masked_std([1.0, 3.0, np.nan], [True, True, False])
    array(1.)
    """
    var, room, out = _variance(x, mask, axis, keepdims, ddof)
    return _finish(np.sqrt(var), room, empty, out)


def _masked_extreme(x, mask, axis, keepdims, empty, largest: bool) -> np.ndarray:
    x, m, axes = _prepare(x, mask, axis)
    fill = _identity_of_max(x.dtype, largest)
    reduce = np.max if largest else np.min
    result = reduce(x, axis=axes, keepdims=keepdims, initial=fill, where=m)
    empty = fill if empty is None else empty
    return _finish(result, _count(m, x.shape, axes, keepdims) > 0, empty, x.dtype)


def masked_max(x, mask, axis=None, keepdims=False, *, empty=None) -> np.ndarray:
    """Largest valid element: ``max(where(mask, x, lowest))``; a valid NaN propagates.

    Empty slice: ``empty``; the default (None) is the identity of max:
    ``-inf`` for floats, the dtype's minimum for integers, False for bools.
    Dtype: ``x``'s.

    >>> masked_max([[1, 9], [4, 2]], [[True, False], [True, True]], axis=1)
    array([1, 4])
    """
    return _masked_extreme(x, mask, axis, keepdims, empty, largest=True)


def masked_min(x, mask, axis=None, keepdims=False, *, empty=None) -> np.ndarray:
    """Smallest valid element; the default ``empty`` is ``+inf`` / the dtype's maximum / True.

    >>> masked_min([[1, 9], [4, 2]], [[False, True], [True, True]], axis=1)
    array([9, 2])
    """
    return _masked_extreme(x, mask, axis, keepdims, empty, largest=False)


def masked_logsumexp(x, mask, axis=None, keepdims=False, *, empty=-np.inf) -> np.ndarray:
    """``log(sum(exp(x)))`` over the valid elements, shifted by their max for stability.

    Rule: ``c = max over valid x`` (0 if not finite), result
    ``c + log(sum(where(mask, exp(x - c), 0)))``. Empty slice: ``empty``
    (default ``-inf``, the log of an empty sum). Dtype as ``masked_mean``.

    >>> masked_logsumexp([0.0, 0.0, np.nan], [True, True, False]).round(4)
    np.float64(0.6931)
    """
    x, m, axes = _prepare(x, mask, axis)
    out = float_dtype(x.dtype)
    xs = np.where(m, x, -np.inf).astype(_work(out))
    top = np.max(xs, axis=axes, keepdims=True, initial=-np.inf)
    shift = np.where(np.isfinite(top), top, 0)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        total = np.sum(np.where(m, np.exp(xs - shift), 0), axis=axes, keepdims=True)
        result = np.log(total) + shift
    if not keepdims:
        result = np.squeeze(result, axes)
    return _finish(result, _count(m, x.shape, axes, keepdims) > 0, empty, out)


def masked_any(x, mask, axis=None, keepdims=False, *, empty=False) -> np.ndarray:
    """Whether any valid element is non-zero (NaN counts as non-zero, as in NumPy).

    Empty slice: ``empty`` (default False, the identity).

    >>> masked_any([0, 1], [True, False])
    array(False)
    """
    x, m, axes = _prepare(x, mask, axis)
    result = np.any(m & (x != 0), axis=axes, keepdims=keepdims)
    return _finish(result, _count(m, x.shape, axes, keepdims) > 0, empty, np.dtype(bool))


def masked_all(x, mask, axis=None, keepdims=False, *, empty=True) -> np.ndarray:
    """Whether every valid element is non-zero. Empty slice: ``empty`` (default True).

    >>> masked_all([1, 0], [True, False])
    array(True)
    """
    x, m, axes = _prepare(x, mask, axis)
    result = np.all(~m | (x != 0), axis=axes, keepdims=keepdims)
    return _finish(result, _count(m, x.shape, axes, keepdims) > 0, empty, np.dtype(bool))


def _masked_arg(x, mask, axis, keepdims, empty, largest: bool) -> np.ndarray:
    x, m = broadcast_mask(x, mask)
    m = np.broadcast_to(m, x.shape)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"x must hold numbers or bools, got dtype {x.dtype}")
    if axis is None:
        shape = (1,) * x.ndim
        x, m, ax = x.reshape(-1), m.reshape(-1), 0
    else:
        ax = normalize_single_axis(axis, x.ndim)
    best = _masked_extreme(x, m, ax, True, None, largest)
    same = x == best
    if x.dtype.kind == "f":
        same |= np.isnan(x) & np.isnan(best)
    hit = m & same
    count = np.sum(m, axis=ax, keepdims=True)
    if x.shape[ax] == 0:
        index = np.zeros(count.shape, dtype=np.int64)
    else:
        index = np.argmax(hit, axis=ax, keepdims=True).astype(np.int64)
    index = _finish(index, count > 0, empty, np.dtype(np.int64))
    if axis is None:
        return index.reshape(shape) if keepdims else index.reshape(())
    return index if keepdims else np.squeeze(index, ax)


def masked_argmax(x, mask, axis=None, keepdims=False, *, empty=-1) -> np.ndarray:
    """Index of the largest valid element along ``axis``; ties pick the first valid index.

    A valid NaN counts as the largest (its first occurrence is returned, as
    in NumPy). ``axis`` is an int or None (an index into the flattened
    array); tuples are refused (``TypeError``). Empty slice: ``empty``
    (default -1). Dtype: int64.

    >>> masked_argmax([[5, 1, 5], [3, 3, 0]], [[False, True, True], [False, True, True]], axis=1)
    array([2, 1])
    """
    return _masked_arg(x, mask, axis, keepdims, empty, largest=True)


def masked_argmin(x, mask, axis=None, keepdims=False, *, empty=-1) -> np.ndarray:
    """Index of the smallest valid element; the rules of ``masked_argmax``.

    >>> masked_argmin([0, 2, 1], [False, True, True])
    array(2)
    """
    return _masked_arg(x, mask, axis, keepdims, empty, largest=False)


def masked_cumsum(x, mask, axis=-1, *, empty=0) -> np.ndarray:
    """Running sum of the valid elements along ``axis``; masked elements add nothing.

    Rule: ``out[..., t] = sum(x[..., s] for s <= t if mask[..., s])``; where no
    valid element has been seen yet (``s <= t``), ``empty`` (default 0, the
    empty sum). Masked positions after a valid one carry the running total.
    ``axis`` is an int. Dtype as ``masked_sum``.

    >>> masked_cumsum([1.0, np.nan, 2.0], [True, False, True])
    array([1., 1., 3.])
    """
    x, m = broadcast_mask(x, mask)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"x must hold numbers or bools, got dtype {x.dtype}")
    ax = normalize_single_axis(axis, x.ndim)
    out = sum_dtype(x.dtype)
    total = np.cumsum(np.where(m, x, 0), axis=ax, dtype=_work(out))
    seen = np.cumsum(m, axis=ax) > 0
    return _finish(total, seen, empty, out)


def _softmax_parts(x, mask, axis):
    x, m = broadcast_mask(x, mask)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"x must hold numbers or bools, got dtype {x.dtype}")
    ax = normalize_single_axis(axis, x.ndim)
    out = float_dtype(x.dtype)
    xs = np.where(m, x, -np.inf).astype(_work(out))
    top = np.max(xs, axis=ax, keepdims=True, initial=-np.inf)
    has_valid = np.any(m, axis=ax, keepdims=True)
    shift = np.where(has_valid, top, 0)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        shifted = np.where(m, xs - shift, -np.inf)
        total = np.sum(np.where(m, np.exp(shifted), 0), axis=ax, keepdims=True)
    return m, ax, out, shifted, total, has_valid


def _empty_rows(result, has_valid, empty, n, log: bool, dtype):
    if empty in ("zeros", "-inf"):
        fill = -np.inf if log else 0.0
    elif empty == "nan":
        fill = np.nan
    else:  # uniform over every position of the slice, masked or not
        fill = -np.log(n) if log else (1.0 / n if n else 0.0)
    return np.where(has_valid, result, fill).astype(dtype)


def masked_softmax(x, mask, axis=-1, *, empty="zeros") -> np.ndarray:
    """Softmax over the valid elements along ``axis``; masked positions are 0.

    Rule: ``e = where(mask, exp(x - c), 0)`` with ``c`` the max of the valid
    elements, ``y = e / sum(e)``: the valid entries sum to 1. A slice with no
    valid element returns, by ``empty``: ``"zeros"`` (default, as the Keras
    ``Softmax`` layer), ``"nan"`` (what a ``-inf``-filled softmax gives) or
    ``"uniform"`` (``1/n`` at every position, masked ones included: what
    tf.keras 2 and the Keras attention fast path give). Valid ``inf``/NaN
    behave as in the unmasked softmax (NaN results). Dtype as ``masked_mean``.

    >>> masked_softmax([[0.0, 0.0, np.nan], [1.0, 2.0, 3.0]], [[True, True, False], [False] * 3])
    array([[0.5, 0.5, 0. ],
           [0. , 0. , 0. ]])
    """
    check_choice("empty", empty, SOFTMAX_EMPTY)
    m, ax, out, shifted, total, has_valid = _softmax_parts(x, mask, axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.where(m, np.exp(shifted) / np.where(has_valid, total, 1), 0)
    return _empty_rows(y, has_valid, empty, np.shape(x)[ax], False, out)


def masked_log_softmax(x, mask, axis=-1, *, empty="-inf") -> np.ndarray:
    """``log(masked_softmax(x, mask))`` computed stably; masked positions are ``-inf``.

    Rule: ``y = (x - c) - log(sum over valid of exp(x - c))`` at valid
    positions, ``-inf`` at masked ones (the log of their softmax weight 0). A
    slice with no valid element returns, by ``empty``: ``"-inf"`` (default,
    the log of the all-zeros softmax row), ``"nan"``, or ``"uniform"``
    (``-log(n)`` everywhere). Dtype as ``masked_mean``.

    >>> masked_log_softmax([0.0, 0.0, 5.0], [True, True, False]).round(4)
    array([-0.6931, -0.6931,    -inf])
    """
    check_choice("empty", empty, LOG_SOFTMAX_EMPTY)
    m, ax, out, shifted, total, has_valid = _softmax_parts(x, mask, axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.where(m, shifted - np.log(np.where(has_valid, total, 1)), -np.inf)
    return _empty_rows(y, has_valid, empty, np.shape(x)[ax], True, out)
