"""Masked reduction kernels in PyTorch (rules and checks: :mod:`maskref.api.reductions`).

Masked values are replaced with ``torch.where``/``masked_fill`` *before* every
operation, and every division or logarithm that an empty slice would reach
gets a safe operand first (the "double where"), so with NaN or inf under the
mask the gradient with respect to ``x`` is finite everywhere and exactly 0 at
masked positions, whatever the incoming gradient holds. float16 and bfloat16
data are computed in float32 and rounded once; uint16/32/64, which torch has
few kernels for, are widened or reordered. Results live on ``x``'s device.

On the CPU, a ``(B, T)`` mask over ``(B, T, D)`` data reduced over ``T`` takes
the fast paths of :mod:`torch_impl._fast_reductions` (an ``embedding_bag`` of
the valid rows for float sums, blocks for max/min), which read no masked step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from maskref.api.reductions import (
    float_dtype,
    identity_of_max,
    sum_dtype,
    work_dtype,
)

from ._convert import cast_fill, dtype_name
from ._fast_reductions import fast_extreme, fast_sum

Axes = tuple[int, ...]
Scalar = bool | int | float

#: Unsigned dtypes torch has few kernels for, and the dtype that holds their values in order.
_UNSIGNED_WIDE = {torch.uint16: torch.int32, torch.uint32: torch.int64, torch.uint64: torch.int64}
_SIGN_BIT = -(2**63)


# --- dtypes, broadcasting, counting ----------------------------------------------------------


def _dtype(name: str) -> torch.dtype:
    return getattr(torch, name)


def _out(x: torch.Tensor, rule: Callable[[object], str]) -> tuple[torch.dtype, torch.dtype]:
    """(result dtype by ``rule``, the dtype it is computed in)."""
    out = rule(dtype_name(x))
    return _dtype(out), _dtype(work_dtype(out))


def _broadcast(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mask with size-1 trailing axes: it broadcasts against ``x`` (never materialised
    at ``x``'s size)."""
    return mask.reshape(tuple(mask.shape) + (1,) * (x.ndim - mask.ndim))


