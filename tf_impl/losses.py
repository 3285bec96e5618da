"""Loss kernels in TensorFlow (rules and checks: the front ends, :mod:`maskref.api.losses`),
and the Keras classes that use them.

Uncounted logits, targets and weights are replaced with ``tf.where`` before any
arithmetic, so the gradient is exactly 0 there; ``masked_cross_entropy`` and
``accumulated_loss`` take a fast path for float32/float64 logits
(:mod:`tf_impl._fast_losses`, the fused op Keras's own loss runs) with the same
guarantees. Every kernel works inside ``tf.function`` and under XLA: the range
check of the counted targets is then an assertion, which XLA drops; a counted
target out of ``[0, C)`` then gives its step a NaN loss, never a silent number.
"""

from __future__ import annotations

import keras
import tensorflow as tf

import tf_impl as _public  # the public functions, read at call time
from maskref.api.losses import KERAS_EPSILON, cross_entropy_options, token_mean_class, work_dtype

from . import _fast_losses
from ._backend import BACKEND

__all__ = ["MaskedAccuracy", "MaskedSparseCategoricalCrossentropy", "TokenMean"]

TokenMean = token_mean_class(BACKEND)


def _work(x: tf.Tensor) -> tf.DType:
    return tf.as_dtype(work_dtype(x.dtype.name))


def _ratio(num: tf.Tensor, den: tf.Tensor, empty: str, dtype: tf.DType) -> tf.Tensor:
    """``num / den``, or ``empty`` where ``den`` is 0."""
    ok = den != tf.zeros_like(den)
    safe = tf.where(ok, den, tf.ones_like(den))
    fill = tf.zeros_like(num) if empty == "zero" else tf.fill(tf.shape(num), float("nan"))
    return tf.cast(tf.where(ok, num / safe, tf.cast(fill, num.dtype)), dtype)


def _finish(num: tf.Tensor, den: tf.Tensor | None, empty: str, dtype: tf.DType) -> tf.Tensor:
    return tf.cast(num, dtype) if den is None else _ratio(num, den, empty, dtype)


def _reduce(
    loss: tf.Tensor, weight: tf.Tensor, counted: tf.Tensor, reduction: str
) -> tuple[tf.Tensor, tf.Tensor | None]:
    """The numerator and the denominator of ``reduction`` (``loss`` and ``weight`` are 0
    wherever ``counted`` is False)."""
    if reduction == "sum":
        return tf.reduce_sum(loss), None
    if reduction == "keras":
        return tf.reduce_sum(loss), tf.reduce_sum(tf.cast(counted, loss.dtype))
    if reduction == "sequence_mean":
        num, den = tf.reduce_sum(loss, axis=1), tf.reduce_sum(weight, axis=1)
        rows = den != tf.zeros_like(den)
        means = tf.where(rows, num / tf.where(rows, den, tf.ones_like(den)), tf.zeros_like(num))
        return tf.reduce_sum(means), tf.reduce_sum(tf.cast(rows, loss.dtype))
    return tf.reduce_sum(loss), tf.reduce_sum(weight)  # token_mean, weighted_mean


def masked_loss(
    per_step: tf.Tensor,
    mask: tf.Tensor,
    sample_weight: tf.Tensor | None,
    reduction: str,
    empty: str,
) -> tf.Tensor:
    work = _work(per_step)
    loss = tf.cast(tf.where(mask, per_step, tf.zeros_like(per_step)), work)
    if sample_weight is None:
        weight = tf.cast(mask, work)
    else:
        rows = sample_weight[:, None] if sample_weight.shape.rank == 1 else sample_weight
        rows = tf.cast(rows, work)
        weight = tf.where(mask, rows, tf.zeros_like(rows))
    loss = loss * weight
    if reduction == "none":
        return tf.cast(loss, per_step.dtype)
    num, den = _reduce(loss, weight, mask, reduction)
    return _finish(num, den, empty, per_step.dtype)


