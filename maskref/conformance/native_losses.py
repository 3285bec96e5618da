"""Keras's, PyTorch's and Hugging Face's masked losses and metrics, measured against
``reference.losses``.

Keras 3 (TensorFlow backend): ``compile(loss=SparseCategoricalCrossentropy(
from_logits=True))`` on a masked model, ``Embedding(6, 3, mask_zero=True) ->
Dense(4)`` with fixed weights, evaluated with ``test_on_batch`` (the mask of
the model's output reaches the loss); the reference recomputes the logits
from the same weights (``E[ids] @ W + b``, id 0 is padding). The loss called
directly on a tensor carrying a Keras mask (``tf_impl.set_mask``), with
``ignore_class``, and Keras's accuracy metric over batches. PyTorch:
``nn.CrossEntropyLoss`` with ``ignore_index``, ``weight``,
``label_smoothing``; the gradient at ignored steps. Hugging Face: the rule of
``transformers``' ``ForCausalLMLoss`` (labels -100, shift, ``sum /
num_items_in_batch``), restated here from its source (transformers is not a
dependency) and run with torch; gradient accumulation over micro-batches.

Inputs: ``B <= 3``, ``T <= 4``, ``C <= 4``, float32 logits in [-4, 4]; NaN or
inf planted where a step is not counted when a case says so. Values are
compared within rtol 1e-5 / atol 1e-6 (float32 sums in another order), dtypes
not compared (Keras returns Python floats).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference as ref

from .core import Case, Inputs, case_family

KERAS = ("keras", "tensorflow")
TORCH = ("torch",)
TF = ("tensorflow",)
VOCAB, WIDTH, CLASSES = 6, 3, 4
F32 = np.float32
_LOGIT = st.floats(-4, 4, width=32, allow_subnormal=False)
CLOSE: dict[str, Any] = dict(rtol=1e-5, atol=1e-6, check_dtype=False)
SCCE = "keras.losses.SparseCategoricalCrossentropy"
COMPILE = f"keras compile(loss={SCCE}(from_logits=True)) on Embedding(mask_zero=True) -> Dense"
ACCURACY = "keras.metrics.SparseCategoricalAccuracy"
TORCH_CE = "torch.nn.CrossEntropyLoss"
HF = "Hugging Face ForCausalLMLoss (rule restated: labels -100, shift, sum / num_items_in_batch)"


def _keras():
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"these cases record Keras on the TensorFlow backend, not {keras.backend.backend()}"
        )
    return keras


# -- the masked model ------------------------------------------------------------------------


@functools.cache
def _weights() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(14)
    return (
        rng.uniform(-2, 2, (VOCAB, WIDTH)).astype(F32),
        rng.uniform(-1, 1, (WIDTH, CLASSES)).astype(F32),
        rng.uniform(-0.5, 0.5, (CLASSES,)).astype(F32),
    )


def _logits(ids: np.ndarray) -> np.ndarray:
    """The model's logits recomputed in NumPy from its weights."""
    emb, kernel, bias = _weights()
    return (emb[ids] @ kernel + bias).astype(F32)


@functools.cache
def _compiled(loss: str, case: str):
    """The masked model compiled with ``loss`` ("keras": Keras's own loss; "maskref":
    ``tf_impl.MaskedSparseCategoricalCrossentropy``), one per ``case``: Keras's traced
    test step generalises the shapes it has seen (after (B, T) and (B, 1) weights a
    weight has unknown rank, and Keras's own loss then refuses a (B,) one), so cases
    must not share one."""
    keras = _keras()
    ids = keras.Input((None,), dtype="int32")
    hidden = keras.layers.Embedding(VOCAB, WIDTH, mask_zero=True)(ids)
    model = keras.Model(ids, keras.layers.Dense(CLASSES)(hidden))
    emb, kernel, bias = _weights()
    model.layers[1].set_weights([emb])
    model.layers[2].set_weights([kernel, bias])
    if loss == "keras":
        fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        import tf_impl

        fn = tf_impl.MaskedSparseCategoricalCrossentropy(from_logits=True)
    model.compile(loss=fn)
    return model


def _compile_call(loss: str, case: str = ""):
    def call(inputs: Inputs) -> Any:
        model = _compiled(loss, case)
        return model.test_on_batch(
            inputs["ids"].astype(np.int32), inputs["targets"], inputs.get("sample_weight")
        )

    return call


