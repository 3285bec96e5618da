"""Mask flow in Keras 3: the mask-flow kernels on ``tf.Tensor`` masks, and tools.

The rules and checks are the front ends' (:mod:`maskref.api.flow`); masks are
``tf.bool`` tensors (or None). On top of them, what only Keras has:

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
from collections.abc import Callable
from typing import Any, cast

import keras
import numpy as np
import tensorflow as tf

from maskref.api.checks import check_mask_dtype, check_mask_shape
from maskref.api.flow import KERAS_LAYER_KINDS
from maskref.api.masks import as_mask as _as_mask

from ._backend import BACKEND
from .pooling import MaskedGlobalAveragePooling1D, MaskedGlobalMaxPooling1D

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
            cast(Any, x)._keras_mask = mask


def _fold(fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor], xs: list[tf.Tensor]) -> tf.Tensor:
    out = xs[0]
    for x in xs[1:]:  # in order, as NumPy's reduction over the stacked axis 0
        out = fn(out, x)
    return out


def merge_masks(masks: list[tf.Tensor]) -> tf.Tensor:
    """The OR of ``tf.bool`` masks (shapes unknown while tracing are taken as given).

    >>> merge_masks([tf.constant([[True, False]]), tf.constant([[False, False]])]).numpy()
    array([[ True, False]])
    """
    return _fold(tf.logical_or, masks)


def merge_masks_strict(masks: list[tf.Tensor]) -> tf.Tensor:
    return _fold(tf.logical_and, masks)


def _broadcast(mask: tf.Tensor, shape: tuple[int, ...]) -> tf.Tensor:
    """A leading-prefix mask broadcast to ``shape``."""
    extra = len(shape) - mask.shape.rank
    keep = tf.reshape(mask, tf.concat([tf.shape(mask), tf.ones([extra], tf.int32)], 0))
    return tf.broadcast_to(keep, shape)


def concatenate_masks(
    masks: list[tf.Tensor | None], shapes: list[tuple[int, ...]], axis: int
) -> tf.Tensor:
    """``shapes`` are the inputs' full static shapes, as Keras's ``compute_mask`` knows them.

    >>> a = tf.constant([[True, False]])
    >>> concatenate_masks([a, a], [(1, 2, 3), (1, 2, 3)], axis=1).numpy()
    array([[ True, False,  True, False]])
    """
    full = [tf.ones(s, tf.bool) if m is None else _broadcast(m, s) for m, s in zip(masks, shapes)]
    return tf.reduce_any(tf.concat(full, axis=axis), axis=-1)


def _mean(xs: list[tf.Tensor], dtype: tf.DType) -> tf.Tensor:
    """``np.mean(xs, axis=0)``: float16 accumulates in float32, integers in float64."""
    acc = tf.float32 if dtype in (tf.float16, tf.bfloat16) else dtype
    total = _fold(tf.add, [tf.cast(x, acc) for x in xs])
    return tf.cast(total / tf.cast(len(xs), acc), dtype)


_OPS: dict[str, Callable[[list[tf.Tensor]], tf.Tensor]] = {
    "add": lambda xs: _fold(tf.add, xs),
    "subtract": lambda xs: tf.subtract(xs[0], xs[1]),
    "multiply": lambda xs: _fold(tf.multiply, xs),
    "maximum": lambda xs: _fold(tf.maximum, xs),
    "minimum": lambda xs: _fold(tf.minimum, xs),
}


def merge_values(
    op: str, xs: list[tf.Tensor], masks: list[tf.Tensor | None], dtype: str | None
) -> tf.Tensor:
    """Masked steps of ``multiply``, ``maximum`` and ``minimum`` are replaced before the op
    (``tf.where``), with NumPy's result dtypes (bfloat16 inputs stay bfloat16).

    >>> values, mask = merge_values("add", [tf.ones((1, 2, 1)), tf.ones((1, 2, 1))], [None, None])
    >>> values.numpy().ravel(), mask
    (array([2., 2.], dtype=float32), None)
    """
    target = tf.as_dtype(dtype) if dtype is not None else xs[0].dtype
    if op == "average":
        return _mean(xs, target)
    tensors = [tf.cast(x, target) for x in xs]
    if op in ("add", "subtract") or all(m is None for m in masks):
        return _OPS[op](tensors)
    full = [None if m is None else _mask_like(m, t) for m, t in zip(masks, tensors)]
    if op == "multiply":
        return _masked_product(tensors, full)
    return _masked_extreme(tf.maximum if op == "maximum" else tf.minimum, tensors, full)


def _mask_like(mask: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
    """A ``(B, T)`` mask broadcast to ``x``'s ``(B, T, ...)`` shape."""
    extra = x.shape.rank - mask.shape.rank
    return tf.broadcast_to(
        tf.reshape(mask, tf.concat([tf.shape(mask), [1] * extra], 0)) if extra else mask,
        tf.shape(x),
    )


def _masked_product(xs: list[tf.Tensor], masks: list) -> tf.Tensor:
    """Keras's ``Multiply``: masked steps of a masked input count as 1; when every input has
    a mask, steps masked in all of them are 0."""
    one = tf.ones((), xs[0].dtype)
    factors = [x if m is None else tf.where(m, x, one) for x, m in zip(xs, masks)]
    out = _fold(tf.multiply, factors)
    if all(m is not None for m in masks):
        out = tf.where(_fold(tf.logical_or, masks), out, tf.zeros((), out.dtype))
    return out


def _masked_extreme(op: Callable, xs: list[tf.Tensor], masks: list) -> tf.Tensor:
    """Keras's ``Maximum``/``Minimum``, folded left: a masked step of either side takes the
    other side's value; a step masked in every input keeps the first input's value."""
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
            mask = _as_mask(BACKEND, mask)
        check_mask_dtype(tf.as_dtype(cast(Any, mask).dtype).name)
        check_mask_shape(
            tuple(cast(Any, mask).shape), tuple(cast(Any, tensor).shape), "mask", "tensor"
        )
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
        flag = "destroyed" if layer and not cast(Any, op).supports_masking else "dropped"
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
        outputs = cast(Any, op)(*args, **kwargs)
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
