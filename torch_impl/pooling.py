"""Masked global pooling modules for PyTorch: the mask is honoured and consumed.

``keras.layers.GlobalMaxPooling1D`` ignores the mask (padding takes part in
the max); these modules apply :func:`masked_mean` / :func:`masked_max` over
the time axis instead, so padding never reaches the result or its gradient.
They are torch_impl's alone (the reference has no modules); the Keras twins
are ``tf_impl.MaskedGlobalAveragePooling1D`` and ``tf_impl.MaskedGlobalMaxPooling1D``.
Their ``compute_mask`` (always None: the time axis is gone) makes them
mask-aware in :class:`torch_impl.flow.MaskedSequential`, which calls
``forward(x, mask=mask)``; called directly they take ``(x, mask)`` as before.
"""

from __future__ import annotations

import torch
from torch import nn

import torch_impl as _public  # the public functions, read at call time


class _MaskedGlobalPooling1D(nn.Module):
    """Pools ``(B, T, D)`` data over ``T`` with a ``(B, T)`` bool mask (None: all valid).

    ``keepdims=True`` returns ``(B, 1, D)``; ``empty`` is what a row with no
    valid step gives (None: the reduction's default).
    """

    def __init__(self, keepdims: bool = False, empty: object = None) -> None:
        super().__init__()
        self.keepdims = keepdims
        self.empty = empty

    def extra_repr(self) -> str:
        return f"keepdims={self.keepdims}, empty={self.empty!r}"

    def _pool(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Pool ``x`` of shape ``(B, T, D)`` over ``T``; ``mask`` is ``(B, T)`` bool or None."""
        if x.ndim != 3:
            raise ValueError(f"x must have shape (B, T, D), got shape {tuple(x.shape)}")
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        return self._pool(x, mask)

    def compute_mask(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """None: the mask is consumed (Keras's ``GlobalAveragePooling1D.compute_mask``)."""
        return None


class MaskedGlobalAveragePooling1D(_MaskedGlobalPooling1D):
    """Mean over the valid time steps of ``(B, T, D)`` data: ``masked_mean(x, mask, axis=1)``.

    A row with no valid step gives ``empty`` (default NaN, as Keras's
    ``GlobalAveragePooling1D``); its gradient is 0.

    >>> pool = MaskedGlobalAveragePooling1D()
    >>> pool(torch.tensor([[[1.0], [3.0], [float("nan")]]]), torch.tensor([[True, True, False]]))
    tensor([[2.]])
    """

    def _pool(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        empty = float("nan") if self.empty is None else self.empty
        return _public.masked_mean(x, mask, axis=1, keepdims=self.keepdims, empty=empty)


class MaskedGlobalMaxPooling1D(_MaskedGlobalPooling1D):
    """Max over the valid time steps of ``(B, T, D)`` data: ``masked_max(x, mask, axis=1)``.

    A row with no valid step gives ``empty`` (default ``-inf`` for floats,
    the identity of max); its gradient is 0.

    >>> pool = MaskedGlobalMaxPooling1D()
    >>> pool(torch.tensor([[[1.0], [1e6]]]), torch.tensor([[True, False]]))
    tensor([[1.]])
    """

    def _pool(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return _public.masked_max(x, mask, axis=1, keepdims=self.keepdims, empty=self.empty)
