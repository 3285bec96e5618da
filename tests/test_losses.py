"""Masked losses and metrics (issue 14): the rules' properties and what only a backend has.

Every backend's agreement with the reference on drawn inputs is checked by the
conformance cases (``maskref/conformance/operations_losses.py``) and the
frameworks' own losses by ``native_losses.py``; these tests pin the
properties of the rules (the token mean is the mean of the concatenated valid
steps; k-way accumulation is the big batch for any split), that masked
entries never change a loss or its gradient in TensorFlow and PyTorch (NaN,
inf and out-of-range targets under the mask; an inf/NaN incoming gradient),
the fast paths against the plain kernels, ``tf.function``/XLA and
``torch.compile``, the Keras and PyTorch classes, and bad inputs.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from conftest import installed_backends, require
from helpers import agree, assert_same, to_numpy
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference as ref
from maskref.api.losses import REDUCTIONS
from reference import strategies as rs

F32 = np.float32
NAN, INF = float("nan"), float("inf")
MEANS = ("token_mean", "keras", "sequence_mean", "weighted_mean")
#: Option sets of masked_cross_entropy: the fast path (first) and each plain-kernel branch.
OPTIONS = [
    {},
    dict(class_weight=np.array([0.5, 2.0, 1.0, 0.25], F32)),
    dict(label_smoothing=0.2),
    dict(label_smoothing=0.3, class_weight=np.array([0.5, 2.0, 1.0, 0.25], F32)),
    dict(from_logits=False),
    dict(shift=True),
    dict(ignore_index=-100),
    dict(ignore_index=1, reduction="sequence_mean"),
    dict(reduction="keras"),
    dict(reduction="sum"),
    dict(reduction="none", shift=True),
]


def padded_batch(seed: int = 0, b: int = 4, t: int = 6, c: int = 4, poison: float = NAN):
    """float32 logits ``(B, T, C)``, targets, a mask with holes, an empty row and a full row;
    the masked steps poisoned (``poison`` logits, target 99)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(b, t, c)).astype(F32)
    targets = rng.integers(0, c, (b, t))
    mask = rng.random((b, t)) < 0.6
    mask[0], mask[1] = True, False
    logits[~mask] = poison
    targets[~mask] = 99
    return logits, targets, mask


def counted_steps(targets, mask, options) -> np.ndarray:
    """The logits' counted steps (the rule restated): mask AND not ignored, then shifted."""
    keep = mask & (targets != options.get("ignore_index", object()))
    if options.get("shift"):
        keep = np.concatenate([keep[:, 1:], np.zeros((keep.shape[0], 1), bool)], 1)
    return keep


def clean(logits, targets, keep, shift=False, ignore=None):
    """The same batch with ordinary values at every uncounted step (targets: every step
    whose target is not predicted at a counted step)."""
    counted_targets = keep
    if shift:
        counted_targets = np.concatenate([np.zeros((keep.shape[0], 1), bool), keep[:, :-1]], 1)
    filler = 0 if ignore is None else ignore  # stays uncounted
    return np.where(keep[..., None], logits, F32(0.5)), np.where(counted_targets, targets, filler)


def inputs_for(options: dict, logits: np.ndarray) -> np.ndarray:
    """Probabilities (softmax of the finite rows, poison kept) for ``from_logits=False``."""
    if options.get("from_logits") is not False:
        return logits
    finite = np.isfinite(logits).all(-1, keepdims=True)
    safe = np.where(finite, logits, 0)
    e = np.exp(safe - safe.max(-1, keepdims=True))
    return np.where(finite, e / e.sum(-1, keepdims=True), logits).astype(F32)


# --- the rules' properties (reference) ----------------------------------------------------------


