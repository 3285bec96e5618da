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
valid). The tables (:data:`RULES`, :data:`KERAS_LAYER_KINDS`,
:data:`MERGE_OPS`) are shared by every backend.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from .checks import check_choice, check_flag, check_mask_shape, normalize_single_axis
from .core import Backend, frontend
from .masks import apply_mask, as_mask, mask_from_value
from .types import Array, ArrayLike, Scalar

Mask = Array | None


def _fold(op: Callable, xs: list[np.ndarray]) -> np.ndarray:
    """``op`` folded left over ``xs`` into a new array (one input is copied)."""
    return functools.reduce(op, xs[1:], np.array(xs[0], copy=True))


def _as_float(xs: list[np.ndarray]) -> list[np.ndarray]:
    """The inputs in the float dtype of their average (integers: float64), before adding."""
    dtype = np.result_type(*(x.dtype for x in xs), np.float16)
    return [x.astype(dtype) for x in xs]


#: Each merge op on NumPy arrays, folded left to right with NumPy's type promotion (the
#: values of Keras's merge layers at unmasked steps, and the result dtype of every backend).
MERGE_OPS: dict[str, Callable[[list[np.ndarray]], np.ndarray]] = {
    "add": lambda xs: _fold(np.add, xs),
    "subtract": lambda xs: xs[0] - xs[1],
    "multiply": lambda xs: _fold(np.multiply, xs),
    "average": lambda xs: _fold(np.add, _as_float(xs)) / len(xs),
    "maximum": lambda xs: _fold(np.maximum, xs),
    "minimum": lambda xs: _fold(np.minimum, xs),
}

#: Each kind of layer and its rule: ``(input masks, config) -> output mask``.
RULES: dict[str, Callable[..., Mask]] = {
    "propagate": lambda mask: mask,
    "keep": lambda mask: mask,
    "consume": lambda mask: None,
    "destroy": lambda mask: None,
    "attention": lambda query_mask, value_mask=None: query_mask,
}

#: The kinds :func:`flow_mask` takes (one input mask).
FLOW_KINDS = ("propagate", "keep", "consume", "destroy", "attention", "recurrent")

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


def check_merge_dtype(dtype_name: str, name: str) -> None:
    """``TypeError`` unless ``dtype_name`` is an integer or float dtype (bools do not merge)."""
    base = dtype_name.rsplit(".", 1)[-1]
    if not base.startswith(("int", "uint", "float", "bfloat")):
        raise TypeError(f"{name} must hold integers or floats, got dtype {dtype_name}")


@functools.cache
def merge_dtype(op: str, dtype_names: tuple[str, ...]) -> str | None:
    """The result dtype of ``op`` on inputs of ``dtype_names``: NumPy's (int32 + int32 stays
    int32, the average of integers is float64); None when a dtype has no NumPy twin
    (bfloat16): the backend promotes those."""
    try:
        dummies = [np.zeros((0,), np.dtype(name)) for name in dtype_names]
    except TypeError:
        return None
    return str(MERGE_OPS[op](dummies).dtype)


# --- argument helpers ------------------------------------------------------------------------


