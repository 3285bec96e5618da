"""Masked reductions, masked cumulative sum and masked softmax in PyTorch.

Mirrors :mod:`reference.reductions` function by function; the rules (mask
validation and broadcast, empty slices, axes, result dtypes) are stated
there. Masked values are replaced with ``torch.where``/``masked_fill``
*before* every operation, and every division or logarithm that an empty
slice would reach gets a safe operand first (the "double where"), so with
NaN or inf under the mask the gradient with respect to ``x`` is finite
everywhere and exactly 0 at masked positions. float16 and bfloat16 data are
computed in float32 and rounded once. Results live on ``x``'s device.

Two fast paths serve the pooling shape on the CPU: a ``(B, T)`` mask over
``(B, T, D)`` data reduced over ``T`` (more generally: one axis, the mask's
last, with the mask broadcast over at least one trailing axis). There a
sanitised copy of a large ``x`` costs several times the reduction itself;
neither path writes anything of ``x``'s size:

* sums of float32/float64 data (``masked_sum``, ``masked_mean``, the mean
  inside ``masked_var``), any mask: one ``embedding_bag`` over the rows of
  the valid steps. Masked steps are never read, so NaN or inf there cannot
  leak, and nothing needs checking afterwards.
* ``masked_max`` / ``masked_min``: the extremes of blocks of ``BLOCK`` steps
  straight from ``x``, dropped where the block is all masked, recomputed
  from a copy of the few mixed blocks (the edges of the valid runs). Masks
  with more than a quarter of their blocks mixed (scattered holes) take the
  sanitising path.

Their gradients are exactly 0 at masked positions: ``where(mask, grad, 0)``
for sums (the sanitising path's); for max/min, ``grad`` at the valid
elements equal to the result, split evenly between ties (as ``torch.amax``).
They are skipped under ``torch.compile`` (which fuses the sanitising path)
and ``torch.func`` transforms, and on other devices, where the caching
allocator makes the sanitised copy cheap and the fast paths' small host
synchronisation (``nonzero``) would cost more than it saves.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from maskref.api.checks import (
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
Axis = int | tuple[int, ...] | None
Scalar = bool | int | float

LOW_PRECISION = (torch.float16, torch.bfloat16)
#: Unsigned dtypes torch has few kernels for, and the dtype that holds their values in order.
_UNSIGNED_WIDE = {torch.uint16: torch.int32, torch.uint32: torch.int64, torch.uint64: torch.int64}
_SIGN_BIT = -(2**63)
#: Steps per block in the fast masked max/min.
BLOCK = 16


# --- validation, dtypes, counting ---------------------------------------------------------


def broadcast_mask(x: object, mask: object) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` as a tensor and ``mask`` validated, with size-1 trailing axes added so that it
    broadcasts against ``x`` (it is never materialised at ``x``'s size)."""
    x = to_torch(x, "x")
    mask = to_torch(mask, "mask", x.device)
    check_mask_dtype(dtype_name(mask))
    check_mask_shape(tuple(mask.shape), tuple(x.shape))
    return x, mask.reshape(tuple(mask.shape) + (1,) * (x.ndim - mask.ndim))


def _check_numeric(x: torch.Tensor) -> None:
    if x.is_complex():
        raise TypeError(f"x must hold numbers or bools, got dtype {dtype_name(x)}")


def _prepare(x: object, mask: object, axis: Axis) -> tuple[torch.Tensor, torch.Tensor, Axes]:
    x, m = broadcast_mask(x, mask)
    _check_numeric(x)
    return x, m, normalize_axis(axis, x.ndim)


def sum_dtype(dtype: torch.dtype) -> torch.dtype:
    """int64 for bool and integer data, else the data's dtype."""
    return dtype if dtype.is_floating_point else torch.int64


def float_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 for bool and integer data, else the data's dtype."""
    return dtype if dtype.is_floating_point else torch.float64


def _work(dtype: torch.dtype) -> torch.dtype:
    """The dtype computations run in: float16 and bfloat16 are widened to float32."""
    return torch.float32 if dtype in LOW_PRECISION else dtype


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


