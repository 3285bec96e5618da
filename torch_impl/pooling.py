"""Masked global pooling modules for PyTorch: the mask is honoured and consumed.

``keras.layers.GlobalMaxPooling1D`` ignores the mask (padding takes part in
the max); these modules apply :func:`masked_mean` / :func:`masked_max` over
the time axis instead, so padding never reaches the result or its gradient.
"""

from __future__ import annotations

import torch
from torch import nn

from .reductions import masked_max, masked_mean


class _MaskedGlobalPooling1D(nn.Module):
    def __init__(self, keepdims: bool = False, empty: object = None) -> None:
        super().__init__()
        self.keepdims = keepdims
        self.empty = empty

    def extra_repr(self) -> str:
        return f"keepdims={self.keepdims}, empty={self.empty!r}"

    def _pool(self, x, mask):  # pragma: no cover - overridden
        raise NotImplementedError

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Pool ``x`` of shape ``(B, T, D)`` over ``T``; ``mask`` is ``(B, T)`` bool or None."""
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        return self._pool(x, mask)


class MaskedGlobalAveragePooling1D(_MaskedGlobalPooling1D):
    """Mean over the valid time steps of ``(B, T, D)`` data: ``masked_mean(x, mask, axis=1)``.

    A row with no valid step gives ``empty`` (default NaN, as Keras's
    ``GlobalAveragePooling1D``).

    >>> pool = MaskedGlobalAveragePooling1D()
    >>> pool(torch.tensor([[[1.0], [3.0], [float("nan")]]]), torch.tensor([[True, True, False]]))
    tensor([[2.]])
    """

    def _pool(self, x, mask):
        empty = float("nan") if self.empty is None else self.empty
        return masked_mean(x, mask, axis=1, keepdims=self.keepdims, empty=empty)


class MaskedGlobalMaxPooling1D(_MaskedGlobalPooling1D):
    """Max over the valid time steps of ``(B, T, D)`` data: ``masked_max(x, mask, axis=1)``.

    A row with no valid step gives ``empty`` (default ``-inf`` for floats,
    the identity of max).

    >>> pool = MaskedGlobalMaxPooling1D()
    >>> pool(torch.tensor([[[1.0], [1e6]]]), torch.tensor([[True, False]]))
    tensor([[1.]])
    """

    def _pool(self, x, mask):
        return masked_max(x, mask, axis=1, keepdims=self.keepdims, empty=self.empty)
