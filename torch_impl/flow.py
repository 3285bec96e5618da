"""Mask flow for PyTorch: the mask-flow kernels on tensors, and modules that keep masks.

The rules and checks are the front ends' (:mod:`maskref.api.flow`, with the
table of kinds); masks are ``torch.bool`` tensors (or None), results on the
first mask's device.

PyTorch has no mask flow, so this module adds one, explicitly.

**The protocol.** A module is *mask-aware* when either

1. it sets the class attribute ``masked = True`` (subclass :class:`MaskedModule`)
   and its ``forward(x, mask=None)`` returns ``(output, mask)``; or
2. it has a method ``compute_mask(x, mask)`` returning the output mask; its
   ``forward`` is called as ``forward(x, mask=mask)`` if it has a ``mask``
   parameter, else as ``forward(x)`` (Keras's ``call``/``compute_mask`` pair).
   The masked pooling modules of :mod:`torch_impl.pooling` are of this kind:
   they read the mask and consume it (``compute_mask`` gives None).

:class:`MaskedSequential` threads a mask through a stack by these rules. A
plain module (neither 1 nor 2) keeps the mask only when it is in the
allow-list :data:`PER_STEP_MODULES` (it acts on each step independently:
``nn.Linear``, ``nn.Dropout``, activations; ``nn.LayerNorm`` over the last dim
only; ``nn.Softmax`` and friends only with ``dim=-1``). Any other plain module
that receives a mask raises ``TypeError`` instead of losing it silently:
wrap it in :class:`PerStep` (it is per step: the mask propagates) or
:class:`DropMask` (the mask is dropped on purpose, Keras's "destroy"), or
give it a ``compute_mask``.

As in Keras, masks are not applied between modules: per-step modules compute
on padded steps too, and only mask-reading modules (pooling, merges' masks)
ignore them. Zero NaN/inf padding once before the stack (:class:`Masking`,
``apply_mask``), or a per-step op's backward can give ``0 * NaN`` there.

**Recurrent modules** (a later issue) plug in as rule 1: a ``MaskedModule``
whose ``forward(x, mask)`` runs the recurrence on the valid steps and returns
``flow_mask("recurrent", mask, return_sequences=...)``. Until then a plain
``nn.RNN``/``nn.LSTM``/``nn.GRU`` given a mask raises (it would run over
padding).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from typing import Any, ClassVar, cast

import torch
from torch import nn

import torch_impl as _public  # the public functions (bound at package import)
from maskref.api.checks import check_flag, check_mask_shape
from maskref.api.masks import as_mask as _as_mask

from ._backend import BACKEND

Mask = torch.Tensor | None


# --- the kernels ----------------------------------------------------------------------------


def merge_masks(masks: list[torch.Tensor]) -> torch.Tensor:
    """A new tensor on the first mask's device.

    >>> merge_masks([torch.tensor([[True, False]]), torch.tensor([[False, False]])])
    tensor([[ True, False]])
    """
    device = masks[0].device
    return torch.stack([m.to(device) for m in masks]).any(dim=0)


def merge_masks_strict(masks: list[torch.Tensor]) -> torch.Tensor:
    device = masks[0].device
    return torch.stack([m.to(device) for m in masks]).all(dim=0)


def _broadcast(m: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """A leading-prefix mask with trailing unit axes, broadcast to ``shape`` (a view)."""
    return m.reshape(tuple(m.shape) + (1,) * (len(shape) - m.ndim)).expand(shape)


def concatenate_masks(
    masks: list[torch.Tensor | None], shapes: list[tuple[int, ...]], axis: int
) -> torch.Tensor:
    """``shapes`` may be ``torch.Size``; the result is on the first mask's device.

    >>> a = torch.tensor([[True, False]])
    >>> concatenate_masks([a, None], [(1, 2, 3), (1, 2, 4)])
    tensor([[True, True]])
    """
    device = next(m.device for m in masks if m is not None)
    full = [
        torch.ones(s, dtype=torch.bool, device=device) if m is None else _broadcast(m.to(device), s)
        for m, s in zip(masks, shapes)
    ]
    return torch.cat(full, dim=axis).any(dim=-1)


_FOLDS = {
    "add": torch.add,
    "average": torch.add,
    "multiply": torch.mul,
    "maximum": torch.maximum,
    "minimum": torch.minimum,
}


def merge_values(
    op: str, xs: list[torch.Tensor], masks: list[torch.Tensor | None], dtype: str | None
) -> torch.Tensor:
    """Result dtypes are the reference's (integer sums and products keep NumPy's promotion,
    the average of integers is float64); bfloat16 follows torch's promotion. On the first
    input's device.

    >>> merge_values("add", [torch.ones(1, 2, 1), torch.ones(1, 2, 1)], [None, None])[0]
    tensor([[[2.],
             [2.]]])
    """
    device = xs[0].device
    target = getattr(torch, dtype) if dtype is not None else None
    tensors = [x.to(device=device, dtype=target) for x in xs]
    if op == "subtract":
        values = tensors[0] - tensors[1]
    else:
        values = functools.reduce(cast(Any, _FOLDS[op]), tensors[1:], tensors[0].clone())
        if op == "average":
            values = values / len(tensors)
    if op in ("add", "subtract", "average") or all(m is None for m in masks):
        return values
    tensors = [t.to(values.dtype) for t in tensors]
    full = [None if m is None else _mask_like(m.to(device), t) for m, t in zip(masks, tensors)]
    if op == "multiply":
        return _masked_product(tensors, full)
    extreme = torch.maximum if op == "maximum" else torch.minimum
    return _masked_extreme(extreme, tensors, full)


def _mask_like(mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A ``(B, T)`` mask broadcast to ``x``'s ``(B, T, ...)`` shape (a view)."""
    return mask.reshape(*mask.shape, *(1,) * (x.ndim - mask.ndim)).expand_as(x)


