"""TensorFlow-only behaviour of tf_impl's masked reductions and pooling layers.

XLA and graph mode (where ``tf.reduce_max`` drops NaN), the (B, T)-mask fast
paths (matmul sums, gathered extremes) against the reference, their
gradients, retracing, bfloat16, and the Keras layers in functional and
subclassed models.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require

require("tensorflow")  # skips (fails on CI's full leg) when TensorFlow is missing

import keras
import tensorflow as tf
from helpers import assert_same, plant

import reference as R
import tf_impl as T
from maskref.api.exports import SHARED

NAN, INF = np.nan, np.inf
EXTREMES = ["masked_max", "masked_min", "masked_argmax", "masked_argmin"]
POOLED = ["masked_sum", "masked_mean", "masked_max", "masked_min"]


def big_batch(padding: float, dtype: str = "float32", seed: int = 0):
    """(8, 64, 160) data (above the fast paths' size) with random lengths, one empty row."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(8, 64, 160)).astype(dtype)
    lengths = rng.integers(1, 65, 8)
    lengths[3] = 0
    mask = np.arange(64) < lengths[:, None]
    x[~mask] = padding
    return x, mask


# --- NaN in graph mode and under XLA -------------------------------------------------


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("name", EXTREMES)
def test_valid_nan_propagates_in_graph_mode_and_under_xla(name: str, jit: bool) -> None:
    x = np.array(
        [[1.0, NAN, 3.0], [NAN, 1.0, INF], [3.0, 2.0, NAN], [NAN, -INF, 0.0], [NAN, NAN, NAN]],
        np.float32,
    )
    mask = np.array(
        [
            [True, True, True],
            [True, True, False],
            [True, True, False],
            [False, True, True],
            [False, False, False],
        ]
    )
    fn = tf.function(lambda a, b: getattr(T, name)(a, b, axis=1), jit_compile=jit)
    expected = getattr(R, name)(x, mask, axis=1)
    np.testing.assert_array_equal(fn(x, mask).numpy(), expected)
    flat = tf.function(lambda a, b: getattr(T, name)(a, b), jit_compile=jit)
    np.testing.assert_array_equal(flat(x, mask).numpy(), getattr(R, name)(x, mask))


# --- the (B, T) fast paths -----------------------------------------------------------


@pytest.mark.parametrize("padding", [0.0, NAN, 1e30])
@pytest.mark.parametrize("name", POOLED)
def test_fast_paths_agree_with_the_reference(name: str, padding: float) -> None:
    x, mask = big_batch(padding)
    x[0, 0, 0], x[1, 0, 1] = NAN, INF  # valid non-finite values: the slow path's business
    x[2, 0] = -INF
    fn = getattr(T, name)
    jit = tf.function(lambda a, b: fn(a, b, axis=1), jit_compile=True)
    for keepdims in (False, True):
        expected = getattr(R, name)(x, mask, axis=1, keepdims=keepdims)
        assert_same(fn(tf.constant(x), tf.constant(mask), axis=1, keepdims=keepdims), expected)
    assert_same(jit(x, mask), getattr(R, name)(x, mask, axis=1))
    x[0, 0, 0], x[1, 0, 1], x[2, 0] = 0.0, 0.0, 0.0  # now all finite: the fast path's result
    assert_same(fn(tf.constant(x), tf.constant(mask), axis=1), getattr(R, name)(x, mask, axis=1))
    x64 = x.astype(np.float64)
    assert_same(
        fn(tf.constant(x64), tf.constant(mask), axis=1),
        getattr(R, name)(x64, mask, axis=1),
        rtol=1e-10,
        atol=1e-10,
    )


def test_fast_paths_with_no_valid_step_at_all() -> None:
    x, mask = big_batch(NAN)
    mask[:] = False
    for name in POOLED:
        expected = getattr(R, name)(x, mask, axis=1, empty=-7.0)
        assert_same(
            getattr(T, name)(tf.constant(x), tf.constant(mask), axis=1, empty=-7.0), expected
        )


@pytest.mark.parametrize("padding", [0.0, NAN, 1e30])
@pytest.mark.parametrize("name", POOLED)
def test_fast_path_gradients_are_zero_under_the_mask(name: str, padding: float) -> None:
    x, mask = big_batch(padding)
    full = np.broadcast_to(mask[..., None], x.shape)
    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = getattr(T, name)(xv, tf.constant(mask), axis=1)
        loss = tf.reduce_sum(tf.where(tf.math.is_finite(y), y, tf.zeros_like(y)))
    grad = tape.gradient(loss, xv)
    grad = tf.convert_to_tensor(grad).numpy()
    assert np.isfinite(grad).all()
    assert (grad[~full] == 0).all()
    if name == "masked_sum":
        np.testing.assert_array_equal(grad[full], 1.0)
    if name in ("masked_max", "masked_min"):  # one winner per (row, feature) that has one
        counts = grad.sum(axis=1)
        expected = np.broadcast_to(mask.any(1)[:, None], counts.shape).astype(np.float32)
        np.testing.assert_allclose(counts, expected, rtol=1e-6)  # duplicated rows split ties


# --- tf.function, XLA and retracing --------------------------------------------------


@pytest.mark.parametrize("name", POOLED)
def test_no_retracing_when_only_the_mask_changes(name: str) -> None:
    traces = []

    @tf.function(jit_compile=True)
    def pooled(x: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        traces.append(1)
        return getattr(T, name)(x, mask, axis=1)

    x, _ = big_batch(0.0)
    rng = np.random.default_rng(1)
    for _ in range(3):
        mask = np.arange(64) < rng.integers(0, 65, 8)[:, None]
        assert_same(pooled(tf.constant(x), tf.constant(mask)), getattr(R, name)(x, mask, axis=1))
    assert len(traces) == 1


def test_unknown_sizes_in_tf_function() -> None:
    spec = [tf.TensorSpec([None, None, 3], tf.float32), tf.TensorSpec([None, None], tf.bool)]
    fns = {
        name: tf.function(lambda a, b, n=name: getattr(T, n)(a, b, axis=1), input_signature=spec)
        for name in POOLED + ["masked_var", "masked_logsumexp", "masked_count"]
    }
    x = np.array(
        [[[1.0, 2.0, 3.0], [NAN, NAN, NAN]], [[INF, 0.0, 1.0], [4.0, 5.0, 6.0]]], np.float32
    )
    mask = np.array([[True, False], [False, False]])
    for name, fn in fns.items():
        np.testing.assert_allclose(fn(x, mask).numpy(), getattr(R, name)(x, mask, axis=1))
        assert fn.experimental_get_tracing_count() == 1
    with pytest.raises(tf.errors.InvalidArgumentError, match="leading prefix"):
        fns["masked_sum"](x, np.ones((2, 3), bool))
    soft = tf.function(
        lambda a, b: T.masked_softmax(a, b, axis=1, empty="uniform"), input_signature=spec
    )
    np.testing.assert_allclose(
        soft(x, mask).numpy(), R.masked_softmax(x, mask, axis=1, empty="uniform")
    )


def test_every_function_compiles_with_xla() -> None:
    x, mask = big_batch(NAN)
    x, mask = x[:3, :5, :4], mask[:3, :5]
    for name in SHARED["reductions"]:
        fn = tf.function(lambda a, b, n=name: getattr(T, n)(a, b, axis=1), jit_compile=True)
        expected = getattr(R, name)(x, mask, axis=1)
        np.testing.assert_allclose(
            fn(x, mask).numpy(), expected, rtol=1e-5, atol=1e-6, err_msg=name
        )


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("name", SHARED["reductions"])
def test_every_function_with_unknown_sizes_and_poisoned_padding(name: str, jit: bool) -> None:
    """NaN, inf and -inf under the mask, every size unknown while tracing: the reference's
    result (the (B, T) paths included: a NaN under the mask sends the sum to ``where``)."""
    x, mask = big_batch(0.0)
    x, mask = plant(x[2:6, :7, :3], mask[2:6, :7]), mask[2:6, :7]
    spec = [tf.TensorSpec([None] * 3, tf.float32), tf.TensorSpec([None] * 2, tf.bool)]
    fn = tf.function(
        lambda a, b: getattr(T, name)(a, b, axis=1), input_signature=spec, jit_compile=jit
    )
    assert_same(fn(x, mask), getattr(R, name)(x, mask, axis=1))


# --- dtypes --------------------------------------------------------------------------


def test_bfloat16_is_computed_in_float32() -> None:
    x = np.array([[1.0, 2.0, 3.0, NAN], [0.5, 0.25, 8.0, 1.0]], np.float32)
    mask = np.array([[True, True, True, False], [True, False, True, True]])
    xb = tf.cast(tf.constant(x), tf.bfloat16)
    for name in [
        "masked_sum",
        "masked_mean",
        "masked_max",
        "masked_var",
        "masked_logsumexp",
        "masked_softmax",
        "masked_log_softmax",
        "masked_cumsum",
    ]:
        kwargs = (
            {} if name in ("masked_softmax", "masked_log_softmax", "masked_cumsum") else {"axis": 1}
        )
        out = getattr(T, name)(xb, mask, **kwargs)
        assert out.dtype == tf.bfloat16, name
        expected = getattr(R, name)(x, mask, **kwargs)
        np.testing.assert_allclose(
            tf.cast(out, tf.float32).numpy(), expected, rtol=2e-2, err_msg=name
        )
    assert T.masked_argmax(xb, mask, axis=1).numpy().tolist() == [2, 2]


def test_float16_rounds_once_and_integers_widen() -> None:
    x = np.full((1, 3000), 0.1, np.float16)  # float16 accumulation would stall at 256
    mask = np.ones((1, 3000), bool)
    assert_same(T.masked_sum(x, mask, axis=1), R.masked_sum(x, mask, axis=1), rtol=0, atol=0)
    ints = np.array([[2**40, 2**40, 7]], np.int64)
    assert_same(
        T.masked_sum(ints, np.array([[True, True, False]]), axis=1),
        np.array([2**41], np.int64),
        rtol=0,
        atol=0,
    )


def test_eager_errors_are_python_errors() -> None:
    x = tf.constant([[1, 2]], tf.int32)
    with pytest.raises(ValueError, match="without loss"):
        T.masked_sum(x, tf.constant([[True, True]]), empty=NAN)
    with pytest.raises(TypeError, match="boolean"):
        T.masked_max(x, tf.constant([[1, 0]]))
    with pytest.raises(TypeError, match="numbers or bools"):
        T.masked_mean(tf.constant([["a"]]), tf.constant([[True]]))


# --- the Keras layers ----------------------------------------------------------------


LAYERS = [
    ("MaskedGlobalAveragePooling1D", "masked_mean"),
    ("MaskedGlobalMaxPooling1D", "masked_max"),
]


@pytest.mark.parametrize(("layer_name", "reduce"), LAYERS)
def test_layers_behind_a_masking_layer(layer_name: str, reduce: str) -> None:
    x = np.random.default_rng(0).normal(size=(3, 4, 2)).astype(np.float32)
    x[0, 2:] = 0.0
    x[1] = 0.0  # a fully masked row
    inputs = keras.Input((None, 2))
    pooled = getattr(T, layer_name)(keepdims=True)(keras.layers.Masking(0.0)(inputs))
    model = keras.Model(inputs, keras.layers.Reshape((2,))(pooled))
    mask = (x != 0).any(-1)
    expected = getattr(R, reduce)(x, mask, axis=1)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-6)
    assert np.isnan(expected[1]).all() if reduce == "masked_mean" else (expected[1] == -INF).all()


@pytest.mark.parametrize(("layer_name", "reduce"), LAYERS)
def test_layers_serialize_and_train(layer_name: str, reduce: str) -> None:
    layer = getattr(T, layer_name)(keepdims=True, empty=-1.0, name="pool")
    config = keras.saving.serialize_keras_object(layer)
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is type(layer)
    assert restored.get_config() == layer.get_config()
    assert restored.compute_output_shape((None, 5, 3)) == (None, 1, 3)

    class Classifier(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.embed = keras.layers.Embedding(10, 4, mask_zero=True)
            self.pool = getattr(T, layer_name)(empty=0.0)
            self.out = keras.layers.Dense(1)

        def call(self, ids: tf.Tensor) -> tf.Tensor:
            return self.out(self.pool(self.embed(ids)))

    ids = np.array([[3, 5, 0, 0], [0, 0, 0, 0], [2, 9, 4, 1]])
    model = Classifier()
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    history = model.fit(ids, np.ones((3, 1)), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    emb = np.asarray(model.embed.embeddings)
    pooled = getattr(R, reduce)(emb[ids], ids != 0, axis=1, empty=0.0)
    np.testing.assert_allclose(np.asarray(model.pool(model.embed(ids))), pooled, rtol=1e-6)