def _ref_compile(reduction: str = "keras"):
    """The compiled loss by the reference: per-step cross-entropy, then ``masked_loss``."""

    def call(inputs: Inputs) -> Any:
        ids = inputs["ids"]
        per_step = ref.masked_cross_entropy(
            _logits(ids), inputs["targets"], ids != 0, reduction="none"
        )
        return ref.masked_loss(
            per_step, ids != 0, sample_weight=inputs.get("sample_weight"), reduction=reduction
        )

    return call


@st.composite
def _id_batches(
    draw,
    weights: tuple[str, ...] = ("none", "steps", "rows1"),
    junk: bool = False,
    square: bool | None = None,
) -> Inputs:
    """Padded ids (0 = pad, pre or post), targets in ``[0, C)`` (``junk``: 9 at one padded
    step), and a sample weight of a drawn kind: "none", "steps" (B, T), "rows" (B,) or
    "rows1" (B, 1). ``square``: B == T (True), B != T (False) or either (None)."""
    b = draw(st.integers(1 if square is None else 2, 3))
    t = b if square else draw(st.integers(1, 4).filter(lambda n: square is None or n != b))
    lengths = draw(hnp.arrays(np.int64, (b,), elements=st.integers(0, t)))
    steps = np.arange(t)
    valid = steps < lengths[:, None] if draw(st.booleans()) else steps >= t - lengths[:, None]
    ids = np.where(valid, draw(hnp.arrays(np.int64, (b, t), elements=st.integers(1, VOCAB - 1))), 0)
    targets = draw(hnp.arrays(np.int64, (b, t), elements=st.integers(0, CLASSES - 1)))
    if junk:
        if valid.all():
            ids[0, -1], valid[0, -1] = 0, False
        row, col = np.argwhere(~valid)[draw(st.integers(0, int((~valid).sum()) - 1))]
        targets[row, col] = 9
    inputs: Inputs = dict(ids=ids, targets=targets)
    kind = draw(st.sampled_from(weights))
    positive = st.floats(0.25, 4, width=32)
    if kind == "steps":
        inputs["sample_weight"] = draw(hnp.arrays(F32, (b, t), elements=positive))
    elif kind in ("rows", "rows1"):
        rows = draw(hnp.arrays(F32, (b,), elements=positive))
        inputs["sample_weight"] = rows if kind == "rows" else rows[:, None]
    return inputs


def _compile_cases() -> list[Case]:
    keras_loss = case_family(
        operation="masked_cross_entropy",
        api=COMPILE,
        reference=_ref_compile(),
        candidate=_compile_call("keras"),
        requires=KERAS,
        keras_backends=TF,
        **CLOSE,
    )
    ours = case_family(
        operation="masked_cross_entropy",
        api="keras compile(loss=tf_impl.MaskedSparseCategoricalCrossentropy(from_logits=True))",
        reference=_ref_compile(),
        candidate=_compile_call("maskref"),
        requires=KERAS,
        keras_backends=TF,
        kind="backend",
        **CLOSE,
    )
    one = dict(ids=np.array([[1]]), targets=np.array([[0]]))
    return [
        keras_loss(
            domain="no sample_weight, (B, T) or (B, 1) sample_weight; reference reduction='keras' "
            "(rows and batches with no valid step included)",
            inputs=_id_batches,
        ),
        keras_loss(
            "divides-by-valid-count-not-by-weight-sum",
            lambda: _id_batches(("steps",)),
            dict(one, sample_weight=np.array([[2.0]], F32)),
            "sum_over_batch_size with a mask is Σ l·w·m / count(m): the weights scale the "
            "numerator only, so a weight of 2 on the one valid step doubles the loss; the "
            "reference's default token_mean is Σ l·w·m / Σ w·m (PyTorch's weighted mean); "
            "reduction='keras' matches Keras.",
            reference=_ref_compile("token_mean"),
        ),
        keras_loss(
            "per-row-sample-weight-is-refused",
            lambda: _id_batches(("rows",), square=False),
            dict(
                ids=np.array([[1, 1, 1], [1, 1, 1]]),
                targets=np.zeros((2, 3), np.int64),
                sample_weight=np.array([1.0, 3.0], F32),
            ),
            "a (B,) sample_weight is broadcast against the last axis of the (B, T) loss, so "
            "with B != T Keras raises (Incompatible shapes); the reference weighs each row "
            "by its weight (Keras reads a (B, 1) weight so).",
            candidate=_compile_call("keras", "rows"),
        ),
        keras_loss(
            "per-row-sample-weight-weighs-steps-when-b-equals-t",
            lambda: _id_batches(("rows",), square=True),
            dict(
                ids=np.array([[1, 1], [1, 1]]),
                targets=np.array([[0, 1], [0, 0]]),
                sample_weight=np.array([1.0, 3.0], F32),
            ),
            "with B == T a (B,) sample_weight broadcasts without error against the time axis: "
            "weight i goes to step i of every row instead of to row i, a silently different "
            "loss; the reference weighs rows.",
            candidate=_compile_call("keras", "square"),
        ),
        keras_loss(
            "out-of-range-target-under-the-mask-raises",
            lambda: _id_batches(("none",), junk=True),
            dict(ids=np.array([[1, 0]]), targets=np.array([[0, 9]])),
            "the per-step loss is computed at padded steps too (then weighted by 0), and "
            "SparseSoftmaxCrossEntropyWithLogits refuses a label outside [0, C): a junk "
            "target under the mask raises InvalidArgumentError; the reference ignores it.",
            candidate=_compile_call("keras", "junk"),
        ),
        ours(
            domain="no sample_weight, (B, T), (B,) or (B, 1) sample_weight; reference "
            "reduction='keras'",
            inputs=lambda: _id_batches(("none", "steps", "rows", "rows1")),
        ),
    ]