@settings(max_examples=60)
@given(data=st.data())
def test_token_mean_is_the_mean_of_the_concatenated_valid_steps(data):
    b, t = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 6))
    loss = data.draw(hnp.arrays(F32, (b, t), elements=st.floats(-4, 4, width=32)))
    mask = data.draw(rs.masks((b, t)))
    mask[data.draw(st.integers(0, b - 1)), data.draw(st.integers(0, t - 1))] = True
    poisoned = np.where(mask, loss, F32(NAN))
    expected = loss[mask].mean(dtype=np.float64)
    for reduction in ("token_mean", "keras", "weighted_mean"):
        got = ref.masked_loss(poisoned, mask, reduction=reduction)
        assert np.isclose(got, expected, rtol=1e-5, atol=1e-6), reduction
    rows = [loss[i][mask[i]].mean(dtype=np.float64) for i in range(b) if mask[i].any()]
    assert np.isclose(ref.masked_loss(poisoned, mask, reduction="sequence_mean"), np.mean(rows))
    assert np.isclose(ref.masked_loss(poisoned, mask, reduction="sum"), loss[mask].sum(), 1e-5)


def test_cross_entropy_token_mean_is_the_mean_over_counted_rows():
    logits, targets, mask = padded_batch()
    rows, labels = logits[mask].astype(np.float64), targets[mask]
    shifted = rows - rows.max(-1, keepdims=True)
    nll = np.log(np.exp(shifted).sum(-1)) - shifted[np.arange(len(labels)), labels]
    assert np.isclose(ref.masked_cross_entropy(logits, targets, mask), nll.mean(), rtol=1e-6)


def test_sample_weight_rules():
    loss = np.array([[1.0, 2.0, NAN], [4.0, NAN, NAN]], F32)
    mask = np.array([[True, True, False], [True, False, False]])
    rows, steps = np.array([1.0, 3.0]), np.array([[1.0, 1.0, NAN], [3.0, NAN, NAN]])
    for weight in (rows, rows[:, None], steps):
        assert ref.masked_loss(loss, mask, sample_weight=weight, reduction="keras") == 5.0
        assert ref.masked_loss(loss, mask, sample_weight=weight) == 3.0
        assert ref.masked_loss(loss, mask, sample_weight=weight, reduction="sum") == 15.0
        assert ref.masked_loss(loss, mask, sample_weight=weight, reduction="sequence_mean") == 2.75
    none = ref.masked_loss(loss, mask, sample_weight=rows, reduction="none")
    assert_same(none, np.array([[1.0, 2.0, 0.0], [12.0, 0.0, 0.0]], F32))
    zero = np.zeros((2, 3), bool)
    for reduction in MEANS:
        assert ref.masked_loss(loss, zero, reduction=reduction) == 0.0
        assert np.isnan(ref.masked_loss(loss, zero, reduction=reduction, empty="nan"))
    assert ref.masked_loss(loss, zero, reduction="sum", empty="nan") == 0.0


def test_pytorch_rule_with_class_weights_and_label_smoothing():
    """Σ w_y·l / Σ w_y with l = (1-ε)·w_y·nll + ε/C·Σ_c w_c·(-logp_c), restated by hand."""
    logits, targets, mask = padded_batch(3)
    w, eps, c = np.array([0.5, 2.0, 1.0, 0.25]), 0.3, 4
    rows, labels = logits[mask].astype(np.float64), targets[mask]
    logp = rows - rows.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    per = (1 - eps) * w[labels] * -logp[np.arange(len(labels)), labels] - eps / c * (logp * w).sum(
        -1
    )
    got = ref.masked_cross_entropy(logits, targets, mask, class_weight=w, label_smoothing=eps)
    assert np.isclose(got, per.sum() / w[labels].sum(), rtol=1e-5)


def test_hugging_face_causal_lm_rule_on_a_constructed_example():
    """Hugging Face's rule (labels -100, shift, sum / num_items_in_batch) by hand: row 0
    predicts 5 and 6 from steps 0 and 1 (its first label, 4, is never predicted), row 1
    predicts 3 and 7 from steps 0 and 1 (step 0 is padding, but its label is not)."""
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 4, 8)).astype(F32)
    labels = np.array([[4, 5, 6, -100], [-100, 3, 7, -100]])
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    terms = [-logp[0, 0, 5], -logp[0, 1, 6], -logp[1, 0, 3], -logp[1, 1, 7]]
    num_items_in_batch = 4  # (labels[:, 1:] != -100).sum(); not 5, the unshifted count
    got = ref.masked_cross_entropy(logits, labels, ignore_index=-100, shift=True)
    assert np.isclose(got, sum(terms) / num_items_in_batch, rtol=1e-6)
    none = ref.masked_cross_entropy(logits, labels, ignore_index=-100, shift=True, reduction="none")
    assert none.shape == (2, 4) and (none[:, -1] == 0).all() and none[0, 2] == 0


