"""Boolean masks in TensorFlow: from lengths, values and ids; applying and expanding them.

Mirrors :mod:`reference.masks` (the rules are stated there). Masks are
``tf.bool`` tensors, ``True`` = valid, whose shape is a leading prefix of the
data's shape. Python arguments are validated by the reference's own helpers
(:mod:`reference._checks`), so the errors are the reference's.
"""

from __future__ import annotations

import warnings

import numpy as np
import tensorflow as tf

from maskref.api.checks import (
    PADDING_SIDES,
    check_choice,
    check_integer_dtype,
    check_mask_dtype,
    check_mask_shape,
    check_min_rank,
    check_scalar,
)

from ._convert import (
    as_tensor,
    cast_fill,
    eager,
    np_dtype,
    python_errors,
    require,
    static_shape,
    with_checks,
)
from .padding import _maxlen

__all__ = [
    "apply_mask",
    "expand_mask",
    "lengths_from_mask",
    "mask_from_ids",
    "mask_from_value",
    "sequence_mask",
]


def as_mask(mask: object, name: str = "mask") -> tf.Tensor:
    """Mirrors ``reference.masks.as_mask``: ``mask`` as a tensor; non-bool is a ``TypeError``.

    >>> as_mask([True, False]).dtype
    tf.bool
    """
    t = as_tensor(mask, name)
    check_mask_dtype(t.dtype.name, name)
    return t


@python_errors
def sequence_mask(lengths: object, maxlen: int | None = None, padding: str = "post") -> tf.Tensor:
    """Mirrors ``reference.sequence_mask`` (rule stated there): a mask from per-row lengths.

    Unlike ``tf.sequence_mask``, float lengths are a ``TypeError`` and negative
    ones a ``ValueError`` (an assertion inside ``tf.function``), and
    ``padding="pre"`` puts the valid steps last. ``lengths``: integer tensor,
    array or list of any shape; the result is ``tf.bool`` of shape
    ``lengths.shape + (maxlen,)``. ``maxlen`` may be an integer scalar tensor
    in graph mode.

    >>> sequence_mask(tf.constant([1, 2]), maxlen=3, padding="pre").numpy()
    array([[False, False,  True],
           [False,  True,  True]])
    """
    check_choice("padding", padding, PADDING_SIDES)
    maxlen, checks = _maxlen(maxlen)
    lengths = as_tensor(lengths, "lengths")
    check_integer_dtype(lengths.dtype.name, "lengths")
    lengths = tf.cast(lengths, tf.int64)
    flat = tf.concat([tf.reshape(lengths, [-1]), tf.zeros([1], tf.int64)], 0)
    lowest = tf.reduce_min(flat)
    checks += require(
        lowest >= 0,
        lambda: ValueError(f"lengths must be non-negative, got {int(lowest)}"),
        "lengths must be non-negative",
    )
    lengths = with_checks(lengths, checks)  # graph mode: assert before use
    if maxlen is None:
        maxlen = tf.reduce_max(flat)
        maxlen = int(maxlen) if eager() else maxlen
    width = tf.cast(maxlen, tf.int64)
    steps = tf.range(width, dtype=tf.int64)
    lengths = lengths[..., None]
    return steps < lengths if padding == "post" else steps >= width - lengths


@python_errors
def lengths_from_mask(mask: object) -> tf.Tensor:
    """Mirrors ``reference.lengths_from_mask`` (rule stated there): valid steps per row.

    ``mask``: a ``tf.bool`` tensor (or bool array/list) with at least one axis;
    returns ``tf.int64`` of shape ``mask.shape[:-1]``. Holes count.

    >>> lengths_from_mask(tf.constant([[True, True, False], [False, False, False]])).numpy()
    array([2, 0])
    """
    mask = as_mask(mask)
    check_min_rank(static_shape(mask, "mask"), 1, "mask")
    return tf.reduce_sum(tf.cast(mask, tf.int64), axis=-1)


def _is_nan(value: object) -> bool:
    """The reference's test for ``mask_value=NaN`` (Python, NumPy or eager scalars)."""
    if isinstance(value, float) and np.isnan(value):
        return True
    return bool(np.ndim(value) == 0 and np.isnan(np.asarray(value, dtype=float)))


