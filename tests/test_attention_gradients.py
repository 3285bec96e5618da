"""Gradients of tf_impl/torch_impl attention with NaN and inf planted where no one looks.

The NaN-gradient trap of attention (pytorch#41508): a query row that sees no
key, or a padded key holding NaN, poisons the gradients of the whole batch
when masking is done after the arithmetic. maskref's attention must give
finite gradients everywhere, and exactly 0 for keys and values that no query
can see and for query rows that see no key.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FRAMEWORK, require
from hypothesis import given
from hypothesis import strategies as st

import reference as ref
from reference import strategies as rs

NAMES = ("query", "key", "value")


def gradients(backend: str, batch: dict, weights: np.random.Generator) -> dict[str, np.ndarray]:
    """d/d(query, key, value) of sum(w * out) for a fixed random w."""
    args = {k: v for k, v in batch.items() if k not in NAMES + ("mask",)}
    out_shape = ref.scaled_dot_product_attention(**batch).shape
    w = weights.normal(size=out_shape).astype(batch["query"].dtype)
    if backend == "torch_impl":
        import torch

        import torch_impl

        leaves = {n: torch.tensor(batch[n], requires_grad=True) for n in NAMES}
        mask = None if batch["mask"] is None else torch.from_numpy(batch["mask"])
        out = torch_impl.scaled_dot_product_attention(**leaves, mask=mask, **args)
        grads = torch.autograd.grad(
            (out * torch.from_numpy(w)).sum(), list(leaves.values()), allow_unused=True
        )
        return {
            n: np.zeros_like(batch[n]) if g is None else g.numpy() for n, g in zip(NAMES, grads)
        }
    if backend == "jax_impl":
        import jax
        import jax.numpy as jnp

        import jax_impl

        def loss(leaves: dict) -> object:
            out = jax_impl.scaled_dot_product_attention(**leaves, mask=batch["mask"], **args)
            return jnp.sum(out * w)

        with jax.enable_x64(True):  # float64 batches stay float64
            grads = jax.grad(loss)({n: jnp.asarray(batch[n]) for n in NAMES})
            return {n: np.asarray(g) for n, g in grads.items()}
    import tensorflow as tf

    import tf_impl

    leaves = {n: tf.Variable(batch[n]) for n in NAMES}
    mask = None if batch["mask"] is None else tf.constant(batch["mask"])
    with tf.GradientTape() as tape:
        out = tf_impl.scaled_dot_product_attention(**leaves, mask=mask, **args)
        loss = tf.reduce_sum(out * tf.constant(w))
    grads = tape.gradient(loss, list(leaves.values()))
    return {
        n: np.zeros_like(batch[n]) if g is None else np.asarray(g) for n, g in zip(NAMES, grads)
    }


@pytest.mark.parametrize("backend", sorted(FRAMEWORK))
@given(
    batch=rs.attention_batches(st.sampled_from(["float32", "float64"]), plant=True),
    seed=st.integers(0, 2**16),
)
def test_gradients_are_finite_and_zero_where_hidden(backend, batch, seed):
    require(FRAMEWORK[backend])
    grads = gradients(backend, batch, np.random.default_rng(seed))
    for name in NAMES:
        assert np.isfinite(grads[name]).all(), name
    # the strategy plants NaN/inf exactly where no one looks: the gradient there is 0
    for name in NAMES:
        planted = ~np.isfinite(batch[name])
        if planted.any():
            rows = planted.any(-1)
            assert (grads[name][rows] == 0).all(), name


@given(batch=rs.attention_batches("float64", plant=False), seed=st.integers(0, 2**16))
def test_tf_and_torch_gradients_agree(batch, seed):
    require("tensorflow")
    require("torch")
    tf_grads = gradients("tf_impl", batch, np.random.default_rng(seed))
    torch_grads = gradients("torch_impl", batch, np.random.default_rng(seed))
    for name in NAMES:
        np.testing.assert_allclose(
            tf_grads[name], torch_grads[name], rtol=1e-6, atol=1e-9, err_msg=name
        )


@pytest.mark.parametrize("backend", sorted(FRAMEWORK))
def test_fully_masked_rows_and_padded_nan_keys(backend):
    """The pytorch#41508 setting: key padding plus a fully padded sample, NaN in padding."""
    require(FRAMEWORK[backend])
    rng = np.random.default_rng(1)
    q, k, v = (rng.normal(size=(2, 2, 3, 4)) for _ in range(3))
    keys = np.array([[True, True, False], [False, False, False]])
    k[:, :, 2], v[:, :, 2] = np.nan, np.inf
    k[1], v[1], q[1] = np.nan, np.nan, np.nan
    batch = dict(query=q, key=k, value=v, mask=keys[:, None, None, :])
    grads = gradients(backend, batch, rng)
    for name in NAMES:
        assert np.isfinite(grads[name]).all(), name
    assert (grads["key"][:, :, 2] == 0).all() and (grads["value"][:, :, 2] == 0).all()
    assert (grads["query"][1] == 0).all() and (grads["key"][1] == 0).all()
    assert np.abs(grads["query"][0]).sum() > 0 and np.abs(grads["value"][0, :, :2]).sum() > 0
