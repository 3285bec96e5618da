"""Mask kernels in PyTorch (rules and checks: the front ends, :mod:`maskref.api.masks`).

Results live on the input's device. Comparisons follow NumPy's promotion (a
Python scalar is weakly typed), as the reference computes them.
"""

from __future__ import annotations

import numbers
from typing import Any, cast

import numpy as np
import torch

from ._convert import cast_fill, dtype_name, numpy_dtype, strings_unsupported, to_torch


def sequence_mask(lengths: torch.Tensor, maxlen: int, padding: str) -> torch.Tensor:
    """The ``torch.bool`` mask is on ``lengths``'s device; any integer dtype is taken."""
    if lengths.dtype == torch.uint64:
        lengths = lengths.view(torch.int64)  # checked to fit in int64
    lengths = lengths.to(torch.int64)[..., None]
    steps = torch.arange(maxlen, device=lengths.device)
    return steps < lengths if padding == "post" else steps >= maxlen - lengths


def lengths_from_mask(mask: torch.Tensor) -> torch.Tensor:
    """The int64 result is on the mask's device."""
    return mask.sum(dim=-1, dtype=torch.int64)


def _integer_range(dtype: torch.dtype) -> tuple[int, int]:
    if dtype == torch.bool:
        return 0, 1
    info = torch.iinfo(dtype)
    return int(info.min), int(info.max)


@torch.compiler.assume_constant_result
def _comparison(dtype: str, value: object) -> tuple[str, str, object]:
    """How ``x != value`` is computed for ``x`` of ``dtype``, as NumPy would compute it.

    Returns ``("nan", "", None)`` for the reference's ``mask_value=NaN``
    rule, ``("all", "", None)`` when no element can equal ``value`` (an
    integer outside ``dtype``'s range), else ``("ne", target, v)``: compare
    ``x.to(target) != v``, with ``v`` exactly representable in ``target``
    (``x`` promoted with ``value`` as in NumPy, a Python scalar being weak).
    A pure function of constants, evaluated while tracing by torch.compile.
    """
    if (isinstance(value, float) and np.isnan(value)) or (
        np.ndim(cast(Any, value)) == 0 and np.isnan(np.asarray(value, dtype=float))
    ):
        return "nan", "", None
    torch_dtype = getattr(torch, dtype)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    exact = not torch_dtype.is_floating_point and not torch_dtype.is_complex
    if exact and isinstance(value, (numbers.Integral, np.bool_)):
        lo, hi = _integer_range(torch_dtype)
        if not lo <= int(value) <= hi:
            return "all", "", None
        return "ne", dtype, bool(value) if torch_dtype == torch.bool else int(value)
    np_dtype = numpy_dtype(torch_dtype)
    if np_dtype is None:  # bfloat16: compare in torch
        return "ne", dtype, np.asarray(value).item()
    common = np.result_type(np_dtype, cast(Any, value))
    with np.errstate(over="ignore"):
        v = np.asarray(value).astype(common).item()
    return "ne", dtype_name(to_torch(np.zeros(0, common), "mask_value")), v


def _differs(x: torch.Tensor, value: object) -> torch.Tensor:
    """``x != value`` with NumPy's comparison semantics (the reference computes it so)."""
    how, target, v = _comparison(dtype_name(x), value)
    if how == "nan":
        if x.is_floating_point():
            return ~torch.isnan(x)
        how = "all"
    if how == "all":
        return torch.ones(x.shape, dtype=torch.bool, device=x.device)
    return x.to(getattr(torch, target)) != v


def mask_from_value(x: torch.Tensor, mask_value: object) -> torch.Tensor:
    """``x`` may be any numeric tensor (bfloat16 included); the values are compared as NumPy
    would compare them (``x`` promoted with ``mask_value``)."""
    if isinstance(mask_value, np.ndarray) and mask_value.ndim == 1:
        differs = torch.stack([_differs(x[..., i], v[()]) for i, v in enumerate(mask_value)], -1)
        return differs.any(dim=-1) if differs.numel() else differs.reshape(x.shape).any(dim=-1)
    return _differs(x, mask_value).any(dim=-1)


def mask_from_ids(ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """The ``torch.bool`` mask has ``ids``'s device."""
    return _differs(ids, pad_id)


def expand_mask(mask: torch.Tensor, x: object, shape: tuple[int, ...]) -> torch.Tensor:
    """A new tensor (not a view of ``mask``: torch has no read-only views), on ``mask``'s
    device (``x``'s if ``mask`` was not a tensor)."""
    return mask.reshape(tuple(mask.shape) + (1,) * (len(shape) - mask.ndim)).expand(shape).clone()


def apply_mask(x: torch.Tensor, mask: torch.Tensor, fill: object) -> torch.Tensor:
    """Computed with ``torch.where``, never a multiplication: NaN or inf at a masked step
    never reaches the result, and the gradient with respect to ``x`` is exactly 0 there
    (finite everywhere). The result has ``x``'s dtype and device.

    >>> apply_mask(torch.tensor([[1.0, float("nan")], [3.0, 4.0]]), torch.tensor([True, False]))
    tensor([[1., nan],
            [0., 0.]])
    """
    if not isinstance(x, torch.Tensor):
        raise strings_unsupported(f"x has dtype {x.dtype}")
    keep = mask.to(x.device).reshape(tuple(mask.shape) + (1,) * (x.ndim - mask.ndim))
    return torch.where(keep, x, cast_fill(fill, x.dtype, "fill"))