def _step_losses(
    logits: tf.Tensor,
    targets: tf.Tensor,
    counted: tf.Tensor | None,
    class_weight: tf.Tensor | None,
    smoothing: float,
    from_logits: bool,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Per step: the loss and the weight ``w_y``, both 0 where not counted; and the counted
    mask."""
    work = _work(logits)
    keep = tf.ones(tf.shape(targets), tf.bool) if counted is None else counted
    # A counted target out of [0, C) is refused by the front end (eagerly) or by its assertion
    # (tf.function); under XLA, which drops assertions, its step's loss is NaN.
    classes = tf.cast(tf.shape(logits)[-1], targets.dtype)
    invalid = tf.logical_and(keep, tf.logical_or(targets < 0, targets >= classes))
    t = tf.where(tf.logical_and(keep, tf.logical_not(invalid)), targets, tf.zeros_like(targets))
    cw = None if class_weight is None else tf.cast(class_weight, work)
    wy = None if cw is None else tf.gather(cw, t)
    if _fast_losses.applies(logits, smoothing, from_logits):
        loss = _fast_losses.nll(logits, t, keep)
        if wy is not None:
            loss = wy * loss
    else:
        if from_logits:
            x = tf.cast(tf.where(keep[..., None], logits, tf.zeros_like(logits)), work)
        else:
            p = tf.cast(tf.where(keep[..., None], logits, tf.ones_like(logits)), work)
            x = tf.math.log(tf.clip_by_value(p, KERAS_EPSILON, 1 - KERAS_EPSILON))
        logp = tf.nn.log_softmax(x, axis=-1)
        loss = -tf.gather(logp, t, axis=2, batch_dims=2)
        if wy is not None:
            loss = wy * loss
        if smoothing:
            spread = -(tf.reduce_sum(logp, -1) if cw is None else tf.reduce_sum(logp * cw, -1))
            classes = tf.cast(tf.shape(logits)[-1], work)
            loss = (1 - smoothing) * loss + smoothing / classes * spread
    loss = tf.where(keep, tf.cast(loss, work), tf.zeros_like(loss, dtype=work))
    loss = tf.where(invalid, tf.fill(tf.shape(loss), tf.constant(float("nan"), work)), loss)
    weight = tf.cast(keep, work) if wy is None else tf.where(keep, wy, tf.zeros_like(wy))
    return loss, weight, keep


def masked_cross_entropy(
    logits: tf.Tensor,
    targets: tf.Tensor,
    counted: tf.Tensor | None,
    class_weight: tf.Tensor | None,
    label_smoothing: float,
    from_logits: bool,
    steps: int | tf.Tensor | None,
    reduction: str,
    empty: str,
) -> tf.Tensor:
    """Float32/float64 logits without label smoothing take a fast path through the fused
    ``SparseSoftmaxCrossEntropyWithLogits`` op (the one Keras's loss runs)."""
    loss, weight, keep = _step_losses(
        logits, targets, counted, class_weight, label_smoothing, from_logits
    )
    if reduction == "none":
        if steps is not None:  # shifted: aligned with the logits, the last step 0
            loss = tf.pad(loss, [[0, 0], [0, 1]])[:, :steps]
        return tf.cast(loss, logits.dtype)
    num, den = _reduce(loss, weight, keep, reduction)
    return _finish(num, den, empty, logits.dtype)


def _argmax(x: tf.Tensor) -> tf.Tensor:
    """NumPy's argmax: the first largest value, NaN counting as the largest (``tf.argmax``
    skips NaN)."""
    nan = tf.math.is_nan(x)
    first_nan = tf.argmax(tf.cast(nan, tf.int8), axis=-1)
    return tf.where(tf.reduce_any(nan, axis=-1), first_nan, tf.argmax(x, axis=-1))


def masked_accuracy(logits: tf.Tensor, targets: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """NaN logits at a valid step predict the first NaN's class, as NumPy (``tf.argmax``
    alone skips NaN)."""
    work = _work(logits)
    predicted = _argmax(tf.where(mask[..., None], logits, tf.zeros_like(logits)))
    hits = tf.logical_and(tf.equal(predicted, targets), mask)
    return _ratio(
        tf.reduce_sum(tf.cast(hits, work)), tf.reduce_sum(tf.cast(mask, work)), "zero", work
    )


def accumulated_loss(
    micro_batches: list[tuple[tf.Tensor, tf.Tensor, tf.Tensor | None]],
    class_weight: tf.Tensor | None,
    label_smoothing: float,
    from_logits: bool,
    reduction: str,
    empty: str,
) -> tf.Tensor:
    """Differentiable with ``tf.GradientTape`` with respect to every micro-batch's logits."""
    num, den = None, None
    for logits, targets, counted in micro_batches:
        loss, weight, keep = _step_losses(
            logits, targets, counted, class_weight, label_smoothing, from_logits
        )
        n, d = _reduce(loss, weight, keep, reduction)
        num = n if num is None else num + n
        if d is not None:
            den = d if den is None else den + d
    return _finish(num, den, empty, micro_batches[0][0].dtype)


def token_sums(values: tf.Tensor, mask: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The float64 sum of the valid values and their int64 count."""
    total = tf.reduce_sum(tf.cast(tf.where(mask, values, tf.zeros_like(values)), tf.float64))
    return total, tf.reduce_sum(tf.cast(mask, tf.int64))


def token_result(
    total: tf.Tensor | None, count: tf.Tensor | None, empty: str, dtype: str
) -> tf.Tensor:
    if total is None:
        return tf.constant(0.0 if empty == "zero" else float("nan"), tf.as_dtype(dtype))
    return _ratio(total, tf.cast(count, tf.float64), empty, tf.as_dtype(dtype))


# --- Keras classes -------------------------------------------------------------------------------


def _keras_targets(y_true: object, y_pred: tf.Tensor) -> tf.Tensor:
    """Keras's label handling: a trailing axis of size 1 is squeezed; float labels (what
    ``fit`` may hand over) are read as integers."""
    labels = tf.convert_to_tensor(y_true)
    if labels.shape.rank == y_pred.shape.rank and labels.shape[-1] == 1:
        labels = tf.squeeze(labels, -1)
    return labels if labels.dtype.is_integer else tf.cast(labels, tf.int64)


def _keras_mask(y_pred: tf.Tensor, steps_like: tf.Tensor) -> tf.Tensor:
    mask = _public.get_mask(y_pred)
    if mask is None:
        return tf.ones(tf.shape(steps_like), tf.bool)
    return tf.cast(mask, tf.bool)


@keras.saving.register_keras_serializable(package="maskref")
class MaskedSparseCategoricalCrossentropy(keras.losses.Loss):
    """``keras.losses.SparseCategoricalCrossentropy`` over the implicit Keras mask, with
    maskref's reductions: ``compile(loss=MaskedSparseCategoricalCrossentropy(...))``.

    ``y_pred`` is ``(B, T, C)``; its Keras mask (from ``Embedding(mask_zero=True)``
    or ``Masking``, carried by the layers in between) AND ``y_true !=
    ignore_class`` select the counted steps; ``sample_weight`` may be ``(B, T)``
    or ``(B,)`` (one weight per row, which Keras's own loss refuses). The loss is
    ``masked_loss(masked_cross_entropy(..., reduction="none"), counted,
    sample_weight=..., reduction=reduction, empty=empty)``: with the default
    ``reduction="keras"`` it is Keras's ``sum_over_batch_size`` number exactly,
    and NaN/inf at padded steps never reach it or its gradient.
    ``from_logits=False`` (Keras's default) reads probabilities, clipped to
    ``[1e-7, 1 - 1e-7]``; Keras itself recovers the logits of a softmax output
    instead, so pass logits (``from_logits=True``) for the exact numbers.
    ``shift=True``: the causal-LM rule (``sample_weight`` is then aligned with the
    logits: step ``t`` weighs the prediction of ``y_true[:, t + 1]``).

    >>> loss = MaskedSparseCategoricalCrossentropy(from_logits=True)
    >>> emb = keras.layers.Embedding(5, 4, mask_zero=True, embeddings_initializer="zeros")
    >>> float(loss(tf.constant([[2, 1, 9]]), emb(tf.constant([[3, 4, 0]]))))  # log(4)
    1.3862943649291992
    """

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        label_smoothing: float = 0.0,
        shift: bool = False,
        reduction: str = "keras",
        empty: str = "zero",
        name: str = "masked_sparse_categorical_crossentropy",
        dtype: object = None,
    ) -> None:
        super().__init__(name=name, reduction="none", dtype=dtype)
        (
            self.ignore_class,
            self.label_smoothing,
            self.from_logits,
            self.shift,
            self.reduction,
            self.empty,
        ) = cross_entropy_options(
            ignore_class, label_smoothing, from_logits, shift, reduction, empty
        )

    def __call__(self, y_true, y_pred, sample_weight=None):
        with tf.name_scope(self.name):
            mask = _public.get_mask(y_pred)
            y_pred = tf.convert_to_tensor(y_pred, dtype=self.dtype)
            y_true = _keras_targets(y_true, y_pred)
            per_step = _public.masked_cross_entropy(
                y_pred,
                y_true,
                mask,
                ignore_index=self.ignore_class,
                label_smoothing=self.label_smoothing,
                from_logits=self.from_logits,
                shift=self.shift,
                reduction="none",
            )
            counted = tf.ones(tf.shape(y_true), tf.bool) if mask is None else mask
            if self.ignore_class is not None:
                counted = tf.logical_and(
                    counted, y_true != tf.cast(self.ignore_class, y_true.dtype)
                )
            if self.shift:
                counted = tf.pad(counted[:, 1:], [[0, 0], [0, 1]])[:, : tf.shape(counted)[1]]
            if sample_weight is not None:
                # (B,), (B, 1) and (B, T) as (B, 1) or (B, T): Keras's traced train step may
                # hand over a weight of unknown rank.
                sample_weight = tf.convert_to_tensor(sample_weight)
                if sample_weight.shape.rank is None or sample_weight.shape.rank == 1:
                    sample_weight = tf.reshape(sample_weight, tf.stack([tf.shape(y_true)[0], -1]))
            return _public.masked_loss(
                per_step,
                counted,
                sample_weight=sample_weight,
                reduction=self.reduction,
                empty=self.empty,
            )

    def call(self, y_true, y_pred):  # pragma: no cover - __call__ does the work
        raise NotImplementedError("MaskedSparseCategoricalCrossentropy is computed in __call__")

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "reduction": self.reduction,
            "from_logits": self.from_logits,
            "ignore_class": self.ignore_class,
            "label_smoothing": self.label_smoothing,
            "shift": self.shift,
            "empty": self.empty,
        }


@keras.saving.register_keras_serializable(package="maskref")
class MaskedAccuracy(keras.metrics.Metric):
    """Sparse categorical accuracy over the valid steps of every batch seen: a token mean.

    ``update_state(y_true, y_pred, sample_weight=None)`` reads the Keras mask of
    ``(B, T, C)`` predictions and adds ``Σ hit·w·m`` and ``Σ w·m``
    (``masked_loss(..., reduction="sum")``; ``sample_weight`` ``(B, T)`` or
    ``(B,)``); ``result()`` is their ratio (0 before any valid step). Over
    batches of different padded lengths it equals :func:`masked_accuracy` of the
    concatenated batches, where ``keras.metrics.SparseCategoricalAccuracy``
    weighs each batch by ``1 / T``. As Keras's metric, it does not check the
    targets' range (an out-of-range target is a miss).

    >>> metric = MaskedAccuracy()
    >>> emb = keras.layers.Embedding(5, 2, mask_zero=True)
    >>> ids = tf.constant([[3, 0, 0]])
    >>> metric.update_state(tf.constant([[int(tf.argmax(emb(ids)[0, 0])), 7, 7]]), emb(ids))
    >>> float(metric.result())
    1.0
    """

    def __init__(self, name: str = "masked_accuracy", dtype: object = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(
            shape=(), initializer="zeros", dtype=self.dtype, name="total"
        )
        self.count = self.add_variable(
            shape=(), initializer="zeros", dtype=self.dtype, name="count"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = tf.convert_to_tensor(y_pred)
        mask = _keras_mask(y_pred, y_pred[..., 0])
        y_true = _keras_targets(y_true, y_pred)
        predicted = _argmax(y_pred)
        hits = tf.cast(tf.equal(predicted, tf.cast(y_true, tf.int64)), self.dtype)
        total = _public.masked_loss(hits, mask, sample_weight=sample_weight, reduction="sum")
        count = _public.masked_loss(
            tf.ones_like(hits), mask, sample_weight=sample_weight, reduction="sum"
        )
        self.total.assign_add(tf.cast(total, self.dtype))
        self.count.assign_add(tf.cast(count, self.dtype))

    def result(self):
        return tf.math.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)
