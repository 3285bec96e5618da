"""The fast path of ``masked_cross_entropy`` in TensorFlow: the cost of Keras's loss.

The plain kernel replaces uncounted logits with ``tf.where`` before
``log_softmax``: one more pass over the ``(N, C)`` logits forward and one more
backward. Here the fused ``SparseSoftmaxCrossEntropyWithLogits`` op (what
``keras.losses.SparseCategoricalCrossentropy`` runs) takes the logits as they
are, under a custom gradient that keeps the guarantees:

* targets of uncounted rows are replaced by 0 before the op; the loss is
  ``where(counted, loss, 0)``;
* an uncounted row holding NaN or inf has a NaN loss and a NaN ``backprop``
  row (a finite loss means a finite row); those rows of ``backprop`` are set
  to 0 (a ``tf.cond``: no extra pass when there are none);
* the gradient is ``backprop · where(counted, dy, 0)``: finite times exactly 0
  on every uncounted row, whatever ``dy`` holds.

Gate (:func:`applies`): float32/float64 logits, ``from_logits=True``, no label
smoothing. Works eagerly, in ``tf.function`` and under XLA.
"""

from __future__ import annotations

import tensorflow as tf


def applies(logits: tf.Tensor, label_smoothing: float, from_logits: bool) -> bool:
    """True when :func:`nll` serves the call."""
    return from_logits and not label_smoothing and logits.dtype in (tf.float32, tf.float64)


def nll(logits: tf.Tensor, targets: tf.Tensor, keep: tf.Tensor) -> tf.Tensor:
    """``-log_softmax(logits)[y]`` per step where ``keep``, 0 elsewhere, shape ``targets``'s
    (``targets`` already 0 where not kept)."""
    shape = tf.shape(targets)
    flat_targets = tf.reshape(targets, [-1])
    flat_keep = tf.reshape(keep, [-1])
    classes = tf.shape(logits)[-1]

    @tf.custom_gradient
    def run(x: tf.Tensor):
        loss, backprop = tf.raw_ops.SparseSoftmaxCrossEntropyWithLogits(
            features=x, labels=flat_targets
        )
        bad = tf.logical_and(tf.logical_not(flat_keep), tf.math.is_nan(loss))
        backprop = tf.cond(
            tf.reduce_any(bad),
            lambda: tf.where(bad[:, None], tf.zeros_like(backprop), backprop),
            lambda: backprop,
        )

        def grad(dy: tf.Tensor) -> tf.Tensor:
            return backprop * tf.where(flat_keep, dy, tf.zeros_like(dy))[:, None]

        return tf.where(flat_keep, loss, tf.zeros_like(loss)), grad

    return tf.reshape(run(tf.reshape(logits, tf.stack([-1, classes]))), shape)