def _compatible(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def _masks(B: Backend, masks: object, same_shape: bool = True) -> list[Mask]:
    """A list or tuple of boolean masks (None allowed), as the backend's arrays on the first
    tensor's device; with ``same_shape``, of one shape (sizes unknown while tracing match)."""
    if B.a.is_tensor(masks) or not isinstance(masks, (list, tuple)):
        raise TypeError(f"masks must be a list of masks or None, got {type(masks).__name__}")
    like = next((m for m in masks if B.a.is_tensor(m)), None)
    out = [None if m is None else as_mask(B, m, f"masks[{i}]", like) for i, m in enumerate(masks)]
    if same_shape:
        shapes = {tuple(B.a.shape_of(m)) for m in out if m is not None}
        known = {s for s in shapes if None not in s}
        if len(known) > 1 or not all(_compatible(a, b) for a in shapes for b in shapes):
            raise ValueError(f"masks must share one shape, got {sorted(shapes, key=str)}")
    return out


def _shapes(shapes: object, count: int) -> list[tuple[int, ...]]:
    if not isinstance(shapes, (list, tuple)):
        raise TypeError(f"shapes must be a list of shapes, got {type(shapes).__name__}")
    out = []
    for i, shape in enumerate(shapes):
        try:
            out.append(tuple(int(d) for d in shape))
        except (TypeError, ValueError):
            raise TypeError(
                f"shapes[{i}] must be a shape (a tuple of ints), got {shape!r}"
            ) from None
    if len(out) != count:
        raise ValueError(f"got {count} masks for {len(out)} shapes")
    return out


# --- the rules ---------------------------------------------------------------------------------


@frontend
def merge_masks(B: Backend, masks: Sequence[ArrayLike | None]) -> Mask:
    """The mask of ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``, ``Minimum``.

    Rule (Keras 3, exactly): None if *any* input has no mask; otherwise the
    element-wise OR of the masks (a step is valid if it is valid in any
    input). So a skip connection from an unmasked tensor loses the mask, and
    a step padded in one input but not in the other counts as valid.
    :func:`merge_masks_strict` is the rule maskref recommends. ``masks``: a
    list or tuple of boolean masks of one shape, or None.

    >>> merge_masks([np.array([[True, False]]), None]) is None
    True
    >>> merge_masks([np.array([[True, False]]), np.array([[False, False]])])
    array([[ True, False]])
    """
    ms = _masks(B, masks)
    if not ms or any(m is None for m in ms):
        return None
    return B.k.merge_masks(ms)


@frontend
def merge_masks_strict(B: Backend, masks: Sequence[ArrayLike | None]) -> Mask:
    """maskref's merge rule: an input without a mask counts as all-valid; AND of the rest.

    A step is valid only where every masked input is valid (padding in any
    input is padding of the sum), and an unmasked input (a bias, a skip from
    before the mask was made) does not erase the mask. None only when no
    input has a mask. Differs from :func:`merge_masks` (Keras) in both ways.

    >>> merge_masks_strict([np.array([[True, False]]), None])
    array([[ True, False]])
    """
    ms = [m for m in _masks(B, masks) if m is not None]
    return B.k.merge_masks_strict(ms) if ms else None


@frontend
def concatenate_masks(
    B: Backend,
    masks: Sequence[ArrayLike | None],
    shapes: Sequence[tuple[int, ...]],
    axis: int = -1,
) -> Mask:
    """The mask of ``Concatenate(axis)`` for inputs of the given ``shapes``.

    Rule (Keras 3, exactly): None if no input has a mask. Otherwise each
    input's mask is broadcast to the input's full shape (an input without a
    mask is all-True), the broadcast masks are concatenated along ``axis``,
    and the result is ``any`` over the last axis. So on the feature axis the
    output mask is the OR of the input masks (all-True as soon as one input
    is unmasked); on the time axis the masks are concatenated. ``shapes``
    are the inputs' full shapes (tuples of ints); the inputs must fit
    together along ``axis`` (``ValueError``).

    >>> a = np.array([[True, False]])
    >>> concatenate_masks([a, None], [(1, 2, 3), (1, 2, 4)])
    array([[ True,  True]])
    >>> concatenate_masks([a, a], [(1, 2, 3), (1, 2, 3)], axis=1)
    array([[ True, False,  True, False]])
    """
    ms = _masks(B, masks, same_shape=False)
    full_shapes = _shapes(shapes, len(ms))
    if all(m is None for m in ms):
        return None
    ranks = {len(s) for s in full_shapes}
    if len(ranks) != 1:
        raise ValueError(f"the inputs must share one rank, got shapes={full_shapes}")
    ax = normalize_single_axis(axis, ranks.pop())
    for i, (m, shape) in enumerate(zip(ms, full_shapes)):
        if m is None:
            continue
        mshape = tuple(B.a.shape_of(m))
        if None in mshape:  # unknown while tracing
            continue
        padded = mshape + (1,) * (len(shape) - len(mshape))
        try:
            fits = len(mshape) <= len(shape) and np.broadcast_shapes(padded, shape) == shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"masks[{i}] of shape {mshape} cannot be broadcast to its input's shape "
                f"shapes[{i}]={shape}"
            )
    rest = {s[:ax] + s[ax + 1 :] for s in full_shapes}
    if len(rest) != 1:
        raise ValueError(
            f"the inputs of shapes={full_shapes} do not fit together along axis={axis}"
        )
    return B.k.concatenate_masks(ms, full_shapes, ax)