# -- Keras's loss on tensors carrying a mask, ignore_class, gradients -------------------------


@st.composite
def _logit_batches(
    draw, plant: str = "none", ignore: bool = False, weights: bool = True, square: bool = False
) -> Inputs:
    """``(B, T, C)`` float32 logits, ``(B, T)`` targets in ``[0, C)`` and a mask (or, with
    ``ignore``, ``ignore_class`` -1 or a class inside ``[0, C)`` at some steps). ``plant``:
    "none", "nan" (NaN or inf at every uncounted step) or "finite" (large finite values
    there). ``square``: at least one counted step is guaranteed."""
    b, t, c = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(2, CLASSES))
    logits = draw(hnp.arrays(F32, (b, t, c), elements=_LOGIT))
    targets = draw(hnp.arrays(np.int64, (b, t), elements=st.integers(0, c - 1)))
    skip = draw(hnp.arrays(np.bool_, (b, t)))
    if square:
        skip[0, 0] = False
    inputs: Inputs = dict(logits=logits)
    if ignore:
        label = draw(st.sampled_from([-1, 0]))
        inputs["ignore_class"] = label
        targets = np.where(skip, label, targets)
        counted = targets != label
    else:
        inputs["mask"] = ~skip
        counted = ~skip
    if plant != "none" and (~counted).any():
        value = draw(st.sampled_from([np.nan, np.inf, -np.inf])) if plant == "nan" else 1e4
        inputs["logits"] = np.where(counted[..., None], logits, F32(value))
    inputs["targets"] = targets
    if weights and draw(st.booleans()):
        inputs["sample_weight"] = draw(
            hnp.arrays(F32, (b, t), elements=st.floats(0, 3, width=32, allow_subnormal=False))
        )
    return inputs


def _keras_scce(inputs: Inputs) -> Any:
    import tensorflow as tf

    import tf_impl

    keras = _keras()
    kwargs = {"ignore_class": inputs["ignore_class"]} if "ignore_class" in inputs else {}
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, **kwargs)
    logits = tf.constant(inputs["logits"])
    if "mask" in inputs:
        logits = tf_impl.set_mask(logits, tf.constant(inputs["mask"]))
    return loss(tf.constant(inputs["targets"]), logits, inputs.get("sample_weight"))


def _ref_scce(inputs: Inputs) -> Any:
    ignore = inputs.get("ignore_class")
    per_step = ref.masked_cross_entropy(
        inputs["logits"],
        inputs["targets"],
        inputs.get("mask"),
        ignore_index=ignore,
        reduction="none",
    )
    counted = np.ones(inputs["targets"].shape, bool) if "mask" not in inputs else inputs["mask"]
    if ignore is not None:
        counted = counted & (inputs["targets"] != ignore)
    return ref.masked_loss(
        per_step, counted, sample_weight=inputs.get("sample_weight"), reduction="keras"
    )


