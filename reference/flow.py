"""Mask flow: how a mask travels from layer to layer, as pure functions of masks.

Keras attaches a mask to a tensor when a layer creates one (``Masking``,
``Embedding(mask_zero=True)``) and every later layer decides what happens to
it. maskref names the choices (the *kinds* of :data:`RULES`) and writes each
as a function of the input masks, so that ``tf_impl`` (checking Keras) and
``torch_impl`` (threading masks through PyTorch modules) apply one rule:

============  ==============================================================
kind          output mask
============  ==============================================================
create        built from the values (``mask_from_value``, ``mask_from_ids``)
propagate     the input mask, unchanged (``Dense``, ``Dropout``, activations)
consume       None: the layer used the mask (``GlobalAveragePooling1D``, a
              recurrent layer without ``return_sequences``)
keep          the input mask (a recurrent layer with ``return_sequences``)
attention     the query's mask (``MultiHeadAttention``, ``Attention``)
merge         :func:`merge_masks` (``Add``, ``Multiply``, ...)
concatenate   :func:`concatenate_masks`
destroy       None, and Keras warns if a mask arrived (a layer that does not
              support masking: ``Conv1D``, ``Flatten``, ``GlobalMaxPooling1D``,
              a custom layer without ``supports_masking``)
============  ==============================================================

A mask is boolean ``(B, T)`` (``True`` = valid), or None (no mask: every step
valid).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

import reference as _public  # the public functions (bound at package import)
from maskref.api.checks import check_choice, check_mask_dtype, normalize_single_axis

__all__ = [
    "concatenate_masks",
    "flow_mask",
    "masking_values",
    "merge_masks",
    "merge_masks_strict",
    "merge_values",
]

Mask = np.ndarray | None


def _masks(masks: Sequence[object], same_shape: bool = True) -> list[Mask]:
    if isinstance(masks, np.ndarray) or not isinstance(masks, (list, tuple)):
        raise TypeError(f"masks must be a list of masks or None, got {type(masks).__name__}")
    out = []
    for i, m in enumerate(masks):
        if m is None:
            out.append(None)
            continue
        arr = np.asarray(m)
        check_mask_dtype(str(arr.dtype), f"masks[{i}]")
        out.append(arr)
    shapes = {m.shape for m in out if m is not None}
    if same_shape and len(shapes) > 1:
        raise ValueError(f"masks must share one shape, got {sorted(shapes)}")
    return out


def merge_masks(masks: Sequence[object]) -> Mask:
    """The mask of ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``, ``Minimum``.

    Rule (Keras 3, exactly): None if *any* input has no mask; otherwise the
    element-wise OR of the masks (a step is valid if it is valid in any
    input). So a skip connection from an unmasked tensor loses the mask, and
    a step padded in one input but not in the other counts as valid.
    :func:`merge_masks_strict` is the rule maskref recommends.

    >>> merge_masks([np.array([[True, False]]), None]) is None
    True
    >>> merge_masks([np.array([[True, False]]), np.array([[False, False]])])
    array([[ True, False]])
    """
    ms = _masks(masks)
    if not ms or any(m is None for m in ms):
        return None
    return np.logical_or.reduce(ms)


def merge_masks_strict(masks: Sequence[object]) -> Mask:
    """maskref's merge rule: an input without a mask counts as all-valid; AND of the rest.

    A step is valid only where every masked input is valid (padding in any
    input is padding of the sum), and an unmasked input (a bias, a skip from
    before the mask was made) does not erase the mask. None only when no
    input has a mask. Differs from :func:`merge_masks` (Keras) in both ways.

    >>> merge_masks_strict([np.array([[True, False]]), None])
    array([[ True, False]])
    """
    ms = [m for m in _masks(masks) if m is not None]
    return np.logical_and.reduce(ms) if ms else None


def concatenate_masks(
    masks: Sequence[object], shapes: Sequence[tuple[int, ...]], axis: int = -1
) -> Mask:
    """The mask of ``Concatenate(axis)`` for inputs of the given ``shapes``.

    Rule (Keras 3, exactly): None if no input has a mask. Otherwise each
    input's mask is broadcast to the input's full shape (an input without a
    mask is all-True), the broadcast masks are concatenated along ``axis``,
    and the result is ``any`` over the last axis. So on the feature axis the
    output mask is the OR of the input masks (all-True as soon as one input
    is unmasked); on the time axis the masks are concatenated.

    >>> a = np.array([[True, False]])
    >>> concatenate_masks([a, None], [(1, 2, 3), (1, 2, 4)])
    array([[ True,  True]])
    >>> concatenate_masks([a, a], [(1, 2, 3), (1, 2, 3)], axis=1)
    array([[ True, False,  True, False]])
    """
    ms = _masks(masks, same_shape=False)
    shapes = [tuple(s) for s in shapes]
    if len(shapes) != len(ms):
        raise ValueError(f"got {len(ms)} masks for {len(shapes)} shapes")
    if all(m is None for m in ms):
        return None
    ranks = {len(s) for s in shapes}
    if len(ranks) != 1:
        raise ValueError(f"the inputs must share one rank, got shapes {shapes}")
    ax = normalize_single_axis(axis, ranks.pop())
    full = []
    for m, shape in zip(ms, shapes):
        if m is None:
            full.append(np.ones(shape, bool))
        elif m.ndim < len(shape):
            full.append(np.broadcast_to(m.reshape(m.shape + (1,) * (len(shape) - m.ndim)), shape))
        else:
            full.append(m)
    return np.concatenate(full, axis=ax).any(axis=-1)


#: Each kind of layer and its rule: ``(input masks, config) -> output mask``.
RULES: dict[str, Callable[..., Mask]] = {
    "propagate": lambda mask: mask,
    "keep": lambda mask: mask,
    "consume": lambda mask: None,
    "destroy": lambda mask: None,
    "attention": lambda query_mask, value_mask=None: query_mask,
    "merge": merge_masks,
}

#: Keras layers by kind, as Keras 3.15 implements them (each checked by a conformance
#: case). Recurrent layers are "keep" with ``return_sequences=True``, else "consume".
KERAS_LAYER_KINDS: dict[str, str] = {
    "Masking": "create",
    "Embedding": "create",  # with mask_zero=True; "destroy" of nothing otherwise
    "Dense": "propagate",
    "Dropout": "propagate",
    "Activation": "propagate",
    "LayerNormalization": "propagate",
    "TimeDistributed": "propagate",
    "GlobalAveragePooling1D": "consume",
    "GlobalMaxPooling1D": "destroy",
    "Conv1D": "destroy",
    "Flatten": "destroy",
    "MultiHeadAttention": "attention",
    "Attention": "attention",
    "Add": "merge",
    "Subtract": "merge",
    "Multiply": "merge",
    "Average": "merge",
    "Maximum": "merge",
    "Minimum": "merge",
    "Concatenate": "concatenate",
    "LSTM": "recurrent",
    "GRU": "recurrent",
    "SimpleRNN": "recurrent",
    "Bidirectional": "recurrent",
}


def flow_mask(kind: str, mask: object, *, return_sequences: bool = False) -> Mask:
    """The output mask of a one-input layer of ``kind`` given its input ``mask``.

    ``kind`` is ``"propagate"``, ``"keep"``, ``"consume"``, ``"destroy"``,
    ``"attention"`` (``mask`` is the query's) or ``"recurrent"`` (``"keep"``
    with ``return_sequences``, else ``"consume"``). Merges and concatenation
    take several masks: :func:`merge_masks`, :func:`concatenate_masks`.

    >>> flow_mask("recurrent", np.array([[True, False]])) is None
    True
    """
    check_choice(
        "kind", kind, ("propagate", "keep", "consume", "destroy", "attention", "recurrent")
    )
    if mask is not None:
        mask = np.asarray(mask)
        check_mask_dtype(str(mask.dtype))
    if kind == "recurrent":
        kind = "keep" if return_sequences else "consume"
    return RULES[kind](mask)


def masking_values(x: object, mask_value: object = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``(values, mask)`` of ``Masking(mask_value)``: masked steps zeroed, and the mask.

    Rule: ``mask = _public.mask_from_value(x, mask_value)`` (a step is masked when all
    its features equal ``mask_value``) and ``values = where(mask, x, 0)``, as
    Keras 3's ``Masking`` computes them.

    >>> masking_values(np.array([[[1.0], [0.0]]]))
    (array([[[1.],
            [0.]]]), array([[ True, False]]))
    """
    mask = _public.mask_from_value(x, mask_value)
    return _public.apply_mask(x, mask), mask