@settings(max_examples=40)
@given(data=st.data())
def test_accumulation_equals_the_big_batch_for_any_split(data):
    b, t = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 5))
    logits = data.draw(hnp.arrays(F32, (b, t, 3), elements=st.floats(-4, 4, width=32)))
    targets = data.draw(hnp.arrays(np.int64, (b, t), elements=st.integers(0, 2)))
    mask = data.draw(rs.masks((b, t), layout="post"))
    cuts = sorted(data.draw(st.sets(st.integers(1, b - 1), max_size=3)) if b > 1 else set())
    options = data.draw(
        st.fixed_dictionaries(
            {
                "reduction": st.sampled_from(REDUCTIONS[:-1]),
                "shift": st.booleans(),
                "label_smoothing": st.sampled_from([0.0, 0.25]),
            }
        )
    )
    parts = []
    for lo, hi in zip([0, *cuts], [*cuts, b]):
        length = max(1, int(mask[lo:hi].sum(1).max()))  # each its own padded length
        parts.append((logits[lo:hi, :length], targets[lo:hi, :length], mask[lo:hi, :length]))
    big = ref.masked_cross_entropy(logits, targets, mask, **options)
    assert np.isclose(ref.accumulated_loss(parts, **options), big, rtol=1e-5, atol=1e-6)


# --- masked entries never change a loss or its gradient (TensorFlow, PyTorch) -------------------


def loss_and_gradient(backend: str, logits, targets, mask, options, upstream: float = 1.0):
    """The loss and its gradient with respect to the logits, for an incoming gradient of
    ``upstream`` everywhere."""
    fn = importlib.import_module(backend).masked_cross_entropy
    if backend == "torch_impl":
        import torch

        x = torch.tensor(logits, requires_grad=True)
        y = fn(x, torch.from_numpy(targets), torch.from_numpy(mask), **options)
        (grad,) = torch.autograd.grad(y, x, torch.full_like(y, upstream))
        return y.detach().numpy(), grad.numpy()
    import tensorflow as tf

    x = tf.Variable(logits)
    with tf.GradientTape() as tape:
        y = fn(x, targets, mask, **options)
    return y.numpy(), tape.gradient(y, x, output_gradients=tf.fill(tf.shape(y), upstream)).numpy()


@pytest.mark.parametrize("backend", ["tf_impl", "torch_impl"])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(map(str, o.items())) or "plain")
def test_masked_entries_change_neither_loss_nor_gradient(backend, options):
    require({"tf_impl": "tensorflow", "torch_impl": "torch"}[backend])
    logits, targets, mask = padded_batch(2, poison=0.5)  # finite: shifted steps count
    keep = counted_steps(targets, mask, options)
    base_logits, base_targets = clean(
        logits, targets, keep, options.get("shift", False), options.get("ignore_index")
    )
    for poison in (NAN, INF, -INF):
        bad_logits = np.where(keep[..., None], logits, F32(poison))
        x = inputs_for(options, bad_logits)
        loss, grad = loss_and_gradient(backend, x, targets, mask, options)
        clean_loss, clean_grad = loss_and_gradient(
            backend, inputs_for(options, base_logits), base_targets, mask, options
        )
        assert_same(loss, clean_loss, rtol=1e-6, atol=1e-7)
        assert np.isfinite(grad).all()
        assert (grad[~keep] == 0).all()
        np.testing.assert_allclose(grad[keep], clean_grad[keep], rtol=1e-5, atol=1e-7)
    for upstream in (NAN, INF):  # an incoming inf/NaN stays out of the masked steps
        _, grad = loss_and_gradient(
            backend, inputs_for(options, logits), targets, mask, options, upstream
        )
        assert (grad[~keep] == 0).all()