def _keras_gradient(inputs: Inputs) -> Any:
    """Keras's gradient with respect to the logits, at the uncounted steps."""
    import tensorflow as tf

    keras = _keras()
    loss = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=inputs["ignore_class"]
    )
    logits = tf.Variable(inputs["logits"])
    with tf.GradientTape() as tape:
        value = loss(tf.constant(inputs["targets"]), logits)
    grad = tape.gradient(value, logits).numpy()
    return grad[inputs["targets"] == inputs["ignore_class"]]


def _tf_impl_gradient(inputs: Inputs) -> Any:
    import tensorflow as tf

    import tf_impl

    logits = tf.Variable(inputs["logits"])
    with tf.GradientTape() as tape:
        value = tf_impl.masked_cross_entropy(
            logits, inputs["targets"], ignore_index=inputs["ignore_class"]
        )
    grad = tape.gradient(value, logits).numpy()
    return grad[inputs["targets"] == inputs["ignore_class"]]


def _zero_gradient(key: str = "ignore_class"):
    """The reference's rule for the gradient at uncounted steps: exactly 0."""

    def call(inputs: Inputs) -> Any:
        uncounted = inputs["targets"] == inputs[key]
        return np.zeros((int(uncounted.sum()), inputs["logits"].shape[-1]), F32)

    return call


def _direct_cases() -> list[Case]:
    scce = case_family(
        operation="masked_cross_entropy",
        api=f"{SCCE}(from_logits=True) on a tensor carrying a Keras mask",
        reference=_ref_scce,
        candidate=_keras_scce,
        requires=KERAS,
        keras_backends=TF,
        **CLOSE,
    )
    ignore = case_family(
        operation="masked_cross_entropy",
        api=f"{SCCE}(from_logits=True, ignore_class=)",
        reference=_ref_scce,
        candidate=_keras_scce,
        requires=KERAS,
        keras_backends=TF,
        **CLOSE,
    )
    gradient = dict(operation="masked_cross_entropy", reference=_zero_gradient(), **CLOSE)
    return [
        scce(
            domain="finite logits; no or (B, T) sample_weight; reference reduction='keras'",
            inputs=_logit_batches,
        ),
        scce(
            "nan-logits-under-the-mask-poison-the-loss",
            lambda: _logit_batches("nan"),
            dict(
                logits=np.array([[[0.0, 0.0], [np.nan, 0.0]]], F32),
                targets=np.array([[0, 0]]),
                mask=np.array([[True, False]]),
            ),
            "the mask becomes a sample weight of 0 that multiplies the per-step loss, and "
            "NaN * 0 is NaN: NaN (or inf: inf - inf) logits at a padded step make the whole "
            "batch's loss NaN; the reference replaces padded logits before the softmax.",
        ),
        ignore(
            domain="ignore_class -1 or a class inside [0, C); NaN/inf logits at ignored steps; "
            "no or (B, T) sample_weight; all-ignored batches give 0",
            inputs=lambda: _logit_batches("nan", ignore=True),
        ),
        Case(
            api=f"{SCCE}(from_logits=True, ignore_class=): gradient at ignored steps",
            inputs=lambda: _logit_batches("nan", ignore=True, weights=False),
            candidate=_keras_gradient,
            requires=KERAS,
            keras_backends=TF,
            domain="NaN/inf logits at ignored steps: the gradient there is exactly 0",
            **gradient,
        ),
        Case(
            api="tf_impl.masked_cross_entropy(ignore_index=): gradient at ignored steps",
            inputs=lambda: _logit_batches("nan", ignore=True, weights=False),
            candidate=_tf_impl_gradient,
            requires=TF,
            kind="backend",
            domain="NaN/inf logits at ignored steps: the gradient there is exactly 0",
            **gradient,
        ),
    ]


# -- Keras metrics over batches of different padded lengths ------------------------------------


@st.composite
def _metric_batches(draw, same_length: bool = False) -> Inputs:
    """1-3 batches of ``(logits, targets, mask)``, each its own padded length unless
    ``same_length``."""
    c = draw(st.integers(2, CLASSES))
    t0 = draw(st.integers(1, 4))
    batches = []
    for _ in range(draw(st.integers(1, 3))):
        b, t = draw(st.integers(1, 3)), t0 if same_length else draw(st.integers(1, 4))
        logits = draw(hnp.arrays(F32, (b, t, c), elements=_LOGIT))
        targets = draw(hnp.arrays(np.int64, (b, t), elements=st.integers(0, c - 1)))
        mask = draw(hnp.arrays(np.bool_, (b, t)))
        batches.append((np.where(mask[..., None], logits, F32(np.nan)), targets, mask))
    return dict(batches=batches)


