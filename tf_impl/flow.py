"""Mask flow in Keras 3: the rules of :mod:`reference.flow` on ``tf.Tensor`` masks, and tools.

Mirrors :mod:`reference.flow` (the rules are stated there): :func:`merge_masks`,
:func:`merge_masks_strict`, :func:`concatenate_masks`, :func:`flow_mask`,
:func:`masking_values` and :func:`merge_values` take and return ``tf.bool``
masks (or None) and give the reference's results and errors. On top of that:

* :func:`get_mask` / :func:`set_mask`: the mask Keras keeps on a tensor
  (``_keras_mask``; Keras 3 has no public reader).
* :class:`PropagatingLayer`, :class:`TransformingLayer`, :class:`ConsumingLayer`:
  the three honest choices for a custom layer (a plain ``keras.layers.Layer``
  destroys an incoming mask, with a warning).
* :func:`explain_masks`: runs a Sequential or functional model and reports,
  layer by layer, the mask each layer received and returned, flagging where
  a mask was destroyed or silently dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

import tf_impl as _public  # the public functions (bound at package import)
from maskref.api.checks import (
    check_choice,
    check_mask_dtype,
    check_mask_shape,
    normalize_single_axis,
)
from reference.flow import KERAS_LAYER_KINDS, check_merge_dtype
from reference.flow import MERGE_OPS as _REFERENCE_MERGE_OPS

from ._convert import as_tensor, python_errors, static_shape
from .pooling import MaskedGlobalAveragePooling1D, MaskedGlobalMaxPooling1D

__all__ = [
    "KERAS_LAYER_KINDS",
    "RULES",
    "ConsumingLayer",
    "LayerMasks",
    "MaskExplanation",
    "MaskSummary",
    "PropagatingLayer",
    "TransformingLayer",
    "concatenate_masks",
    "explain_masks",
    "flow_mask",
    "get_mask",
    "masking_values",
    "merge_masks",
    "merge_masks_strict",
    "merge_values",
    "set_mask",
]

Mask = tf.Tensor | None

try:  # Keras's own reader/writer (it also knows its fallback dict for objects without attributes)
    from keras.src.backend import get_keras_mask as _get_keras_mask
    from keras.src.backend import set_keras_mask as _set_keras_mask
except ImportError:  # pragma: no cover - another Keras 3 layout: the attribute itself

    def _get_keras_mask(x: object) -> object:
        return getattr(x, "_keras_mask", None)

    def _set_keras_mask(x: object, mask: object) -> None:
        if mask is None:
            if hasattr(x, "_keras_mask"):
                del x._keras_mask
        else:
            x._keras_mask = mask


def _bool_tensor(mask: object, name: str) -> tf.Tensor:
    t = as_tensor(mask, name)
    check_mask_dtype(t.dtype.name, name)
    return t


def _masks(masks: Sequence[object], same_shape: bool = True) -> list[Mask]:
    """Mirrors the reference's check: a list/tuple of bool masks or None, one shared shape."""
    if isinstance(masks, (np.ndarray, tf.Tensor)) or not isinstance(masks, (list, tuple)):
        raise TypeError(f"masks must be a list of masks or None, got {type(masks).__name__}")
    out = [None if m is None else _bool_tensor(m, f"masks[{i}]") for i, m in enumerate(masks)]
    shapes = {static_shape(m, "mask") for m in out if m is not None}
    if same_shape and len(shapes) > 1:
        known = {s for s in shapes if None not in s}
        compatible = all(
            len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))
            for a in shapes
            for b in shapes
        )
        if not compatible or len(known) > 1:
            raise ValueError(f"masks must share one shape, got {sorted(shapes, key=str)}")
    return out


@python_errors
def merge_masks(masks: Sequence[object]) -> Mask:
    """Mirrors ``reference.merge_masks`` (rule stated there): Keras's mask of ``Add`` & co.

    None if any input has no mask, else the element-wise OR. ``masks``: a list
    or tuple of ``tf.bool`` tensors (arrays, lists) of one shape, or None.

    >>> merge_masks([tf.constant([[True, False]]), tf.constant([[False, False]])]).numpy()
    array([[ True, False]])
    >>> merge_masks([tf.constant([[True, False]]), None]) is None
    True
    """
    ms = _masks(masks)
    if not ms or any(m is None for m in ms):
        return None
    out = ms[0]
    for m in ms[1:]:
        out = tf.logical_or(out, m)
    return out


