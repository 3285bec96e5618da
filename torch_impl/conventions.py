"""Mask conventions in PyTorch: exact conversions between ``True``/``1``/``-inf`` readings.

Mirrors :mod:`reference.conventions`: the conventions and the table of
framework names (``reference.conventions.NAMED_CONVENTIONS``) are the
reference's own, and so is :func:`mask_convention` (pure Python, re-exported
here); :func:`convert_mask` reads and writes torch tensors with the
reference's validation helpers, so errors match.
"""

from __future__ import annotations

import torch

from maskref.api import dtypes as ref_dtypes
from reference.conventions import (
    ADDITIVE_THRESHOLD,
    bad_int_value_error,
    check_source_dtype,
    check_threshold,
    mask_convention,
    nan_additive_error,
    target_dtype_name,
)

from ._convert import as_array, dtype_name, to_torch

__all__ = ["convert_mask", "mask_convention"]


def _dtype_of(dtype: object) -> str | None:
    """The name of a target dtype given as a name, a ``np.dtype`` or a ``torch.dtype``.

    Names NumPy knows are read as NumPy reads them (``"float"`` is float64);
    torch-only names (``"bfloat16"``) are read as torch's.
    """
    if dtype is None:
        return None
    if isinstance(dtype, torch.dtype):
        return dtype_name(dtype)
    try:
        return ref_dtypes.resolve_dtype(dtype).name
    except TypeError:
        named = getattr(torch, dtype, None) if isinstance(dtype, str) else None
        if isinstance(named, torch.dtype):
            return dtype_name(named)
        raise


def _torch_dtype(name: str) -> torch.dtype:
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype={name} has no torch equivalent")
    return dtype


def _keep_from(mask: torch.Tensor, convention: str, threshold: float) -> torch.Tensor:
    if convention == "keep":
        return mask.clone()
    if convention == "drop":
        return ~mask
    if convention == "int":
        bad = (mask != 0) & (mask != 1)
        if bool(bad.any()):
            raise bad_int_value_error(mask[bad].reshape(-1)[0].item())
        return mask == 1
    if bool(torch.isnan(mask).any()):
        raise nan_additive_error()
    return mask > threshold


def _from_keep(keep: torch.Tensor, convention: str, dtype: torch.dtype) -> torch.Tensor:
    if convention == "keep":
        return keep
    if convention == "drop":
        return ~keep
    if convention == "int":
        return keep.to(dtype)
    masked = -torch.inf if convention == "additive" else torch.finfo(dtype).min
    zero = torch.zeros((), dtype=dtype, device=keep.device)
    return torch.where(keep, zero, torch.full((), masked, dtype=dtype, device=keep.device))


def convert_mask(
    mask: object,
    source: str,
    target: str,
    *,
    dtype: object = None,
    threshold: float = ADDITIVE_THRESHOLD,
) -> torch.Tensor:
    """``mask`` read in convention ``source`` and written in convention ``target``.

    Mirrors :func:`reference.convert_mask` (the rule is stated there: what
    each convention accepts, the additive ``threshold``, the default dtypes).
    ``mask`` is a tensor, array or list; the result is a new tensor on its
    device. ``dtype`` is a name, a ``np.dtype`` or a ``torch.dtype``;
    ``bfloat16`` (as ``torch.bfloat16`` or ``"bfloat16"``) is a float dtype
    like the others, and a bfloat16 mask is read as an additive or ``int``
    one. Reading an ``int`` or additive mask checks its values (a ``ValueError``
    for a 2, a 0.5 or a NaN), which waits for the device.

    >>> convert_mask(torch.tensor([True, False]), "keras",
    ...              "torch.nn.MultiheadAttention.key_padding_mask")
    tensor([False,  True])
    >>> convert_mask(torch.tensor([1, 0]), "transformers", "additive")
    tensor([0., -inf])
    """
    src = mask_convention(source).convention
    dst = mask_convention(target).convention
    arr = as_array(mask)
    threshold = check_threshold(threshold)
    check_source_dtype(src, dtype_name(arr) if isinstance(arr, torch.Tensor) else arr.dtype.name)
    t = to_torch(arr, "mask")
    out = _torch_dtype(target_dtype_name(dst, _dtype_of(dtype), dtype_name(t)))
    return _from_keep(_keep_from(t, src, threshold), dst, out)