def _masked_product(xs: list[torch.Tensor], masks: list) -> torch.Tensor:
    """Keras's ``Multiply``: masked steps of a masked input count as 1; when every input has
    a mask, steps masked in all of them are 0."""
    one = torch.ones((), dtype=xs[0].dtype, device=xs[0].device)
    factors = [x if m is None else torch.where(m, x, one) for x, m in zip(xs, masks)]
    out = functools.reduce(torch.mul, factors)
    if all(m is not None for m in masks):
        out = torch.where(functools.reduce(torch.logical_or, masks), out, torch.zeros_like(one))
    return out


def _masked_extreme(op, xs: list[torch.Tensor], masks: list) -> torch.Tensor:
    """Keras's ``Maximum``/``Minimum``, folded left: a masked step of either side takes the
    other side's value; a step masked in every input keeps the first input's value."""
    out, out_mask = xs[0], masks[0]
    for x, m in zip(xs[1:], masks[1:]):
        if m is not None:
            x = torch.where(m, x, out)
        if out_mask is not None:
            out = torch.where(out_mask, out, x)
        out_mask = out_mask | m if m is not None and out_mask is not None else None
        out = op(out, x)
    return out


# --- the protocol and the stack -----------------------------------------------------------


class MaskedModule(nn.Module):
    """Base class of mask-aware modules: ``forward(x, mask=None)`` returns ``(output, mask)``.

    ``mask`` is a ``(B, T)`` ``torch.bool`` tensor (True = valid) or None.
    Subclasses implement ``forward``; :class:`MaskedSequential` calls it with
    the mask it threads and continues with the mask it returns.
    """

    masked: ClassVar[bool] = True


#: Plain modules that act on each step independently: given a mask, they keep it.
PER_STEP_MODULES: tuple[type[nn.Module], ...] = (
    nn.Identity,
    nn.Linear,
    nn.Dropout,
    nn.AlphaDropout,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Tanh,
    nn.Sigmoid,
    nn.Hardtanh,
    nn.Hardsigmoid,
    nn.Hardswish,
    nn.Softplus,
    nn.Softsign,
    nn.Softshrink,
    nn.Hardshrink,
    nn.Tanhshrink,
    nn.Threshold,
    nn.LogSigmoid,
)
#: Plain modules that keep the mask only when they work over the last dim.
_LAST_DIM_MODULES: tuple[type[nn.Module], ...] = (nn.Softmax, nn.LogSoftmax, nn.Softmin, nn.GLU)


