"""Masked reductions, masked cumulative sum and masked softmax in PyTorch.

Mirrors :mod:`reference.reductions` function by function; the rules (mask
validation and broadcast, empty slices, axes, result dtypes) are stated
there. Masked values are replaced with ``torch.where`` *before* every
operation, and every division or logarithm that an empty slice would reach
gets a safe operand first (the "double where"), so with NaN or inf under
the mask the gradient with respect to ``x`` is finite everywhere and exactly
0 at masked positions. float16 and bfloat16 data are computed in float32 and
rounded once. Results live on ``x``'s device.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from reference._checks import (
    check_choice,
    check_mask_dtype,
    check_mask_shape,
    normalize_axis,
    normalize_single_axis,
)
from reference.reductions import LOG_SOFTMAX_EMPTY, SOFTMAX_EMPTY

from ._convert import cast_fill, dtype_name, to_torch

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
LOW_PRECISION = (torch.float16, torch.bfloat16)


def broadcast_mask(x: object, mask: object) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` as a tensor and ``mask`` validated, with size-1 trailing axes added so that it
    broadcasts against ``x`` (it is never materialised at ``x``'s size)."""
    x = to_torch(x, "x")
    mask = to_torch(mask, "mask", x.device)
    check_mask_dtype(dtype_name(mask))
    check_mask_shape(tuple(mask.shape), tuple(x.shape))
    if x.is_complex():
        raise TypeError(f"x must hold numbers or bools, got dtype {dtype_name(x)}")
    return x, mask.reshape(tuple(mask.shape) + (1,) * (x.ndim - mask.ndim))


def _prepare(x, mask, axis) -> tuple[torch.Tensor, torch.Tensor, Axes]:
    x, m = broadcast_mask(x, mask)
    return x, m, normalize_axis(axis, x.ndim)


def sum_dtype(dtype: torch.dtype) -> torch.dtype:
    """int64 for bool and integer data, else the data's dtype."""
    return dtype if dtype.is_floating_point else torch.int64


def float_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 for bool and integer data, else the data's dtype."""
    return dtype if dtype.is_floating_point else torch.float64


