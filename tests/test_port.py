"""A masked Keras model ported to PyTorch with torch_impl gives the same outputs.

The model (issue 7): ``Embedding(V, D, mask_zero=True)`` -> ``Dense(D)`` ->
``Add()`` with a skip connection from the embedding -> ``GlobalAveragePooling1D``
(masked: the mask flows to it) -> ``Dense(1)``. The port: ``torch_impl.flow.Embedding``,
``MaskedSequential`` stacks, ``Add``, ``MaskedGlobalAveragePooling1D`` and
``nn.Linear``, with Keras's weights copied in. Tolerance: float32, rtol 1e-5,
atol 1e-6.

Pinned along the way (Keras 3.15): the mask reaches ``GlobalAveragePooling1D``
in the functional model (``Dense`` propagates it, ``Add`` ORs two equal masks);
a fully padded row gives NaN (Keras's masked mean is 0/0; the port's
``MaskedGlobalAveragePooling1D`` defaults to ``empty=NaN``, so both give NaN);
pre- and post-padding give the same outputs; the eager/subclassed model
equals the functional one here (no ``MultiHeadAttention`` clears the mask).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require

require("tensorflow")
require("torch")

import keras
import torch
from torch import nn

from torch_impl import (
    Add,
    Embedding,
    MaskedGlobalAveragePooling1D,
    MaskedSequential,
)

V, D = 12, 4
TOL = {"rtol": 1e-5, "atol": 1e-6}
POST = np.array([[3, 5, 7, 0, 0], [1, 2, 3, 4, 5], [9, 0, 0, 0, 0], [4, 4, 0, 0, 0]], np.int32)
PRE = np.array([[0, 0, 3, 5, 7], [1, 2, 3, 4, 5], [0, 0, 0, 0, 9], [0, 0, 0, 4, 4]], np.int32)
FULLY_PADDED = np.array([[3, 5, 7, 0, 0], [0, 0, 0, 0, 0], [0, 0, 1, 2, 0]], np.int32)


def keras_model(mask_zero: bool = True) -> keras.Model:
    keras.utils.set_random_seed(7)
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(V, D, mask_zero=mask_zero)(ids)
    h = keras.layers.Dense(D)(x)
    y = keras.layers.Add()([x, h])
    pooled = keras.layers.GlobalAveragePooling1D()(y)
    return keras.Model(ids, keras.layers.Dense(1)(pooled))


class TorchPort(nn.Module):
    """The same model threading ``(x, mask)`` with torch_impl; returns the ``(B, 1)`` output."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = Embedding(V, D, mask_zero=True)
        self.dense = MaskedSequential(nn.Linear(D, D))
        self.add = Add()
        self.head = MaskedSequential(MaskedGlobalAveragePooling1D(), nn.Linear(D, 1))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x, mask = self.embedding(ids)
        h, h_mask = self.dense(x, mask)
        y, y_mask = self.add([x, h], [mask, h_mask])
        out, out_mask = self.head(y, y_mask)
        assert out_mask is None  # the pooling consumed the mask
        return out

    def load_keras(self, model: keras.Model) -> TorchPort:
        emb, dense, _add, _pool, head = model.layers[1:]
        with torch.no_grad():
            self.embedding.weight.copy_(torch.from_numpy(np.asarray(emb.embeddings)))
            for linear, layer in ((self.dense[0], dense), (self.head[1], head)):
                kernel, bias = (np.asarray(w) for w in layer.weights)
                linear.weight.copy_(torch.from_numpy(kernel.T))  # Keras: (in, out)
                linear.bias.copy_(torch.from_numpy(bias))
        return self


@pytest.fixture(scope="module")
def models():
    model = keras_model()
    return model, TorchPort().load_keras(model)


def run_torch(port: TorchPort, ids: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return port(torch.from_numpy(ids.astype(np.int64))).numpy()


def test_the_functional_model_threads_the_mask_to_the_pooling(models):
    model, _ = models
    names = [op.__class__.__name__ for op in model.operations]
    # the mask ops (NotEqual of Embedding, LogicalOr of Add) are nodes of the graph
    assert names[-3:] == ["LogicalOr", "GlobalAveragePooling1D", "Dense"]
    pool = model.layers[4]
    assert "mask" in pool._inbound_nodes[0].arguments.kwargs


@pytest.mark.parametrize("ids", [POST, PRE], ids=["post", "pre"])
def test_port_equals_keras(models, ids):
    model, port = models
    expected = np.asarray(model(ids))
    np.testing.assert_allclose(run_torch(port, ids), expected, **TOL)
    np.testing.assert_allclose(model.predict(ids, verbose=0), expected, **TOL)
    assert np.isfinite(expected).all()


def test_pre_and_post_padding_give_the_same_outputs(models):
    model, port = models
    np.testing.assert_allclose(np.asarray(model(PRE)), np.asarray(model(POST)), **TOL)
    np.testing.assert_allclose(run_torch(port, PRE), run_torch(port, POST), **TOL)


def test_a_fully_padded_row_is_nan_in_both(models):
    model, port = models
    expected = np.asarray(model(FULLY_PADDED))
    got = run_torch(port, FULLY_PADDED)
    assert np.isnan(expected[1]).all() and np.isnan(got[1]).all()  # Keras: 0 / 0 in the mean
    assert np.isfinite(np.delete(expected, 1, axis=0)).all()
    np.testing.assert_allclose(got, expected, equal_nan=True, **TOL)


def test_the_mask_matters(models):
    """Without mask_zero, Keras averages over the padding: a different answer."""
    model, port = models
    unmasked = keras_model(mask_zero=False)
    unmasked.set_weights(model.get_weights())
    differs = ~np.isclose(np.asarray(unmasked(POST)), run_torch(port, POST), **TOL).ravel()
    assert differs.tolist() == [True, False, True, True]  # only the row without padding agrees


def test_the_subclassed_model_gives_the_same_outputs(models):
    """Eager mask flow (masks on the tensors) agrees with the functional graph here."""
    model, port = models

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.emb = keras.layers.Embedding(V, D, mask_zero=True)
            self.dense = keras.layers.Dense(D)
            self.add = keras.layers.Add()
            self.pool = keras.layers.GlobalAveragePooling1D()
            self.head = keras.layers.Dense(1)

        def call(self, ids):
            x = self.emb(ids)
            y = self.add([x, self.dense(x)])
            return self.head(self.pool(y))

    sub = Subclassed()
    sub(POST)
    sub.set_weights(model.get_weights())
    for ids in (POST, PRE, FULLY_PADDED):
        np.testing.assert_allclose(
            np.asarray(sub(ids)), run_torch(port, ids), equal_nan=True, **TOL
        )
