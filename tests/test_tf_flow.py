"""tf_impl's mask flow: what the conformance registry does not cover, Keras plumbing, explain_masks.

The registry (``maskref/conformance/operations_flow.py``) checks each rule
against the reference on drawn tensors. Here: lists, tuples and tensors mixed,
bad input (the reference's class and message), mixed dtypes, Keras's own
layers, ``tf.function``, ``get_mask``/``set_mask``, the three custom-layer
bases in functional, Sequential and subclassed models, and ``explain_masks``
on the issue's two models.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from conftest import require
from helpers import agree
from helpers import assert_same as same
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

require("tensorflow")  # skips (fails on CI's full leg) when TensorFlow is missing

import keras
import tensorflow as tf

import reference as R
import tf_impl as T
from maskref.api.flow import MERGE_OPS, RULES
from reference import strategies as S

DESTROY_WARNING = "does not support masking and will therefore destroy the mask information"
IDS = np.array([[3, 5, 0, 0], [0, 0, 0, 0], [2, 9, 4, 1]])  # row 1 fully padded


@st.composite
def mask_lists(draw, max_masks: int = 4):
    """A (B, T) shape and a list of masks of it, some entries None, some as lists."""
    shape = (draw(st.integers(0, 3)), draw(st.integers(0, 5)))
    out = []
    for _ in range(draw(st.integers(0, max_masks))):
        kind = draw(st.sampled_from(("none", "mask", "mask", "list", "tensor")))
        if kind == "none":
            out.append(None)
            continue
        m = draw(S.masks(shape))
        out.append(
            m.tolist() if kind == "list" and m.size else tf.constant(m) if kind == "tensor" else m
        )
    return shape, out


@given(mask_lists())
def test_merge_masks_agree(case):
    _, masks = case
    for name in ("merge_masks", "merge_masks_strict"):
        agree(T, name, masks)
        agree(T, name, tuple(masks))


@given(mask_lists(), st.data())
def test_merge_masks_refuse_what_the_reference_refuses(case, data):
    shape, masks = case
    bad = data.draw(st.sampled_from(("int", "shape", "array")))
    if bad == "int":
        masks = [*masks, np.ones(shape, np.int64)]
    elif bad == "shape":
        masks = [*masks, np.ones((shape[0] + 1, shape[1]), bool)]
    else:
        masks = np.ones((2, *shape), bool)
    for name in ("merge_masks", "merge_masks_strict"):
        if bad != "shape" or any(m is not None for m in masks[:-1]):
            with pytest.raises((TypeError, ValueError)):
                getattr(R, name)(masks)
        agree(T, name, masks)
    with pytest.raises(TypeError):
        T.merge_masks(tf.ones((2, 2), tf.bool))


@given(mask_lists(max_masks=3), st.data())
def test_concatenate_masks_agree(case, data):
    (b, t), masks = case
    feats = [data.draw(st.integers(1, 3)) for _ in masks]
    rank3 = [(b, t, f) for f in feats]
    axis = data.draw(st.sampled_from((-1, 2, 1, -2, 0, 3, -4)))
    if axis in (1, -2, 0):  # concatenating along time (or batch): the features must agree
        rank3 = [(b, t, feats[0] if feats else 1) for _ in masks]
    agree(T, "concatenate_masks", masks, rank3, axis=axis)
    agree(
        T,
        "concatenate_masks",
        masks,
        [(b, t)] * len(masks),
        axis=data.draw(st.sampled_from((-1, 1, 0))),
    )


def test_concatenate_masks_errors_and_keras():
    a, b = np.array([[True, False, False]]), np.array([[True, True, False]])
    agree(T, "concatenate_masks", [a], [(1, 3, 2), (1, 3, 2)])  # counts differ
    agree(T, "concatenate_masks", [a, None], [(1, 3, 2), (1, 3)])  # ranks differ
    agree(T, "concatenate_masks", [a, None], [(1, 3, 2), (1, 3, 2)], axis=(1,))
    agree(T, "concatenate_masks", [a, None], [(1, 3, 2), (1, 3, 2)], axis=5)
    agree(T, "concatenate_masks", [a, None], [(1, 3, 2), (1, 4, 2)])  # a is not (1, 4)
    # Keras's own Concatenate gives the same masks (feature axis and time axis)
    x, y = tf.zeros((1, 3, 2)), tf.zeros((1, 3, 4))
    for masks, inputs, axis in (
        ([a, None], [x, y], -1),
        ([a, b], [x, y], -1),
        ([a, None], [x, x], 1),
        ([a, b], [x, x], 1),
    ):
        layer = keras.layers.Concatenate(axis=axis)
        keras_mask = layer.compute_mask(
            inputs, [None if m is None else tf.constant(m) for m in masks]
        )
        got = T.concatenate_masks(masks, [tuple(i.shape) for i in inputs], axis=axis)
        np.testing.assert_array_equal(got.numpy(), keras_mask.numpy())


def test_rules_match_keras_layers():
    m = tf.constant([[True, True, False]])
    x = tf.zeros((1, 3, 2))
    assert T.flow_mask("propagate", m) is m
    assert keras.layers.Dense(2).compute_mask(x, m) is m
    assert T.flow_mask("recurrent", m) is None
    assert keras.layers.LSTM(2).compute_mask(x, m) is None
    same(
        T.flow_mask("recurrent", m, return_sequences=True),
        keras.layers.LSTM(2, return_sequences=True).compute_mask(x, m).numpy(),
    )
    assert keras.layers.GlobalAveragePooling1D().compute_mask(x, m) is None
    assert RULES["attention"](m, None) is m
    assert T.merge_masks([m, None]) is None


@pytest.mark.parametrize("mask_value", [0.0, 4.0, np.inf, -np.inf])
def test_masking_values_equal_keras_masking(mask_value):
    """Keras 3.15's Masking zeroes with ``where`` too, so an inf masked step gives 0, not NaN."""
    x = np.array(
        [
            [[np.inf, np.inf], [1.0, 0.0], [-np.inf, -np.inf]],
            [[4.0, 4.0], [0.0, 0.0], [np.nan, 0.0]],
        ],
        np.float32,
    )
    values, mask = T.masking_values(x, mask_value)
    keras_values = keras.layers.Masking(mask_value=mask_value)(x)
    np.testing.assert_array_equal(values.numpy(), keras_values.numpy())
    np.testing.assert_array_equal(mask.numpy(), T.get_mask(keras_values).numpy())
    assert not np.isnan(values.numpy()[~mask.numpy()]).any()