def _as(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``x`` in ``dtype`` when it is an unsigned dtype torch has few kernels for, else ``x``
    (the caller converts to its working dtype afterwards; the values are the same)."""
    return x.to(dtype) if x.dtype in _UNSIGNED_WIDE else x


def _ordered(x: torch.Tensor) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """``x`` in a dtype torch can compare and reduce, in the same order, and the inverse map.

    uint16/uint32 are widened; uint64 is read as int64 with the sign bit flipped.
    """
    if x.dtype == torch.uint64:
        return x.view(torch.int64) ^ _SIGN_BIT, lambda r: (r ^ _SIGN_BIT).view(torch.uint64)
    if x.dtype in _UNSIGNED_WIDE:
        dtype = x.dtype
        return x.to(_UNSIGNED_WIDE[dtype]), lambda r: r.to(dtype)
    return x, lambda r: r


def _keep(x: torch.Tensor, m: torch.Tensor, value: Scalar) -> torch.Tensor:
    """``where(m, x, value)``: ``x`` with its masked elements replaced (``masked_fill``,
    whose gradient is exactly 0 at the replaced elements)."""
    return x.masked_fill(~m, value)


def _reduced_shape(shape: torch.Size, axes: Axes, keepdims: bool) -> list[int]:
    if keepdims:
        return [1 if i in axes else n for i, n in enumerate(shape)]
    return [n for i, n in enumerate(shape) if i not in axes]


def _over(fn: Callable, t: torch.Tensor, axes: Axes, keepdims: bool) -> torch.Tensor:
    """``fn(t, dim=a, keepdim=True)`` over each axis in turn (torch has no tuple form
    for every reduction); ``axes=()`` reduces nothing, as in NumPy."""
    for a in axes:
        t = fn(t, dim=a, keepdim=True)
    if not keepdims and axes:
        t = t.reshape(_reduced_shape(t.shape, axes, False))
    return t


def _sum(t: torch.Tensor, axes: Axes, keepdims: bool) -> torch.Tensor:
    """``t.sum`` over ``axes`` in one call (``axes=()`` reduces nothing, as in NumPy)."""
    return t.sum(dim=axes, keepdim=keepdims) if axes else t


def _squeeze(t: torch.Tensor, axes: Axes, keepdims: bool) -> torch.Tensor:
    """A keepdims result with the reduced axes dropped unless ``keepdims``."""
    return t if keepdims or not axes else t.reshape(_reduced_shape(t.shape, axes, False))


def _valid_count(m: torch.Tensor, shape: torch.Size, axes: Axes, keepdims: bool) -> torch.Tensor:
    """Valid elements per slice, counted on the small mask ``m`` (int64, with ``x``'s rank),
    in a shape that broadcasts against the result."""
    factor = math.prod([shape[a] for a in axes if m.shape[a] == 1])
    count = m.sum(dim=axes, keepdim=keepdims) if axes else m.to(torch.int64)
    return count if factor == 1 else count * factor


def _count(m: torch.Tensor, shape: torch.Size, axes: Axes, keepdims: bool) -> torch.Tensor:
    """:func:`_valid_count` expanded to the result's full shape."""
    return _valid_count(m, shape, axes, keepdims).expand(_reduced_shape(shape, axes, keepdims))


def _has_valid(m: torch.Tensor, shape: torch.Size, axes: Axes, keepdims: bool) -> torch.Tensor:
    """``_valid_count(...) > 0``, in the same broadcastable shape, without counting."""
    if not axes:
        return m
    some = m.any(dim=axes, keepdim=keepdims)
    return some if all(shape[a] for a in axes) else torch.zeros_like(some)


def _finish(
    result: torch.Tensor, has_valid: torch.Tensor, empty: object, dtype: torch.dtype
) -> torch.Tensor:
    """``result`` as ``dtype``, with ``empty`` where a slice had no valid element."""
    fill = torch.tensor(cast_fill(empty, dtype, "empty"), dtype=dtype, device=result.device)
    return torch.where(has_valid, result.to(dtype), fill)


def _masked_total(
    x: torch.Tensor, m: torch.Tensor, axes: Axes, keepdims: bool, work: torch.dtype
) -> torch.Tensor:
    """``sum(where(m, x, 0))`` over ``axes``, accumulated in ``work``."""
    total = fast_sum(x, m, axes, keepdims) if x.dtype == work else None
    if total is None:
        total = _sum(_keep(x, m, 0).to(work), axes, keepdims)
    return total


# --- reductions ------------------------------------------------------------------------------


def masked_sum(
    x: torch.Tensor, mask: torch.Tensor, axes: Axes, keepdims: bool, empty: object
) -> torch.Tensor:
    """float16/bfloat16 are summed in float32; on the CPU, a ``(B, T)`` mask over
    ``(B, T, D)`` float32/float64 data sums the valid steps alone.

    >>> masked_sum(torch.tensor([[1.0, float("nan")]]), torch.tensor([[True, False]]), axis=1)
    tensor([1.])
    """
    m = _broadcast(x, mask)
    out, work = _out(x, sum_dtype)
    total = _masked_total(_as(x, torch.int64), m, axes, keepdims, work)
    return _finish(total, _has_valid(m, x.shape, axes, keepdims), empty, out)


def masked_prod(
    x: torch.Tensor, mask: torch.Tensor, axes: Axes, keepdims: bool, empty: object
) -> torch.Tensor:
    """Integer products wrap around in int64, as in NumPy.

    >>> masked_prod(torch.tensor([2, 3, 4]), torch.tensor([True, False, True]))
    tensor(8)
    """
    m = _broadcast(x, mask)
    out, work = _out(x, sum_dtype)
    total = _over(torch.prod, _keep(_as(x, torch.int64), m, 1).to(work), axes, keepdims)
    return _finish(total, _has_valid(m, x.shape, axes, keepdims), empty, out)


def masked_count(
    x: torch.Tensor, mask: torch.Tensor, axes: Axes, keepdims: bool, empty: object
) -> torch.Tensor:
    """Counted on the small mask; ``x``'s data are never read.

    >>> masked_count(torch.zeros(2, 3), torch.tensor([[True, False, True], [False] * 3]), axis=1)
    tensor([2, 0])
    """
    count = _count(_broadcast(x, mask), x.shape, axes, keepdims)
    return _finish(count, count > 0, empty, torch.int64)


def _sum_and_count(x, m, axes, keepdims, work):
    return _masked_total(x, m, axes, keepdims, work), _valid_count(m, x.shape, axes, keepdims)


def masked_mean(
    x: torch.Tensor, mask: torch.Tensor, axes: Axes, keepdims: bool, empty: object
) -> torch.Tensor:
    """float16/bfloat16 in float32; the division gets a count of at least 1, so an empty
    slice has a finite gradient (0).

    >>> masked_mean(torch.tensor([[1.0, 5.0, float("inf")]]), torch.tensor([[True, True, False]]))
    tensor(3.)
    """
    m = _broadcast(x, mask)
    out, work = _out(x, float_dtype)
    total, count = _sum_and_count(_as(x, torch.float64), m, axes, keepdims, work)
    mean = total / count.clamp(min=1).to(total.dtype)
    return _finish(mean, count > 0, empty, out)


def _variance(x: torch.Tensor, mask: torch.Tensor, axes: Axes, keepdims: bool, ddof: int):
    """(variance in the working dtype, where the slice has room, result dtype)."""
    m = _broadcast(x, mask)
    out, work = _out(x, float_dtype)
    x = _as(x, torch.float64)
    total, count = _sum_and_count(x, m, axes, True, work)
    mean = total / count.clamp(min=1).to(work)
    dev = _keep(_keep(x, m, 0).to(work) - mean, m, 0)
    denom = count - ddof
    var = _sum(dev * dev, axes, True) / denom.clamp(min=1).to(work)
    return _squeeze(var, axes, keepdims), _squeeze(denom, axes, keepdims) > 0, out


def masked_var(
    x: torch.Tensor, mask: torch.Tensor, axes: Axes, keepdims: bool, ddof: int, empty: object
) -> torch.Tensor:
    """float16/bfloat16 in float32; ``n - ddof <= 0`` gives ``empty`` with a finite
    gradient (0).

    >>> masked_var(torch.tensor([1.0, 3.0, float("nan")]), torch.tensor([True, True, False]))
    tensor(1.)
    """
    var, room, out = _variance(x, mask, axes, keepdims, ddof)
    return _finish(var, room, empty, out)


def masked_std(
    x: torch.Tensor, mask: torch.Tensor, axes: Axes, keepdims: bool, ddof: int, empty: object
) -> torch.Tensor:
    """The square root gets a safe operand where the variance is 0, so its gradient there
    is 0, not NaN.

    >>> masked_std(torch.tensor([1.0, 3.0, float("nan")]), torch.tensor([True, True, False]))
    tensor(1.)
    """
    var, room, out = _variance(x, mask, axes, keepdims, ddof)
    positive = var > 0
    root = torch.sqrt(torch.where(positive, var, torch.ones_like(var)))
    std = torch.where(positive, root, var)  # var is 0 or NaN there: sqrt(0) = 0, sqrt(NaN) = NaN
    return _finish(std, room, empty, out)


def _extreme(x: torch.Tensor, m: torch.Tensor, axes: Axes, keepdims: bool, empty, largest: bool):
    """``m``: the mask with ``x``'s rank."""
    xo, restore = _ordered(x)
    fill = identity_of_max(xo.dtype, largest)
    result = fast_extreme(xo, m, axes, keepdims, largest)
    if result is None:
        if any(x.shape[a] == 0 for a in axes):
            shape = _reduced_shape(x.shape, axes, keepdims)
            result = torch.full(shape, fill, dtype=xo.dtype, device=x.device)
        elif x.dtype == torch.bool:
            result = _over(torch.any if largest else torch.all, _keep(x, m, fill), axes, keepdims)
        else:
            reduce = torch.amax if largest else torch.amin
            xs = _keep(xo, m, fill)
            result = reduce(xs, dim=axes, keepdim=keepdims) if axes else xs
    default = not torch.is_tensor(empty) and empty == identity_of_max(x.dtype, largest)
    if xo.dtype == x.dtype and default:
        return result  # empty slices already hold the identity
    return _finish(restore(result), _has_valid(m, x.shape, axes, keepdims), empty, x.dtype)


def masked_max(
    x: torch.Tensor, mask: torch.Tensor, axes: Axes, keepdims: bool, empty: object
) -> torch.Tensor:
    """The gradient goes to the valid elements equal to the max (split between ties); on
    the CPU, a ``(B, T)`` mask over ``(B, T, D)`` data takes the block fast path.

    >>> masked_max(torch.tensor([[1, 9], [4, 2]]), torch.tensor([[True, False], [True, True]]), 1)
    tensor([1, 4])
    """
    return _extreme(x, _broadcast(x, mask), axes, keepdims, empty, largest=True)


def masked_min(
    x: torch.Tensor, mask: torch.Tensor, axes: Axes, keepdims: bool, empty: object
) -> torch.Tensor:
    """As ``masked_max``.

    >>> masked_min(torch.tensor([[1, 9], [4, 2]]), torch.tensor([[False, True], [True, True]]), 1)
    tensor([9, 2])
    """
    return _extreme(x, _broadcast(x, mask), axes, keepdims, empty, largest=False)


def masked_logsumexp(
    x: torch.Tensor, mask: torch.Tensor, axes: Axes, keepdims: bool, empty: object
) -> torch.Tensor:
    """The shift is detached (the gradient is the masked softmax, 0 at masked positions);
    the log of an empty slice gets a safe operand.

    >>> masked_logsumexp(torch.tensor([0.0, 0.0, float("nan")]), torch.tensor([True, True, False]))
    tensor(0.6931)
    """
    m = _broadcast(x, mask)
    out, work = _out(x, float_dtype)
    neg_inf = torch.tensor(-math.inf, dtype=work, device=x.device)
    xs = torch.where(m, _as(x, torch.float64).to(work), neg_inf)
    if any(x.shape[a] == 0 for a in axes):
        top = neg_inf.expand(_reduced_shape(x.shape, axes, True))
    else:
        top = torch.amax(xs, dim=axes, keepdim=True) if axes else xs
    shift = torch.where(torch.isfinite(top), top, torch.zeros_like(top)).detach()
    e = torch.where(m, torch.exp(torch.where(m, xs - shift, neg_inf)), torch.zeros_like(xs))
    total = _sum(e, axes, True)
    has_valid = _has_valid(m, x.shape, axes, True)
    result = torch.log(torch.where(has_valid, total, torch.ones_like(total))) + shift
    result = torch.where(has_valid, result, neg_inf)
    return _finish(
        _squeeze(result, axes, keepdims), _squeeze(has_valid, axes, keepdims), empty, out
    )


def masked_any(
    x: torch.Tensor, mask: torch.Tensor, axes: Axes, keepdims: bool, empty: object
) -> torch.Tensor:
    """A bool result, never differentiable.

    >>> masked_any(torch.tensor([0, 1]), torch.tensor([True, False]))
    tensor(False)
    """
    m = _broadcast(x, mask)
    result = _over(torch.any, m & (x != 0), axes, keepdims)
    return _finish(result, _has_valid(m, x.shape, axes, keepdims), empty, torch.bool)


def masked_all(
    x: torch.Tensor, mask: torch.Tensor, axes: Axes, keepdims: bool, empty: object
) -> torch.Tensor:
    """A bool result, never differentiable.

    >>> masked_all(torch.tensor([1, 0]), torch.tensor([True, False]))
    tensor(True)
    """
    m = _broadcast(x, mask)
    result = _over(torch.all, ~m | (x != 0), axes, keepdims)
    return _finish(result, _has_valid(m, x.shape, axes, keepdims), empty, torch.bool)


def _arg(x: torch.Tensor, mask: torch.Tensor, axis: int | None, keepdims: bool, empty, largest):
    m = _broadcast(x, mask).expand(x.shape)
    x, _ = _ordered(x)
    ndim = x.ndim
    if axis is None:
        x, m, ax = x.reshape(-1), m.reshape(-1), 0
    else:
        ax = axis
    best = _extreme(x, m, (ax,), True, identity_of_max(x.dtype, largest), largest)
    same = x == best
    if x.dtype.is_floating_point:
        same = same | (torch.isnan(x) & torch.isnan(best))
    hit = (m & same).to(torch.uint8)
    count = _count(m, x.shape, (ax,), True)
    if x.shape[ax] == 0:
        index = torch.zeros(count.shape, dtype=torch.int64, device=x.device)
    else:
        index = torch.argmax(hit, dim=ax, keepdim=True)  # the first valid hit
    index = _finish(index, count > 0, empty, torch.int64)
    if axis is None:
        return index.reshape([1] * ndim) if keepdims else index.reshape(())
    return index if keepdims else index.squeeze(ax)


def masked_argmax(
    x: torch.Tensor, mask: torch.Tensor, axis: int | None, keepdims: bool, empty: object
) -> torch.Tensor:
    """An int64 result, never differentiable.

    >>> masked_argmax(torch.tensor([[5, 1, 5]]), torch.tensor([[False, True, True]]), axis=1)
    tensor([2])
    """
    return _arg(x, mask, axis, keepdims, empty, largest=True)


def masked_argmin(
    x: torch.Tensor, mask: torch.Tensor, axis: int | None, keepdims: bool, empty: object
) -> torch.Tensor:
    """An int64 result, never differentiable.

    >>> masked_argmin(torch.tensor([0, 2, 1]), torch.tensor([False, True, True]))
    tensor(2)
    """
    return _arg(x, mask, axis, keepdims, empty, largest=False)


# --- scans ---------------------------------------------------------------------------------


def masked_cumsum(x: torch.Tensor, mask: torch.Tensor, axis: int, empty: object) -> torch.Tensor:
    """float16/bfloat16 accumulate in float32.

    >>> masked_cumsum(torch.tensor([1.0, float("nan"), 2.0]), torch.tensor([True, False, True]))
    tensor([1., 1., 3.])
    """
    m = _broadcast(x, mask)
    out, work = _out(x, sum_dtype)
    total = torch.cumsum(_keep(_as(x, torch.int64), m, 0).to(work), dim=axis)
    seen = torch.cumsum(m.to(torch.int64), dim=axis) > 0
    return _finish(total, seen, empty, out)


def _softmax_parts(x: torch.Tensor, mask: torch.Tensor, axis: int):
    m = _broadcast(x, mask)
    out, work = _out(x, float_dtype)
    neg_inf = torch.tensor(-math.inf, dtype=work, device=x.device)
    xs = torch.where(m, _as(x, torch.float64).to(work), neg_inf)
    has_valid = m.any(dim=axis, keepdim=True)
    if x.shape[axis] == 0:
        top = torch.zeros(has_valid.shape, dtype=work, device=x.device)
    else:
        top = torch.amax(xs, dim=axis, keepdim=True)
    shift = torch.where(has_valid, top, torch.zeros_like(top)).detach()
    shifted = torch.where(m, xs - shift, neg_inf)
    e = torch.where(m, torch.exp(shifted), torch.zeros_like(shifted))
    total = torch.where(has_valid, e.sum(dim=axis, keepdim=True), torch.ones_like(top))
    return m, out, shifted, e, total, has_valid, x.shape[axis]


def _empty_rows(
    result: torch.Tensor, has_valid: torch.Tensor, empty: str, n: int, log: bool, dtype: torch.dtype
) -> torch.Tensor:
    if empty in ("zeros", "-inf"):
        fill = -math.inf if log else 0.0
    elif empty == "nan":
        fill = math.nan
    elif n == 0:  # "uniform" over an axis of length 0: there is no position to fill
        fill = 0.0
    else:
        fill = -math.log(n) if log else 1.0 / n
    fill_t = torch.tensor(fill, dtype=result.dtype, device=result.device)
    return torch.where(has_valid, result, fill_t).to(dtype)


def masked_softmax(x: torch.Tensor, mask: torch.Tensor, axis: int, empty: str) -> torch.Tensor:
    """The shift is detached and empty rows divide by 1, so the gradient is finite and 0 at
    masked positions.

    >>> x = torch.tensor([[0.0, 0.0, float("nan")]])
    >>> masked_softmax(x, torch.tensor([[True, True, False]]))
    tensor([[0.5000, 0.5000, 0.0000]])
    """
    m, out, _, e, total, has_valid, n = _softmax_parts(x, mask, axis)
    y = torch.where(m, e / total, torch.zeros_like(e))
    return _empty_rows(y, has_valid, empty, n, False, out)


def masked_log_softmax(x: torch.Tensor, mask: torch.Tensor, axis: int, empty: str) -> torch.Tensor:
    """Computed as ``shifted - log(total)``, never as ``log(softmax)``; the gradient is
    finite and 0 at masked positions.

    >>> masked_log_softmax(torch.tensor([0.0, 0.0, 5.0]), torch.tensor([True, True, False]))
    tensor([-0.6931, -0.6931,    -inf])
    """
    m, out, shifted, _, total, has_valid, n = _softmax_parts(x, mask, axis)
    y = torch.where(m, shifted - torch.log(total), torch.full_like(shifted, -math.inf))
    return _empty_rows(y, has_valid, empty, n, True, out)