@python_errors
def merge_masks_strict(masks: Sequence[object]) -> Mask:
    """Mirrors ``reference.merge_masks_strict`` (rule stated there): AND of the masks given.

    An input without a mask counts as all-valid; None only when no input has
    a mask. Keras's merge layers use :func:`merge_masks` instead.

    >>> merge_masks_strict([tf.constant([[True, False]]), None]).numpy()
    array([[ True, False]])
    """
    ms = [m for m in _masks(masks) if m is not None]
    if not ms:
        return None
    out = ms[0]
    for m in ms[1:]:
        out = tf.logical_and(out, m)
    return out


@python_errors
def concatenate_masks(
    masks: Sequence[object], shapes: Sequence[tuple[int, ...]], axis: int = -1
) -> Mask:
    """Mirrors ``reference.concatenate_masks`` (rule stated there): ``Concatenate(axis)``'s mask.

    Each mask broadcast to its input's shape (all-True for None), concatenated
    along ``axis``, then ``any`` over the last axis; None if no input has a
    mask. ``shapes`` are the inputs' full static shapes (tuples of ints).

    >>> a = tf.constant([[True, False]])
    >>> concatenate_masks([a, None], [(1, 2, 3), (1, 2, 4)]).numpy()
    array([[ True,  True]])
    >>> concatenate_masks([a, a], [(1, 2, 3), (1, 2, 3)], axis=1).numpy()
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
            full.append(tf.ones(shape, tf.bool))
        elif m.shape.rank < len(shape):
            extra = len(shape) - m.shape.rank
            keep = tf.reshape(m, tf.concat([tf.shape(m), tf.ones([extra], tf.int32)], 0))
            full.append(tf.broadcast_to(keep, shape))
        else:
            full.append(m)
    return tf.reduce_any(tf.concat(full, axis=ax), axis=-1)


#: Each kind of layer and its rule: ``(input masks, config) -> output mask`` (as the reference).
RULES: dict[str, Callable[..., Mask]] = {
    "propagate": lambda mask: mask,
    "keep": lambda mask: mask,
    "consume": lambda mask: None,
    "destroy": lambda mask: None,
    "attention": lambda query_mask, value_mask=None: query_mask,
    "merge": merge_masks,
}


@python_errors
def flow_mask(kind: str, mask: object, *, return_sequences: bool = False) -> Mask:
    """Mirrors ``reference.flow_mask`` (rule stated there): a one-input layer's output mask.

    ``kind``: ``"propagate"``, ``"keep"``, ``"consume"``, ``"destroy"``,
    ``"attention"`` or ``"recurrent"`` (``"keep"`` with ``return_sequences``,
    else ``"consume"``). ``mask``: a ``tf.bool`` tensor or None.

    >>> flow_mask("recurrent", tf.constant([[True, False]]), return_sequences=True).numpy()
    array([[ True, False]])
    """
    check_choice(
        "kind", kind, ("propagate", "keep", "consume", "destroy", "attention", "recurrent")
    )
    if mask is not None:
        mask = as_tensor(mask, "mask")
        check_mask_dtype(mask.dtype.name)
    if kind == "recurrent":
        kind = "keep" if return_sequences else "consume"
    return RULES[kind](mask)


@python_errors
def masking_values(x: object, mask_value: object = 0.0) -> tuple[tf.Tensor, tf.Tensor]:
    """Mirrors ``reference.masking_values`` (rule stated there): ``Masking``'s values and mask.

    ``mask = _public.mask_from_value(x, mask_value)`` and ``values = where(mask, x, 0)``,
    so an inf or NaN masked step gives 0 and the gradient there is exactly 0.
    ``keras.layers.Masking`` in Keras 3.15 also zeroes with ``where`` (tested).

    >>> values, mask = masking_values(tf.constant([[[1.0], [0.0]]]))
    >>> values.numpy().ravel(), mask.numpy()
    (array([1., 0.], dtype=float32), array([[ True, False]]))
    """
    mask = _public.mask_from_value(x, mask_value)
    return _public.apply_mask(x, mask), mask


def _fold(fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor], xs: list[tf.Tensor]) -> tf.Tensor:
    out = xs[0]
    for x in xs[1:]:  # in order, as NumPy's reduction over the stacked axis 0
        out = fn(out, x)
    return out


def _mean(xs: list[tf.Tensor], dtype: tf.DType) -> tf.Tensor:
    """``np.mean(xs, axis=0)``: float16 accumulates in float32, integers in float64."""
    acc = tf.float32 if dtype == tf.float16 else dtype
    total = _fold(tf.add, [tf.cast(x, acc) for x in xs])
    return tf.cast(total / tf.cast(len(xs), acc), dtype)


MERGE_OPS: dict[str, Callable[[list[tf.Tensor], tf.DType], tf.Tensor]] = {
    "add": lambda xs, dt: _fold(tf.add, [tf.cast(x, dt) for x in xs]),
    "subtract": lambda xs, dt: tf.subtract(tf.cast(xs[0], dt), tf.cast(xs[1], dt)),
    "multiply": lambda xs, dt: _fold(tf.multiply, [tf.cast(x, dt) for x in xs]),
    "average": _mean,
    "maximum": lambda xs, dt: _fold(
        tf.logical_or if dt == tf.bool else tf.maximum, [tf.cast(x, dt) for x in xs]
    ),
    "minimum": lambda xs, dt: _fold(
        tf.logical_and if dt == tf.bool else tf.minimum, [tf.cast(x, dt) for x in xs]
    ),
}


def _merge_dtype(op: str, tensors: list[tf.Tensor]) -> tf.DType:
    """NumPy's result dtype (or its ``TypeError``) for ``op``, read off empty arrays."""
    dummies = [np.zeros((0,), t.dtype.as_numpy_dtype) for t in tensors]
    return tf.as_dtype(_REFERENCE_MERGE_OPS[op](dummies).dtype)