def _without_negative_zero(inputs: Inputs) -> Inputs:
    """The batches with every -0.0 logit made +0.0 (adding 0.0 does that, and nothing else)."""
    batches = [(lg + F32(0.0), tg, m) for lg, tg, m in inputs["batches"]]
    return dict(inputs, batches=batches)


def _ref_token_accuracy(inputs: Inputs) -> Any:
    """Accuracy of the concatenated batches (padded to one length with masked steps)."""
    batches = inputs["batches"]
    t = max(lg.shape[1] for lg, _, _ in batches)
    logits, targets, masks = [], [], []
    for lg, tg, m in batches:
        pad = t - lg.shape[1]
        logits.append(np.pad(lg, ((0, 0), (0, pad), (0, 0))))
        targets.append(np.pad(tg, ((0, 0), (0, pad))))
        masks.append(np.pad(m, ((0, 0), (0, pad))))
    return ref.masked_accuracy(
        np.concatenate(logits), np.concatenate(targets), np.concatenate(masks)
    )


def _metric_call(which: str):
    def call(inputs: Inputs) -> Any:
        import tensorflow as tf

        import tf_impl

        keras = _keras()
        metric = (
            keras.metrics.SparseCategoricalAccuracy()
            if which == "keras"
            else tf_impl.MaskedAccuracy()
        )
        for logits, targets, mask in inputs["batches"]:
            # Keras's metric reads no NaN well: padded logits are zeros for it.
            clean = np.where(mask[..., None], logits, F32(0)) if which == "keras" else logits
            metric.update_state(
                tf.constant(targets), tf_impl.set_mask(tf.constant(clean), tf.constant(mask))
            )
        return metric.result()

    return call


def _metric_cases() -> list[Case]:
    keras_metric = case_family(
        operation="masked_accuracy",
        api=f"{ACCURACY} (update_state per batch, mask from y_pred)",
        reference=_ref_token_accuracy,
        candidate=_metric_call("keras"),
        requires=KERAS,
        keras_backends=TF,
        **CLOSE,
    )
    hit, miss = np.array([[[0.0, 1.0]]], F32), np.array([[[0.0, 1.0], [0.0, 1.0]]], F32)
    return [
        keras_metric(
            domain="batches of one padded length, no -0.0 among the logits: the token mean "
            "of all batches",
            inputs=lambda: _metric_batches(same_length=True).map(_without_negative_zero),
        ),
        keras_metric(
            "negative-zero-loses-argmax-ties",
            lambda: _metric_batches(same_length=True),
            dict(batches=[(np.array([[[-0.0, 0.0]]], F32), np.array([[0]]), np.array([[True]]))]),
            "the metric takes keras.ops.argmax, which on TensorFlow replaces -0.0 by minus "
            "the smallest normal float before tf.argmax (a flush-to-zero workaround), so a "
            "-0.0 tied with 0.0 loses: logits [-0.0, 0.0] predict class 1, where NumPy's "
            "argmax and the reference take the first maximum (-0.0 == 0.0).",
        ),
        keras_metric(
            "batches-weighted-by-one-over-padded-length",
            _metric_batches,
            dict(
                batches=[
                    (hit, np.array([[1]]), np.array([[True]])),
                    (miss, np.array([[0, 0]]), np.array([[True, False]])),
                ]
            ),
            "each batch adds mean_t(hit·m) to the total and mean_t(m) to the count, so a "
            "batch of padded length T weighs 1/T: one hit in a batch of length 1 and one "
            "miss in a batch of length 2 give (1 + 0) / (1 + 1/2) = 0.667 instead of the "
            "token mean 0.5 (exact within one batch, or batches of one length).",
        ),
        Case(
            operation="masked_accuracy",
            api="tf_impl.MaskedAccuracy (update_state per batch, mask from y_pred)",
            inputs=_metric_batches,
            reference=_ref_token_accuracy,
            candidate=_metric_call("maskref"),
            requires=KERAS,
            keras_backends=TF,
            kind="backend",
            domain="batches of different padded lengths, NaN logits at padded steps",
            **CLOSE,
        ),
    ]


# -- PyTorch -------------------------------------------------------------------------------