@pytest.mark.parametrize("backend", ["tf_impl", "torch_impl"])
def test_masked_loss_gradient_is_zero_under_the_mask(backend):
    require({"tf_impl": "tensorflow", "torch_impl": "torch"}[backend])
    module = importlib.import_module(backend)
    loss = np.array([[1.0, NAN, 2.0], [INF, 3.0, -INF]], F32)
    mask = np.array([[True, False, True], [False, True, False]])
    weight = np.array([[1.0, NAN, 2.0], [INF, 0.5, NAN]], F32)
    for reduction in REDUCTIONS:
        for sw in (None, weight, np.array([2.0, NAN], F32)):
            if backend == "torch_impl":
                import torch

                x = torch.tensor(loss, requires_grad=True)
                w = None if sw is None else torch.from_numpy(sw)
                y = module.masked_loss(
                    x, torch.from_numpy(mask), sample_weight=w, reduction=reduction
                )
                (grad,) = torch.autograd.grad(y, x, torch.full_like(y, NAN))
                grad = grad.numpy()
            else:
                import tensorflow as tf

                x = tf.Variable(loss)
                with tf.GradientTape() as tape:
                    y = module.masked_loss(x, mask, sample_weight=sw, reduction=reduction)
                grad = tape.gradient(y, x, output_gradients=tf.fill(tf.shape(y), NAN)).numpy()
            assert (grad[~mask] == 0).all(), (reduction, sw)


@pytest.mark.parametrize("backend", ["tf_impl", "torch_impl"])
def test_accumulated_gradient_is_each_micro_batch_share_of_the_big_batch(backend):
    require({"tf_impl": "tensorflow", "torch_impl": "torch"}[backend])
    module = importlib.import_module(backend)
    logits, targets, mask = padded_batch(4, b=5)
    big_loss, big_grad = loss_and_gradient(backend, logits, targets, mask, {})
    splits = [(0, 2), (2, 3), (3, 5)]
    if backend == "torch_impl":
        import torch

        xs = [torch.tensor(logits[lo:hi], requires_grad=True) for lo, hi in splits]
        total = module.accumulated_loss(
            [(x, targets[lo:hi], mask[lo:hi]) for x, (lo, hi) in zip(xs, splits)]
        )
        total.backward()
        grads = [x.grad.numpy() for x in xs]
    else:
        import tensorflow as tf

        xs = [tf.Variable(logits[lo:hi]) for lo, hi in splits]
        with tf.GradientTape() as tape:
            total = module.accumulated_loss(
                [(x, targets[lo:hi], mask[lo:hi]) for x, (lo, hi) in zip(xs, splits)]
            )
        grads = [g.numpy() for g in tape.gradient(total, xs)]
    assert np.isclose(to_numpy(total), big_loss, rtol=1e-6)
    np.testing.assert_allclose(np.concatenate(grads), big_grad, rtol=1e-5, atol=1e-8)
    assert (np.concatenate(grads)[~mask] == 0).all()


# --- fast paths, graphs, compilation -------------------------------------------------------------


@pytest.mark.parametrize("backend", ["tf_impl", "torch_impl"])
def test_fast_path_equals_the_plain_kernel(backend, monkeypatch):
    require({"tf_impl": "tensorflow", "torch_impl": "torch"}[backend])
    fast = importlib.import_module(f"{backend}._fast_losses")
    logits, targets, mask = padded_batch(5, b=6, t=9, c=7)
    options = dict(class_weight=np.linspace(0.5, 2, 7).astype(F32))
    for opts in ({}, options, dict(ignore_index=3)):
        assert fast.applies(_native(backend, logits), 0.0, True)
        quick = loss_and_gradient(backend, logits, targets, mask, opts)
        monkeypatch.setattr(fast, "applies", lambda *a: False)
        plain = loss_and_gradient(backend, logits, targets, mask, opts)
        monkeypatch.undo()
        np.testing.assert_allclose(quick[0], plain[0], rtol=1e-6)
        np.testing.assert_allclose(quick[1], plain[1], rtol=1e-5, atol=1e-8)
        assert (quick[1][~mask] == 0).all()


def _native(backend: str, array: np.ndarray):
    from helpers import native

    return native(backend, array)