@python_errors
def merge_values(op: str, xs: Sequence[object], masks: Sequence[object]) -> tuple[tf.Tensor, Mask]:
    """Mirrors ``reference.merge_values`` (rule stated there): a Keras merge's values and mask.

    Values and mask by Keras's rule (masked steps of ``multiply``,
    ``maximum`` and ``minimum`` are replaced before the op), with NumPy's
    result dtypes; the inputs share one shape (``ValueError``).

    >>> values, mask = merge_values("add", [tf.ones((1, 2, 1)), tf.ones((1, 2, 1))], [None, None])
    >>> values.numpy().ravel(), mask
    (array([2., 2.], dtype=float32), None)
    """
    check_choice("op", op, tuple(MERGE_OPS))
    tensors = [as_tensor(x, f"xs[{i}]") for i, x in enumerate(xs)]
    for i, t in enumerate(tensors):
        check_merge_dtype(t.dtype.name, f"xs[{i}]")
    if op == "subtract" and len(tensors) != 2:
        raise ValueError(f"subtract takes exactly 2 inputs, got {len(tensors)}")
    if not tensors:
        raise ValueError("a merge needs at least one input")
    shapes = [static_shape(t, f"xs[{i}]") for i, t in enumerate(tensors)]
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"the inputs must share one shape, got shapes {shapes}")
    dtype = _merge_dtype(op, tensors)
    values = MERGE_OPS[op](tensors, dtype)
    ms = _masks(masks)
    if len(ms) != len(tensors):
        raise ValueError(f"got {len(ms)} masks for {len(tensors)} inputs")
    mask = merge_masks(ms)
    if op in ("add", "subtract", "average") or all(m is None for m in ms):
        return values, mask
    tensors = [tf.cast(t, dtype) for t in tensors]
    full = [None if m is None else _mask_like(m, t) for m, t in zip(ms, tensors)]
    if op == "multiply":
        return _masked_product(tensors, full), mask
    bools = dtype == tf.bool
    if op == "maximum":
        extreme = tf.logical_or if bools else tf.maximum
    else:
        extreme = tf.logical_and if bools else tf.minimum
    return _masked_extreme(extreme, tensors, full), mask