@st.composite
def _torch_batches(draw, plant: bool = True, all_ignored: bool = False) -> Inputs:
    """Logits ``(B, T, C)``, targets with -100 at ignored steps (NaN/inf logits there when
    ``plant``), and drawn ``weight``, ``label_smoothing``, ``reduction``."""
    b, t, c = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, CLASSES))
    logits = draw(hnp.arrays(F32, (b, t, c), elements=_LOGIT))
    targets = draw(hnp.arrays(np.int64, (b, t), elements=st.integers(0, c - 1)))
    ignored = np.ones((b, t), bool) if all_ignored else draw(hnp.arrays(np.bool_, (b, t)))
    targets = np.where(ignored, -100, targets)
    if plant and ignored.any():
        value = F32(draw(st.sampled_from([np.nan, np.inf, -np.inf])))
        logits = np.where(ignored[..., None], value, logits)
    inputs: Inputs = dict(logits=logits, targets=targets)
    if draw(st.booleans()):
        inputs["weight"] = draw(
            hnp.arrays(F32, (c,), elements=st.floats(0.25, 2, width=32, allow_subnormal=False))
        )
    if draw(st.booleans()):
        inputs["label_smoothing"] = draw(st.sampled_from([0.1, 0.5, 1.0]))
    inputs["reduction"] = draw(st.sampled_from(["mean", "sum", "none"]))
    return inputs


def _torch_ce(inputs: Inputs) -> Any:
    import torch

    weight = inputs.get("weight")
    loss = torch.nn.CrossEntropyLoss(
        weight=None if weight is None else torch.from_numpy(weight),
        ignore_index=-100,
        reduction=inputs["reduction"],
        label_smoothing=inputs.get("label_smoothing", 0.0),
    )
    logits = torch.from_numpy(inputs["logits"]).permute(0, 2, 1)  # (B, C, T)
    return loss(logits, torch.from_numpy(inputs["targets"]))


def _ref_ce(empty: str = "nan"):
    def call(inputs: Inputs) -> Any:
        reduction = {"mean": "token_mean"}.get(inputs["reduction"], inputs["reduction"])
        return ref.masked_cross_entropy(
            inputs["logits"],
            inputs["targets"],
            ignore_index=-100,
            class_weight=inputs.get("weight"),
            label_smoothing=inputs.get("label_smoothing", 0.0),
            reduction=reduction,
            empty=empty,
        )

    return call


def _torch_gradient(backend: str):
    def call(inputs: Inputs) -> Any:
        import torch

        logits = torch.from_numpy(inputs["logits"]).requires_grad_(True)
        targets = torch.from_numpy(inputs["targets"])
        if backend == "torch":
            value = torch.nn.functional.cross_entropy(
                logits.permute(0, 2, 1), targets, ignore_index=-100
            )
        else:
            import torch_impl

            value = torch_impl.masked_cross_entropy(logits, targets, ignore_index=-100)
        value.backward()
        assert logits.grad is not None
        return logits.grad.numpy()[inputs["targets"] == -100]

    return call