def _is_per_step(module: nn.Module, x: torch.Tensor) -> bool:
    cls = type(module)
    if cls in PER_STEP_MODULES:
        return True
    if cls is nn.LayerNorm:
        return len(cast(nn.LayerNorm, module).normalized_shape) == 1
    if cls in _LAST_DIM_MODULES:
        return module.dim is not None and module.dim in (-1, x.ndim - 1)
    return False


def _check_step_mask(mask: torch.Tensor, x: torch.Tensor, name: str) -> None:
    """A per-step module needs a mask over steps: a strict leading prefix of ``x``'s shape."""
    check_mask_shape(tuple(mask.shape), tuple(x.shape))
    if mask.ndim >= x.ndim:
        raise ValueError(
            f"{name} acts on the last axis, so its mask must have fewer axes than "
            f"x; got mask shape {tuple(mask.shape)} for x shape {tuple(x.shape)}"
        )


_TAKES_MASK: dict[type, bool] = {}


def _forward_takes_mask(cls: type) -> bool:
    """Whether ``cls.forward`` has a ``mask`` parameter (or ``**kwargs``); cached per class."""
    if cls not in _TAKES_MASK:
        params = inspect.signature(cast(Any, cls).forward).parameters.values()
        _TAKES_MASK[cls] = any(p.name == "mask" or p.kind is p.VAR_KEYWORD for p in params)
    return _TAKES_MASK[cls]


def _undeclared(module: nn.Module) -> TypeError:
    name = type(module).__name__
    if isinstance(module, nn.RNNBase):
        how = (
            f"a recurrent module must read the mask (or the padding runs through it): "
            f"wrap {name} in a MaskedModule whose forward(x, mask) runs it on the valid "
            f"steps (e.g. packed) and returns (output, flow_mask('recurrent', mask, "
            f"return_sequences=...))"
        )
    else:
        how = (
            f"declare how it treats the mask: wrap it in PerStep({name}(...)) if each output "
            f"step depends only on the same input step (the mask propagates), in "
            f"DropMask({name}(...)) to drop the mask on purpose, or give it a "
            f"compute_mask(x, mask) method (or subclass MaskedModule)"
        )
    return TypeError(f"{module!r} received a mask but does not declare what happens to it; {how}")


def call_masked(module: nn.Module, x: object, mask: Mask) -> tuple[object, Mask]:
    """Call ``module`` on ``(x, mask)`` by the protocol; return ``(output, output mask)``.

    The rules, in order: a ``masked`` module returns ``(output, mask)``; a
    module with ``compute_mask`` is called (with ``mask=`` if its forward has
    that parameter) and ``compute_mask(x, mask)`` gives the mask; a plain
    ``nn.Sequential`` is threaded child by child; without a mask, a plain
    module is just called; with one, it must be in :data:`PER_STEP_MODULES`
    (the mask propagates) or ``TypeError``.
    """
    if getattr(module, "masked", False):
        result = module(x, mask=mask)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(
                f"{type(module).__name__} is marked masked, so its forward must "
                f"return (output, mask); got {type(result).__name__}"
            )
        return result
    compute_mask = getattr(module, "compute_mask", None)
    if callable(compute_mask):
        out = module(x, mask=mask) if _forward_takes_mask(type(module)) else module(x)
        return out, compute_mask(x, mask)
    if type(module) is nn.Sequential:
        for child in module:
            x, mask = call_masked(child, x, mask)
        return x, mask
    if mask is None:
        return module(x), None
    if not _is_per_step(module, cast(torch.Tensor, x)):
        raise _undeclared(module)
    _check_step_mask(mask, cast(torch.Tensor, x), type(module).__name__)
    return module(x), mask