def _reduced_shape(shape: torch.Size, axes: Axes, keepdims: bool) -> list[int]:
    if keepdims:
        return [1 if i in axes else n for i, n in enumerate(shape)]
    return [n for i, n in enumerate(shape) if i not in axes]


def _squeeze(t: torch.Tensor, axes: Axes, keepdims: bool) -> torch.Tensor:
    """A keepdims result with the reduced axes dropped unless ``keepdims``."""
    return t if keepdims or not axes else t.reshape(_reduced_shape(t.shape, axes, False))


def _valid_count(m: torch.Tensor, shape: torch.Size, axes: Axes, keepdims: bool) -> torch.Tensor:
    """Valid elements per slice, counted on the small mask (int64), in a shape that
    broadcasts against the result: the trailing axes the mask broadcasts over keep size 1
    and, when reduced, multiply the count by their sizes."""
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
    """``result`` as ``dtype``, with ``empty`` where a slice had no valid element.

    ``empty`` is checked (lossless cast) even when every slice has a valid element.
    """
    fill = torch.tensor(cast_fill(empty, dtype, "empty"), dtype=dtype, device=result.device)
    return torch.where(has_valid, result.to(dtype), fill)


def _identity_of_max(dtype: torch.dtype, largest: bool) -> Scalar:
    """The identity of max (smallest value) or of min (largest value) for ``dtype``."""
    if dtype == torch.bool:
        return not largest
    if dtype.is_floating_point:
        return -math.inf if largest else math.inf
    info = torch.iinfo(dtype)
    return int(info.min) if largest else int(info.max)


# --- the fast paths (CPU, pooling shape) -----------------------------------------------------


def _fast_paths_apply(x: torch.Tensor) -> bool:
    """CPU tensors, outside ``torch.compile`` and ``torch.func`` transforms (vmap, grad)."""
    if x.device.type != "cpu" or torch.compiler.is_compiling():
        return False
    transforms_active = getattr(torch._C, "_are_functorch_transforms_active", None)
    return transforms_active is not None and not transforms_active()


def _pooling_layout(x: torch.Tensor, m: torch.Tensor, axes: Axes) -> tuple[int, ...] | None:
    """``(axis, rows, steps, features)`` when ``axes`` is the mask's last axis alone, with
    the mask covering the axes before it and broadcast over at least one after it (the
    ``(B, T)`` mask of ``(B, T, D)`` data reduced over ``T``); None otherwise."""
    if len(axes) != 1 or x.dtype == torch.bool or not x.numel() or not _fast_paths_apply(x):
        return None
    a = axes[0]
    if a >= x.ndim - 1 or m.shape[: a + 1] != x.shape[: a + 1]:
        return None
    if any(n != 1 for n in m.shape[a + 1 :]):
        return None
    return a, x.shape[:a].numel(), x.shape[a], x.shape[a + 1 :].numel()


def _unflatten(t: torch.Tensor, shape: torch.Size, a: int, keepdims: bool) -> torch.Tensor:
    """A ``(rows, features)`` result in the shape of ``x`` (``shape``) reduced over ``a``."""
    out = list(shape[:a]) + ([1] if keepdims else []) + list(shape[a + 1 :])
    return t.reshape(out)


