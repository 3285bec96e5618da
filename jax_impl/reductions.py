"""Masked reduction kernels in JAX (rules and checks: :mod:`maskref.api.reductions`).

Masked values are replaced with ``jnp.where`` *before* every operation, and
every division, square root or logarithm that an empty slice would reach gets
a safe operand first (the double ``where`` of the JAX FAQ): with NaN or inf
under the mask, gradients are finite everywhere and exactly 0 at masked
positions, under ``jit``, ``vmap`` and ``grad``. Result dtypes follow the
reference, narrowed to 32 bits unless ``jax_enable_x64`` is on.
"""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp
import numpy as np

from maskref.api.reductions import (
    count_factor,
    float_dtype,
    identity_of_max,
    sum_dtype,
    work_dtype,
)

from . import _fast_reductions as fast
from ._convert import canonical, cast_fill

Axes = tuple[int, ...]


def _dt(name: object) -> np.dtype:
    return canonical(np.dtype(str(name)) if str(name) != "bfloat16" else jnp.bfloat16)


def _b(x: Any, mask: Any) -> Any:
    return mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim))


def _count(x: Any, mask: Any, axes: Axes, keepdims: bool) -> Any:
    """Valid elements per slice, counted on the small mask (an axis the mask broadcasts over
    multiplies the count by its size), in the result's shape."""
    m = _b(x, mask)
    factor = count_factor(x.shape, mask.ndim, axes)  # 0 when a reduced axis is empty
    factor = 1 if factor is None else factor
    count = jnp.sum(m, axis=axes, keepdims=True, dtype=_dt("int64")) * factor
    count = jnp.broadcast_to(count, tuple(1 if i in axes else n for i, n in enumerate(x.shape)))
    return count if keepdims else count.reshape([n for i, n in enumerate(x.shape) if i not in axes])


def _finish(result: Any, has_valid: Any, empty: object, dtype: np.dtype) -> Any:
    return jnp.where(has_valid, result.astype(dtype), cast_fill(empty, dtype, "empty"))


def _keep(x: Any, mask: Any, value: object, dtype: np.dtype) -> Any:
    return jnp.where(_b(x, mask), x.astype(dtype), jnp.asarray(value, dtype))


def _total(x: Any, mask: Any, axes: Axes, keepdims: bool, work: np.dtype) -> Any:
    """``sum(where(mask, x, 0))`` in ``work``: by one contraction where that is exact."""
    if x.dtype == work and fast.applies(x, mask, axes):
        total = fast.sum_valid(x, mask, axes)
        return total.reshape(_kept_shape(x, axes)) if keepdims else total
    return jnp.sum(_keep(x, mask, 0, work), axis=axes, keepdims=keepdims)


def _kept_shape(x: Any, axes: Axes) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(x.shape))


def masked_sum(x: Any, mask: Any, axes: Axes, keepdims: bool, empty: object) -> Any:
    out = _dt(sum_dtype(x.dtype.name))
    total = _total(x, mask, axes, keepdims, _dt(work_dtype(out.name)))
    return _finish(total, _count(x, mask, axes, keepdims) > 0, empty, out)


def masked_prod(x: Any, mask: Any, axes: Axes, keepdims: bool, empty: object) -> Any:
    out = _dt(sum_dtype(x.dtype.name))
    total = jnp.prod(_keep(x, mask, 1, _dt(work_dtype(out.name))), axis=axes, keepdims=keepdims)
    return _finish(total, _count(x, mask, axes, keepdims) > 0, empty, out)


def masked_count(x: Any, mask: Any, axes: Axes, keepdims: bool, empty: object) -> Any:
    count = _count(x, mask, axes, keepdims)
    return _finish(count, count > 0, empty, _dt("int64"))


def masked_mean(x: Any, mask: Any, axes: Axes, keepdims: bool, empty: object) -> Any:
    out = _dt(float_dtype(x.dtype.name))
    work = _dt(work_dtype(out.name))
    count = _count(x, mask, axes, keepdims)
    total = _total(x, mask, axes, keepdims, work)
    return _finish(total / jnp.maximum(count, 1).astype(work), count > 0, empty, out)