def _fold(op: Callable, xs: list[np.ndarray]) -> np.ndarray:
    """``op`` folded left over ``xs`` into a new array (one input is copied)."""
    return functools.reduce(op, xs[1:], np.array(xs[0], copy=True))


def _as_float(xs: list[np.ndarray]) -> list[np.ndarray]:
    """The inputs in the float dtype of their average (integers: float64), before adding."""
    dtype = np.result_type(*(x.dtype for x in xs), np.float16)
    return [x.astype(dtype) for x in xs]


MERGE_OPS: dict[str, Callable[[list[np.ndarray]], np.ndarray]] = {
    "add": lambda xs: _fold(np.add, xs),
    "subtract": lambda xs: xs[0] - xs[1],
    "multiply": lambda xs: _fold(np.multiply, xs),
    "average": lambda xs: _fold(np.add, _as_float(xs)) / len(xs),
    "maximum": lambda xs: _fold(np.maximum, xs),
    "minimum": lambda xs: _fold(np.minimum, xs),
}


def merge_values(op: str, xs: Sequence[object], masks: Sequence[object]) -> tuple[np.ndarray, Mask]:
    """``(values, mask)`` of a Keras merge layer: ``op`` element-wise, mask by :func:`merge_masks`.

    Rule (Keras 3, exactly), folded left to right with NumPy's type
    promotion (int32 + int32 stays int32; ``average`` divides, so integers
    give float64); the mask is :func:`merge_masks` of ``masks``:

    * ``add``, ``subtract``, ``average``: the op at every step, masked or not
      (padding of one input is added to the other's valid step; the average
      divides by the number of inputs).
    * ``multiply``: a masked step of a masked input counts as 1; if every
      input has a mask, a step masked in all of them is 0.
    * ``maximum``/``minimum``: a masked step of either side of each fold
      takes the other side's value, so a step masked in every input keeps
      the first input's value.

    The inputs hold integers or floats (``TypeError`` for bools) and share
    one shape; ``subtract`` takes exactly two;
    ``masks`` has one entry per input (``ValueError`` otherwise).

    >>> merge_values("add", [np.ones((1, 2, 1)), np.ones((1, 2, 1))], [None, None])[0]
    array([[[2.],
            [2.]]])
    """
    check_choice("op", op, tuple(MERGE_OPS))
    arrays = [np.asarray(x) for x in xs]
    for i, x in enumerate(arrays):
        check_merge_dtype(x.dtype.name, f"xs[{i}]")
    if op == "subtract" and len(arrays) != 2:
        raise ValueError(f"subtract takes exactly 2 inputs, got {len(arrays)}")
    if not arrays:
        raise ValueError("a merge needs at least one input")
    if len({x.shape for x in arrays}) > 1:
        raise ValueError(f"the inputs must share one shape, got shapes {[x.shape for x in arrays]}")
    ms = _masks(masks)
    if len(ms) != len(arrays):
        raise ValueError(f"got {len(ms)} masks for {len(arrays)} inputs")
    mask = merge_masks(ms)
    if op in ("add", "subtract", "average") or all(m is None for m in ms):
        return MERGE_OPS[op](arrays), mask
    dtype = MERGE_OPS[op](arrays).dtype
    full = [None if m is None else _broadcast_mask(m, x) for m, x in zip(ms, arrays)]
    arrays = [x.astype(dtype) for x in arrays]
    if op == "multiply":
        return _masked_product(arrays, full, dtype), mask
    return _masked_extreme(np.maximum if op == "maximum" else np.minimum, arrays, full), mask