class MaskedSequential(nn.Sequential):
    """``nn.Sequential`` that threads a mask: ``forward(x, mask=None)`` returns ``(output, mask)``.

    Each module is called by :func:`call_masked` (the protocol in the module
    docstring, the rules of :mod:`maskref.api.flow`): mask-aware modules decide
    the mask; plain per-step modules (:data:`PER_STEP_MODULES`) propagate it;
    any other plain module that receives a mask raises ``TypeError``. A
    ``MaskedSequential`` is itself mask-aware, so stacks nest; a plain
    ``nn.Sequential`` inside is threaded child by child. Recurrent modules
    enter as ``MaskedModule``s returning ``flow_mask("recurrent", ...)``.

    >>> torch.manual_seed(0) is not None
    True
    >>> model = MaskedSequential(Embedding(10, 4, mask_zero=True), nn.Linear(4, 4), nn.ReLU())
    >>> out, mask = model(torch.tensor([[5, 3, 0]]))
    >>> out.shape, mask
    (torch.Size([1, 3, 4]), tensor([[ True,  True, False]]))
    """

    masked: ClassVar[bool] = True

    def forward(self, x: object, mask: Mask = None) -> tuple[object, Mask]:
        """Run the stack on ``x``; ``mask`` is a ``torch.bool`` tensor (prefix of x's shape)."""
        if mask is not None:
            mask = _as_mask(BACKEND, mask)
            if isinstance(x, torch.Tensor):
                check_mask_shape(tuple(mask.shape), tuple(x.shape))
        for module in self:
            x, mask = call_masked(module, x, mask)
        return x, mask


class PerStep(MaskedModule):
    """Declares that ``module`` acts on each step independently: the mask propagates.

    >>> out, mask = PerStep(nn.Flatten(2))(torch.ones(1, 2, 3, 4), torch.tensor([[True, False]]))
    >>> out.shape, mask
    (torch.Size([1, 2, 12]), tensor([[ True, False]]))
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor, mask: Mask = None) -> tuple[torch.Tensor, Mask]:
        """``(module(x), mask)``."""
        if mask is not None:
            _check_step_mask(mask, x, type(self.module).__name__)
        return self.module(x), mask


class DropMask(MaskedModule):
    """Declares that ``module`` destroys the mask (Keras's "destroy" kind): ``(module(x), None)``.

    >>> DropMask(nn.Flatten())(torch.ones(1, 2, 3), torch.tensor([[True, False]]))[1] is None
    True
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor, mask: Mask = None) -> tuple[torch.Tensor, None]:
        """``(module(x), None)``."""
        return self.module(x), _public.flow_mask("destroy", mask)


# --- mask creators ------------------------------------------------------------------------