class _ValidRowSum(torch.autograd.Function):
    """The sum over ``T`` of the valid steps of ``x`` (``(R, T, F)``, ``(R, T)`` mask):
    one ``embedding_bag`` over the valid steps' rows, so masked steps are never read.

    Its gradient is ``where(mask, grad, 0)``, exactly 0 at masked steps whatever
    ``grad`` holds, and differentiable again (``embedding_bag``'s own is not).
    """

    @staticmethod
    def forward(ctx, x3: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        rows, steps, features = x3.shape
        ctx.save_for_backward(m)
        count = m.sum(dim=1)
        offsets = torch.cumsum(count, 0) - count
        index = m.reshape(-1).nonzero().squeeze(1)
        weight = x3.reshape(rows * steps, features)
        return torch.nn.functional.embedding_bag(index, weight, offsets, mode="sum")

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (m,) = ctx.saved_tensors
        zero = torch.zeros((), dtype=grad.dtype, device=grad.device)
        return torch.where(m.unsqueeze(-1), grad.unsqueeze(1), zero), None


def _fast_sum(x: torch.Tensor, m: torch.Tensor, axes: Axes, keepdims: bool) -> torch.Tensor | None:
    """The masked sum of float32/float64 data in the pooling layout, else None."""
    layout = _pooling_layout(x, m, axes)
    if layout is None or x.dtype not in (torch.float32, torch.float64):
        return None
    a, rows, steps, features = layout
    total = _ValidRowSum.apply(x.reshape(rows, steps, features), m.reshape(rows, steps))
    return _unflatten(total, x.shape, a, keepdims)


def _masked_total(
    x: torch.Tensor, m: torch.Tensor, axes: Axes, keepdims: bool, work: torch.dtype
) -> torch.Tensor:
    """``sum(where(m, x, 0))`` over ``axes``, accumulated in ``work``."""
    total = _fast_sum(x, m, axes, keepdims) if x.dtype == work else None
    if total is None:
        total = _sum(_keep(x, m, 0).to(work), axes, keepdims)
    return total


class _BlockExtreme(torch.autograd.Function):
    """The masked max (``largest``) or min over ``T`` of ``x`` (``(R, T, F)``, ``(R, T)``
    mask ``m``), from the extremes of blocks of ``BLOCK`` steps.

    Each of the ``n`` whole blocks of a row is reduced straight from ``x``; the
    all-masked ones (flat indices ``row * n + block`` in ``empty``) are then dropped,
    and only the mixed ones (``mixed``) are gathered again, each masked step replaced
    by a valid step of its block (max and min are idempotent: the copy needs no
    sanitising); the steps past the last whole block are sanitised. The gradient
    goes to the valid elements
    equal to the result (NaN to NaN), split evenly between ties (as ``torch.amax``);
    it is exactly 0 at masked steps.
    """

    @staticmethod
    def forward(
        ctx,
        x3: torch.Tensor,
        m: torch.Tensor,
        largest: bool,
        n: int,
        empty: torch.Tensor,
        mixed: torch.Tensor,
    ) -> torch.Tensor:
        rows, steps, features = x3.shape
        k = n * BLOCK
        fill = _identity_of_max(x3.dtype, largest)
        reduce = torch.amax if largest else torch.amin
        blocks = x3[:, :k].reshape(rows * n, BLOCK, features)
        top = reduce(blocks, dim=1)  # (rows * n, features)
        top.index_fill_(0, empty, fill)
        if mixed.numel():
            keep = m[:, :k].reshape(rows * n, BLOCK).index_select(0, mixed)
            some_valid = keep.to(torch.uint8).argmax(dim=1, keepdim=True)
            step = torch.where(keep, torch.arange(BLOCK, device=m.device), some_valid)
            start = torch.div(mixed, n, rounding_mode="floor") * steps + (mixed % n) * BLOCK
            index = (start.unsqueeze(1) + step).reshape(-1)
            part = x3.reshape(rows * steps, features).index_select(0, index)
            top.index_copy_(0, mixed, reduce(part.reshape(-1, BLOCK, features), dim=1))
        result = reduce(top.reshape(rows, n, features), dim=1)
        if k < steps:
            tail = reduce(_keep(x3[:, k:], m[:, k:].unsqueeze(-1), fill), dim=1)
            result = torch.maximum(result, tail) if largest else torch.minimum(result, tail)
        ctx.save_for_backward(m, x3, result)
        return result

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        m, x3, result = ctx.saved_tensors
        best = result.unsqueeze(1)
        hit = x3 == best
        if x3.dtype.is_floating_point:
            hit |= torch.isnan(x3) & torch.isnan(best)
        hit &= m.unsqueeze(-1)
        ties = hit.sum(dim=1).clamp(min=1).to(grad.dtype)
        zero = torch.zeros((), dtype=grad.dtype, device=grad.device)
        return torch.where(hit, (grad / ties).unsqueeze(1), zero), None, None, None, None, None


def _blocks(
    m: torch.Tensor, rows: int, steps: int
) -> tuple[int, torch.Tensor, torch.Tensor] | None:
    """The number ``n`` of whole blocks of ``BLOCK`` steps in a row and the flat indices
    (``row * n + block``) of the all-masked and of the mixed ones; None when there are
    fewer than 2 blocks, or more than a quarter of them are mixed (scattered holes:
    sanitising all of ``x`` is then cheaper)."""
    n = steps // BLOCK
    if n < 2:
        return None
    valid = m[:, : n * BLOCK].reshape(rows * n, BLOCK).sum(1, dtype=torch.int32)
    mixed = ((valid != 0) & (valid != BLOCK)).nonzero().squeeze(1)
    if 4 * mixed.numel() > rows * n:
        return None
    return n, (valid == 0).nonzero().squeeze(1), mixed


def _fast_extreme(
    x: torch.Tensor, m: torch.Tensor, axes: Axes, keepdims: bool, largest: bool
) -> torch.Tensor | None:
    """The masked max/min by blocks in the pooling layout, or None (no fast path)."""
    layout = _pooling_layout(x, m, axes)
    if layout is None:
        return None
    a, rows, steps, features = layout
    m2 = m.reshape(rows, steps)
    plan = _blocks(m2, rows, steps)
    if plan is None:
        return None
    result = _BlockExtreme.apply(x.reshape(rows, steps, features), m2, largest, *plan)
    return _unflatten(result, x.shape, a, keepdims)


# --- reductions ------------------------------------------------------------------------------


def masked_sum(
    x: object, mask: object, axis: Axis = None, keepdims: bool = False, *, empty: object = 0
) -> torch.Tensor:
    """Mirrors :func:`reference.masked_sum` (the rule is stated there): ``sum(where(mask, x, 0))``.

    torch: float16/bfloat16 are summed in float32; on the CPU, a ``(B, T)``
    mask over ``(B, T, D)`` float32/float64 data sums the valid steps alone.

    >>> masked_sum(torch.tensor([[1.0, float("nan")]]), torch.tensor([[True, False]]), axis=1)
    tensor([1.])
    """
    x, m, axes = _prepare(x, mask, axis)
    out = sum_dtype(x.dtype)
    x = _as(x, torch.int64)
    total = _masked_total(x, m, axes, keepdims, _work(out))
    return _finish(total, _has_valid(m, x.shape, axes, keepdims), empty, out)


def masked_prod(
    x: object, mask: object, axis: Axis = None, keepdims: bool = False, *, empty: object = 1
) -> torch.Tensor:
    """Mirrors :func:`reference.masked_prod` (the rule is stated there): product of the valid.

    torch: integer products wrap around in int64, as in NumPy.

    >>> masked_prod(torch.tensor([2, 3, 4]), torch.tensor([True, False, True]))
    tensor(8)
    """
    x, m, axes = _prepare(x, mask, axis)
    out = sum_dtype(x.dtype)
    xs = _keep(_as(x, torch.int64), m, 1).to(_work(out))
    total = _over(torch.prod, xs, axes, keepdims)
    return _finish(total, _has_valid(m, x.shape, axes, keepdims), empty, out)


def masked_count(
    x: object, mask: object, axis: Axis = None, keepdims: bool = False, *, empty: object = 0
) -> torch.Tensor:
    """Mirrors :func:`reference.masked_count` (the rule is stated there): valid elements, int64.

    torch: counted on the small mask; ``x``'s data are never read.

    >>> masked_count(torch.zeros(2, 3), torch.tensor([[True, False, True], [False] * 3]), axis=1)
    tensor([2, 0])
    """
    x, m, axes = _prepare(x, mask, axis)
    count = _count(m, x.shape, axes, keepdims)
    return _finish(count, count > 0, empty, torch.int64)


def _sum_and_count(x, m, axes, keepdims, work):
    return _masked_total(x, m, axes, keepdims, work), _valid_count(m, x.shape, axes, keepdims)


def masked_mean(
    x: object, mask: object, axis: Axis = None, keepdims: bool = False, *, empty: object = math.nan
) -> torch.Tensor:
    """Mirrors :func:`reference.masked_mean` (the rule is stated there): sum / count of the valid.

    torch: float16/bfloat16 in float32; the division gets a count of at least
    1, so an empty slice has a finite gradient (0).

    >>> masked_mean(torch.tensor([[1.0, 5.0, float("inf")]]), torch.tensor([[True, True, False]]))
    tensor(3.)
    """
    x, m, axes = _prepare(x, mask, axis)
    out = float_dtype(x.dtype)
    total, count = _sum_and_count(_as(x, torch.float64), m, axes, keepdims, _work(out))
    mean = total / count.clamp(min=1).to(total.dtype)
    return _finish(mean, count > 0, empty, out)


def _variance(x, mask, axis, keepdims, ddof):
    """(variance in the working dtype, where the slice has room, result dtype)."""
    x, m, axes = _prepare(x, mask, axis)
    out = float_dtype(x.dtype)
    work = _work(out)
    x = _as(x, torch.float64)
    total, count = _sum_and_count(x, m, axes, True, work)
    mean = total / count.clamp(min=1).to(work)
    xs = _keep(x, m, 0).to(work)
    dev = _keep(xs - mean, m, 0)
    denom = count - ddof
    var = _sum(dev * dev, axes, True) / denom.clamp(min=1).to(work)
    return _squeeze(var, axes, keepdims), _squeeze(denom, axes, keepdims) > 0, out


def masked_var(
    x: object,
    mask: object,
    axis: Axis = None,
    keepdims: bool = False,
    *,
    ddof: int = 0,
    empty: object = math.nan,
) -> torch.Tensor:
    """Mirrors :func:`reference.masked_var` (the rule is stated there): two-pass variance.

    torch: float16/bfloat16 in float32; ``n - ddof <= 0`` gives ``empty``
    with a finite gradient (0).

    >>> masked_var(torch.tensor([1.0, 3.0, float("nan")]), torch.tensor([True, True, False]))
    tensor(1.)
    """
    var, room, out = _variance(x, mask, axis, keepdims, ddof)
    return _finish(var, room, empty, out)


def masked_std(
    x: object,
    mask: object,
    axis: Axis = None,
    keepdims: bool = False,
    *,
    ddof: int = 0,
    empty: object = math.nan,
) -> torch.Tensor:
    """Mirrors :func:`reference.masked_std` (the rule is stated there): ``sqrt(masked_var)``.

    torch: the square root gets a safe operand where the variance is 0, so
    its gradient there is 0, not NaN.

    >>> masked_std(torch.tensor([1.0, 3.0, float("nan")]), torch.tensor([True, True, False]))
    tensor(1.)
    """
    var, room, out = _variance(x, mask, axis, keepdims, ddof)
    positive = var > 0
    root = torch.sqrt(torch.where(positive, var, torch.ones_like(var)))
    std = torch.where(positive, root, var)  # var is 0 or NaN there: sqrt(0) = 0, sqrt(NaN) = NaN
    return _finish(std, room, empty, out)


def _masked_extreme(x, mask, axis, keepdims, empty, largest: bool) -> torch.Tensor:
    x, m, axes = _prepare(x, mask, axis)
    default = _identity_of_max(x.dtype, largest)
    xo, restore = _ordered(x)
    result = _fast_extreme(xo, m, axes, keepdims, largest)
    if result is None:
        fill = _identity_of_max(xo.dtype, largest)
        if any(x.shape[a] == 0 for a in axes):
            result = torch.full(
                _reduced_shape(x.shape, axes, keepdims), fill, dtype=xo.dtype, device=x.device
            )
        elif x.dtype == torch.bool:
            result = _over(torch.any if largest else torch.all, _keep(x, m, fill), axes, keepdims)
        else:
            reduce = torch.amax if largest else torch.amin
            xs = _keep(xo, m, fill)
            result = reduce(xs, dim=axes, keepdim=keepdims) if axes else xs
    if empty is None and xo.dtype == x.dtype:
        return result  # empty slices already hold the identity, the default ``empty``
    empty = default if empty is None else empty
    return _finish(restore(result), _has_valid(m, x.shape, axes, keepdims), empty, x.dtype)


def masked_max(
    x: object, mask: object, axis: Axis = None, keepdims: bool = False, *, empty: object = None
) -> torch.Tensor:
    """Mirrors :func:`reference.masked_max` (the rule is stated there): a valid NaN propagates.

    torch: the gradient goes to the valid elements equal to the max (split
    between ties); on the CPU, a ``(B, T)`` mask over ``(B, T, D)`` data
    takes the block fast path.

    >>> masked_max(torch.tensor([[1, 9], [4, 2]]), torch.tensor([[True, False], [True, True]]), 1)
    tensor([1, 4])
    """
    return _masked_extreme(x, mask, axis, keepdims, empty, largest=True)


def masked_min(
    x: object, mask: object, axis: Axis = None, keepdims: bool = False, *, empty: object = None
) -> torch.Tensor:
    """Mirrors :func:`reference.masked_min` (the rule is stated there): a valid NaN propagates.

    torch: as :func:`masked_max`.

    >>> masked_min(torch.tensor([[1, 9], [4, 2]]), torch.tensor([[False, True], [True, True]]), 1)
    tensor([9, 2])
    """
    return _masked_extreme(x, mask, axis, keepdims, empty, largest=False)


def masked_logsumexp(
    x: object, mask: object, axis: Axis = None, keepdims: bool = False, *, empty: object = -math.inf
) -> torch.Tensor:
    """Mirrors :func:`reference.masked_logsumexp` (the rule is stated there): shifted by the max.

    torch: the shift is detached (the gradient is the masked softmax, 0 at
    masked positions); the log of an empty slice gets a safe operand.

    >>> masked_logsumexp(torch.tensor([0.0, 0.0, float("nan")]), torch.tensor([True, True, False]))
    tensor(0.6931)
    """
    x, m, axes = _prepare(x, mask, axis)
    out = float_dtype(x.dtype)
    work = _work(out)
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
    x: object, mask: object, axis: Axis = None, keepdims: bool = False, *, empty: object = False
) -> torch.Tensor:
    """Mirrors :func:`reference.masked_any` (the rule is stated there): NaN counts as non-zero.

    torch: a bool result, never differentiable.

    >>> masked_any(torch.tensor([0, 1]), torch.tensor([True, False]))
    tensor(False)
    """
    x, m, axes = _prepare(x, mask, axis)
    result = _over(torch.any, m & (x != 0), axes, keepdims)
    return _finish(result, _has_valid(m, x.shape, axes, keepdims), empty, torch.bool)


