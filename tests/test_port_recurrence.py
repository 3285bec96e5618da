"""The tutorial's masked recurrent models, built in Keras and ported to PyTorch (issue 13).

Two models, each built in Keras (functional, TensorFlow backend), its weights
copied into a ``torch_impl`` port (``load_keras_weights`` for the recurrent
layer, transposes for ``Embedding`` and ``Dense``), run on pre- and
post-padded batches (a fully padded row among them):

1. ``Embedding(V, D, mask_zero=True) -> LSTM(U) -> Dense(1)``; the port:
   ``Embedding(mask_zero=True) -> MaskedLSTM(return_sequences=False) -> Linear``
   in a ``MaskedSequential``.
2. ``Embedding(mask_zero=True) -> Bidirectional(GRU(U, return_sequences=True))
   -> GlobalAveragePooling1D -> Dense(1)`` (the mask reaches the pooling); the
   port: ``MaskedGRU(bidirectional=True) -> MaskedGlobalAveragePooling1D``.

Outputs agree within rtol 1e-5; the gradients of a masked loss (a squared
error on the outputs, and for model 2 also a per-step loss on the GRU's
sequence over the valid steps only) with respect to every weight agree within
rtol 1e-4 (the recurrent gradients read back through the
``*_weights_torch_to_keras`` rules). Pre- and post-padding give the same
outputs in both frameworks. A fully padded row: model 1's LSTM outputs zeros
(its initial state) in both; model 2's masked mean is 0/0 = NaN in both (so it
is kept out of the gradient check).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require

require("tensorflow")
require("torch")

import keras
import tensorflow as tf
import torch
from torch import nn

import torch_impl

V, D, U = 12, 4, 3
TOL = {"rtol": 1e-5, "atol": 1e-6}
GRAD_TOL = {"rtol": 1e-4, "atol": 1e-6}
POST = np.array([[3, 5, 7, 0, 0], [1, 2, 3, 4, 5], [9, 0, 0, 0, 0], [4, 4, 0, 0, 0]], np.int32)
PRE = np.array([[0, 0, 3, 5, 7], [1, 2, 3, 4, 5], [0, 0, 0, 0, 9], [0, 0, 0, 4, 4]], np.int32)
EMPTY = np.array([[3, 5, 7, 0, 0], [0, 0, 0, 0, 0]], np.int32)
TARGET = np.array([[0.5], [-1.0], [0.25], [2.0]], np.float32)


def keras_lstm_model() -> keras.Model:
    keras.utils.set_random_seed(11)
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(V, D, mask_zero=True)(ids)
    h = keras.layers.LSTM(U, bias_initializer="random_uniform")(x)
    return keras.Model(ids, keras.layers.Dense(1)(h))


def keras_gru_model() -> keras.Model:
    keras.utils.set_random_seed(12)
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(V, D, mask_zero=True)(ids)
    seq = keras.layers.Bidirectional(
        keras.layers.GRU(U, return_sequences=True, bias_initializer="random_uniform")
    )(x)
    pooled = keras.layers.GlobalAveragePooling1D()(seq)
    return keras.Model(ids, [keras.layers.Dense(1)(pooled), seq])


def _dense(linear: nn.Linear, layer) -> None:
    kernel, bias = (np.asarray(w) for w in layer.weights)
    linear.weight.copy_(torch.from_numpy(kernel.T))
    linear.bias.copy_(torch.from_numpy(bias))


def torch_lstm_port(model: keras.Model) -> torch_impl.MaskedSequential:
    emb, lstm, dense = model.layers[1:]
    port = torch_impl.MaskedSequential(
        torch_impl.Embedding(V, D, mask_zero=True),
        torch_impl.MaskedLSTM(D, U, return_sequences=False),
        nn.Linear(U, 1),
    )
    with torch.no_grad():
        port[0].weight.copy_(torch.from_numpy(np.asarray(emb.embeddings)))
        _dense(port[2], dense)
    torch_impl.load_keras_weights(port[1], lstm)
    return port


class TorchGruPort(nn.Module):
    def __init__(self, model: keras.Model) -> None:
        super().__init__()
        emb, bidi, _pool, dense = model.layers[1:]
        self.embedding = torch_impl.Embedding(V, D, mask_zero=True)
        self.gru = torch_impl.MaskedGRU(D, U, bidirectional=True)
        self.pool = torch_impl.MaskedGlobalAveragePooling1D()
        self.dense = nn.Linear(2 * U, 1)
        with torch.no_grad():
            self.embedding.weight.copy_(torch.from_numpy(np.asarray(emb.embeddings)))
            _dense(self.dense, dense)
        torch_impl.load_keras_weights(self.gru, bidi)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, mask = self.embedding(ids)
        seq, seq_mask = self.gru(x, mask)
        pooled, _ = torch_impl.call_masked(self.pool, seq, seq_mask)
        return self.dense(pooled), seq, mask


@pytest.fixture(scope="module")
def lstm_models():
    model = keras_lstm_model()
    return model, torch_lstm_port(model)


@pytest.fixture(scope="module")
def gru_models():
    model = keras_gru_model()
    return model, TorchGruPort(model)


def _ids(ids: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(ids.astype(np.int64))


@pytest.mark.parametrize("ids", [POST, PRE, EMPTY], ids=["post", "pre", "empty-row"])
def test_lstm_port_equals_keras(lstm_models, ids):
    model, port = lstm_models
    expected = np.asarray(model(ids))
    with torch.no_grad():
        got, mask = port(_ids(ids))
    assert mask is None  # the LSTM without return_sequences consumed the mask
    np.testing.assert_allclose(got.numpy(), expected, **TOL)
    assert np.isfinite(expected).all()


@pytest.mark.parametrize("ids", [POST, PRE, EMPTY], ids=["post", "pre", "empty-row"])
def test_bidirectional_gru_port_equals_keras(gru_models, ids):
    model, port = gru_models
    expected, expected_seq = (np.asarray(a) for a in model(ids))
    with torch.no_grad():
        got, seq, _ = port(_ids(ids))
    np.testing.assert_allclose(got.numpy(), expected, equal_nan=True, **TOL)
    np.testing.assert_allclose(seq.numpy(), expected_seq, **TOL)
    assert np.isnan(got.numpy()).any() == (ids is EMPTY)  # 0 / 0 in the masked mean


def test_pre_and_post_padding_give_the_same_outputs(lstm_models, gru_models):
    for model, port in (lstm_models, gru_models):
        pre, post = model(PRE), model(POST)
        pre, post = (np.asarray(p[0] if isinstance(p, list) else p) for p in (pre, post))
        np.testing.assert_allclose(pre, post, **TOL)
        with torch.no_grad():
            np.testing.assert_allclose(
                port(_ids(PRE))[0].numpy(), port(_ids(POST))[0].numpy(), **TOL
            )


def _keras_grads(model: keras.Model, ids: np.ndarray, loss_fn) -> dict[str, np.ndarray]:
    with tf.GradientTape() as tape:
        loss = loss_fn(model(ids))
    grads = tape.gradient(loss, model.trainable_variables)
    return {
        v.path: tf.convert_to_tensor(g).numpy() for v, g in zip(model.trainable_variables, grads)
    }


def _recurrent_grads(kind: str, module: nn.Module, suffix: str) -> tuple[np.ndarray, ...]:
    """The module's gradients in Keras's layout (PyTorch adds its two biases, so the Keras
    bias's gradient is either one's: bias_ih's, with bias_hh's read as 0)."""
    g = [
        getattr(module, f"{n}{suffix}").grad.numpy()
        for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ]
    if kind == "lstm":
        np.testing.assert_allclose(g[2], g[3], rtol=1e-6, atol=1e-7)
        g[3] = np.zeros_like(g[3])
    convert = getattr(torch_impl, f"{kind}_weights_torch_to_keras")
    return tuple(a.numpy() for a in convert(*(torch.from_numpy(a) for a in g)))


@pytest.mark.parametrize("ids", [POST, PRE], ids=["post", "pre"])
def test_lstm_port_gradients_equal_keras(ids):
    model = keras_lstm_model()
    port = torch_lstm_port(model)
    target = TARGET[: len(ids)]
    expected = _keras_grads(model, ids, lambda y: tf.reduce_mean((y - target) ** 2))
    out, _ = port(_ids(ids))
    ((out - torch.from_numpy(target)) ** 2).mean().backward()
    emb, lstm, dense = model.layers[1:]
    kernel, recurrent, bias = _recurrent_grads("lstm", port[1], "_l0")
    pairs = [
        (port[0].weight.grad.numpy(), expected[emb.embeddings.path]),
        (kernel, expected[lstm.cell.kernel.path]),
        (recurrent, expected[lstm.cell.recurrent_kernel.path]),
        (bias, expected[lstm.cell.bias.path]),
        (port[2].weight.grad.numpy().T, expected[dense.kernel.path]),
        (port[2].bias.grad.numpy(), expected[dense.bias.path]),
    ]
    assert len(pairs) == len(expected)
    for got, want in pairs:
        np.testing.assert_allclose(got, want, **GRAD_TOL)


@pytest.mark.parametrize("ids", [POST, PRE], ids=["post", "pre"])
def test_bidirectional_gru_port_gradients_equal_keras(ids):
    """Loss: the squared error of the pooled output plus a squared per-step loss on the
    GRU's sequence over the valid steps only (a masked loss)."""
    model = keras_gru_model()
    port = TorchGruPort(model)
    target = TARGET[: len(ids)]
    valid = ids != 0

    def keras_loss(outputs):
        y, seq = outputs
        steps = tf.reduce_sum(tf.where(valid[..., None], seq**2, 0.0)) / valid.sum()
        return tf.reduce_mean((y - target) ** 2) + steps

    expected = _keras_grads(model, ids, keras_loss)
    y, seq, mask = port(_ids(ids))
    steps = torch.where(mask[..., None], seq**2, 0.0).sum() / mask.sum()
    (((y - torch.from_numpy(target)) ** 2).mean() + steps).backward()
    emb, bidi, _pool, dense = model.layers[1:]
    pairs = [(port.embedding.weight.grad.numpy(), expected[emb.embeddings.path])]
    for suffix, layer in (("_l0", bidi.forward_layer), ("_l0_reverse", bidi.backward_layer)):
        grads = _recurrent_grads("gru", port.gru, suffix)
        cell = layer.cell
        pairs += list(
            zip(
                grads,
                (
                    expected[cell.kernel.path],
                    expected[cell.recurrent_kernel.path],
                    expected[cell.bias.path],
                ),
            )
        )
    pairs += [
        (port.dense.weight.grad.numpy().T, expected[dense.kernel.path]),
        (port.dense.bias.grad.numpy(), expected[dense.bias.path]),
    ]
    assert len(pairs) == len(expected)
    for got, want in pairs:
        np.testing.assert_allclose(got, want, **GRAD_TOL)