MERGE_DTYPES = ("float16", "float32", "float64", "int32", "int64", "uint8", "bool")


@given(
    st.sampled_from(tuple(MERGE_OPS)),
    st.lists(st.sampled_from(MERGE_DTYPES), min_size=0, max_size=4),
    st.data(),
)
def test_merge_values_agree(op, dtypes, data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3))
    xs = [data.draw(hnp.arrays(d, shape, elements=S.elements(np.dtype(d)))) for d in dtypes]
    if xs and data.draw(st.booleans()):  # sometimes NaN/inf, sometimes a second shape
        xs[0] = np.full(shape, data.draw(st.sampled_from((np.nan, np.inf, 2.0))), np.float32)
    if op == "subtract" and len(xs) == 2 and data.draw(st.booleans()):
        xs[1] = xs[1][..., :1]  # broadcasts
    if len(xs) > 1 and data.draw(st.integers(0, 5)) == 0:
        xs[-1] = np.zeros(shape + (2,), np.float32)  # a shape that does not fit
    masks = data.draw(st.lists(st.one_of(st.none(), S.masks((2, 2))), max_size=3))
    agree(T, "merge_values", op, xs, masks)


def test_merge_values_match_keras_add_and_mask():
    a = np.array([[[1.0], [2.0], [3.0]]], np.float32)
    b = np.array([[[10.0], [20.0], [30.0]]], np.float32)
    ma, mb = np.array([[True, True, False]]), np.array([[True, False, False]])
    values, mask = T.merge_values("add", [a, b], [ma, mb])
    x, y = T.set_mask(tf.constant(a), ma), T.set_mask(tf.constant(b), mb)
    out = keras.layers.Add()([x, y])
    np.testing.assert_array_equal(values.numpy(), out.numpy())
    np.testing.assert_array_equal(mask.numpy(), T.get_mask(out).numpy())
    assert T.get_mask(keras.layers.Add()([x, tf.constant(b)])) is None  # the any-None rule
    same(T.merge_masks_strict([ma, None]), ma)


