"""Keras attention facts that ``maskref/conformance/native_attention_keras.py`` relies on."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require

F32 = np.float32


@pytest.fixture
def keras():
    require("keras")
    require("tensorflow")
    import keras

    return keras


def _mha(keras, heads=1, key_dim=2, dim=1):
    from maskref.conformance.native_attention_keras import _mha_layer

    return _mha_layer(heads, key_dim, dim, 0)


def test_the_cases_record_the_tensorflow_backend(keras):
    assert keras.backend.backend() == "tensorflow"


def test_mha_projection_layout(keras):
    """The weights the cases copy: x @ W + b per head, heads merged by the output kernel."""
    layer = keras.layers.MultiHeadAttention(2, 3)
    layer.build((1, 1, 4), (1, 1, 5), (1, 1, 6))
    for dense, dim in ((layer.query_dense, 4), (layer.value_dense, 5), (layer.key_dense, 6)):
        assert dense.equation == "abc,cde->abde"
        assert (tuple(dense.kernel.shape), tuple(dense.bias.shape)) == ((dim, 2, 3), (2, 3))
    assert layer.output_dense.equation == "abcd,cde->abe"
    assert tuple(layer.output_dense.kernel.shape) == (2, 3, 4)
    assert tuple(layer.output_dense.bias.shape) == (4,)


def test_mha_fused_path_averages_a_fully_masked_row_the_scores_path_zeroes_it(keras):
    layer = _mha(keras)
    q, v = np.ones((1, 1, 1), F32), np.array([[[1.0], [3.0]]], F32)
    mask = np.zeros((1, 1, 2), bool)
    fused = np.asarray(layer(q, v, attention_mask=mask))
    out, scores = layer(q, v, attention_mask=mask, return_attention_scores=True)
    assert np.asarray(scores).tolist() == [[[[0.0, 0.0]]]]
    np.testing.assert_allclose(np.asarray(out), np.asarray(layer.output_dense.bias)[None, None])
    mean_value = layer.value_dense(v).numpy().mean(axis=1)  # (1, N, H)
    expected = np.einsum("bnh,nhd->bd", mean_value, layer.output_dense.kernel.numpy())
    np.testing.assert_allclose(fused[:, 0], expected + layer.output_dense.bias.numpy(), rtol=1e-5)


def test_mha_clears_the_masks_of_its_inputs_and_masks_its_output(keras):
    from keras.src.backend import get_keras_mask

    x = keras.layers.Masking(0.0)(np.array([[[1.0], [0.0]]], F32))
    assert np.asarray(get_keras_mask(x)).tolist() == [[True, False]]
    out = _mha(keras)(x, x)
    assert get_keras_mask(x) is None
    assert np.asarray(get_keras_mask(out)).tolist() == [[True, False]]


def test_mha_overwrites_an_explicit_query_mask_but_honours_value_mask(keras):
    layer = _mha(keras)
    q, v = np.ones((1, 2, 1), F32), np.array([[[1.0], [3.0]]], F32)
    plain = np.asarray(layer(q, v))
    with_query_mask = np.asarray(layer(q, v, query_mask=np.array([[True, False]])))
    with_value_mask = np.asarray(layer(q, v, value_mask=np.array([[True, False]])))
    np.testing.assert_array_equal(with_query_mask, plain)
    assert not np.allclose(with_value_mask, plain)


def test_mha_functional_model_masks_as_eager(keras):
    """The Masking -> MultiHeadAttention case runs eagerly; a functional model agrees."""
    layer = _mha(keras)
    inputs = keras.Input((None, 1))
    masked = keras.layers.Masking(0.0)(inputs)
    model = keras.Model(inputs, layer(masked, masked))
    x = np.array([[[0.5], [1.0], [0.0]], [[0.0], [2.0], [0.0]]], F32)
    eager = keras.layers.Masking(0.0)(x)
    np.testing.assert_allclose(
        np.asarray(model(x)), np.asarray(layer(eager, eager)), rtol=1e-6, atol=1e-6
    )


def test_keras_ops_add_reads_a_column_as_a_channels_first_bias_on_tensorflow(keras):
    """Why MultiHeadAttention(key_dim=1) misplaces its projection bias when L == heads."""
    bias = np.array([[0.1], [0.2]], F32)  # (heads, key_dim=1)
    x = np.zeros((1, 2, 2, 1), F32)  # (B, L, heads, key_dim) with L == heads
    got = np.asarray(keras.ops.add(x, bias))[0, :, :, 0]
    np.testing.assert_allclose((x + bias)[0, :, :, 0], [[0.1, 0.2], [0.1, 0.2]])
    np.testing.assert_allclose(got, [[0.1, 0.1], [0.2, 0.2]])


def test_dot_product_attention_default_scale_is_float32(keras):
    """float64 inputs get 1 / sqrt(H) rounded to float32 (hence the float64 tolerance)."""
    rng = np.random.default_rng(0)
    q, k, v = (rng.uniform(-2, 2, (1, 2, 1, 3)) for _ in range(3))
    default = np.asarray(keras.ops.dot_product_attention(q, k, v))
    f32_scale = float(np.float32(1.0) / np.sqrt(np.float32(3.0)))
    np.testing.assert_array_equal(
        default, np.asarray(keras.ops.dot_product_attention(q, k, v, scale=f32_scale))
    )
    exact = np.asarray(keras.ops.dot_product_attention(q, k, v, scale=1 / np.sqrt(3.0)))
    assert default.dtype == np.float64
    np.testing.assert_allclose(default, exact, rtol=1e-6)


def test_dot_product_attention_masks_with_a_large_negative_logit(keras):
    """A bool mask replaces hidden logits (NaN keys vanish); a bias is added (NaN stays)."""
    q = np.ones((1, 1, 1, 1), F32)
    k = np.array([1.0, np.nan], F32).reshape(1, 2, 1, 1)
    v = np.array([1.0, 3.0], F32).reshape(1, 2, 1, 1)
    mask = np.array([[True, False]])
    bias = np.array([[0.0, -np.inf]], F32)
    assert np.asarray(keras.ops.dot_product_attention(q, k, v, mask=mask)).ravel().tolist() == [1]
    assert np.isnan(np.asarray(keras.ops.dot_product_attention(q, k, v, bias=bias))).all()
