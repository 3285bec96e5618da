"""Mask-convention kernels in TensorFlow (the conventions table, the rules and the checks are the
front ends', :mod:`maskref.api.conventions`)."""

from __future__ import annotations

import tensorflow as tf


def _keep_from(mask: tf.Tensor, convention: str, threshold: float) -> tf.Tensor:
    if convention == "keep":
        return tf.identity(mask)
    if convention == "drop":
        return tf.logical_not(mask)
    if convention == "int":
        return tf.equal(mask, tf.ones([], mask.dtype))
    # NumPy compares with the Python threshold rounded to the mask's dtype (NEP 50)
    return tf.greater(mask, tf.constant(threshold, mask.dtype))


def convert_mask(
    mask: tf.Tensor, source: str, target: str, dtype: str, threshold: float
) -> tf.Tensor:
    """``dtype`` may be a ``tf.DType`` (``tf.bfloat16``: ``additive_min`` writes
    ``tf.bfloat16.min``). The value checks (an ``int`` mask holding anything but 0 and 1,
    NaN in an additive mask) raise ``ValueError`` eagerly and are assertions inside
    ``tf.function``, which XLA (``jit_compile=True``) does not run.

    >>> convert_mask(tf.constant([0.0, -1e9]), "additive", "drop").numpy()
    array([False,  True])
    """
    keep = _keep_from(mask, source, threshold)
    if target == "keep":
        return keep
    if target == "drop":
        return tf.logical_not(keep)
    out = tf.as_dtype(dtype)
    if target == "int":
        return tf.cast(keep, out)
    masked = float("-inf") if target == "additive" else out.min
    return tf.where(keep, tf.zeros([], out), tf.constant(masked, out))