def test_rules_in_a_tf_function():
    @tf.function(input_signature=[tf.TensorSpec((None, None), tf.bool)] * 2)
    def f(a, b):
        return (
            T.merge_masks([a, b]),
            T.merge_masks_strict([a, None]),
            T.concatenate_masks([a, b], [(2, 3), (2, 3)], axis=1),
        )

    a, b = np.array([[True, False, True], [False] * 3]), np.array([[True, True, False]] * 2)
    got = f(a, b)
    same(
        got,
        (
            R.merge_masks([a, b]),
            R.merge_masks_strict([a, None]),
            R.concatenate_masks([a, b], [(2, 3), (2, 3)], axis=1),
        ),
    )


# get_mask / set_mask ---------------------------------------------------------------------


def test_get_and_set_mask_round_trip():
    x = tf.zeros((2, 3, 4))
    assert T.get_mask(x) is None
    m = tf.constant([[True, False, True], [False, False, False]])
    assert T.set_mask(x, m) is x
    assert T.get_mask(x) is m
    assert x._keras_mask is m  # where Keras keeps it
    np.testing.assert_array_equal(x.numpy(), np.zeros((2, 3, 4)))  # values untouched
    assert T.get_mask(x * 2.0) is None  # a plain op makes a tensor without a mask
    # the next layer reads it, as with a mask made by Keras
    pooled = keras.layers.GlobalAveragePooling1D()(T.set_mask(tf.ones((2, 3, 1)), m))
    np.testing.assert_array_equal(pooled.numpy()[:, 0], [1.0, np.nan])
    T.set_mask(x, [[True] * 3] * 2)  # lists and arrays become tf.bool tensors
    assert T.get_mask(x).dtype == tf.bool
    assert T.set_mask(x, None) is x and T.get_mask(x) is None
    assert T.get_mask(np.zeros(3)) is None
    emb = keras.layers.Embedding(10, 2, mask_zero=True)(IDS)
    np.testing.assert_array_equal(T.get_mask(emb).numpy(), IDS != 0)


def test_set_mask_refuses_bad_masks():
    x = tf.zeros((2, 3, 4))
    with pytest.raises(TypeError, match="boolean mask"):
        T.set_mask(x, tf.ones((2, 3), tf.int32))
    with pytest.raises(ValueError, match="leading prefix"):
        T.set_mask(x, tf.ones((3, 2), tf.bool))
    with pytest.raises(ValueError, match="leading prefix"):
        T.set_mask(x, tf.ones((2, 3, 4, 1), tf.bool))
    assert T.get_mask(x) is None


def test_set_mask_on_symbolic_tensors():
    inp = keras.Input((3, 2))
    mask = keras.Input((3,), dtype="bool")
    T.set_mask(inp, mask)
    assert T.get_mask(inp) is mask
    with pytest.raises(ValueError):
        T.set_mask(inp, keras.Input((4,), dtype="bool"))


# The three custom-layer bases --------------------------------------------------------------


class Double(T.PropagatingLayer):
    def call(self, inputs):
        return inputs * 2.0


class DropFirst(T.TransformingLayer):
    """Drops the first step: the values and the mask shift left by one."""

    def call(self, inputs):
        return inputs[:, 1:]

    def compute_mask(self, inputs, mask=None):
        return None if mask is None else mask[:, 1:]


class MaskedSum(T.ConsumingLayer):
    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = tf.where(mask[..., None], inputs, tf.zeros_like(inputs))
        return tf.reduce_sum(inputs, axis=1)


def layer_stack():
    emb = keras.layers.Embedding(
        10, 3, mask_zero=True, embeddings_initializer=keras.initializers.RandomNormal(seed=1)
    )
    return [emb, Double(), DropFirst(), MaskedSum()]