def _work(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in LOW_PRECISION else dtype


def _keep(x: torch.Tensor, m: torch.Tensor, value: bool | int | float) -> torch.Tensor:
    """``where(m, x, value)``: ``x`` with its masked elements replaced (``masked_fill``,
    whose gradient is exactly 0 at the replaced elements)."""
    return x.masked_fill(~m, value)


def _over(fn: Callable, t: torch.Tensor, axes: Axes, keepdims: bool) -> torch.Tensor:
    """``fn(t, dim=a, keepdim=True)`` over each axis in turn (torch has no tuple form
    for every reduction); ``axes=()`` reduces nothing, as in NumPy."""
    for a in axes:
        t = fn(t, dim=a, keepdim=True)
    if not keepdims and axes:
        t = t.reshape([n for i, n in enumerate(t.shape) if i not in axes])
    return t


def _count(m: torch.Tensor, shape: torch.Size, axes: Axes, keepdims: bool) -> torch.Tensor:
    """Valid elements per slice, counted on the small mask: the trailing axes it
    broadcasts over multiply the count by their sizes."""
    factor = 1
    for a in axes:
        if m.shape[a] == 1:
            factor *= shape[a]
    count = _over(torch.sum, m.to(torch.int64), axes, True) * factor
    count = count.expand(_reduced_shape(shape, axes, True))
    return count if keepdims else count.reshape(_reduced_shape(shape, axes, False))


def _finish(result: torch.Tensor, has_valid: torch.Tensor, empty: object,
            dtype: torch.dtype) -> torch.Tensor:
    """``result`` as ``dtype``, with ``empty`` where a slice had no valid element."""
    result = result.to(dtype)
    fill = torch.tensor(cast_fill(empty, dtype, "empty"), dtype=dtype, device=result.device)
    return torch.where(has_valid, result, fill)


def _identity_of_max(dtype: torch.dtype, largest: bool) -> bool | int | float:
    if dtype == torch.bool:
        return not largest
    if dtype.is_floating_point:
        return -float("inf") if largest else float("inf")
    info = torch.iinfo(dtype)
    return info.min if largest else info.max


def masked_sum(x, mask, axis=None, keepdims=False, *, empty=0) -> torch.Tensor:
    """Sum of the valid elements; mirrors :func:`reference.masked_sum`.

    >>> masked_sum(torch.tensor([[1.0, float("nan")]]), torch.tensor([[True, False]]), axis=1)
    tensor([1.])
    """
    x, m, axes = _prepare(x, mask, axis)
    out = sum_dtype(x.dtype)
    total = _masked_total(x, m, axes, keepdims, _work(out))
    return _finish(total, _count(m, x.shape, axes, keepdims) > 0, empty, out)


def masked_prod(x, mask, axis=None, keepdims=False, *, empty=1) -> torch.Tensor:
    """Product of the valid elements; mirrors :func:`reference.masked_prod`.

    >>> masked_prod(torch.tensor([2, 3, 4]), torch.tensor([True, False, True]))
    tensor(8)
    """
    x, m, axes = _prepare(x, mask, axis)
    out = sum_dtype(x.dtype)
    xs = _keep(x, m, 1).to(_work(out))
    total = _over(torch.prod, xs, axes, keepdims)
    return _finish(total, _count(m, x.shape, axes, keepdims) > 0, empty, out)


def masked_count(x, mask, axis=None, keepdims=False, *, empty=0) -> torch.Tensor:
    """Number of valid elements (int64); mirrors :func:`reference.masked_count`.

    >>> masked_count(torch.zeros(2, 3), torch.tensor([[True, False, True], [False] * 3]), axis=1)
    tensor([2, 0])
    """
    x, m, axes = _prepare(x, mask, axis)
    count = _count(m, x.shape, axes, keepdims)
    return _finish(count, count > 0, empty, torch.int64)


def _masked_total(x, m, axes, keepdims, work) -> torch.Tensor:
    """``sum(where(m, x, 0))`` over ``axes``.

    Fast path: when the reduction is over the mask's last axis and the mask
    broadcasts over trailing feature axes (the pooling case, ``(B, T)`` mask,
    ``(B, T, D)`` data, axis 1), one batched matmul of the 0/1 mask with
    ``x`` reads ``x`` once, without a masked copy. It is exact for finite
    data (a masked value times 0 is 0) and its gradient is exactly 0 at masked
    positions; a non-finite result (NaN or inf anywhere in the slice, masked
    or not) falls back to the sanitising path, whose answer is the rule's.
    """
    a = axes[0] if len(axes) == 1 else -1
    fast = (
        0 <= a < x.ndim - 1 and x.dtype == work and work in (torch.float32, torch.float64)
        and m.shape[: a + 1] == x.shape[: a + 1] and all(n == 1 for n in m.shape[a + 1 :])
    )
    if fast:
        rows = x.shape[:a].numel()
        weights = m.reshape(rows, 1, x.shape[a]).to(work)
        features = x.shape[a + 1 :].numel()
        total = torch.bmm(weights, x.reshape(rows, x.shape[a], features))
        total = total.reshape(*x.shape[:a], 1, *x.shape[a + 1 :])
        if bool(torch.isfinite(total).all()):
            return total if keepdims else total.squeeze(a)
    xs = _keep(x, m, 0).to(work)
    return _over(torch.sum, xs, axes, keepdims)


def _sum_and_count(x, m, axes, keepdims, work):
    return _masked_total(x, m, axes, keepdims, work), _count(m, x.shape, axes, keepdims)


def masked_mean(x, mask, axis=None, keepdims=False, *, empty=float("nan")) -> torch.Tensor:
    """Mean of the valid elements; mirrors :func:`reference.masked_mean`.

    >>> masked_mean(torch.tensor([[1.0, 5.0, float("inf")]]), torch.tensor([[True, True, False]]))
    tensor(3.)
    """
    x, m, axes = _prepare(x, mask, axis)
    out = float_dtype(x.dtype)
    total, count = _sum_and_count(x, m, axes, keepdims, _work(out))
    mean = total / count.clamp(min=1).to(total.dtype)
    return _finish(mean, count > 0, empty, out)


def _variance(x, mask, axis, keepdims, ddof):
    x, m, axes = _prepare(x, mask, axis)
    out = float_dtype(x.dtype)
    work = _work(out)
    total, count = _sum_and_count(x, m, axes, True, work)
    mean = total / count.clamp(min=1).to(work)
    xs = _keep(x, m, 0).to(work)
    dev = torch.where(m, xs - mean, torch.zeros((), dtype=work, device=x.device))
    denom = count - ddof
    var = _over(torch.sum, dev * dev, axes, True) / denom.clamp(min=1).to(work)
    if not keepdims and axes:
        shape = [n for i, n in enumerate(var.shape) if i not in axes]
        var, denom = var.reshape(shape), denom.reshape(shape)
    return var, denom > 0, out


def masked_var(x, mask, axis=None, keepdims=False, *, ddof=0,
               empty=float("nan")) -> torch.Tensor:
    """Two-pass variance of the valid elements; mirrors :func:`reference.masked_var`.

    >>> masked_var(torch.tensor([1.0, 3.0, float("nan")]), torch.tensor([True, True, False]))
    tensor(1.)
    """
    var, room, out = _variance(x, mask, axis, keepdims, ddof)
    return _finish(var, room, empty, out)


def masked_std(x, mask, axis=None, keepdims=False, *, ddof=0,
               empty=float("nan")) -> torch.Tensor:
    """Standard deviation of the valid elements; mirrors :func:`reference.masked_std`.

    The square root gets a safe operand where the variance is 0, so its
    gradient there is 0, not NaN.

    >>> masked_std(torch.tensor([1.0, 3.0, float("nan")]), torch.tensor([True, True, False]))
    tensor(1.)
    """
    var, room, out = _variance(x, mask, axis, keepdims, ddof)
    positive = var > 0
    std = torch.where(positive, torch.sqrt(torch.where(positive, var, torch.ones_like(var))),
                      var)  # var is 0 or NaN there: sqrt(0) = 0, sqrt(NaN) = NaN
    return _finish(std, room, empty, out)


def _reduced_shape(shape: torch.Size, axes: Axes, keepdims: bool) -> list[int]:
    if keepdims:
        return [1 if i in axes else n for i, n in enumerate(shape)]
    return [n for i, n in enumerate(shape) if i not in axes]


def _masked_extreme(x, mask, axis, keepdims, empty, largest: bool) -> torch.Tensor:
    x, m, axes = _prepare(x, mask, axis)
    fill = _identity_of_max(x.dtype, largest)
    lowest = torch.tensor(fill, dtype=x.dtype, device=x.device)
    if any(x.shape[a] == 0 for a in axes):
        result = lowest.expand(_reduced_shape(x.shape, axes, keepdims))
    elif x.dtype == torch.bool:
        xs = _keep(x, m, fill)
        result = _over(torch.any if largest else torch.all, xs, axes, keepdims)
    else:
        xs = _keep(x, m, fill)
        reduce = torch.amax if largest else torch.amin
        result = reduce(xs, dim=axes, keepdim=keepdims) if axes else xs
    empty = fill if empty is None else empty
    return _finish(result, _count(m, x.shape, axes, keepdims) > 0, empty, x.dtype)


def masked_max(x, mask, axis=None, keepdims=False, *, empty=None) -> torch.Tensor:
    """Largest valid element (a valid NaN propagates); mirrors :func:`reference.masked_max`.

    >>> masked_max(torch.tensor([[1, 9], [4, 2]]), torch.tensor([[True, False], [True, True]]), 1)
    tensor([1, 4])
    """
    return _masked_extreme(x, mask, axis, keepdims, empty, largest=True)


def masked_min(x, mask, axis=None, keepdims=False, *, empty=None) -> torch.Tensor:
    """Smallest valid element; mirrors :func:`reference.masked_min`.

    >>> masked_min(torch.tensor([[1, 9], [4, 2]]), torch.tensor([[False, True], [True, True]]), 1)
    tensor([9, 2])
    """
    return _masked_extreme(x, mask, axis, keepdims, empty, largest=False)


def masked_logsumexp(x, mask, axis=None, keepdims=False, *,
                     empty=-float("inf")) -> torch.Tensor:
    """``log(sum(exp(x)))`` over the valid elements; mirrors :func:`reference.masked_logsumexp`.

    >>> masked_logsumexp(torch.tensor([0.0, 0.0, float("nan")]), torch.tensor([True, True, False]))
    tensor(0.6931)
    """
    x, m, axes = _prepare(x, mask, axis)
    out = float_dtype(x.dtype)
    work = _work(out)
    neg_inf = torch.tensor(-float("inf"), dtype=work, device=x.device)
    xs = torch.where(m, x.to(work), neg_inf)
    if any(x.shape[a] == 0 for a in axes):
        top = neg_inf.expand(_reduced_shape(x.shape, axes, True))
    else:
        top = torch.amax(xs, dim=axes, keepdim=True) if axes else xs
    shift = torch.where(torch.isfinite(top), top, torch.zeros_like(top)).detach()
    e = torch.where(m, torch.exp(torch.where(m, xs - shift, neg_inf)), torch.zeros_like(xs))
    total = _over(torch.sum, e, axes, True)
    has_valid = _count(m, x.shape, axes, True) > 0
    result = torch.log(torch.where(has_valid, total, torch.ones_like(total))) + shift
    result = torch.where(has_valid, result, neg_inf)
    if not keepdims and axes:
        shape = _reduced_shape(x.shape, axes, False)
        result, has_valid = result.reshape(shape), has_valid.reshape(shape)
    return _finish(result, has_valid, empty, out)


def masked_any(x, mask, axis=None, keepdims=False, *, empty=False) -> torch.Tensor:
    """Whether any valid element is non-zero; mirrors :func:`reference.masked_any`.

    >>> masked_any(torch.tensor([0, 1]), torch.tensor([True, False]))
    tensor(False)
    """
    x, m, axes = _prepare(x, mask, axis)
    result = _over(torch.any, m & (x != 0), axes, keepdims)
    return _finish(result, _count(m, x.shape, axes, keepdims) > 0, empty, torch.bool)


def masked_all(x, mask, axis=None, keepdims=False, *, empty=True) -> torch.Tensor:
    """Whether every valid element is non-zero; mirrors :func:`reference.masked_all`.

    >>> masked_all(torch.tensor([1, 0]), torch.tensor([True, False]))
    tensor(True)
    """
    x, m, axes = _prepare(x, mask, axis)
    result = _over(torch.all, ~m | (x != 0), axes, keepdims)
    return _finish(result, _count(m, x.shape, axes, keepdims) > 0, empty, torch.bool)


def _masked_arg(x, mask, axis, keepdims, empty, largest: bool) -> torch.Tensor:
    x, m = broadcast_mask(x, mask)
    m = m.expand(x.shape)
    if axis is None:
        shape = [1] * x.ndim
        x, m, ax = x.reshape(-1), m.reshape(-1), 0
    else:
        ax = normalize_single_axis(axis, x.ndim)
    best = _masked_extreme(x, m, ax, True, None, largest)
    same = x == best
    if x.dtype.is_floating_point:
        same = same | (torch.isnan(x) & torch.isnan(best))
    hit = (m & same).to(torch.uint8)
    count = _count(m, x.shape, (ax,), True)
    if x.shape[ax] == 0:
        index = torch.zeros(count.shape, dtype=torch.int64, device=x.device)
    else:
        index = torch.argmax(hit, dim=ax, keepdim=True)
    index = _finish(index, count > 0, empty, torch.int64)
    if axis is None:
        return index.reshape(shape) if keepdims else index.reshape(())
    return index if keepdims else index.squeeze(ax)


def masked_argmax(x, mask, axis=None, keepdims=False, *, empty=-1) -> torch.Tensor:
    """Index of the largest valid element, first on ties; mirrors :func:`reference.masked_argmax`.

    >>> masked_argmax(torch.tensor([[5, 1, 5]]), torch.tensor([[False, True, True]]), axis=1)
    tensor([2])
    """
    return _masked_arg(x, mask, axis, keepdims, empty, largest=True)


def masked_argmin(x, mask, axis=None, keepdims=False, *, empty=-1) -> torch.Tensor:
    """Index of the smallest valid element; mirrors :func:`reference.masked_argmin`.

    >>> masked_argmin(torch.tensor([0, 2, 1]), torch.tensor([False, True, True]))
    tensor(2)
    """
    return _masked_arg(x, mask, axis, keepdims, empty, largest=False)


def masked_cumsum(x, mask, axis=-1, *, empty=0) -> torch.Tensor:
    """Running sum of the valid elements; mirrors :func:`reference.masked_cumsum`.

    >>> masked_cumsum(torch.tensor([1.0, float("nan"), 2.0]), torch.tensor([True, False, True]))
    tensor([1., 1., 3.])
    """
    x, m = broadcast_mask(x, mask)
    ax = normalize_single_axis(axis, x.ndim)
    out = sum_dtype(x.dtype)
    xs = _keep(x, m, 0).to(_work(out))
    total = torch.cumsum(xs, dim=ax)
    seen = torch.cumsum(m.to(torch.int64), dim=ax) > 0
    return _finish(total, seen, empty, out)


def _softmax_parts(x, mask, axis):
    x, m = broadcast_mask(x, mask)
    ax = normalize_single_axis(axis, x.ndim)
    out = float_dtype(x.dtype)
    work = _work(out)
    neg_inf = torch.tensor(-float("inf"), dtype=work, device=x.device)
    xs = torch.where(m, x.to(work), neg_inf)
    has_valid = m.any(dim=ax, keepdim=True)
    if x.shape[ax] == 0:
        top = torch.zeros(has_valid.shape, dtype=work, device=x.device)
    else:
        top = torch.amax(xs, dim=ax, keepdim=True)
    shift = torch.where(has_valid, top, torch.zeros_like(top)).detach()
    shifted = torch.where(m, xs - shift, neg_inf)
    e = torch.where(m, torch.exp(shifted), torch.zeros_like(shifted))
    total = torch.where(has_valid, e.sum(dim=ax, keepdim=True), torch.ones_like(top))
    return m, ax, out, shifted, e, total, has_valid, x.shape[ax]


def _empty_rows(result, has_valid, empty: str, n: int, log: bool, dtype) -> torch.Tensor:
    if empty in ("zeros", "-inf"):
        fill = -float("inf") if log else 0.0
    elif empty == "nan":
        fill = float("nan")
    else:
        n = max(n, 1)  # an axis of length 0 has no position to fill
        fill = -math.log(n) if log else 1.0 / n
    fill_t = torch.tensor(fill, dtype=result.dtype, device=result.device)
    return torch.where(has_valid, result, fill_t).to(dtype)


def masked_softmax(x, mask, axis=-1, *, empty="zeros") -> torch.Tensor:
    """Softmax over the valid elements, 0 elsewhere; mirrors :func:`reference.masked_softmax`.

    >>> x = torch.tensor([[0.0, 0.0, float("nan")]])
    >>> masked_softmax(x, torch.tensor([[True, True, False]]))
    tensor([[0.5000, 0.5000, 0.0000]])
    """
    check_choice("empty", empty, SOFTMAX_EMPTY)
    m, _, out, _, e, total, has_valid, n = _softmax_parts(x, mask, axis)
    y = torch.where(m, e / total, torch.zeros_like(e))
    return _empty_rows(y, has_valid, empty, n, False, out)


def masked_log_softmax(x, mask, axis=-1, *, empty="-inf") -> torch.Tensor:
    """``log(masked_softmax)``, ``-inf`` when masked; mirrors :func:`reference.masked_log_softmax`.

    >>> masked_log_softmax(torch.tensor([0.0, 0.0, 5.0]), torch.tensor([True, True, False]))
    tensor([-0.6931, -0.6931,    -inf])
    """
    check_choice("empty", empty, LOG_SOFTMAX_EMPTY)
    m, _, out, shifted, _, total, has_valid, n = _softmax_parts(x, mask, axis)
    y = torch.where(m, shifted - torch.log(total), torch.full_like(shifted, -float("inf")))
    return _empty_rows(y, has_valid, empty, n, True, out)
