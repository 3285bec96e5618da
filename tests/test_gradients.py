"""Gradients of the masked reductions in tf_impl and torch_impl.

With NaN or inf planted at masked positions (and fully masked slices), the
gradient with respect to ``x`` is finite everywhere and exactly 0 at every
masked position: masked values are replaced before each operation, never
selected away after it (the ``where``-after-the-op trap).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from conftest import FRAMEWORK, require
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from maskref.conformance.operations import reduction_elements
from reference import strategies as rs

DIFFERENTIABLE = [
    "masked_sum",
    "masked_mean",
    "masked_max",
    "masked_min",
    "masked_prod",
    "masked_var",
    "masked_std",
    "masked_logsumexp",
    "masked_cumsum",
    "masked_softmax",
    "masked_log_softmax",
]
SCANS = {"masked_cumsum", "masked_softmax", "masked_log_softmax"}


def gradient(
    name: str, fn, x: np.ndarray, mask: np.ndarray, weights: np.ndarray, kwargs: dict
) -> np.ndarray:
    """d/dx of sum(w * y) over the finite outputs y = fn(x, mask, **kwargs)."""
    if name == "torch_impl":
        import torch

        xt = torch.tensor(x, requires_grad=True)
        y = fn(xt, torch.from_numpy(mask), **kwargs)
        w = torch.from_numpy(np.broadcast_to(weights, y.shape).astype(x.dtype).copy())
        finite = torch.isfinite(y)
        loss = torch.where(finite, y, torch.zeros_like(y)).mul(w).sum()
        (grad,) = torch.autograd.grad(loss, xt, allow_unused=True)
        return np.zeros_like(x) if grad is None else grad.numpy()
    import tensorflow as tf

    xt = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = fn(xt, tf.constant(mask), **kwargs)
        w = tf.constant(np.broadcast_to(weights, y.shape).astype(x.dtype))
        loss = tf.reduce_sum(tf.where(tf.math.is_finite(y), y, tf.zeros_like(y)) * w)
    grad = tape.gradient(loss, xt)
    return np.zeros_like(x) if grad is None else np.asarray(tf.convert_to_tensor(grad))


@st.composite
def poisoned(draw):
    """float32 x of 1-3 axes with a prefix mask; NaN/inf planted under it; axis; weights."""
    f32 = np.dtype(np.float32)
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    x = draw(hnp.arrays(f32, shape, elements=reduction_elements(f32)))
    mask = draw(rs.masks(shape[: draw(st.integers(1, len(shape)))]))
    full = np.broadcast_to(mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim)), shape)
    x = np.where(full, x, draw(st.sampled_from([np.nan, np.inf, -np.inf]))).astype(f32)
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    weights = draw(hnp.arrays(f32, shape, elements=st.floats(-2, 2, width=32)))
    return x, mask, full, axis, weights


@pytest.mark.parametrize("backend_name", ["tf_impl", "torch_impl"])
@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_gradients_are_finite_and_zero_under_the_mask(backend_name, name):
    require(FRAMEWORK[backend_name])
    fn = getattr(importlib.import_module(backend_name), name)

    @given(poisoned())
    def check(case):
        x, mask, full, axis, weights = case
        kwargs = {"axis": axis}
        if name not in SCANS:
            out_shape = np.sum(x, axis=axis).shape
            weights = weights.reshape(-1)[: int(np.prod(out_shape))].reshape(out_shape)
        grad = gradient(backend_name, fn, x, mask, weights, kwargs)
        assert np.isfinite(grad).all(), grad
        assert (grad[~full] == 0).all(), grad

    check()


@pytest.mark.parametrize("backend_name", ["tf_impl", "torch_impl"])
def test_gradient_of_a_fully_masked_slice_is_zero(backend_name):
    require(FRAMEWORK[backend_name])
    b = importlib.import_module(backend_name)
    x = np.array([[np.nan, np.inf], [1.0, 2.0]], dtype=np.float32)
    mask = np.array([[False, False], [True, False]])
    for name in DIFFERENTIABLE:
        grad = gradient(
            backend_name, getattr(b, name), x, mask, np.ones(1, np.float32), {"axis": 1}
        )
        assert np.isfinite(grad).all() and (grad[0] == 0).all() and grad[1, 1] == 0, name


@pytest.mark.parametrize("backend_name", ["tf_impl", "torch_impl"])
def test_gradient_values_on_valid_positions(backend_name):
    require(FRAMEWORK[backend_name])
    b = importlib.import_module(backend_name)
    x = np.array([[1.0, 3.0, np.nan]], dtype=np.float32)
    mask = np.array([[True, True, False]])
    ones = np.ones(1, np.float32)
    np.testing.assert_allclose(
        gradient(backend_name, b.masked_mean, x, mask, ones, {"axis": 1}), [[0.5, 0.5, 0.0]]
    )
    np.testing.assert_allclose(
        gradient(backend_name, b.masked_max, x, mask, ones, {"axis": 1}), [[0.0, 1.0, 0.0]]
    )
    np.testing.assert_allclose(
        gradient(backend_name, b.masked_sum, x, mask, ones, {"axis": 1}), [[1.0, 1.0, 0.0]]
    )