def expected_sum(emb: np.ndarray) -> np.ndarray:
    keep = IDS[:, 1:] != 0
    return np.where(keep[..., None], 2.0 * emb[IDS[:, 1:]], 0.0).sum(axis=1)


@pytest.mark.parametrize("style", ["functional", "sequential", "eager", "subclassed"])
def test_layer_bases_carry_the_mask(style):
    emb, double, drop, total = layer_stack()
    masks = {}

    def run(x):
        x = emb(x)
        x = double(x)
        masks["double"] = T.get_mask(x)
        x = drop(x)
        masks["drop"] = T.get_mask(x)
        y = total(x)
        masks["sum"] = T.get_mask(y)
        return y

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no layer may warn about a destroyed mask
        if style == "functional":
            inp = keras.Input((None,), dtype="int32")
            model = keras.Model(inp, run(inp))
            out = model(IDS)
            assert model.predict(IDS, verbose=0).shape == (3, 3)
        elif style == "sequential":
            model = keras.Sequential([keras.Input((4,), dtype="int32"), emb, double, drop, total])
            out = model(IDS)
        elif style == "eager":
            out = run(tf.constant(IDS))
        else:

            class Sub(keras.Model):
                def call(self, ids):
                    return run(ids)

            out = Sub()(IDS)
    np.testing.assert_allclose(out.numpy(), expected_sum(emb.embeddings.numpy()), rtol=1e-6)
    if style == "eager":
        np.testing.assert_array_equal(masks["double"].numpy(), IDS != 0)
        np.testing.assert_array_equal(masks["drop"].numpy(), IDS[:, 1:] != 0)
        assert masks["sum"] is None
    if style == "functional":
        assert T.get_mask(out) is None


def test_transforming_layer_must_implement_compute_mask():
    class Forgot(T.TransformingLayer):
        def call(self, inputs):
            return inputs

    with pytest.raises(NotImplementedError, match="compute_mask"):
        Forgot()(tf.zeros((1, 2, 1)))
    assert Double().supports_masking and MaskedSum().supports_masking
    assert MaskedSum().compute_mask(tf.zeros((1, 2, 1)), tf.constant([[True, False]])) is None


# explain_masks ------------------------------------------------------------------------------


def port_model(pooling=None):
    """The issue's model: Embedding(mask_zero) -> Dense -> Add(skip) -> pooling -> Dense."""
    pooling = pooling or keras.layers.GlobalAveragePooling1D
    inp = keras.Input((None,), dtype="int32")
    e = keras.layers.Embedding(10, 4, mask_zero=True, name="embedding")(inp)
    d = keras.layers.Dense(4, name="dense")(e)
    a = keras.layers.Add(name="skip")([d, e])
    p = pooling(name="pool")(a)
    return keras.Model(inp, keras.layers.Dense(2, name="head")(p))


@pytest.mark.parametrize("pooling", ["keras", "tf_impl"])
def test_explain_masks_on_the_port_model(pooling):
    from tf_impl.pooling import MaskedGlobalAveragePooling1D

    model = port_model(MaskedGlobalAveragePooling1D if pooling == "tf_impl" else None)
    report = T.explain_masks(model, IDS)
    assert [r.name for r in report] == ["embedding", "dense", "skip", "pool", "head"]
    assert [r.kind for r in report] == ["create", "propagate", "merge", "consume", "propagate"]
    valid = T.MaskSummary((3, 4), 6)
    assert report[0].mask_in is None and report[0].mask_out == valid
    assert report[1].mask_in == valid and report[1].mask_out == valid
    assert report[2].mask_in == (valid, valid) and report[2].mask_out == valid
    assert report[3].mask_in == valid and report[3].mask_out is None
    assert report[4].mask_in is None and report[4].mask_out is None
    assert report.flagged == [] and all(r.flag is None for r in report)
    text = str(report)
    assert text.splitlines()[0].split() == [
        "layer",
        "class",
        "kind",
        "mask",
        "in",
        "mask",
        "out",
        "flag",
    ]
    assert re.search(
        r"^skip +Add +merge +\[\(3, 4\) 6/12 valid, \(3, 4\) 6/12 valid\] +"
        r"\(3, 4\) 6/12 valid$",
        text,
        re.M,
    )
    assert f"pool ({type(model.get_layer('pool')).__name__}, consume)" in str(report[3])
    np.testing.assert_allclose(
        model(IDS).numpy()[[0, 2]], model.predict(IDS, verbose=0)[[0, 2]], rtol=1e-6
    )