def masked_all(
    x: object, mask: object, axis: Axis = None, keepdims: bool = False, *, empty: object = True
) -> torch.Tensor:
    """Mirrors :func:`reference.masked_all` (the rule is stated there): every valid is non-zero.

    torch: a bool result, never differentiable.

    >>> masked_all(torch.tensor([1, 0]), torch.tensor([True, False]))
    tensor(True)
    """
    x, m, axes = _prepare(x, mask, axis)
    result = _over(torch.all, ~m | (x != 0), axes, keepdims)
    return _finish(result, _has_valid(m, x.shape, axes, keepdims), empty, torch.bool)


def _masked_arg(x, mask, axis, keepdims, empty, largest: bool) -> torch.Tensor:
    x, m = broadcast_mask(x, mask)
    m = m.expand(x.shape)
    _check_numeric(x)
    x, _ = _ordered(x)
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
        index = torch.argmax(hit, dim=ax, keepdim=True)  # the first valid hit
    index = _finish(index, count > 0, empty, torch.int64)
    if axis is None:
        return index.reshape(shape) if keepdims else index.reshape(())
    return index if keepdims else index.squeeze(ax)


def masked_argmax(
    x: object, mask: object, axis: int | None = None, keepdims: bool = False, *, empty: object = -1
) -> torch.Tensor:
    """Mirrors :func:`reference.masked_argmax` (the rule is stated there): first valid on ties.

    torch: an int64 result, never differentiable.

    >>> masked_argmax(torch.tensor([[5, 1, 5]]), torch.tensor([[False, True, True]]), axis=1)
    tensor([2])
    """
    return _masked_arg(x, mask, axis, keepdims, empty, largest=True)


