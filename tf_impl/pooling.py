"""Masked global pooling layers for Keras 3: the mask is honoured and consumed.

``keras.layers.GlobalMaxPooling1D`` takes no mask, so padded steps take part
in its max. These layers read the mask Keras passes them (from
``Embedding(mask_zero=True)``, ``Masking`` or an explicit ``mask=``), pool
with :func:`masked_mean` / :func:`masked_max` over the time axis, and return
no mask.
"""

from __future__ import annotations

import keras
import tensorflow as tf

import tf_impl as _public  # the public functions, read at call time


class _MaskedGlobalPooling1D(keras.layers.Layer):
    def __init__(self, keepdims: bool = False, empty: object = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.keepdims = keepdims
        self.empty = empty
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None  # the mask is consumed

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0], 1, input_shape[2])
        return (input_shape[0], input_shape[2])

    def get_config(self) -> dict:
        return {**super().get_config(), "keepdims": self.keepdims, "empty": self.empty}

    def _pool(self, x, mask):  # pragma: no cover - overridden
        raise NotImplementedError

    def call(self, inputs, mask=None):
        x = tf.convert_to_tensor(inputs)
        if mask is None:
            mask = tf.ones(tf.shape(x)[:2], dtype=tf.bool)
        return self._pool(x, tf.cast(mask, tf.bool))


@keras.saving.register_keras_serializable(package="maskref")
class MaskedGlobalAveragePooling1D(_MaskedGlobalPooling1D):
    """Mean over the valid time steps of ``(B, T, D)`` data: ``masked_mean(x, mask, axis=1)``.

    A row with no valid step gives ``empty`` (default NaN, as Keras's own
    ``GlobalAveragePooling1D``). Padded values, NaN included, never reach
    the result or the gradient.

    >>> layer = MaskedGlobalAveragePooling1D()
    >>> layer(tf.constant([[[1.0], [3.0], [float("nan")]]]), mask=tf.constant([[1, 1, 0]]) > 0)
    <tf.Tensor: shape=(1, 1), dtype=float32, numpy=array([[2.]], dtype=float32)>
    """

    def _pool(self, x, mask):
        empty = float("nan") if self.empty is None else self.empty
        return _public.masked_mean(x, mask, axis=1, keepdims=self.keepdims, empty=empty)


@keras.saving.register_keras_serializable(package="maskref")
class MaskedGlobalMaxPooling1D(_MaskedGlobalPooling1D):
    """Max over the valid time steps of ``(B, T, D)`` data: ``masked_max(x, mask, axis=1)``.

    Unlike ``keras.layers.GlobalMaxPooling1D``, padded steps never win the
    max. A row with no valid step gives ``empty`` (default ``-inf``).

    >>> layer = MaskedGlobalMaxPooling1D()
    >>> layer(tf.constant([[[1.0], [1e6]]]), mask=tf.constant([[True, False]]))
    <tf.Tensor: shape=(1, 1), dtype=float32, numpy=array([[1.]], dtype=float32)>
    """

    def _pool(self, x, mask):
        return _public.masked_max(x, mask, axis=1, keepdims=self.keepdims, empty=self.empty)