@frontend
def flow_mask(
    B: Backend, kind: str, mask: ArrayLike | None, *, return_sequences: bool = False
) -> Mask:
    """The output mask of a one-input layer of ``kind`` given its input ``mask``.

    ``kind`` is ``"propagate"``, ``"keep"``, ``"consume"``, ``"destroy"``,
    ``"attention"`` (``mask`` is the query's) or ``"recurrent"`` (``"keep"``
    with ``return_sequences``, a bool, else ``"consume"``); the rules are
    :data:`RULES`. ``mask``: a boolean mask or None. Merges and concatenation
    take several masks: :func:`merge_masks`, :func:`concatenate_masks`.

    >>> flow_mask("recurrent", np.array([[True, False]])) is None
    True
    >>> flow_mask("recurrent", np.array([[True, False]]), return_sequences=True)
    array([[ True, False]])
    """
    check_choice("kind", kind, FLOW_KINDS)
    return_sequences = check_flag(return_sequences, "return_sequences")
    if mask is not None:
        mask = as_mask(B, mask)
    if kind == "recurrent":
        kind = "keep" if return_sequences else "consume"
    return RULES[kind](mask)


@frontend
def masking_values(
    B: Backend, x: ArrayLike, mask_value: Scalar | ArrayLike = 0.0
) -> tuple[Array, Array]:
    """``(values, mask)`` of ``Masking(mask_value)``: masked steps zeroed, and the mask.

    Rule: ``mask = mask_from_value(x, mask_value)`` (a step is masked when all
    its features equal ``mask_value``) and ``values = apply_mask(x, mask)``,
    ``where(mask, x, 0)``, as Keras 3's ``Masking`` computes them: an inf or
    NaN masked step gives 0.

    >>> masking_values(np.array([[[1.0], [0.0]]]))
    (array([[[1.],
            [0.]]]), array([[ True, False]]))
    """
    mask = mask_from_value(B, x, mask_value)
    return apply_mask(B, x, mask), mask


@frontend
def merge_values(
    B: Backend, op: str, xs: Sequence[ArrayLike], masks: Sequence[ArrayLike | None]
) -> tuple[Array, Mask]:
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
    one shape; ``subtract`` takes exactly two; ``masks`` has one entry per
    input, each None or a mask of the inputs' leading axes (``ValueError``
    otherwise).

    >>> merge_values("add", [np.ones((1, 2, 1)), np.ones((1, 2, 1))], [None, None])[0]
    array([[[2.],
            [2.]]])
    """
    check_choice("op", op, tuple(MERGE_OPS))
    if B.a.is_tensor(xs) or not isinstance(xs, (list, tuple)):
        raise TypeError(f"xs must be a list of arrays, got {type(xs).__name__}")
    like = next((x for x in xs if B.a.is_tensor(x)), None)
    arrays = [B.a.asarray(x, f"xs[{i}]", like) for i, x in enumerate(xs)]
    for i, x in enumerate(arrays):
        check_merge_dtype(B.a.dtype_name(x), f"xs[{i}]")
    if op == "subtract" and len(arrays) != 2:
        raise ValueError(f"subtract takes exactly 2 inputs (xs), got {len(arrays)}")
    if not arrays:
        raise ValueError("xs must hold at least one input (a merge of nothing has no value)")
    shapes = [tuple(B.a.shape_of(x)) for x in arrays]
    if not all(_compatible(s, shapes[0]) for s in shapes):
        raise ValueError(f"xs must share one shape, got shapes {shapes}")
    ms = _masks(B, masks)
    if len(ms) != len(arrays):
        raise ValueError(f"got {len(ms)} masks for {len(arrays)} inputs")
    for i, m in enumerate(ms):
        if m is not None:
            check_mask_shape(tuple(B.a.shape_of(m)), shapes[0], f"masks[{i}]", "xs[0]")
    dtype = merge_dtype(op, tuple(B.a.dtype_name(x) for x in arrays))
    values = B.k.merge_values(op, arrays, ms, dtype)
    return values, merge_masks(B, ms)