def masked_argmin(
    x: object, mask: object, axis: int | None = None, keepdims: bool = False, *, empty: object = -1
) -> torch.Tensor:
    """Mirrors :func:`reference.masked_argmin` (the rule is stated there): first valid on ties.

    torch: an int64 result, never differentiable.

    >>> masked_argmin(torch.tensor([0, 2, 1]), torch.tensor([False, True, True]))
    tensor(2)
    """
    return _masked_arg(x, mask, axis, keepdims, empty, largest=False)


# --- scans ---------------------------------------------------------------------------------


def masked_cumsum(x: object, mask: object, axis: int = -1, *, empty: object = 0) -> torch.Tensor:
    """Mirrors :func:`reference.masked_cumsum` (the rule is stated there): masked add nothing.

    torch: float16/bfloat16 accumulate in float32.

    >>> masked_cumsum(torch.tensor([1.0, float("nan"), 2.0]), torch.tensor([True, False, True]))
    tensor([1., 1., 3.])
    """
    x, m = broadcast_mask(x, mask)
    _check_numeric(x)
    ax = normalize_single_axis(axis, x.ndim)
    out = sum_dtype(x.dtype)
    xs = _keep(_as(x, torch.int64), m, 0).to(_work(out))
    total = torch.cumsum(xs, dim=ax)
    seen = torch.cumsum(m.to(torch.int64), dim=ax) > 0
    return _finish(total, seen, empty, out)


