"""Mask conventions in TensorFlow: exact conversions between ``keep``, ``drop``, ``int`` and biases.

Mirrors :mod:`reference.conventions` (the conventions table and the rules are
stated there). :func:`mask_convention` is the reference's own function (pure
Python); :func:`convert_mask` takes and returns ``tf.Tensor`` data.
"""

from __future__ import annotations

import tensorflow as tf

from reference.conventions import (
    ADDITIVE_THRESHOLD,
    bad_int_value_error,
    check_source_dtype,
    check_threshold,
    mask_convention,
    nan_additive_error,
    target_dtype_name,
)

from ._convert import _first_bad, as_tensor, python_errors, require, resolve_dtype, with_checks

__all__ = ["convert_mask", "mask_convention"]


def _keep_from(mask: tf.Tensor, convention: str, threshold: float) -> tuple[tf.Tensor, list]:
    """The ``keep`` mask and the data-dependent checks (graph mode) of reading ``mask``."""
    if convention == "keep":
        return mask, []
    if convention == "drop":
        return tf.logical_not(mask), []
    if convention == "int":
        zero, one = tf.zeros([], mask.dtype), tf.ones([], mask.dtype)
        bad = tf.logical_and(tf.not_equal(mask, zero), tf.not_equal(mask, one))
        checks = require(
            tf.logical_not(tf.reduce_any(bad)),
            lambda: bad_int_value_error(_first_bad(mask, bad)),
            "mask in convention 'int' must hold only 0 and 1",
        )
        return tf.equal(mask, one), checks
    checks = require(
        tf.logical_not(tf.reduce_any(tf.math.is_nan(mask))),
        nan_additive_error,
        "mask is an additive mask holding NaN, which is neither kept nor masked",
    )
    # NumPy compares with the Python threshold rounded to the mask's dtype (NEP 50)
    return tf.greater(mask, tf.constant(threshold, mask.dtype)), checks


def _from_keep(keep: tf.Tensor, convention: str, dtype: tf.DType) -> tf.Tensor:
    if convention == "keep":
        return keep
    if convention == "drop":
        return tf.logical_not(keep)
    if convention == "int":
        return tf.cast(keep, dtype)
    masked = float("-inf") if convention == "additive" else dtype.min
    return tf.where(keep, tf.zeros([], dtype), tf.constant(masked, dtype))


@python_errors
def convert_mask(
    mask: object,
    source: str,
    target: str,
    *,
    dtype: object = None,
    threshold: float = ADDITIVE_THRESHOLD,
) -> tf.Tensor:
    """Mirrors ``reference.convert_mask`` (rule stated there): ``mask`` from ``source`` to ``target``.

    ``mask``: a tensor, array or list; the result is a ``tf.Tensor`` of the
    same shape. ``dtype``: a name, ``np.dtype`` or ``tf.DType``; ``bfloat16``
    is a float dtype like the others (``additive_min`` writes ``tf.bfloat16.min``).
    An additive mask is compared with ``threshold`` rounded to its dtype, as
    NumPy does. The data-dependent checks (an ``int`` mask holding anything
    but 0 and 1, NaN in an additive mask) raise ``ValueError`` eagerly and
    are assertions inside ``tf.function`` (not run under ``jit_compile=True``:
    XLA drops assertions); ``threshold`` is a Python number.

    >>> convert_mask(tf.constant([1, 0]), "transformers", "additive").numpy()
    array([  0., -inf], dtype=float32)
    >>> convert_mask(tf.constant([0.0, -1e9]), "additive", "drop").numpy()
    array([False,  True])
    """  # noqa: E501
    src = mask_convention(source).convention
    dst = mask_convention(target).convention
    t = as_tensor(mask, "mask")
    threshold = check_threshold(threshold)
    check_source_dtype(src, t.dtype.name)
    wanted = None if dtype is None else resolve_dtype(dtype).name
    out_dtype = tf.as_dtype(target_dtype_name(dst, wanted, t.dtype.name))
    keep, checks = _keep_from(t, src, threshold)
    return with_checks(_from_keep(keep, dst, out_dtype), checks)
