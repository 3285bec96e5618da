"""Boolean masks in PyTorch: from lengths, values and ids; applying and expanding them.

Mirrors :mod:`reference.masks`: a mask is a ``torch.bool`` tensor, ``True`` =
valid/keep, whose shape is a leading prefix of the data's shape. Arguments
are validated by :mod:`reference._checks`, so errors match the reference.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from maskref.api.checks import (
    PADDING_SIDES,
    check_choice,
    check_integer_dtype,
    check_mask_dtype,
    check_mask_shape,
    check_maxlen,
    check_min_rank,
    check_scalar,
)

from ._convert import (
    ArrayOrTensor,
    as_array,
    cast_fill,
    dtype_name,
    numpy_dtype,
    scalar_value,
    to_torch,
)

__all__ = [
    "apply_mask",
    "expand_mask",
    "lengths_from_mask",
    "mask_from_ids",
    "mask_from_value",
    "sequence_mask",
]


def as_mask(mask: object, name: str = "mask", device: torch.device | None = None) -> torch.Tensor:
    """Return ``mask`` as a ``torch.bool`` tensor; refuse any other dtype (``TypeError``).

    Mirrors :func:`reference.masks.as_mask`. A tensor is returned as is (or
    moved to ``device``); arrays and lists are converted.

    >>> as_mask([True, False])
    tensor([ True, False])
    """
    arr = as_array(mask)
    check_mask_dtype(dtype_name(arr), name)
    return to_torch(arr, name, device)


def _device_of(*xs: object) -> torch.device | None:
    return next((x.device for x in xs if isinstance(x, torch.Tensor)), None)


def sequence_mask(
    lengths: object, maxlen: int | None = None, padding: str = "post"
) -> torch.Tensor:
    """Boolean mask of shape ``lengths.shape + (maxlen,)`` from per-row lengths.

    Mirrors :func:`reference.sequence_mask` (the rule is stated there):
    integer lengths only (float ``TypeError``, negative ``ValueError``).
    ``lengths`` may be a tensor of any integer dtype, an array or a list;
    ``maxlen`` an int or a 0-d integer tensor. The ``torch.bool`` result is
    on ``lengths``'s device.

    >>> sequence_mask(torch.tensor([1, 3, 0]))
    tensor([[ True, False, False],
            [ True,  True,  True],
            [False, False, False]])
    >>> sequence_mask(torch.tensor([1, 2]), maxlen=3, padding="pre")
    tensor([[False, False,  True],
            [False,  True,  True]])
    """
    check_choice("padding", padding, PADDING_SIDES)
    maxlen = check_maxlen(maxlen)
    lengths = as_array(lengths)
    check_integer_dtype(dtype_name(lengths), "lengths")
    lengths = to_torch(lengths, "lengths").to(torch.int64)
    if lengths.numel() and int(lengths.min()) < 0:
        raise ValueError(f"lengths must be non-negative, got {int(lengths.min())}")
    if maxlen is None:
        maxlen = int(lengths.max()) if lengths.numel() else 0
    steps = torch.arange(maxlen, device=lengths.device)
    lengths = lengths[..., None]
    if padding == "post":
        return steps < lengths
    return steps >= maxlen - lengths


def lengths_from_mask(mask: object) -> torch.Tensor:
    """Number of valid steps per row: ``mask.sum(dim=-1)`` as int64.

    Mirrors :func:`reference.lengths_from_mask` (the rule is stated there;
    holes count). ``mask`` is a ``torch.bool`` tensor (or a boolean array or
    list); the int64 result is on its device.

    >>> lengths_from_mask(torch.tensor([[True, True, False], [False, False, False]]))
    tensor([2, 0])
    """
    mask = as_mask(mask)
    check_min_rank(tuple(mask.shape), 1, "mask")
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
        np.ndim(value) == 0 and np.isnan(np.asarray(value, dtype=float))
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
    common = np.result_type(np_dtype, value)
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


def mask_from_value(x: object, mask_value: object = 0.0) -> torch.Tensor:
    """The ``keras.layers.Masking`` rule: a step is valid where any feature differs.

    Mirrors :func:`reference.mask_from_value` (the rule is stated there,
    including ``mask_value=NaN`` masking the steps whose features are all
    NaN). ``x`` is a tensor of bools, integers or floats (bfloat16 included),
    an array or a list; ``mask_value`` a number or a 0-d tensor. The values
    are compared as NumPy would (``x`` promoted with ``mask_value``); the
    ``torch.bool`` mask has one axis less than ``x`` and is on its device.

    >>> mask_from_value(torch.tensor([[[1.0, 2.0], [0.0, 0.0]]]))
    tensor([[ True, False]])
    >>> mask_from_value(torch.tensor([[[float("nan")], [1.0]]]), float("nan"))
    tensor([[False,  True]])
    """
    x = as_array(x)
    check_min_rank(tuple(x.shape), 1, "x")
    check_scalar(mask_value, "mask_value")
    if x.is_complex() if isinstance(x, torch.Tensor) else x.dtype.kind not in "biuf":
        raise TypeError(f"x must hold numbers or bools, got dtype {dtype_name(x)}")
    return _differs(to_torch(x, "x"), scalar_value(mask_value)).any(dim=-1)


def mask_from_ids(ids: object, pad_id: int = 0) -> torch.Tensor:
    """The ``Embedding(mask_zero=True)`` rule: ``mask = ids != pad_id``.

    Mirrors :func:`reference.mask_from_ids` (the rule is stated there; float
    ids are a ``TypeError``). ``ids`` is an integer tensor, array or list;
    ``pad_id`` a Python or NumPy int. The ``torch.bool`` mask has ``ids``'s
    shape and device.

    >>> mask_from_ids(torch.tensor([[5, 3, 0, 0]]))
    tensor([[ True,  True, False, False]])
    """
    ids = as_array(ids)
    check_integer_dtype(dtype_name(ids), "ids")
    if isinstance(pad_id, bool) or not isinstance(pad_id, (int, np.integer)):
        raise TypeError(f"pad_id must be an int, got {pad_id!r}")
    return _differs(to_torch(ids, "ids"), pad_id)


def _broadcastable(mask: torch.Tensor, ndim: int) -> torch.Tensor:
    """``mask`` with trailing unit axes up to ``ndim`` (a view, for broadcasting)."""
    return mask.reshape(*mask.shape, *(1,) * (ndim - mask.ndim))


def _shape_of(x: ArrayOrTensor | object) -> tuple[int, ...]:
    return tuple(x.shape) if isinstance(x, torch.Tensor) else np.shape(x)


def expand_mask(mask: object, x: object) -> torch.Tensor:
    """Broadcast ``mask`` over ``x``'s trailing axes: a boolean tensor of ``x``'s shape.

    Mirrors :func:`reference.expand_mask` (the rule is stated there; the
    mask's shape must be a leading prefix of ``x``'s). ``mask`` is a
    ``torch.bool`` tensor, array or list; only ``x``'s shape is read. The
    result is a new tensor (not a view of ``mask``: torch has no read-only
    views) on ``mask``'s device (``x``'s if ``mask`` is not a tensor).

    >>> expand_mask(torch.tensor([[True, False]]), torch.zeros(1, 2, 3)).shape
    torch.Size([1, 2, 3])
    """
    device = None if isinstance(mask, torch.Tensor) else _device_of(x)
    mask = as_mask(mask, device=device)
    shape = _shape_of(x)
    check_mask_shape(tuple(mask.shape), tuple(shape))
    return _broadcastable(mask, len(shape)).expand(shape).clone()


def apply_mask(x: object, mask: object, fill: object = 0) -> torch.Tensor:
    """The ``Masking`` layer's output: masked steps replaced by ``fill``.

    Mirrors :func:`reference.apply_mask` (the rule is stated there). ``x`` is
    a numeric tensor, array or list (strings: ``TypeError``, reference only);
    ``mask`` a ``torch.bool`` tensor, array or list, moved to ``x``'s device.
    Computed with ``torch.where``, never a multiplication: NaN or inf at a
    masked step never reaches the result, and the gradient with respect to
    ``x`` is exactly 0 there (finite everywhere). The result has ``x``'s dtype
    and device.

    >>> apply_mask(torch.tensor([[1.0, float("nan")], [3.0, 4.0]]), torch.tensor([True, False]))
    tensor([[1., nan],
            [0., 0.]])
    """
    x = as_array(x)
    device = x.device if isinstance(x, torch.Tensor) else _device_of(mask)
    mask = as_mask(mask, device=device)
    check_mask_shape(tuple(mask.shape), tuple(x.shape))
    x = to_torch(x, "x", device)
    value = cast_fill(fill, x.dtype, "fill")
    return torch.where(_broadcastable(mask, x.ndim), x, value)