def _variance(x: Any, mask: Any, axes: Axes, keepdims: bool, ddof: float) -> tuple:
    out = _dt(float_dtype(x.dtype.name))
    work = _dt(work_dtype(out.name))
    m = _b(x, mask)
    count = _count(x, mask, axes, True).astype(work)
    xs = _keep(x, mask, 0, work)
    mean = jnp.sum(xs, axis=axes, keepdims=True) / jnp.maximum(count, 1)
    dev = jnp.where(m, xs - mean, 0)
    denom = count - ddof
    var = jnp.sum(dev * dev, axis=axes, keepdims=True) / jnp.where(denom > 0, denom, 1)
    if not keepdims:
        var, denom = jnp.squeeze(var, axes), jnp.squeeze(denom, axes)
    return var, denom > 0, out


def masked_var(x: Any, mask: Any, axes: Axes, keepdims: bool, ddof: float, empty: object) -> Any:
    var, room, out = _variance(x, mask, axes, keepdims, ddof)
    return _finish(var, room, empty, out)


def masked_std(x: Any, mask: Any, axes: Axes, keepdims: bool, ddof: float, empty: object) -> Any:
    var, room, out = _variance(x, mask, axes, keepdims, ddof)
    positive = var > 0  # sqrt's gradient is infinite at 0: keep 0 (and NaN) off its graph
    std = jnp.where(positive, jnp.sqrt(jnp.where(positive, var, 1)), jnp.where(var == 0, 0, var))
    return _finish(std, room, empty, out)


def _extreme(x: Any, mask: Any, axes: Axes, keepdims: bool, empty: object, largest: bool) -> Any:
    if fast.applies(x, mask, axes):  # one pass, exact (see _fast_reductions)
        result = fast.max_valid(x, mask, axes, largest)
        result = result.reshape(_kept_shape(x, axes)) if keepdims else result
        return _finish(result, _count(x, mask, axes, keepdims) > 0, empty, np.dtype(x.dtype))
    fill = identity_of_max(x.dtype.name, largest)
    xs = jnp.where(_b(x, mask), x, jnp.asarray(fill, x.dtype))
    reduce = jnp.max if largest else jnp.min  # initial: an empty slice has no max
    result = reduce(xs, axis=axes, keepdims=keepdims, initial=jnp.asarray(fill, x.dtype))
    return _finish(result, _count(x, mask, axes, keepdims) > 0, empty, np.dtype(x.dtype))


def masked_max(x: Any, mask: Any, axes: Axes, keepdims: bool, empty: object) -> Any:
    return _extreme(x, mask, axes, keepdims, empty, True)


def masked_min(x: Any, mask: Any, axes: Axes, keepdims: bool, empty: object) -> Any:
    return _extreme(x, mask, axes, keepdims, empty, False)


def masked_logsumexp(x: Any, mask: Any, axes: Axes, keepdims: bool, empty: object) -> Any:
    out = _dt(float_dtype(x.dtype.name))
    work = _dt(work_dtype(out.name))
    m = _b(x, mask)
    has = _count(x, mask, axes, True) > 0
    xs = jnp.where(m, x.astype(work), -jnp.inf)
    top = jnp.max(jnp.where(m, xs, -jnp.inf), axis=axes, keepdims=True, initial=-jnp.inf)
    shift = jnp.where(jnp.isfinite(top), top, 0)
    total = jnp.sum(jnp.where(m, jnp.exp(jnp.where(m, xs, shift) - shift), 0), axes, keepdims=True)
    result = jnp.log(jnp.where(has, total, 1)) + shift
    if not keepdims:
        result, has = jnp.squeeze(result, axes), jnp.squeeze(has, axes)
    return _finish(result, has, empty, out)


def masked_any(x: Any, mask: Any, axes: Axes, keepdims: bool, empty: object) -> Any:
    result = jnp.any(_b(x, mask) & (x != 0), axis=axes, keepdims=keepdims)
    return _finish(result, _count(x, mask, axes, keepdims) > 0, empty, np.dtype(bool))


def masked_all(x: Any, mask: Any, axes: Axes, keepdims: bool, empty: object) -> Any:
    result = jnp.all(~_b(x, mask) | (x != 0), axis=axes, keepdims=keepdims)
    return _finish(result, _count(x, mask, axes, keepdims) > 0, empty, np.dtype(bool))


