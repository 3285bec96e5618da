"""The CPU fast paths of torch_impl's masked reductions, and their gate.

Both serve the pooling shape: a ``(B, T)`` mask over ``(B, T, D)`` data reduced
over ``T`` (more generally: one axis, the mask's last, with the mask broadcast
over at least one trailing axis). There a sanitised copy of a large ``x`` costs
several times the reduction itself; neither path writes anything of ``x``'s
size:

* sums of float32/float64 data (:func:`fast_sum`; ``masked_sum``,
  ``masked_mean``, the mean inside ``masked_var``), any mask: one
  ``embedding_bag`` over the rows of the valid steps. Masked steps are never
  read, so NaN or inf there cannot leak, and nothing needs checking afterwards.
* ``masked_max`` / ``masked_min`` (:func:`fast_extreme`): the extremes of blocks
  of ``BLOCK`` steps straight from ``x``, dropped where the block is all masked,
  recomputed from a copy of the few mixed blocks (the edges of the valid runs).
  Masks with more than a quarter of their blocks mixed (scattered holes) take
  the sanitising path.

Their gradients are exactly 0 at masked positions whatever the incoming
gradient holds: ``where(mask, grad, 0)`` for sums (the sanitising path's); for
max/min, ``grad`` at the valid elements equal to the result, split evenly
between ties (as ``torch.amax``). :func:`fast_paths_apply` skips them under
``torch.compile`` (which fuses the sanitising path) and ``torch.func``
transforms, and on other devices, where the caching allocator makes the
sanitised copy cheap and the fast paths' small host synchronisation
(``nonzero``) would cost more than it saves.
"""

from __future__ import annotations

import torch

from maskref.api.reductions import identity_of_max

__all__ = ["BLOCK", "fast_extreme", "fast_paths_apply", "fast_sum"]

Axes = tuple[int, ...]

#: Steps per block in the fast masked max/min.
BLOCK = 16


def fast_paths_apply(x: torch.Tensor) -> bool:
    """CPU tensors, outside ``torch.compile`` and ``torch.func`` transforms (vmap, grad)."""
    if x.device.type != "cpu" or torch.compiler.is_compiling():
        return False
    transforms_active = getattr(torch._C, "_are_functorch_transforms_active", None)
    return transforms_active is not None and not transforms_active()


def _pooling_layout(x: torch.Tensor, m: torch.Tensor, axes: Axes) -> tuple[int, ...] | None:
    """``(axis, rows, steps, features)`` when ``axes`` is the mask's last axis alone, with
    the mask covering the axes before it and broadcast over at least one after it (the
    ``(B, T)`` mask of ``(B, T, D)`` data reduced over ``T``); None otherwise."""
    if len(axes) != 1 or x.dtype == torch.bool or not x.numel() or not fast_paths_apply(x):
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


def fast_sum(x: torch.Tensor, m: torch.Tensor, axes: Axes, keepdims: bool) -> torch.Tensor | None:
    """The masked sum of float32/float64 data in the pooling layout (``m``: the mask with
    ``x``'s rank), else None."""
    layout = _pooling_layout(x, m, axes)
    if layout is None or x.dtype not in (torch.float32, torch.float64):
        return None
    a, rows, steps, features = layout
    total = _ValidRowSum.apply(x.reshape(rows, steps, features), m.reshape(rows, steps))
    return _unflatten(total, x.shape, a, keepdims)


class _BlockExtreme(torch.autograd.Function):
    """The masked max (``largest``) or min over ``T`` of ``x`` (``(R, T, F)``, ``(R, T)``
    mask ``m``), from the extremes of blocks of ``BLOCK`` steps.

    Each of the ``n`` whole blocks of a row is reduced straight from ``x``; the
    all-masked ones (flat indices ``row * n + block`` in ``empty``) are then dropped,
    and only the mixed ones (``mixed``) are gathered again, each masked step replaced
    by a valid step of its block (max and min are idempotent: the copy needs no
    sanitising); the steps past the last whole block are sanitised. The gradient
    goes to the valid elements equal to the result (NaN to NaN), split evenly
    between ties (as ``torch.amax``); it is exactly 0 at masked steps.
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
        fill = identity_of_max(x3.dtype, largest)
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
            tail = reduce(x3[:, k:].masked_fill(~m[:, k:].unsqueeze(-1), fill), dim=1)
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


def fast_extreme(
    x: torch.Tensor, m: torch.Tensor, axes: Axes, keepdims: bool, largest: bool
) -> torch.Tensor | None:
    """The masked max/min by blocks in the pooling layout (``m``: the mask with ``x``'s
    rank), or None (no fast path)."""
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