def _mask_like(mask: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
    """A ``(B, T)`` mask broadcast to ``x``'s ``(B, T, ...)`` shape."""
    check_mask_shape(static_shape(mask, "mask"), static_shape(x, "x"))
    extra = x.shape.rank - mask.shape.rank
    return tf.broadcast_to(
        tf.reshape(mask, tf.concat([tf.shape(mask), [1] * extra], 0)) if extra else mask,
        tf.shape(x),
    )


def _masked_product(xs: list[tf.Tensor], masks: list) -> tf.Tensor:
    """Mirrors the reference's ``_masked_product`` (Keras's ``Multiply``)."""
    one = tf.ones((), xs[0].dtype)
    factors = [x if m is None else tf.where(m, x, one) for x, m in zip(xs, masks)]
    out = _fold(tf.logical_and if xs[0].dtype == tf.bool else tf.multiply, factors)
    if all(m is not None for m in masks):
        out = tf.where(_fold(tf.logical_or, masks), out, tf.zeros((), out.dtype))
    return out


def _masked_extreme(op: Callable, xs: list[tf.Tensor], masks: list) -> tf.Tensor:
    """Mirrors the reference's ``_masked_extreme`` (Keras's ``Maximum``/``Minimum``)."""
    out, out_mask = xs[0], masks[0]
    for x, m in zip(xs[1:], masks[1:]):
        if m is not None:
            x = tf.where(m, x, out)
        if out_mask is not None:
            out = tf.where(out_mask, out, x)
        out_mask = out_mask | m if m is not None and out_mask is not None else None
        out = op(out, x)
    return out


# Reading and attaching Keras masks ---------------------------------------------------------


def get_mask(tensor: object) -> object:
    """The mask Keras attached to ``tensor`` (``_keras_mask``), or None.

    Works on eager tensors and on symbolic ``KerasTensor``s. A new tensor made
    by a plain op (``x * 2``, ``tf.concat``) has no mask; ``model.predict``
    returns NumPy arrays, which have none either.

    >>> emb = keras.layers.Embedding(5, 2, mask_zero=True)
    >>> get_mask(emb(tf.constant([[3, 0]]))).numpy()
    array([[ True, False]])
    >>> get_mask(tf.zeros((1, 2))) is None
    True
    """
    return _get_keras_mask(tensor)


def set_mask(tensor: object, mask: object) -> object:
    """Attach ``mask`` to ``tensor`` as Keras does, and return ``tensor`` (not a copy).

    ``mask``: bool, with a shape that is a leading prefix of ``tensor``'s
    (``TypeError`` / ``ValueError`` otherwise, the reference's checks), or
    None to remove the mask. The next Keras layer called on ``tensor`` reads
    it. This sets an attribute on the tensor object: the values never change.

    >>> x = set_mask(tf.zeros((1, 2, 3)), tf.constant([[True, False]]))
    >>> keras.layers.GlobalAveragePooling1D().compute_mask(x, get_mask(x)) is None
    True
    >>> get_mask(x).numpy()
    array([[ True, False]])
    """
    if mask is not None:
        if not isinstance(mask, keras.KerasTensor):
            mask = _bool_tensor(mask, "mask")
        check_mask_dtype(tf.as_dtype(mask.dtype).name)
        check_mask_shape(tuple(mask.shape), tuple(tensor.shape), "mask", "tensor")
    _set_keras_mask(tensor, mask)
    return tensor


# Base classes for custom layers --------------------------------------------------------------


class PropagatingLayer(keras.layers.Layer):
    """A custom layer whose output mask is its input mask, unchanged.

    For layers that work step by step (the tutorial's ``supports_masking =
    True``): subclass and write ``call(self, inputs)``. Keras passes the mask
    on; the values at padded steps are computed like any other.

    >>> class Double(PropagatingLayer):
    ...     def call(self, inputs):
    ...         return inputs * 2.0
    >>> y = Double()(keras.layers.Masking()(tf.constant([[[1.0], [0.0]]])))
    >>> get_mask(y).numpy()
    array([[ True, False]])
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True


class TransformingLayer(keras.layers.Layer):
    """A custom layer that computes its output mask: implement ``compute_mask``.

    Subclass and write ``call`` and ``compute_mask(self, inputs, mask=None)``
    (``mask`` is the incoming mask, or None); Keras attaches what
    ``compute_mask`` returns to the output. A subclass that forgets
    ``compute_mask`` fails on its first call instead of dropping the mask.

    >>> class Shift(TransformingLayer):
    ...     def call(self, inputs):
    ...         return tf.pad(inputs[:, 1:], [[0, 0], [0, 1], [0, 0]])
    ...     def compute_mask(self, inputs, mask=None):
    ...         return None if mask is None else tf.pad(mask[:, 1:], [[0, 0], [0, 1]])
    >>> y = Shift()(keras.layers.Masking()(tf.constant([[[1.0], [2.0], [0.0]]])))
    >>> get_mask(y).numpy()
    array([[ True, False, False]])
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs: object, mask: object = None) -> object:
        raise NotImplementedError(
            f"{type(self).__name__} derives from TransformingLayer and must implement "
            "compute_mask(self, inputs, mask=None)"
        )


