"""Masked reduction kernels in NumPy (rules and checks: :mod:`maskref.api.reductions`).

Reductions skip masked elements with NumPy's ``where=`` (no masked copy of
``x``); element-wise steps replace them with ``np.where`` first. ``empty``
arrives cast to the result dtype.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from maskref.api.dtypes import cast_scalar
from maskref.api.reductions import (
    count_factor,
    float_dtype,
    identity_of_max,
    sum_dtype,
    work_dtype,
)

Axes = tuple[int, ...]


def _broadcast(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The mask with size-1 trailing axes: it broadcasts against ``x`` (a view)."""
    return mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim))


def _count(x: np.ndarray, mask: np.ndarray, axes: Axes, keepdims: bool) -> np.ndarray:
    """Valid elements per slice (int64), counted on the small mask."""
    m = _broadcast(x, mask)
    factor = cast(int, count_factor(x.shape, mask.ndim, axes))  # NumPy shapes are all known
    count = np.sum(m, axis=axes, keepdims=True, dtype=np.int64) * factor
    count = np.broadcast_to(count, tuple(1 if i in axes else n for i, n in enumerate(x.shape)))
    return count if keepdims else count.reshape([n for i, n in enumerate(x.shape) if i not in axes])


def _finish(result: object, has_valid: np.ndarray, empty: object, dtype: object) -> np.ndarray:
    """``result`` in ``dtype``, with ``empty`` (cast by the lossless rule, checked even
    when every slice has a valid element) where a slice had no valid element."""
    target = np.dtype(cast(Any, dtype))
    fill: Any = cast_scalar(empty, target, "empty")
    return np.where(has_valid, np.asarray(result).astype(target), fill).astype(target)


def masked_sum(x: np.ndarray, mask: np.ndarray, axes: Axes, keepdims: bool, empty: object):
    out = sum_dtype(x.dtype)
    total = np.sum(x, axes, keepdims=keepdims, dtype=work_dtype(out), where=_broadcast(x, mask))
    return _finish(total, _count(x, mask, axes, keepdims) > 0, empty, out)


def masked_prod(x: np.ndarray, mask: np.ndarray, axes: Axes, keepdims: bool, empty: object):
    out = sum_dtype(x.dtype)
    total = np.prod(x, axes, keepdims=keepdims, dtype=work_dtype(out), where=_broadcast(x, mask))
    return _finish(total, _count(x, mask, axes, keepdims) > 0, empty, out)


def masked_count(x: np.ndarray, mask: np.ndarray, axes: Axes, keepdims: bool, empty: object):
    count = _count(x, mask, axes, keepdims)
    return _finish(count, count > 0, empty, np.int64)


def masked_mean(x: np.ndarray, mask: np.ndarray, axes: Axes, keepdims: bool, empty: object):
    out = float_dtype(x.dtype)
    count = _count(x, mask, axes, keepdims)
    total = np.sum(x, axes, keepdims=keepdims, dtype=work_dtype(out), where=_broadcast(x, mask))
    return _finish(total / np.maximum(count, 1), count > 0, empty, out)


def _variance(x: np.ndarray, mask: np.ndarray, axes: Axes, keepdims: bool, ddof: int):
    """(variance in the working dtype, where the slice has room, result dtype)."""
    out = float_dtype(x.dtype)
    m = _broadcast(x, mask)
    count = _count(x, mask, axes, True)
    xs = np.where(m, x, 0).astype(work_dtype(out))
    mean = np.sum(xs, axis=axes, keepdims=True) / np.maximum(count, 1)
    dev = np.where(m, xs - mean, 0)
    denom = count - ddof
    var = np.sum(dev * dev, axis=axes, keepdims=True) / np.maximum(denom, 1)
    if not keepdims:
        var, denom = np.squeeze(var, axes), np.squeeze(denom, axes)
    return var, denom > 0, out


def masked_var(
    x: np.ndarray, mask: np.ndarray, axes: Axes, keepdims: bool, ddof: int, empty: object
):
    var, room, out = _variance(x, mask, axes, keepdims, ddof)
    return _finish(var, room, empty, out)


def masked_std(
    x: np.ndarray, mask: np.ndarray, axes: Axes, keepdims: bool, ddof: int, empty: object
):
    var, room, out = _variance(x, mask, axes, keepdims, ddof)
    return _finish(np.sqrt(var), room, empty, out)


def _extreme(x, mask, axes, keepdims, empty, largest: bool) -> np.ndarray:
    reduce = np.max if largest else np.min
    fill = identity_of_max(x.dtype, largest)
    result = reduce(x, axis=axes, keepdims=keepdims, initial=fill, where=_broadcast(x, mask))
    return _finish(result, _count(x, mask, axes, keepdims) > 0, empty, x.dtype)


def masked_max(x: np.ndarray, mask: np.ndarray, axes: Axes, keepdims: bool, empty: object):
    return _extreme(x, mask, axes, keepdims, empty, largest=True)


def masked_min(x: np.ndarray, mask: np.ndarray, axes: Axes, keepdims: bool, empty: object):
    return _extreme(x, mask, axes, keepdims, empty, largest=False)