def _arg(x: Any, mask: Any, axis: int | None, keepdims: bool, empty: object, largest: bool):
    m = jnp.broadcast_to(_b(x, mask), x.shape)
    ndim = x.ndim
    if axis is None:
        x, m, ax = x.reshape(-1), m.reshape(-1), 0
    else:
        ax = axis
    index_dtype = _dt("int64")
    fill = identity_of_max(x.dtype.name, largest)
    best = (jnp.max if largest else jnp.min)(
        jnp.where(m, x, jnp.asarray(fill, x.dtype)),
        axis=ax,
        keepdims=True,
        initial=jnp.asarray(fill, x.dtype),
    )
    same = x == best
    if jnp.issubdtype(x.dtype, jnp.floating):
        same = same | (jnp.isnan(x) & jnp.isnan(best))
    hit = m & same
    count = jnp.sum(m, axis=ax, keepdims=True)
    if x.shape[ax] == 0:
        index = jnp.zeros(count.shape, index_dtype)
    else:
        index = jnp.argmax(hit, axis=ax, keepdims=True).astype(index_dtype)  # the first hit
    index = _finish(index, count > 0, empty, index_dtype)
    if axis is None:
        return index.reshape((1,) * ndim) if keepdims else index.reshape(())
    return index if keepdims else jnp.squeeze(index, ax)


def masked_argmax(x: Any, mask: Any, axis: int | None, keepdims: bool, empty: object) -> Any:
    return _arg(x, mask, axis, keepdims, empty, True)


def masked_argmin(x: Any, mask: Any, axis: int | None, keepdims: bool, empty: object) -> Any:
    return _arg(x, mask, axis, keepdims, empty, False)


def masked_cumsum(x: Any, mask: Any, axis: int, empty: object) -> Any:
    out = _dt(sum_dtype(x.dtype.name))
    total = jnp.cumsum(_keep(x, mask, 0, _dt(work_dtype(out.name))), axis=axis)
    seen = jnp.cumsum(jnp.broadcast_to(_b(x, mask), x.shape), axis=axis) > 0
    return _finish(total, seen, empty, out)


def _softmax_parts(x: Any, mask: Any, axis: int) -> tuple:
    m = _b(x, mask)
    out = _dt(float_dtype(x.dtype.name))
    xs = jnp.where(m, x.astype(_dt(work_dtype(out.name))), -jnp.inf)
    has = jnp.any(jnp.broadcast_to(m, x.shape), axis=axis, keepdims=True)
    top = jnp.max(xs, axis=axis, keepdims=True, initial=-jnp.inf)
    shift = jnp.where(has & jnp.isfinite(top), top, 0)
    shifted = jnp.where(m, xs - shift, 0)
    total = jnp.sum(jnp.where(m, jnp.exp(shifted), 0), axis=axis, keepdims=True)
    # a slice whose largest valid value is +/-inf has no finite shift: NaN at its valid
    # positions, as exp(x - max) gives it (the reference's rule), without a NaN gradient
    shifted = jnp.where(m & has & ~jnp.isfinite(top), jnp.nan, shifted)
    return m, out, shifted, jnp.where(has, total, 1), has


def _empty_rows(result: Any, has: Any, empty: str, n: int, log: bool, dtype: np.dtype) -> Any:
    if empty in ("zeros", "-inf"):
        fill = -math.inf if log else 0.0
    elif empty == "nan":
        fill = math.nan
    else:  # uniform over every position of the slice, masked or not
        fill = (-math.log(n) if n else 0.0) if log else (1.0 / n if n else 0.0)
    return jnp.where(has, result, fill).astype(dtype)


def masked_softmax(x: Any, mask: Any, axis: int, empty: str) -> Any:
    m, out, shifted, total, has = _softmax_parts(x, mask, axis)
    y = jnp.where(m, jnp.exp(shifted) / total, 0)
    return _empty_rows(y, has, empty, x.shape[axis], False, out)


def masked_log_softmax(x: Any, mask: Any, axis: int, empty: str) -> Any:
    m, out, shifted, total, has = _softmax_parts(x, mask, axis)
    y = jnp.where(m, shifted - jnp.log(total), -jnp.inf)
    return _empty_rows(y, has, empty, x.shape[axis], True, out)