class ConsumingLayer(keras.layers.Layer):
    """A custom layer that uses the mask in ``call`` and returns no mask.

    Subclass and write ``call(self, inputs, mask=None)`` with exactly one
    tensor argument (Keras fills ``mask`` automatically only then); ``mask``
    is None when the input has none. The output has no mask and Keras gives
    no warning. (A ``call`` that returns ``inputs`` itself keeps the mask
    attached: Keras's masks live on tensor objects.)

    >>> class MaskedSum(ConsumingLayer):
    ...     def call(self, inputs, mask=None):
    ...         if mask is not None:
    ...             inputs = tf.where(mask[..., None], inputs, tf.zeros_like(inputs))
    ...         return tf.reduce_sum(inputs, axis=1)
    >>> x = keras.layers.Masking(mask_value=-1.0)(tf.constant([[[1.0], [-1.0], [2.0]]]))
    >>> y = MaskedSum()(x)
    >>> y.numpy(), get_mask(y)
    (array([[3.]], dtype=float32), None)
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs: object, mask: object = None) -> None:
        return None


# explain_masks -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MaskSummary:
    """A mask in a report: its shape and how many of its entries are valid."""

    shape: tuple[int, ...]
    valid: int

    def __str__(self) -> str:
        return f"{self.shape} {self.valid}/{int(np.prod(self.shape))} valid"


def _summary(mask: object) -> object:
    """None, a :class:`MaskSummary`, or a tuple of them for a list of masks."""
    if mask is None:
        return None
    if isinstance(mask, (list, tuple)):
        return tuple(_summary(m) for m in mask)
    arr = np.asarray(mask)
    return MaskSummary(tuple(arr.shape), int(np.count_nonzero(arr)))


def _has_mask(summary: object) -> bool:
    if isinstance(summary, tuple):
        return any(_has_mask(s) for s in summary)
    return summary is not None


def _text(summary: object) -> str:
    if isinstance(summary, tuple):
        return "[" + ", ".join(_text(s) for s in summary) + "]"
    return "None" if summary is None else str(summary)


@dataclasses.dataclass(frozen=True)
class LayerMasks:
    """One layer of :func:`explain_masks`: the masks it received and returned.

    ``flag`` is None, ``"destroyed"`` (a mask came in, none came out, and the
    layer does not support masking: Keras warned) or ``"dropped"`` (a mask
    came in and none came out without a warning, from a layer that is not a
    consumer: a merge with an unmasked input, a plain op, a ``compute_mask``
    that returned None). ``explicit`` is True when the mask came as a ``mask=``
    argument (baked into a functional graph by Keras, or passed by hand)
    rather than from the input tensor's ``_keras_mask``.
    """

    name: str
    class_name: str
    kind: str
    mask_in: object
    mask_out: object
    flag: str | None
    explicit: bool = False

    def __str__(self) -> str:
        flag = f"  <- mask {self.flag.upper()}" if self.flag else ""
        given = " (mask=)" if self.explicit else ""
        return (
            f"{self.name} ({self.class_name}, {self.kind}): in {_text(self.mask_in)}{given}; "
            f"out {_text(self.mask_out)}{flag}"
        )


class MaskExplanation(list):
    """The list of :class:`LayerMasks` of :func:`explain_masks`; ``str()`` gives a table."""

    @property
    def flagged(self) -> list[str]:
        """Names of the layers where a mask was destroyed or dropped."""
        return [r.name for r in self if r.flag]

    def __str__(self) -> str:
        rows = [("layer", "class", "kind", "mask in", "mask out", "flag")]
        rows += [
            (
                r.name,
                r.class_name,
                r.kind,
                _text(r.mask_in) + (" (mask=)" if r.explicit else ""),
                _text(r.mask_out),
                r.flag or "",
            )
            for r in self
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(6)]
        return "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows
        )

    def print(self) -> None:
        print(str(self))


_CONSUMING = (
    ConsumingLayer,
    keras.layers.GlobalAveragePooling1D,
    MaskedGlobalAveragePooling1D,
    MaskedGlobalMaxPooling1D,
)


def _kind(op: object) -> str:
    """The reference kind of a layer (KERAS_LAYER_KINDS, then what the layer declares)."""
    if not isinstance(op, keras.layers.Layer):
        return "op"
    if isinstance(op, _CONSUMING):
        return "consume"
    kind = KERAS_LAYER_KINDS.get(type(op).__name__)
    if kind == "recurrent":
        return "keep" if getattr(op, "return_sequences", False) else "consume"
    if kind is not None:
        return kind
    if isinstance(op, PropagatingLayer):
        return "propagate"
    if isinstance(op, TransformingLayer):
        return "transform"
    if not op.supports_masking:
        return "destroy"
    overridden = type(op).compute_mask is not keras.layers.Layer.compute_mask
    return "transform" if overridden else "propagate"


def _received(args: tuple, kwargs: dict) -> object:
    """The mask Keras hands the layer: ``mask=`` if given, else the first argument's mask(s)."""
    received = kwargs.get("mask")
    if received is None and args:
        received = tf.nest.map_structure(get_mask, args[0])
    return received