def test_explain_masks_flags_a_layer_that_destroys_the_mask():
    class Scale(keras.layers.Layer):  # the default: no supports_masking, no compute_mask
        def call(self, inputs):
            return inputs * 2.0

    inp = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 4, mask_zero=True, name="embedding")(inp)
    with pytest.warns(UserWarning, match=DESTROY_WARNING):
        x = Scale(name="scale")(x)
    model = keras.Model(inp, keras.layers.GlobalAveragePooling1D(name="pool")(x))
    with pytest.warns(UserWarning, match="Layer 'scale' .*" + DESTROY_WARNING):
        report = T.explain_masks(model, IDS)
    assert report.flagged == ["scale"]
    scale = report[1]
    assert (scale.kind, scale.flag, scale.mask_out) == ("destroy", "destroyed", None)
    assert scale.mask_in == T.MaskSummary((3, 4), 6)
    assert report[2].mask_in is None  # so the pooling averages over the padding
    assert "scale  " in str(report) and "destroyed" in str(report)
    assert "mask DESTROYED" in str(scale)


def test_explain_masks_flags_silent_drops_and_walks_sequential_models():
    inp = keras.Input((None,), dtype="int32")
    e = keras.layers.Embedding(10, 4, mask_zero=True, name="embedding")(inp)
    plain = keras.ops.multiply(e, 2.0)  # a plain op: no mask, no warning
    unmasked = keras.layers.Dense(4, name="dense")(plain)
    merged = keras.layers.Add(name="merge")([e, unmasked])  # Keras: one unmasked input -> None
    cat = keras.layers.Concatenate(name="cat")([e, unmasked])  # all-True for the unmasked one
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = T.explain_masks(keras.Model(inp, [merged, cat]), IDS)
    flags = {r.name: r.flag for r in report}
    assert flags["merge"] == "dropped" and flags["cat"] is None and flags["dense"] is None
    assert [r.kind for r in report if r.flag] == ["op", "merge"]
    assert {r.name: r.mask_out for r in report}["cat"] == T.MaskSummary((3, 4), 12)

    seq = keras.Sequential(
        [
            keras.Input((4,), dtype="int32"),
            keras.layers.Embedding(10, 4, mask_zero=True),
            keras.layers.LSTM(3, return_sequences=True, name="seq"),
            keras.layers.LSTM(2, name="last"),
            keras.layers.Dense(1),
        ]
    )
    report = T.explain_masks(seq, IDS)
    assert [r.kind for r in report] == ["create", "keep", "consume", "propagate"]
    assert report.flagged == []
    assert report[1].mask_out == T.MaskSummary((3, 4), 6) and report[2].mask_out is None


def test_explain_masks_sees_the_masks_baked_into_a_functional_graph():
    """MultiHeadAttention clears its inputs' masks; the graph still hands the pooling one."""
    inp = keras.Input((None,), dtype="int32")
    e = keras.layers.Embedding(10, 4, mask_zero=True, name="embedding")(inp)
    h = keras.layers.MultiHeadAttention(2, 2, name="mha")(e, e)
    y = keras.layers.Add(name="merge")([e, h])
    report = T.explain_masks(
        keras.Model(inp, keras.layers.GlobalAveragePooling1D(name="pool")(y)), IDS
    )
    rows = {r.name: r for r in report}
    assert rows["mha"].kind == "attention" and rows["mha"].mask_out == T.MaskSummary((3, 4), 6)
    assert rows["merge"].mask_in == (None, T.MaskSummary((3, 4), 6))  # cleared at run time
    assert rows["merge"].flag == "dropped"
    assert rows["pool"].explicit and rows["pool"].mask_in == T.MaskSummary((3, 4), 6)
    assert "(mask=)" in str(report)


def test_explain_masks_refuses_subclassed_models():
    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match="Sequential or functional"):
        T.explain_masks(Sub(), IDS)