def test_tf_function_with_unknown_shapes_and_xla():
    require("tensorflow")
    import tensorflow as tf

    import tf_impl as ti

    logits, targets, mask = padded_batch(6)
    spec = [
        tf.TensorSpec([None, None, None], tf.float32),
        tf.TensorSpec([None, None], tf.int64),
        tf.TensorSpec([None, None], tf.bool),
    ]
    for reduction in REDUCTIONS:
        for shift in (False, True):

            def fn(x, t, m, reduction=reduction, shift=shift):
                return ti.masked_cross_entropy(x, t, m, reduction=reduction, shift=shift)

            expected = ref.masked_cross_entropy(
                logits, targets, mask, reduction=reduction, shift=shift
            )
            assert_same(tf.function(fn, input_signature=spec)(logits, targets, mask), expected)
            assert_same(tf.function(fn, jit_compile=True)(logits, targets, mask), expected)
    graph = tf.function(lambda x, t, m: ti.masked_cross_entropy(x, t, m), input_signature=spec)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="targets"):
        graph(logits, np.where(mask, 7, targets), mask)  # a counted target out of range
    bad = np.where(mask, 7, targets)  # under XLA, which drops the assertion:
    jit = tf.function(
        lambda x, t, m: ti.masked_cross_entropy(x, t, m, reduction="none"), jit_compile=True
    )
    got = jit(logits, bad, mask).numpy()
    assert np.isnan(got[mask]).all() and (got[~mask] == 0).all()  # NaN, never a silent number
    acc = tf.function(lambda x, t, m: ti.masked_accuracy(x, t, m), input_signature=spec)
    assert_same(acc(logits, targets, mask), ref.masked_accuracy(logits, targets, mask))
    loss = tf.function(lambda x, m: ti.masked_loss(x, m, reduction="sequence_mean"))
    assert_same(
        loss(logits[..., 0], mask), ref.masked_loss(logits[..., 0], mask, reduction="sequence_mean")
    )


def test_torch_compile():
    """The range check of the targets reads a value (one graph break); masked_loss compiles
    to one graph. Results and gradients are the eager ones."""
    require("torch")
    import torch
    import torch._dynamo

    import torch_impl as ti

    logits, targets, mask = padded_batch(7)
    torch._dynamo.reset()
    ce = torch.compile(
        lambda x, t, m: ti.masked_cross_entropy(x, t, m, label_smoothing=0.1), backend="aot_eager"
    )
    x = torch.tensor(logits, requires_grad=True)
    y = ce(x, torch.from_numpy(targets), torch.from_numpy(mask))
    y.backward()
    expected, grad = loss_and_gradient(
        "torch_impl", logits, targets, mask, dict(label_smoothing=0.1)
    )
    assert_same(y, expected)
    np.testing.assert_allclose(x.grad.numpy(), grad, rtol=1e-5, atol=1e-8)
    torch._dynamo.reset()
    loss = torch.compile(
        lambda v, m: ti.masked_loss(v, m, reduction="sequence_mean"),
        backend="eager",
        fullgraph=True,
    )
    values = torch.tensor(logits[..., 0])
    assert_same(
        loss(values, torch.from_numpy(mask)),
        ref.masked_loss(logits[..., 0], mask, reduction="sequence_mean"),
    )
    torch._dynamo.reset()


# --- classes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["reference", "tf_impl", "torch_impl"])
def test_token_mean_over_an_epoch_is_the_mean_of_all_valid_steps(backend):
    if backend not in installed_backends():
        pytest.skip(backend)
    module = importlib.import_module(backend)
    rng = np.random.default_rng(8)
    metric, values = module.TokenMean(), []
    for t in (3, 7, 1, 5):  # batches of different padded lengths
        v = rng.normal(size=(2, t)).astype(F32)
        m = rng.random((2, t)) < 0.7
        metric.update(_native(backend, np.where(m, v, F32(NAN))), _native(backend, m))
        values.append(v[m])
    assert np.isclose(float(metric.result()), np.concatenate(values).mean(), rtol=1e-6)
    metric.reset()
    assert float(metric.result()) == 0.0
    assert np.isnan(float(module.TokenMean(empty="nan").result()))
    with pytest.raises(ValueError, match="empty"):
        module.TokenMean(empty="zeros")
    with pytest.raises(ValueError, match="mask"):
        metric.update(np.zeros((2, 3), F32), np.ones((2, 4), bool))