def _record(op: object, mask_in: object, outputs: object, explicit: bool) -> LayerMasks:
    mask_out = _summary(tf.nest.map_structure(get_mask, outputs))
    kind = _kind(op)
    flag = None
    if _has_mask(mask_in) and not _has_mask(mask_out) and kind != "consume":
        layer = isinstance(op, keras.layers.Layer)
        flag = "destroyed" if layer and not op.supports_masking else "dropped"
    name = getattr(op, "name", type(op).__name__)
    return LayerMasks(name, type(op).__name__, kind, mask_in, mask_out, flag, explicit)


def explain_masks(model: keras.Model, inputs: object) -> MaskExplanation:
    """Run ``model`` on ``inputs`` eagerly and report the masks layer by layer.

    Each record (:class:`LayerMasks`) holds the layer's name, class and kind
    (a kind of :data:`KERAS_LAYER_KINDS`, or what a custom layer declares),
    the mask it received (shape and number of valid entries; a list for
    merges) and the mask on its output, and a flag where a mask was
    destroyed (by a layer that does not support masking) or silently
    dropped. ``print(explain_masks(...))`` shows a table.

    Sequential models are run layer by layer; functional models node by node
    through the model's own graph, so branches, merges and the masks Keras
    baked into the graph are seen as ``model(inputs)`` sees them. Plain ops
    in a functional graph appear only when a mask reached them. Subclassed
    models are refused (``TypeError``): their ``call`` is opaque.

    >>> model = keras.Sequential([keras.Input((3,), dtype="int32"),
    ...                           keras.layers.Embedding(5, 2, mask_zero=True, name="emb"),
    ...                           keras.layers.GlobalAveragePooling1D(name="pool")])
    >>> print(explain_masks(model, tf.constant([[1, 2, 0]])))
    layer  class                   kind     mask in           mask out          flag
    emb    Embedding               create   None              (1, 3) 2/3 valid
    pool   GlobalAveragePooling1D  consume  (1, 3) 2/3 valid  None
    """
    records = MaskExplanation()

    def call(op: object, *args: object, **kwargs: object) -> object:
        received = _summary(_received(args, kwargs))  # before: MultiHeadAttention clears them
        outputs = op(*args, **kwargs)
        if isinstance(op, keras.layers.Layer) or _has_mask(received):
            explicit = kwargs.get("mask") is not None
            records.append(_record(op, received, outputs, explicit))
        return outputs

    if isinstance(model, keras.Sequential):
        x = inputs
        for layer in model.layers:
            x = call(layer, x)
        return records
    run = getattr(model, "_run_through_graph", None)
    if run is None or not hasattr(model, "_nodes_by_depth"):
        raise TypeError(
            f"explain_masks takes a Sequential or functional Keras model, got "
            f"{type(model).__name__} (a subclassed model's call cannot be walked)"
        )
    standardize = getattr(model, "_standardize_inputs", None)
    flat = standardize(inputs) if standardize else tf.nest.flatten(inputs)
    run(flat, call_fn=call)
    return records
