"""Mask kernels in TensorFlow (rules and checks: the front ends, :mod:`maskref.api.masks`).

Every kernel works inside ``tf.function`` and under XLA; sizes unknown while
tracing are read from the tensors' dynamic shapes.
"""

from __future__ import annotations

import warnings
from typing import Any, cast

import numpy as np
import tensorflow as tf

from ._backend import after_checks, require
from ._convert import cast_fill, np_dtype


def sequence_mask(lengths: tf.Tensor, maxlen: int | tf.Tensor, padding: str) -> tf.Tensor:
    """Unlike ``tf.sequence_mask``, float lengths are a ``TypeError`` and negative ones a
    ``ValueError`` (an assertion inside ``tf.function``), and ``padding="pre"`` puts the
    valid steps last. ``maxlen`` may be an integer scalar tensor in graph mode.

    >>> sequence_mask(tf.constant([1, 2]), maxlen=3, padding="pre").numpy()
    array([[False, False,  True],
           [False,  True,  True]])
    """
    width = tf.cast(maxlen, tf.int64)
    lengths = tf.cast(lengths, tf.int64)[..., None]
    steps = tf.range(width, dtype=tf.int64)
    return steps < lengths if padding == "post" else steps >= width - lengths


def lengths_from_mask(mask: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(tf.cast(mask, tf.int64), axis=-1)


def _is_nan(value: object) -> bool:
    """The reference's test for ``mask_value=NaN`` (Python, NumPy or eager scalars)."""
    if isinstance(value, float) and np.isnan(value):
        return True
    return bool(np.ndim(cast(Any, value)) == 0 and np.isnan(np.asarray(value, dtype=float)))


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
            target = np.result_type(np_dtype(x.dtype), cast(Any, value))
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


def mask_from_value(x: tf.Tensor, mask_value: object) -> tf.Tensor:
    """Compared with NumPy's promotion rules; ``mask_value`` may be a scalar tensor, also
    inside ``tf.function``."""
    if isinstance(mask_value, (tf.Tensor, tf.Variable)):
        differs = _not_equal_symbolic(x, tf.convert_to_tensor(mask_value))
    elif isinstance(mask_value, np.ndarray) and mask_value.ndim == 1:
        columns = [_differs(x[..., i], v[()]) for i, v in enumerate(mask_value)]
        differs = tf.stack(columns, -1) if columns else tf.zeros_like(x, dtype=tf.bool)
    else:
        differs = _differs(x, mask_value)
    return tf.reduce_any(differs, axis=-1)


def _differs(x: tf.Tensor, value: object) -> tf.Tensor:
    return _nan_differs(x) if _is_nan(value) else _not_equal(x, value)


def mask_from_ids(ids: tf.Tensor, pad_id: int) -> tf.Tensor:
    """A ``pad_id`` outside the ids' dtype range masks nothing; works in ``tf.function``."""
    if not ids.dtype.min <= pad_id <= ids.dtype.max:
        return tf.ones_like(ids, dtype=tf.bool)
    return tf.not_equal(ids, tf.constant(pad_id, ids.dtype))


def expand_mask(mask: tf.Tensor, x: object, shape: tuple[int | None, ...]) -> tf.Tensor:
    """Inside ``tf.function``, sizes unknown at trace time are checked by an assertion.

    >>> expand_mask(tf.constant([[True, False]]), tf.zeros((1, 2, 3))).shape
    TensorShape([1, 2, 3])
    """
    rank = len(mask.shape)
    if isinstance(x, (tf.Tensor, tf.Variable)):
        dynamic = tf.shape(x)
        if None in mask.shape or None in shape[:rank]:
            require(
                tf.reduce_all(tf.equal(tf.shape(mask), dynamic[:rank])),
                lambda: ValueError(f"mask shape must be a leading prefix of x shape {shape}"),
                "mask shape must be a leading prefix of x shape",
            )
            mask = after_checks(mask)  # assert before broadcasting
    else:
        dynamic = tf.constant(shape, tf.int32)
    keep = tf.reshape(mask, tf.concat([tf.shape(mask), tf.ones([len(shape) - rank], tf.int32)], 0))
    keep = tf.broadcast_to(keep, dynamic)
    keep.set_shape(shape)
    return keep


def apply_mask(x: tf.Tensor, mask: tf.Tensor, fill: object) -> tf.Tensor:
    """``tf.where``, never a multiplication: NaN and inf at masked steps never reach the
    result, and the gradient with respect to ``x`` is exactly 0 there (finite everywhere).
    ``tf.string`` data take a string ``fill``.

    >>> apply_mask(tf.constant([[1.0, np.nan], [3.0, 4.0]]), [True, False]).numpy()
    array([[ 1., nan],
           [ 0.,  0.]], dtype=float32)
    """
    keep = expand_mask(mask, x, tuple(x.shape.as_list()))
    return tf.where(keep, x, cast_fill(fill, x.dtype, "fill", allow_string=True))