def masked_logsumexp(x: np.ndarray, mask: np.ndarray, axes: Axes, keepdims: bool, empty: object):
    out = float_dtype(x.dtype)
    m = _broadcast(x, mask)
    xs = np.where(m, x, -np.inf).astype(work_dtype(out))
    top = np.max(xs, axis=axes, keepdims=True, initial=-np.inf)
    shift = np.where(np.isfinite(top), top, 0)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        total = np.sum(np.where(m, np.exp(xs - shift), 0), axis=axes, keepdims=True)
        result = np.log(total) + shift
    if not keepdims:
        result = np.squeeze(result, axes)
    return _finish(result, _count(x, mask, axes, keepdims) > 0, empty, out)


def masked_any(x: np.ndarray, mask: np.ndarray, axes: Axes, keepdims: bool, empty: object):
    result = np.any(_broadcast(x, mask) & (x != 0), axis=axes, keepdims=keepdims)
    return _finish(result, _count(x, mask, axes, keepdims) > 0, empty, bool)


def masked_all(x: np.ndarray, mask: np.ndarray, axes: Axes, keepdims: bool, empty: object):
    result = np.all(~_broadcast(x, mask) | (x != 0), axis=axes, keepdims=keepdims)
    return _finish(result, _count(x, mask, axes, keepdims) > 0, empty, bool)


def _arg(x, mask, axis, keepdims, empty, largest: bool) -> np.ndarray:
    m = np.broadcast_to(_broadcast(x, mask), x.shape)
    ndim = x.ndim
    if axis is None:
        x, m, axis_ = x.reshape(-1), m.reshape(-1), 0
    else:
        axis_ = axis
    best = _extreme(x, m, (axis_,), True, identity_of_max(x.dtype, largest), largest)
    same = x == best
    if x.dtype.kind == "f":
        same |= np.isnan(x) & np.isnan(best)
    hit = m & same
    count = np.sum(m, axis=axis_, keepdims=True)
    if x.shape[axis_] == 0:
        index = np.zeros(count.shape, dtype=np.int64)
    else:
        index = np.argmax(hit, axis=axis_, keepdims=True).astype(np.int64)  # the first hit
    index = _finish(index, count > 0, empty, np.int64)
    if axis is None:
        return index.reshape((1,) * ndim) if keepdims else index.reshape(())
    return index if keepdims else np.squeeze(index, axis_)


def masked_argmax(x: np.ndarray, mask: np.ndarray, axis: int | None, keepdims: bool, empty: object):
    return _arg(x, mask, axis, keepdims, empty, largest=True)


def masked_argmin(x: np.ndarray, mask: np.ndarray, axis: int | None, keepdims: bool, empty: object):
    return _arg(x, mask, axis, keepdims, empty, largest=False)


def masked_cumsum(x: np.ndarray, mask: np.ndarray, axis: int, empty: object) -> np.ndarray:
    m = _broadcast(x, mask)
    out = sum_dtype(x.dtype)
    total = np.cumsum(np.where(m, x, 0), axis=axis, dtype=work_dtype(out))
    seen = np.cumsum(m, axis=axis) > 0
    return _finish(total, seen, empty, out)


def _softmax_parts(x: np.ndarray, mask: np.ndarray, axis: int):
    m = _broadcast(x, mask)
    out = float_dtype(x.dtype)
    xs = np.where(m, x, -np.inf).astype(work_dtype(out))
    top = np.max(xs, axis=axis, keepdims=True, initial=-np.inf)
    has_valid = np.any(m, axis=axis, keepdims=True)
    shift = np.where(has_valid, top, 0)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        shifted = np.where(m, xs - shift, -np.inf)
        total = np.sum(np.where(m, np.exp(shifted), 0), axis=axis, keepdims=True)
    return m, out, shifted, total, has_valid


def _empty_rows(result, has_valid, empty: str, n: int, log: bool, dtype) -> np.ndarray:
    if empty in ("zeros", "-inf"):
        fill = -np.inf if log else 0.0
    elif empty == "nan":
        fill = np.nan
    else:  # uniform over every position of the slice, masked or not
        fill = -np.log(n) if log else (1.0 / n if n else 0.0)
    return np.where(has_valid, result, fill).astype(dtype)


def masked_softmax(x: np.ndarray, mask: np.ndarray, axis: int, empty: str) -> np.ndarray:
    m, out, shifted, total, has_valid = _softmax_parts(x, mask, axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.where(m, np.exp(shifted) / np.where(has_valid, total, 1), 0)
    return _empty_rows(y, has_valid, empty, x.shape[axis], False, out)


def masked_log_softmax(x: np.ndarray, mask: np.ndarray, axis: int, empty: str) -> np.ndarray:
    m, out, shifted, total, has_valid = _softmax_parts(x, mask, axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.where(m, shifted - np.log(np.where(has_valid, total, 1)), -np.inf)
    return _empty_rows(y, has_valid, empty, x.shape[axis], True, out)