def test_keras_loss_and_metric():
    require("keras")
    import keras
    import tensorflow as tf

    import tf_impl as ti

    logits, targets, mask = padded_batch(9)
    y_pred = ti.set_mask(tf.constant(logits), tf.constant(mask))
    rows = np.array([1.0, 2.0, 0.5, 3.0], F32)
    per_step = ref.masked_cross_entropy(logits, targets, mask, reduction="none")
    for reduction in REDUCTIONS[:-1]:
        loss = ti.MaskedSparseCategoricalCrossentropy(from_logits=True, reduction=reduction)
        for sw in (None, rows, rows[:, None]):
            expected = ref.masked_loss(per_step, mask, sample_weight=sw, reduction=reduction)
            assert_same(loss(tf.constant(targets), y_pred, sw), expected)
    config = ti.MaskedSparseCategoricalCrossentropy(ignore_class=-1, shift=True).get_config()
    again = keras.losses.deserialize(
        keras.losses.serialize(
            ti.MaskedSparseCategoricalCrossentropy(**{k: v for k, v in config.items()})
        )
    )
    assert again.get_config() == config
    with pytest.raises(ValueError, match="reduction"):
        ti.MaskedSparseCategoricalCrossentropy(reduction="sum_over_batch_size")
    metric = ti.MaskedAccuracy()
    metric.update_state(tf.constant(targets), y_pred)
    assert_same(metric.result(), ref.masked_accuracy(logits, targets, mask))
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_torch_module():
    require("torch")
    import torch

    import torch_impl as ti

    logits, targets, mask = padded_batch(10)
    weight = np.array([0.5, 2.0, 1.0, 0.25], F32)
    loss = ti.MaskedCrossEntropyLoss(class_weight=weight, label_smoothing=0.1, empty="nan")
    assert loss.class_weight is not None and "label_smoothing=0.1" in repr(loss)
    got = loss(torch.from_numpy(logits), torch.from_numpy(targets), torch.from_numpy(mask))
    assert_same(
        got,
        ref.masked_cross_entropy(logits, targets, mask, class_weight=weight, label_smoothing=0.1),
    )
    assert "class_weight" in dict(loss.named_buffers())
    with pytest.raises(TypeError, match="shift"):
        ti.MaskedCrossEntropyLoss(shift=1)


# --- bad inputs (beyond the matrix of tests/test_bad_inputs.py) ---------------------------------


@pytest.mark.parametrize("backend", ["tf_impl", "torch_impl"])
def test_errors_are_the_references(backend):
    require({"tf_impl": "tensorflow", "torch_impl": "torch"}[backend])
    logits, targets, mask = padded_batch(11)
    triple = (logits, targets, mask)
    agree(backend, "accumulated_loss", [triple], reduce="sum")  # unknown option
    agree(backend, "accumulated_loss", [triple, (logits[..., :3], targets, mask)])  # classes
    agree(backend, "accumulated_loss", [triple, (logits.astype(np.float64), targets, mask)])
    agree(backend, "accumulated_loss", [triple, (logits, np.full_like(targets, 9), None)])
    agree(backend, "masked_cross_entropy", np.zeros((1, 2, 0), F32), np.zeros((1, 2), np.int64))
    agree(backend, "masked_cross_entropy", logits, targets[:, :2])
    agree(backend, "masked_cross_entropy", logits, targets, mask, ignore_index=2**63)
    agree(backend, "masked_cross_entropy", logits, targets, mask, class_weight=np.ones((4, 1)))
    agree(backend, "masked_loss", logits[..., 0], mask, sample_weight=np.ones((4, 1, 1)))
    agree(backend, "masked_loss", logits, mask)
    agree(backend, "masked_accuracy", logits, np.full_like(targets, 4), mask)
    # out-of-range and junk targets where nothing counts are fine
    agree(backend, "masked_cross_entropy", logits, np.where(mask, targets, -7), mask, shift=False)