class Masking(MaskedModule):
    """``keras.layers.Masking``: steps whose features all equal ``mask_value`` are masked.

    ``forward(x, mask=None)`` returns :func:`masking_values`: the values with
    masked steps set to 0 by ``torch.where`` (not Keras's multiplication, so
    NaN/inf there never survive and the gradient there is 0) and the mask.
    As in Keras, an incoming mask is ignored and replaced.

    >>> Masking()(torch.tensor([[[1.0, 2.0], [0.0, 0.0]]]))[1]
    tensor([[ True, False]])
    """

    def __init__(self, mask_value: float = 0.0) -> None:
        super().__init__()
        self.mask_value = mask_value

    def extra_repr(self) -> str:
        return f"mask_value={self.mask_value!r}"

    def forward(self, x: torch.Tensor, mask: Mask = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(where(mask, x, 0), mask)`` with ``mask = mask_from_value(x, mask_value)``."""
        return _public.masking_values(x, self.mask_value)


class Embedding(nn.Embedding):
    """``nn.Embedding`` that returns ``(output, mask)``; ``mask_zero=True`` masks the id 0.

    As ``keras.layers.Embedding(mask_zero=True)``: the mask is ``ids != 0``
    (:func:`mask_from_ids`), the row 0 is still looked up (not zeroed; pass
    ``padding_idx=0`` to zero it), and an incoming mask is ignored. With
    ``mask_zero=False`` the mask is None. Other keyword arguments go to
    ``nn.Embedding``.

    >>> emb = Embedding(10, 3, mask_zero=True)
    >>> out, mask = emb(torch.tensor([[4, 2, 0]]))
    >>> out.shape, mask
    (torch.Size([1, 3, 3]), tensor([[ True,  True, False]]))
    """

    masked: ClassVar[bool] = True

    def __init__(
        self, num_embeddings: int, embedding_dim: int, mask_zero: bool = False, **kwargs: object
    ) -> None:
        super().__init__(num_embeddings, embedding_dim, **cast(dict[str, Any], kwargs))
        self.mask_zero = check_flag(mask_zero, "mask_zero")

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mask_zero={self.mask_zero}"

    # returns (values, mask), unlike nn.Embedding.forward: the masked-layer protocol
    def forward(self, input: torch.Tensor, mask: Mask = None) -> tuple[torch.Tensor, Mask]:  # type: ignore[override]
        """``(embeddings, ids != 0)`` (mask None unless ``mask_zero``)."""
        out = super().forward(input)
        return out, _public.mask_from_ids(input) if self.mask_zero else None


# --- merges -------------------------------------------------------------------------------


def _merge_masks_arg(masks: Sequence[object] | None, n: int) -> Sequence[Any]:
    if masks is None:
        return [None] * n
    if isinstance(masks, (list, tuple)) and len(masks) != n:
        raise ValueError(f"got {len(masks)} masks for {n} inputs")
    return masks


class _Merge(MaskedModule):
    """``forward(xs, masks=None)``: ``op`` over the inputs, mask by the merge rule."""

    op: ClassVar[str]

    def __init__(self, strict: bool = False) -> None:
        super().__init__()
        self.strict = check_flag(strict, "strict")

    def extra_repr(self) -> str:
        return f"strict={self.strict}"

    def forward(
        self, xs: Sequence[torch.Tensor], masks: Sequence[Mask] | None = None
    ) -> tuple[torch.Tensor, Mask]:
        """``(values, mask)``: :func:`merge_values`; the mask by :func:`merge_masks` (Keras)
        or, with ``strict=True``, :func:`merge_masks_strict`."""
        masks = _merge_masks_arg(masks, len(xs))
        values, mask = _public.merge_values(self.op, xs, masks)
        return values, _public.merge_masks_strict(masks) if self.strict else mask


class Add(_Merge):
    """``keras.layers.Add``: the sum; mask :func:`merge_masks` (``strict=True``: the strict rule).

    >>> m = torch.tensor([[True, False]])
    >>> Add()([torch.ones(1, 2, 1), torch.ones(1, 2, 1)], [m, None])[1] is None
    True
    >>> Add(strict=True)([torch.ones(1, 2, 1), torch.ones(1, 2, 1)], [m, None])[1]
    tensor([[ True, False]])
    """

    op = "add"


class Subtract(_Merge):
    """``keras.layers.Subtract``: ``xs[0] - xs[1]``; masks as :class:`Add`."""

    op = "subtract"


class Multiply(_Merge):
    """``keras.layers.Multiply``: the product (masked steps included); masks as :class:`Add`."""

    op = "multiply"


class Average(_Merge):
    """``keras.layers.Average``: the mean over the inputs; masks as :class:`Add`."""

    op = "average"


class Maximum(_Merge):
    """``keras.layers.Maximum``: the element-wise max (masked steps included); masks as Add."""

    op = "maximum"


class Minimum(_Merge):
    """``keras.layers.Minimum``: the element-wise min (masked steps included); masks as Add."""

    op = "minimum"


class Concatenate(MaskedModule):
    """``keras.layers.Concatenate(axis)``: ``torch.cat``; the mask by :func:`concatenate_masks`.

    >>> m = torch.tensor([[True, False]])
    >>> Concatenate()([torch.ones(1, 2, 3), torch.ones(1, 2, 4)], [m, None])[1]
    tensor([[True, True]])
    """

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def extra_repr(self) -> str:
        return f"axis={self.axis}"

    def forward(
        self, xs: Sequence[torch.Tensor], masks: Sequence[Mask] | None = None
    ) -> tuple[torch.Tensor, Mask]:
        """``(torch.cat(xs, axis), concatenate_masks(masks, shapes, axis))``."""
        masks = _merge_masks_arg(masks, len(xs))
        mask = _public.concatenate_masks(masks, [tuple(x.shape) for x in xs], self.axis)
        return torch.cat(list(xs), dim=self.axis), mask