def _nan_differs(x: tf.Tensor) -> tf.Tensor:
    """Per feature: not NaN (non-float data is never NaN)."""
    if x.dtype.is_floating:
        return tf.logical_not(tf.math.is_nan(x))
    return tf.ones_like(x, dtype=tf.bool)


def _not_equal(x: tf.Tensor, value: object) -> tf.Tensor:
    """``x != value`` with NumPy's promotion: Python scalars are weak, others strong.

    So ``float16`` data is compared with ``0.1`` rounded to float16, integer data
    with a float value in float64, and an integer value out of the data's range
    differs from every element (NumPy 2's value-based comparison).
    """
    weak = type(value) in (bool, int, float)
    try:
        if weak:
            target = np.result_type(np_dtype(x.dtype), value)
        else:
            value = np.asarray(value)
            target = np.result_type(np_dtype(x.dtype), value.dtype)
        target_tf = tf.as_dtype(target)
    except (TypeError, ValueError, OverflowError):  # a TF-only dtype: compare in x's dtype
        target, target_tf = None, x.dtype
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            if target is None:
                const = tf.cast(tf.constant(np.asarray(value, dtype=np.float64)), x.dtype)
            else:
                const = tf.constant(
                    np.asarray(value).astype(target) if not weak else np.array(value, dtype=target)
                )
        except OverflowError:  # an int no element of x can equal
            return tf.ones_like(x, dtype=tf.bool)
    return tf.not_equal(tf.cast(x, target_tf), const)


def _not_equal_symbolic(x: tf.Tensor, value: tf.Tensor) -> tf.Tensor:
    """``mask_from_value``'s per-feature test for a symbolic scalar ``mask_value``."""
    if not (value.dtype.is_bool or value.dtype.is_integer or value.dtype.is_floating):
        raise TypeError(f"mask_value must be a scalar number, got {value!r}")
    try:
        target = tf.as_dtype(np.result_type(np_dtype(x.dtype), np_dtype(value.dtype)))
    except (TypeError, ValueError):
        target = x.dtype
    differs = tf.not_equal(tf.cast(x, target), tf.cast(value, target))
    if value.dtype.is_floating:
        differs = tf.where(tf.math.is_nan(value), _nan_differs(x), differs)
    return differs


@python_errors
def mask_from_value(x: object, mask_value: object = 0.0) -> tf.Tensor:
    """Mirrors ``reference.mask_from_value`` (rule stated there): the ``Masking`` layer's mask.

    ``mask = any(x != mask_value, axis=-1)``, compared with NumPy's promotion
    rules; ``mask_value=NaN`` masks the steps whose features are all NaN
    (Keras's ``Masking(NaN)`` masks nothing). ``x``: a numeric or bool tensor,
    array or list with at least one axis; the result is ``tf.bool`` with one
    axis less. ``mask_value`` may be a scalar tensor, also inside ``tf.function``.

    >>> mask_from_value(tf.constant([[[1.0, 2.0], [0.0, 0.0]]])).numpy()
    array([[ True, False]])
    """
    x = as_tensor(x, "x")
    check_min_rank(static_shape(x, "x"), 1, "x")
    check_scalar(mask_value, "mask_value")
    if not (x.dtype.is_bool or x.dtype.is_integer or x.dtype.is_floating):
        raise TypeError(f"x must hold numbers or bools, got dtype {x.dtype.name}")
    if isinstance(mask_value, (tf.Tensor, tf.Variable)) and not eager():
        differs = _not_equal_symbolic(x, tf.convert_to_tensor(mask_value))
    elif _is_nan(mask_value):
        differs = _nan_differs(x)
    else:
        differs = _not_equal(x, mask_value)
    return tf.reduce_any(differs, axis=-1)


