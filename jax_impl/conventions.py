"""Mask-convention kernels in JAX (the table, rules and checks: :mod:`maskref.api.conventions`)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from maskref.api.dtypes import bfloat16

from ._convert import canonical


def _keep_from(mask: Any, convention: str, threshold: float) -> Any:
    if convention == "keep":
        return mask
    if convention == "drop":
        return ~mask
    if convention == "int":
        return mask == 1
    return mask > jnp.asarray(threshold, mask.dtype)  # compared in the mask's dtype


def convert_mask(mask: Any, source: str, target: str, dtype: str, threshold: float) -> Any:
    """``int`` masks are int32 unless ``jax_enable_x64`` is on."""
    keep = _keep_from(mask, source, threshold)
    if target == "keep":
        return keep
    if target == "drop":
        return ~keep
    out = canonical(bfloat16() if dtype == "bfloat16" else np.dtype(dtype))
    if target == "int":
        return keep.astype(out)
    masked = -jnp.inf if target == "additive" else jnp.finfo(out).min
    return jnp.where(keep, jnp.zeros((), out), jnp.asarray(masked, out))