def _softmax_parts(x, mask, axis):
    x, m = broadcast_mask(x, mask)
    _check_numeric(x)
    ax = normalize_single_axis(axis, x.ndim)
    out = float_dtype(x.dtype)
    work = _work(out)
    neg_inf = torch.tensor(-math.inf, dtype=work, device=x.device)
    xs = torch.where(m, _as(x, torch.float64).to(work), neg_inf)
    has_valid = m.any(dim=ax, keepdim=True)
    if x.shape[ax] == 0:
        top = torch.zeros(has_valid.shape, dtype=work, device=x.device)
    else:
        top = torch.amax(xs, dim=ax, keepdim=True)
    shift = torch.where(has_valid, top, torch.zeros_like(top)).detach()
    shifted = torch.where(m, xs - shift, neg_inf)
    e = torch.where(m, torch.exp(shifted), torch.zeros_like(shifted))
    total = torch.where(has_valid, e.sum(dim=ax, keepdim=True), torch.ones_like(top))
    return m, out, shifted, e, total, has_valid, x.shape[ax]


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


def masked_softmax(
    x: object, mask: object, axis: int = -1, *, empty: str = "zeros"
) -> torch.Tensor:
    """Mirrors :func:`reference.masked_softmax` (the rule is stated there): 0 where masked.

    torch: the shift is detached and empty rows divide by 1, so the gradient
    is finite and 0 at masked positions; float16/bfloat16 in float32.

    >>> x = torch.tensor([[0.0, 0.0, float("nan")]])
    >>> masked_softmax(x, torch.tensor([[True, True, False]]))
    tensor([[0.5000, 0.5000, 0.0000]])
    """
    check_choice("empty", empty, SOFTMAX_EMPTY)
    m, out, _, e, total, has_valid, n = _softmax_parts(x, mask, axis)
    y = torch.where(m, e / total, torch.zeros_like(e))
    return _empty_rows(y, has_valid, empty, n, False, out)


def masked_log_softmax(
    x: object, mask: object, axis: int = -1, *, empty: str = "-inf"
) -> torch.Tensor:
    """Mirrors :func:`reference.masked_log_softmax` (the rule is stated there): -inf where masked.

    torch: computed as ``shifted - log(total)`` (never ``log(softmax)``); the
    gradient is finite and 0 at masked positions.

    >>> masked_log_softmax(torch.tensor([0.0, 0.0, 5.0]), torch.tensor([True, True, False]))
    tensor([-0.6931, -0.6931,    -inf])
    """
    check_choice("empty", empty, LOG_SOFTMAX_EMPTY)
    m, out, shifted, _, total, has_valid, n = _softmax_parts(x, mask, axis)
    y = torch.where(m, shifted - torch.log(total), torch.full_like(shifted, -math.inf))
    return _empty_rows(y, has_valid, empty, n, True, out)