def _torch_cases() -> list[Case]:
    torch_ce = case_family(
        operation="masked_cross_entropy",
        api=f"{TORCH_CE}(ignore_index=-100, weight=, label_smoothing=)",
        reference=_ref_ce(),
        candidate=_torch_ce,
        requires=TORCH,
        **CLOSE,
    )
    ignored_row = dict(
        logits=np.array([[[0.0, 0.0], [np.nan, 0.0]]], F32), targets=np.array([[0, -100]])
    )
    gradient = dict(operation="masked_cross_entropy", reference=_zero_gradient("ignored"), **CLOSE)
    planted = lambda: _torch_batches().map(lambda i: dict(i, ignored=-100))  # noqa: E731
    return [
        torch_ce(
            domain="reduction mean/sum/none, weight and label_smoothing drawn, NaN/inf logits "
            "at ignored steps, all-ignored batches; reference empty='nan'",
            inputs=_torch_batches,
        ),
        torch_ce(
            "all-ignored-batch-is-nan",
            lambda: _torch_batches(all_ignored=True).map(lambda i: dict(i, reduction="mean")),
            dict(logits=np.zeros((1, 1, 2), F32), targets=np.array([[-100]]), reduction="mean"),
            "reduction='mean' divides by the number (or total class weight) of non-ignored "
            "targets: with none it is 0/0 = NaN (pytorch#70348, by design since 1.11); the "
            "reference's default empty='zero' gives 0, as Keras does (empty='nan' matches).",
            reference=_ref_ce("zero"),
        ),
        Case(
            api="torch.nn.functional.cross_entropy(ignore_index=-100): gradient at ignored steps",
            inputs=planted,
            candidate=_torch_gradient("torch"),
            requires=TORCH,
            expect="nan-gradient-at-ignored-steps",
            example=dict(ignored_row, ignored=-100),
            explanation="the forward pass drops ignored targets, but log_softmax runs on "
            "every row and its backward computes grad - exp(logp)·Σgrad: with 0 incoming "
            "gradient and a NaN row (a NaN or inf logit) that is 0 - NaN·0 = NaN, so an "
            "ignored step's NaN reaches the gradient (only of its own row); the reference "
            "rule (and torch_impl) gives exactly 0 there.",
            **gradient,
        ),
        Case(
            api="torch_impl.masked_cross_entropy(ignore_index=-100): gradient at ignored steps",
            inputs=planted,
            candidate=_torch_gradient("torch_impl"),
            requires=TORCH,
            kind="backend",
            domain="NaN/inf logits at ignored steps: the gradient there is exactly 0",
            **gradient,
        ),
        Case(
            operation="masked_cross_entropy",
            api="torch_impl.MaskedCrossEntropyLoss(ignore_index=-100, empty='nan')",
            inputs=_torch_batches,
            reference=_ref_ce(),
            candidate=_module_ce,
            requires=TORCH,
            kind="backend",
            domain="the same inputs as nn.CrossEntropyLoss, on (B, T, C) logits",
            **CLOSE,
        ),
    ]


def _module_ce(inputs: Inputs) -> Any:
    import torch

    import torch_impl

    loss = torch_impl.MaskedCrossEntropyLoss(
        ignore_index=-100,
        class_weight=inputs.get("weight"),
        label_smoothing=inputs.get("label_smoothing", 0.0),
        reduction={"mean": "token_mean"}.get(inputs["reduction"], inputs["reduction"]),
        empty="nan",
    )
    return loss(torch.from_numpy(inputs["logits"]), torch.from_numpy(inputs["targets"]))


# -- Hugging Face's causal-LM loss and gradient accumulation -------------------------------------


