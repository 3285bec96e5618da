"""Loss kernels in PyTorch (rules and checks: the front ends, :mod:`maskref.api.losses`).

Results live on the logits' device. Uncounted logits, targets and weights are
replaced with ``torch.where`` before any arithmetic, so the gradient is
exactly 0 there; ``masked_cross_entropy`` and ``accumulated_loss`` take a fast
path for float32/float64 logits (:mod:`torch_impl._fast_losses`) with the
cost of ``F.cross_entropy`` and the same guarantees. Everything runs under
``torch.compile`` (the plain kernels there).
"""

from __future__ import annotations

import math

import torch
from torch import nn

import torch_impl as _public  # the public functions, read at call time
from maskref.api.losses import KERAS_EPSILON, cross_entropy_options, token_mean_class, work_dtype

from . import _fast_losses
from ._backend import BACKEND
from ._convert import dtype_name

__all__ = ["MaskedCrossEntropyLoss", "TokenMean"]

TokenMean = token_mean_class(BACKEND)


def _work(x: torch.Tensor) -> torch.dtype:
    return getattr(torch, work_dtype(dtype_name(x)))


def _zero(x: torch.Tensor) -> torch.Tensor:
    return torch.zeros((), dtype=x.dtype, device=x.device)


def _ratio(num: torch.Tensor, den: torch.Tensor, empty: str, dtype: torch.dtype) -> torch.Tensor:
    """``num / den``, or ``empty`` where ``den`` is 0."""
    ok = den != 0
    fill = torch.full((), 0.0 if empty == "zero" else math.nan, dtype=num.dtype, device=num.device)
    return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)), fill).to(dtype)


def _finish(
    num: torch.Tensor, den: torch.Tensor | None, empty: str, dtype: torch.dtype
) -> torch.Tensor:
    return num.to(dtype) if den is None else _ratio(num, den, empty, dtype)


def _reduce(
    loss: torch.Tensor, weight: torch.Tensor, counted: torch.Tensor, reduction: str
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The numerator and the denominator of ``reduction`` (``loss`` and ``weight`` are 0
    wherever ``counted`` is False)."""
    if reduction == "sum":
        return loss.sum(), None
    if reduction == "keras":
        return loss.sum(), counted.sum().to(loss.dtype)
    if reduction == "sequence_mean":
        num, den = loss.sum(dim=1), weight.sum(dim=1)
        rows = den != 0
        means = torch.where(rows, num / torch.where(rows, den, torch.ones_like(den)), _zero(num))
        return means.sum(), rows.sum().to(loss.dtype)
    return loss.sum(), weight.sum()  # token_mean, weighted_mean


def masked_loss(
    per_step: torch.Tensor,
    mask: torch.Tensor,
    sample_weight: torch.Tensor | None,
    reduction: str,
    empty: str,
) -> torch.Tensor:
    work = _work(per_step)
    loss = torch.where(mask, per_step, _zero(per_step)).to(work)
    if sample_weight is None:
        weight = mask.to(work)
    else:
        rows = sample_weight[:, None] if sample_weight.ndim == 1 else sample_weight
        rows = rows.to(device=mask.device, dtype=work)
        weight = torch.where(mask, rows, _zero(rows))
    loss = loss * weight
    if reduction == "none":
        return loss.to(per_step.dtype)
    num, den = _reduce(loss, weight, mask, reduction)
    return _finish(num, den, empty, per_step.dtype)


def _step_losses(
    logits: torch.Tensor,
    targets: torch.Tensor,
    counted: torch.Tensor | None,
    class_weight: torch.Tensor | None,
    smoothing: float,
    from_logits: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per step: the loss and the weight ``w_y``, both 0 where not counted; and the counted
    mask."""
    work = _work(logits)
    keep = (
        torch.ones(targets.shape, dtype=torch.bool, device=logits.device)
        if counted is None
        else counted.to(logits.device)
    )
    t = torch.where(keep, targets.to(logits.device), torch.zeros((), dtype=torch.int64))
    wy = None if class_weight is None else class_weight.to(work)[t]
    if _fast_losses.applies(logits, smoothing, from_logits):
        loss = _fast_losses.nll(logits, t, keep)
        if wy is not None:
            loss = loss * wy
    else:
        if from_logits:
            x = torch.where(keep[..., None], logits, _zero(logits)).to(work)
        else:
            p = torch.where(keep[..., None], logits, torch.ones((), dtype=logits.dtype))
            x = p.to(work).clamp(KERAS_EPSILON, 1 - KERAS_EPSILON).log()
        logp = torch.log_softmax(x, dim=-1)
        loss = -logp.gather(-1, t[..., None])[..., 0]
        if wy is not None:
            loss = wy * loss
        if smoothing:
            cw = None if class_weight is None else class_weight.to(work)
            spread = -(logp.sum(dim=-1) if cw is None else (logp * cw).sum(dim=-1))
            loss = (1 - smoothing) * loss + (smoothing / logits.shape[-1]) * spread
    loss = torch.where(keep, loss.to(work), torch.zeros((), dtype=work, device=keep.device))
    weight = keep.to(work) if wy is None else torch.where(keep, wy, torch.zeros((), dtype=work))
    return loss, weight, keep


def masked_cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    counted: torch.Tensor | None,
    class_weight: torch.Tensor | None,
    label_smoothing: float,
    from_logits: bool,
    steps: int | None,
    reduction: str,
    empty: str,
) -> torch.Tensor:
    """Float32/float64 logits without label smoothing take a fast path with the cost of
    ``F.cross_entropy(..., ignore_index=)``, forward and backward."""
    loss, weight, keep = _step_losses(
        logits, targets, counted, class_weight, label_smoothing, from_logits
    )
    if reduction == "none":
        if steps is not None:  # shifted: aligned with the logits, the last step 0
            pad = torch.zeros((loss.shape[0], 1), dtype=loss.dtype, device=loss.device)
            loss = torch.cat([loss, pad], dim=1)[:, :steps]
        return loss.to(logits.dtype)
    num, den = _reduce(loss, weight, keep, reduction)
    return _finish(num, den, empty, logits.dtype)


