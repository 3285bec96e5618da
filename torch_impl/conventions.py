"""Mask-convention kernels in PyTorch (the conventions table, the rules and the checks are the
front ends', :mod:`maskref.api.conventions`)."""

from __future__ import annotations

import torch


def _keep_from(mask: torch.Tensor, convention: str, threshold: float) -> torch.Tensor:
    if convention == "keep":
        return mask.clone()
    if convention == "drop":
        return ~mask
    if convention == "int":
        return mask == 1
    return mask > threshold  # compared in the mask's dtype, as NumPy does


def convert_mask(
    mask: torch.Tensor, source: str, target: str, dtype: str, threshold: float
) -> torch.Tensor:
    """The result is a new tensor on the mask's device. ``dtype`` may be a ``torch.dtype``;
    ``torch.bfloat16`` is a float dtype like the others. Reading an ``int`` or additive mask
    checks its values, which waits for the device.

    >>> convert_mask(torch.tensor([1.0, 0.0], dtype=torch.bfloat16), "int", "drop")
    tensor([False,  True])
    """
    keep = _keep_from(mask, source, threshold)
    if target == "keep":
        return keep
    if target == "drop":
        return ~keep
    out = getattr(torch, dtype, None)
    if not isinstance(out, torch.dtype):
        raise TypeError(f"dtype={dtype} has no torch equivalent")
    if target == "int":
        return keep.to(out)
    masked = -torch.inf if target == "additive" else torch.finfo(out).min
    zero = torch.zeros((), dtype=out, device=keep.device)
    return torch.where(keep, zero, torch.full((), masked, dtype=out, device=keep.device))
