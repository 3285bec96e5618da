"""The fast path of ``masked_cross_entropy`` in PyTorch: the cost of ``F.cross_entropy``.

The plain kernel replaces uncounted logits with ``torch.where`` before
``log_softmax``: one more pass over the ``(N, C)`` logits forward and one more
backward (``where``'s gradient). Here a custom autograd function takes the
logits as they are and keeps the guarantees:

* forward: ``logp = log_softmax(logits)``, ``l = -logp[y]`` where counted, 0
  elsewhere (targets of uncounted rows are replaced by 0 before the gather);
* uncounted rows that hold NaN or inf (their ``log_softmax`` row is NaN: a NaN,
  an inf or all ``-inf`` in a row makes every entry NaN) are found from the
  gathered value and set to 0 in the saved ``logp`` (touching those rows only);
* backward: ``(softmax(logits) - onehot(y))·g`` with ``g = where(counted,
  grad, 0)``, computed in place on ``exp(logp)``: every other row is finite
  times exactly 0, so the gradient is exactly 0 there, whatever ``grad`` holds.

Gate (:func:`applies`): float32/float64 logits, ``from_logits=True``, no label
smoothing, and not while ``torch.compile`` traces (the data-dependent check of
bad rows would break the graph; the plain kernel compiles into fused loops).
"""

from __future__ import annotations

import torch


def applies(logits: torch.Tensor, label_smoothing: float, from_logits: bool) -> bool:
    """True when :func:`nll` serves the call."""
    return (
        from_logits
        and not label_smoothing
        and logits.dtype in (torch.float32, torch.float64)
        and not torch.compiler.is_compiling()
    )


class _NLL(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor, keep: torch.Tensor):
        logp = torch.log_softmax(logits, dim=1)
        picked = logp.gather(1, targets[:, None])[:, 0]
        bad = torch.isnan(picked) & ~keep
        if bool(bad.any()):  # uncounted NaN/inf rows: never let them reach the gradient
            logp[bad] = 0.0
        ctx.save_for_backward(logp, targets, keep)
        return torch.where(keep, -picked, torch.zeros((), dtype=logp.dtype))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        logp, targets, keep = ctx.saved_tensors
        g = torch.where(keep, grad, torch.zeros((), dtype=grad.dtype))[:, None]
        out = logp.exp()
        out.mul_(g)
        out.scatter_add_(1, targets[:, None], -g)
        return out, None, None


def nll(logits: torch.Tensor, targets: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``-log_softmax(logits)[y]`` per step where ``keep``, 0 elsewhere, shape ``targets.shape``
    (``targets`` already 0 where not kept; ``logits`` of shape ``targets.shape + (C,)``)."""
    classes = logits.shape[-1]
    flat = _NLL.apply(logits.reshape(-1, classes), targets.reshape(-1), keep.reshape(-1))
    return flat.reshape(targets.shape)
