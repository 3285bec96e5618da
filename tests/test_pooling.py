"""The masked pooling layers (Keras) and modules (PyTorch)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require

IDS = np.array([[3, 5, 0, 0], [0, 0, 0, 0], [2, 9, 4, 1]])  # row 1 fully padded


def keras_embedding_model(pooling):
    import keras

    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 3, mask_zero=True)(inputs)
    return keras.Model(inputs, pooling()(x))


@pytest.mark.parametrize(
    ("name", "reduce"),
    [("MaskedGlobalAveragePooling1D", "masked_mean"), ("MaskedGlobalMaxPooling1D", "masked_max")],
)
def test_keras_layers_consume_the_embedding_mask(name, reduce):
    require("tensorflow")
    import keras

    import reference as ref
    import tf_impl

    model = keras_embedding_model(getattr(tf_impl, name))
    emb = np.asarray(model.layers[1].embeddings)
    expected = getattr(ref, reduce)(emb[IDS], IDS != 0, axis=1)
    np.testing.assert_allclose(np.asarray(model(IDS)), expected, rtol=1e-6)
    np.testing.assert_allclose(model.predict(IDS, verbose=0), expected, rtol=1e-6)
    layer = model.layers[-1]
    restored = type(layer).from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()
    assert layer.compute_mask(None, None) is None

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.emb = keras.layers.Embedding(10, 3, mask_zero=True)
            self.pool = getattr(tf_impl, name)()

        def call(self, ids):
            return self.pool(self.emb(ids))

    sub = Subclassed()
    sub(IDS)
    sub.emb.set_weights([emb])
    np.testing.assert_allclose(np.asarray(sub(IDS)), expected, rtol=1e-6)


def test_keras_max_pooling_ignores_padding_unlike_keras():
    require("tensorflow")
    import keras

    import tf_impl

    x = np.array([[[1.0], [1e6]]], np.float32)
    mask = np.array([[True, False]])
    assert float(tf_impl.MaskedGlobalMaxPooling1D()(x, mask=mask)[0, 0]) == 1.0
    assert float(keras.layers.GlobalMaxPooling1D()(x)[0, 0]) == 1e6
    out = tf_impl.MaskedGlobalAveragePooling1D(keepdims=True, empty=0.0)(
        x, mask=np.array([[False, False]])
    )
    assert out.shape == (1, 1, 1) and float(out[0, 0, 0]) == 0.0


def test_keras_layer_gradient_is_zero_under_the_mask():
    require("tensorflow")
    import tensorflow as tf

    import tf_impl

    x = tf.Variable([[[1.0], [np.nan]], [[np.inf], [np.nan]]])
    mask = tf.constant([[True, False], [False, False]])
    for layer in (tf_impl.MaskedGlobalAveragePooling1D(), tf_impl.MaskedGlobalMaxPooling1D()):
        with tf.GradientTape() as tape:
            y = layer(x, mask=mask)
            loss = tf.reduce_sum(tf.where(tf.math.is_finite(y), y, 0.0))
        grad = tape.gradient(loss, x).numpy()
        np.testing.assert_array_equal(grad, [[[1.0], [0.0]], [[0.0], [0.0]]])


def test_tf_reductions_compile_without_retracing():
    require("tensorflow")
    import tensorflow as tf

    import tf_impl

    traces = []

    @tf.function(jit_compile=True)
    def pooled(x, mask):
        traces.append(1)
        return tf_impl.masked_mean(x, mask, axis=1), tf_impl.masked_max(x, mask, axis=1)

    x = tf.random.normal((4, 6, 3))
    for lengths in ([1, 2, 3, 4], [6, 0, 2, 1], [0, 0, 0, 0]):
        mask = tf_impl.sequence_mask(tf.constant(lengths), 6)
        mean, top = pooled(x, mask)
        np.testing.assert_allclose(
            mean.numpy(), tf_impl.masked_mean(x, mask, axis=1).numpy(), rtol=1e-6
        )
        np.testing.assert_allclose(top.numpy(), tf_impl.masked_max(x, mask, axis=1).numpy())
    assert len(traces) == 1


@pytest.mark.parametrize(
    ("name", "reduce"),
    [("MaskedGlobalAveragePooling1D", "masked_mean"), ("MaskedGlobalMaxPooling1D", "masked_max")],
)
def test_torch_modules(name, reduce):
    require("torch")
    import torch

    import reference as ref
    import torch_impl

    x = np.random.default_rng(0).normal(size=(3, 4, 2)).astype(np.float32)
    mask = IDS != 0
    x[~mask] = np.nan
    xt = torch.tensor(x, requires_grad=True)
    module = getattr(torch_impl, name)()
    out = module(xt, torch.from_numpy(mask))
    np.testing.assert_allclose(
        out.detach().numpy(), getattr(ref, reduce)(x, mask, axis=1), rtol=1e-6
    )
    torch.where(torch.isfinite(out), out, 0.0).sum().backward()
    grad = xt.grad.numpy()
    assert np.isfinite(grad).all() and (grad[~mask] == 0).all()
    full = module(torch.ones(1, 2, 2))
    assert full.shape == (1, 2)
    assert "keepdims=False" in repr(module)


def test_torch_reductions_accept_bfloat16_and_keep_the_device():
    require("torch")
    import torch

    import torch_impl

    x = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.bfloat16)
    mask = torch.tensor([[True, True, False]])
    out = torch_impl.masked_mean(x, mask, axis=1)
    assert out.dtype == torch.bfloat16 and float(out[0]) == 1.5
    meta = torch_impl.masked_sum(
        torch.zeros(2, 3, device="meta"), torch.ones(2, 3, dtype=torch.bool, device="meta"), axis=1
    )
    assert meta.device.type == "meta"


def test_tf_reductions_accept_bfloat16():
    require("tensorflow")
    import tensorflow as tf

    import tf_impl

    x = tf.constant([[1.0, 2.0, 3.0]], dtype=tf.bfloat16)
    mask = tf.constant([[True, True, False]])
    out = tf_impl.masked_mean(x, mask, axis=1)
    assert out.dtype == tf.bfloat16 and float(out[0]) == 1.5
    soft = tf_impl.masked_softmax(x, mask)
    assert soft.dtype == tf.bfloat16 and float(soft[0, 2]) == 0.0