def check_merge_dtype(dtype_name: str, name: str) -> None:
    """``TypeError`` unless ``dtype_name`` is an integer or float dtype (bools do not merge)."""
    base = dtype_name.rsplit(".", 1)[-1]
    if not base.startswith(("int", "uint", "float", "bfloat")):
        raise TypeError(f"{name} must hold integers or floats, got dtype {dtype_name}")


def _broadcast_mask(mask: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A ``(B, T)`` mask broadcast to ``x``'s ``(B, T, ...)`` shape."""
    if mask.ndim > x.ndim or mask.shape != x.shape[: mask.ndim]:
        raise ValueError(f"mask shape {mask.shape} must be a leading prefix of x shape {x.shape}")
    return np.broadcast_to(mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim)), x.shape)


def _masked_product(xs: list[np.ndarray], masks: list, dtype: np.dtype) -> np.ndarray:
    """Keras's ``Multiply``: masked steps of a masked input count as 1; when every input
    has a mask, steps masked in all of them are 0."""
    factors = [x if m is None else np.where(m, x, dtype.type(1)) for x, m in zip(xs, masks)]
    out = _fold(np.multiply, factors)
    if all(m is not None for m in masks):
        out = np.where(np.logical_or.reduce(masks), out, dtype.type(0))
    return out.astype(dtype)


def _masked_extreme(op: Callable, xs: list[np.ndarray], masks: list) -> np.ndarray:
    """Keras's ``Maximum``/``Minimum``, folded left: a masked step of either side takes the
    other side's value; a step masked in every input keeps the first input's value."""
    out, out_mask = xs[0], masks[0]
    for x, m in zip(xs[1:], masks[1:]):
        if m is not None:
            x = np.where(m, x, out)
        if out_mask is not None:
            out = np.where(out_mask, out, x)
        out_mask = out_mask | m if m is not None and out_mask is not None else None
        out = op(out, x)
    return out
