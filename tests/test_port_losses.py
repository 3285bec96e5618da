"""One training step of the same masked model in Keras and in PyTorch, both on maskref's loss.

The model: ``Embedding(V, D, mask_zero=True)`` -> ``Dense(C)`` (logits), the
same weights in both frameworks (the PyTorch port: ``torch_impl.Embedding``
and ``nn.Linear`` with Keras's kernel transposed). The batch is padded (pre
and post, a fully padded row) with junk targets (99, -5) at the padded steps.
Keras trains with ``compile(loss=tf_impl.MaskedSparseCategoricalCrossentropy(
from_logits=True), optimizer=SGD(0.5))`` and ``train_on_batch``; PyTorch with
``torch_impl.masked_cross_entropy`` (and ``masked_loss`` for the weighted
reductions) and ``torch.optim.SGD(lr=0.5)``. The updated weights must agree
within rtol 1e-5 (atol 1e-7), with no sample weight, a ``(B, T)`` one and a
``(B,)`` one (which Keras's own loss refuses), under each reduction.

Keras's own ``SparseCategoricalCrossentropy`` could not run this batch at all:
a junk target under the mask raises there (a recorded divergence).
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

import tf_impl
import torch_impl

V, D, C, LR = 7, 3, 5, 0.5
TOL = {"rtol": 1e-5, "atol": 1e-7}
IDS = np.array([[3, 5, 1, 0, 0], [0, 0, 2, 6, 4], [0, 0, 0, 0, 0], [1, 2, 3, 4, 5]], np.int32)
TARGETS = np.array([[1, 4, 0, 99, -5], [99, 99, 3, 3, 2], [-5, 99, 99, 99, 99], [0, 1, 2, 3, 4]])
STEP_WEIGHT = np.random.default_rng(3).uniform(0.5, 2.0, IDS.shape).astype(np.float32)
ROW_WEIGHT = np.array([1.0, 3.0, 2.0, 0.5], np.float32)


def keras_model(reduction: str) -> keras.Model:
    keras.utils.set_random_seed(14)
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(V, D, mask_zero=True)(ids)
    model = keras.Model(ids, keras.layers.Dense(C)(x))
    model.compile(
        optimizer=keras.optimizers.SGD(LR),
        loss=tf_impl.MaskedSparseCategoricalCrossentropy(from_logits=True, reduction=reduction),
    )
    return model


class TorchPort(nn.Module):
    def __init__(self, model: keras.Model) -> None:
        super().__init__()
        self.embedding = torch_impl.Embedding(V, D, mask_zero=True)
        self.dense = nn.Linear(D, C)
        emb, dense = model.layers[1:]
        kernel, bias = (np.asarray(w) for w in dense.weights)
        with torch.no_grad():
            self.embedding.weight.copy_(torch.from_numpy(np.asarray(emb.embeddings)))
            self.dense.weight.copy_(torch.from_numpy(kernel.T))
            self.dense.bias.copy_(torch.from_numpy(bias))

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, mask = self.embedding(ids)
        return self.dense(x), mask


def torch_step(port: TorchPort, reduction: str, sample_weight: np.ndarray | None) -> None:
    optimizer = torch.optim.SGD(port.parameters(), lr=LR)
    logits, mask = port(torch.from_numpy(IDS).long())
    targets = torch.from_numpy(TARGETS)
    if sample_weight is None:
        loss = torch_impl.masked_cross_entropy(logits, targets, mask, reduction=reduction)
    else:
        per_step = torch_impl.masked_cross_entropy(logits, targets, mask, reduction="none")
        loss = torch_impl.masked_loss(
            per_step, mask, sample_weight=torch.from_numpy(sample_weight), reduction=reduction
        )
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


@pytest.mark.parametrize("weight", ["none", "steps", "rows"])
@pytest.mark.parametrize("reduction", ["keras", "token_mean", "sequence_mean", "sum"])
def test_one_training_step_gives_the_same_weights(reduction, weight):
    sample_weight = {"none": None, "steps": STEP_WEIGHT, "rows": ROW_WEIGHT}[weight]
    model = keras_model(reduction)
    port = TorchPort(model)
    before = np.asarray(model.layers[2].weights[0]).copy()
    model.train_on_batch(IDS, TARGETS, sample_weight=sample_weight)
    torch_step(port, reduction, sample_weight)
    emb, dense = model.layers[1:]
    kernel, bias = (np.asarray(w) for w in dense.weights)
    assert not np.allclose(kernel, before)  # the step moved the weights
    np.testing.assert_allclose(port.embedding.weight.detach().numpy(), emb.embeddings, **TOL)
    np.testing.assert_allclose(port.dense.weight.detach().numpy(), kernel.T, **TOL)
    np.testing.assert_allclose(port.dense.bias.detach().numpy(), bias, **TOL)
    # padding never trains: row 0 of the embedding (only padded steps read it) is unchanged
    np.testing.assert_array_equal(port.embedding.weight.detach().numpy()[0], emb.embeddings[0])