def masked_accuracy(
    logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """NaN logits at a valid step: ``torch.argmax`` takes NaN as the largest value (the first
    NaN's class, as NumPy)."""
    work = _work(logits)
    mask = mask.to(logits.device)
    predicted = torch.argmax(torch.where(mask[..., None], logits, _zero(logits)), dim=-1)
    hits = (predicted == targets.to(logits.device)) & mask
    return _ratio(hits.sum().to(work), mask.sum().to(work), "zero", work)


def accumulated_loss(
    micro_batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]],
    class_weight: torch.Tensor | None,
    label_smoothing: float,
    from_logits: bool,
    reduction: str,
    empty: str,
) -> torch.Tensor:
    """Each micro-batch's graph stays attached: one ``backward()`` reaches them all."""
    num, den = None, None
    for logits, targets, counted in micro_batches:
        loss, weight, keep = _step_losses(
            logits, targets, counted, class_weight, label_smoothing, from_logits
        )
        n, d = _reduce(loss, weight, keep, reduction)
        num = n if num is None else num + n.to(num.device)
        if d is not None:
            den = d if den is None else den + d.to(den.device)
    assert num is not None  # micro_batches is not empty
    return _finish(num, den, empty, micro_batches[0][0].dtype)


def token_sums(values: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The float64 sum of the valid values and their int64 count (on ``values``'s device)."""
    mask = mask.to(values.device)
    total = torch.where(mask, values, _zero(values)).sum(dtype=torch.float64)
    return total, mask.sum(dtype=torch.int64)


def token_result(
    total: torch.Tensor | None, count: torch.Tensor | None, empty: str, dtype: str
) -> torch.Tensor:
    target = getattr(torch, dtype)
    if total is None:
        return torch.tensor(0.0 if empty == "zero" else math.nan, dtype=target)
    assert count is not None
    return _ratio(total, count.to(total.dtype), empty, target)


class MaskedCrossEntropyLoss(nn.Module):
    """:func:`masked_cross_entropy` as a module: ``loss(logits, targets, mask=None)``.

    The options are the function's, fixed at construction (and checked there);
    ``class_weight`` is a buffer (it moves with ``.to(device)``). Logits are
    ``(B, T, C)`` (not PyTorch's ``(N, C, ...)``), ``ignore_index`` defaults to
    None (PyTorch's ``CrossEntropyLoss`` ignores -100 by default), and an
    all-ignored batch gives ``empty`` (default 0; PyTorch's mean gives NaN:
    ``empty="nan"``). ``MaskedCrossEntropyLoss(ignore_index=-100,
    empty="nan")`` gives ``nn.CrossEntropyLoss()``'s numbers on ``(B, T, C)``
    logits, and a Hugging Face causal-LM loss with ``shift=True``.

    >>> loss = MaskedCrossEntropyLoss(ignore_index=-100)
    >>> loss(torch.zeros(1, 2, 4), torch.tensor([[3, -100]]))
    tensor(1.3863)
    """

    def __init__(
        self,
        *,
        ignore_index: int | None = None,
        class_weight: object = None,
        label_smoothing: float = 0.0,
        from_logits: bool = True,
        shift: bool = False,
        reduction: str = "token_mean",
        empty: str = "zero",
    ) -> None:
        super().__init__()
        (
            self.ignore_index,
            self.label_smoothing,
            self.from_logits,
            self.shift,
            self.reduction,
            self.empty,
        ) = cross_entropy_options(
            ignore_index, label_smoothing, from_logits, shift, reduction, empty
        )
        weight = None if class_weight is None else torch.as_tensor(class_weight)
        self.register_buffer("class_weight", weight)

    def extra_repr(self) -> str:
        return (
            f"ignore_index={self.ignore_index}, label_smoothing={self.label_smoothing}, "
            f"from_logits={self.from_logits}, shift={self.shift}, "
            f"reduction={self.reduction!r}, empty={self.empty!r}"
        )

    def forward(
        self, logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The loss of ``(B, T, C)`` logits against ``(B, T)`` targets (``mask``: ``(B, T)``)."""
        return _public.masked_cross_entropy(
            logits,
            targets,
            mask,
            ignore_index=self.ignore_index,
            class_weight=self.class_weight,
            label_smoothing=self.label_smoothing,
            from_logits=self.from_logits,
            shift=self.shift,
            reduction=self.reduction,
            empty=self.empty,
        )