@python_errors
def mask_from_ids(ids: object, pad_id: int = 0) -> tf.Tensor:
    """Mirrors ``reference.mask_from_ids`` (rule stated there): ``ids != pad_id``.

    ``ids``: an integer tensor, array or list (float ids are a ``TypeError``);
    ``pad_id``: a Python or NumPy int (one outside the ids' dtype range masks
    nothing). Returns ``tf.bool`` of ``ids``'s shape; works in ``tf.function``.

    >>> mask_from_ids(tf.constant([[5, 3, 0, 0]])).numpy()
    array([[ True,  True, False, False]])
    """
    ids = as_tensor(ids, "ids")
    check_integer_dtype(ids.dtype.name, "ids")
    if isinstance(pad_id, bool) or not isinstance(pad_id, (int, np.integer)):
        raise TypeError(f"pad_id must be an int, got {pad_id!r}")
    pad = int(pad_id)
    if not ids.dtype.min <= pad <= ids.dtype.max:
        return tf.ones_like(ids, dtype=tf.bool)
    return tf.not_equal(ids, tf.constant(pad, ids.dtype))


def _shape_of(x: object) -> tuple[tuple[int | None, ...], tf.Tensor | None]:
    """Static shape of ``x`` (tensor, array or list) and its dynamic shape if a tensor."""
    if isinstance(x, (tf.Tensor, tf.Variable)):
        return static_shape(tf.convert_to_tensor(x), "x"), tf.shape(x)
    if isinstance(x, (tf.RaggedTensor, tf.SparseTensor)):
        raise TypeError(f"x must be a dense tensor, array or list, got a {type(x).__name__}")
    return tuple(np.shape(x)), None


@python_errors
def expand_mask(mask: object, x: object) -> tf.Tensor:
    """Mirrors ``reference.expand_mask`` (rule stated there): ``mask`` broadcast to ``x``'s shape.

    ``mask``: ``tf.bool`` whose shape is a leading prefix of ``x``'s
    (``ValueError`` otherwise; ``TypeError`` for a non-bool mask). ``x``: a
    tensor, array or list (only its shape is read). Inside ``tf.function``,
    sizes unknown at trace time are checked by an assertion.

    >>> expand_mask(tf.constant([[True, False]]), tf.zeros((1, 2, 3))).shape
    TensorShape([1, 2, 3])
    """
    mask = as_mask(mask)
    mask_shape = static_shape(mask, "mask")
    shape, dynamic = _shape_of(x)
    check_mask_shape(mask_shape, shape)
    checks: list = []
    extra = len(shape) - len(mask_shape)
    if dynamic is None:
        dynamic = tf.constant(shape, tf.int32)
    elif None in mask_shape or None in shape[: len(mask_shape)]:
        same = tf.reduce_all(tf.equal(tf.shape(mask), dynamic[: len(mask_shape)]))
        checks = require(
            same,
            lambda: ValueError(f"mask shape must be a leading prefix of x shape {shape}"),
            "mask shape must be a leading prefix of x shape",
        )
    mask = with_checks(mask, checks)  # graph mode: assert before broadcasting
    keep = tf.reshape(mask, tf.concat([tf.shape(mask), tf.ones([extra], tf.int32)], 0))
    keep = tf.broadcast_to(keep, dynamic)
    keep.set_shape(shape)
    return keep


@python_errors
def apply_mask(x: object, mask: object, fill: object = 0) -> tf.Tensor:
    """Mirrors ``reference.apply_mask`` (rule stated there): masked steps replaced by ``fill``.

    ``tf.where(expand_mask(mask, x), x, fill)``, never a multiplication: NaN
    and inf at masked steps never reach the result, and the gradient with
    respect to ``x`` is exactly 0 there (finite everywhere). ``fill`` is cast
    to ``x``'s dtype by the lossless-cast rule (``NaN`` into integer data is a
    ``ValueError``). ``x``: tensor, array or list (``tf.string`` data takes a
    string ``fill``); the result is a tensor of ``x``'s dtype.

    >>> apply_mask(tf.constant([[1.0, np.nan], [3.0, 4.0]]), [True, False]).numpy()
    array([[ 1., nan],
           [ 0.,  0.]], dtype=float32)
    """
    x = as_tensor(x, "x")
    keep = expand_mask(mask, x)
    value = cast_fill(fill, x.dtype, "fill", allow_string=True)
    return tf.where(keep, x, value)