def _hf_causal_lm_loss(logits: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
    """transformers' ``ForCausalLMLoss`` + ``fixed_cross_entropy`` (loss_utils.py), restated:
    labels padded on the right with -100 and shifted by one; ``sum / num_items_in_batch``
    when that count is given, else the mean over non-ignored labels."""
    import torch.nn.functional as F

    labels = F.pad(labels, (0, 1), value=-100)[..., 1:].reshape(-1)
    logits = logits.float().reshape(-1, logits.shape[-1])
    reduction = "sum" if num_items_in_batch is not None else "mean"
    loss = F.cross_entropy(logits, labels, ignore_index=-100, reduction=reduction)
    return loss / num_items_in_batch if reduction == "sum" else loss


@st.composite
def _hf_batches(draw, min_steps: int = 1, vocab: int | None = None) -> Inputs:
    """Causal-LM logits ``(B, T, V)`` and labels with -100 at padding (right or left)."""
    b, t = draw(st.integers(1, 3)), draw(st.integers(min_steps, 4))
    v = draw(st.integers(1, 4)) if vocab is None else vocab
    logits = draw(hnp.arrays(F32, (b, t, v), elements=_LOGIT))
    labels = draw(hnp.arrays(np.int64, (b, t), elements=st.integers(0, v - 1)))
    lengths = draw(hnp.arrays(np.int64, (b,), elements=st.integers(0, t)))
    steps = np.arange(t)
    valid = steps < lengths[:, None] if draw(st.booleans()) else steps >= t - lengths[:, None]
    return dict(logits=logits, labels=np.where(valid, labels, -100))


def _hf_call(count: str):
    """``count``: "shifted" (the fixed Trainer: labels[:, 1:] != -100), "unshifted" (before
    transformers#46204: every non-ignored label) or "none" (no num_items_in_batch)."""

    def call(inputs: Inputs) -> Any:
        import torch

        labels = torch.from_numpy(inputs["labels"])
        items = {
            "shifted": (labels[:, 1:] != -100).sum(),
            "unshifted": (labels != -100).sum(),
            "none": None,
        }[count]
        return _hf_causal_lm_loss(torch.from_numpy(inputs["logits"]), labels, items)

    return call


def _ref_hf(inputs: Inputs) -> Any:
    return ref.masked_cross_entropy(
        inputs["logits"], inputs["labels"], ignore_index=-100, shift=True, empty="nan"
    )


@st.composite
def _micro_batches(draw) -> Inputs:
    v = draw(st.integers(1, 4))
    count = draw(st.integers(1, 3))
    return dict(micro_batches=[draw(_hf_batches(vocab=v)) for _ in range(count)])


def _hf_accumulation(rule: str):
    """``rule``: "fixed" (each micro-batch's sum / the total count of shifted labels, summed:
    transformers#34191's fix) or "mean-of-means" (the bug: the mean of per-micro-batch
    means)."""

    def call(inputs: Inputs) -> Any:
        import torch

        parts = [
            (torch.from_numpy(m["logits"]), torch.from_numpy(m["labels"]))
            for m in inputs["micro_batches"]
        ]
        if rule == "fixed":
            total = sum((labels[:, 1:] != -100).sum() for _, labels in parts)
            return sum(_hf_causal_lm_loss(lg, labels, total) for lg, labels in parts)
        return sum(_hf_causal_lm_loss(lg, labels) for lg, labels in parts) / len(parts)

    return call


def _ref_accumulated(inputs: Inputs) -> Any:
    triples = [(m["logits"], m["labels"], None) for m in inputs["micro_batches"]]
    return ref.accumulated_loss(triples, ignore_index=-100, shift=True, empty="nan")


def _hf_cases() -> list[Case]:
    hf = case_family(
        operation="masked_cross_entropy",
        reference=_ref_hf,
        requires=TORCH,
        **CLOSE,
    )
    zeros = np.zeros((1, 2, 3), F32)
    first, second = np.zeros((1, 2, 2), F32), np.array([[[0.0, 0.0], [0.0, 0.0], [0, 0]]], F32)
    second[0, 1] = [0.0, 4.0]
    return [
        hf(
            api=f"{HF}, num_items_in_batch = count of shifted labels",
            candidate=_hf_call("shifted"),
            domain="right or left padding with -100; reference shift=True, ignore_index=-100, "
            "empty='nan'",
            inputs=_hf_batches,
        ),
        hf(
            api=f"{HF}, no num_items_in_batch (mean)",
            candidate=_hf_call("none"),
            domain="right or left padding with -100",
            inputs=_hf_batches,
        ),
        hf(
            "num-items-counts-unshifted-labels",
            lambda: _hf_batches(min_steps=2),
            dict(logits=zeros, labels=np.array([[1, 2]])),
            "the Trainer counted every label that is not -100 (transformers, until #46204), "
            "but the first label of a row is never predicted after the shift: the count is "
            "one too many per row, so the loss is too small (here log 3 / 2 instead of "
            "log 3); the reference counts the shifted labels.",
            api=f"{HF}, num_items_in_batch = count of unshifted labels",
            candidate=_hf_call("unshifted"),
        ),
        Case(
            operation="accumulated_loss",
            api=f"{HF} over micro-batches, num_items_in_batch = total over all of them",
            inputs=_micro_batches,
            reference=_ref_accumulated,
            candidate=_hf_accumulation("fixed"),
            requires=TORCH,
            domain="1-3 micro-batches of different lengths: the token mean of the big batch",
            **CLOSE,
        ),
        Case(
            operation="accumulated_loss",
            api=f"{HF} over micro-batches, mean of per-micro-batch means",
            inputs=_micro_batches,
            reference=_ref_accumulated,
            candidate=_hf_accumulation("mean-of-means"),
            requires=TORCH,
            expect="mean-of-micro-batch-means",
            example=dict(
                micro_batches=[
                    dict(logits=first, labels=np.array([[0, 1]])),
                    dict(logits=second, labels=np.array([[0, 1, 1]])),
                ]
            ),
            explanation="averaging the micro-batches' mean losses weighs a micro-batch with "
            "one counted token like one with many (transformers#34191, the gradient-"
            "accumulation bug of Oct 2024): here (log 2 + (log 2 + 0.018) / 2) / 2 instead "
            "of (log 2 + log 2 + 0.018) / 3; the reference (accumulated_loss) divides the "
            "summed loss by the total count, as Hugging Face's fix does.",
            **CLOSE,
        ),
    ]


def cases() -> list[Case]:
    """Every framework case of the masked losses and metrics."""
    return _compile_cases() + _direct_cases() + _metric_cases() + _torch_cases() + _hf_cases()
