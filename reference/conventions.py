"""Mask-convention kernels in NumPy (the conventions table, the rules and the checks are the
front ends', :mod:`maskref.api.conventions`)."""

from __future__ import annotations

import numpy as np

from maskref.api.dtypes import resolve_dtype


def _keep_from(mask: np.ndarray, convention: str, threshold: float) -> np.ndarray:
    if convention == "keep":
        return mask.copy()
    if convention == "drop":
        return ~mask
    if convention == "int":
        return mask == 1
    return mask > threshold  # NumPy rounds the Python threshold to the mask's dtype (NEP 50)


def _lowest(dtype: np.dtype) -> object:
    """The dtype's most negative finite value (``ml_dtypes.finfo`` for bfloat16)."""
    if dtype.kind == "f":
        return np.finfo(dtype).min
    import ml_dtypes  # bfloat16: resolve_dtype has loaded it

    return ml_dtypes.finfo(dtype).min


def convert_mask(
    mask: np.ndarray, source: str, target: str, dtype: str, threshold: float
) -> np.ndarray:
    """A bfloat16 mask or ``dtype`` is an ``ml_dtypes.bfloat16`` array.

    >>> convert_mask(np.array([0.0, -1e9]), "additive", "drop")
    array([False,  True])
    """
    keep = _keep_from(mask, source, threshold)
    if target == "keep":
        return keep
    if target == "drop":
        return ~keep
    out = resolve_dtype(dtype)
    if target == "int":
        return keep.astype(out)
    masked = -np.inf if target == "additive" else _lowest(out)
    return np.where(keep, out.type(0), out.type(masked)).astype(out)
