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
from helpers import plant
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


# --- an inf or NaN incoming gradient: still exactly 0 under the mask (issue 12, item 3) -----

#: (B, T, D) above tf_impl's fast-path size (2**16 elements) and with T >= 2 blocks of
#: torch_impl's fast max/min, so that the pooling fast paths are taken.
LARGE = (8, 64, 160)
POOLED = ["masked_sum", "masked_mean", "masked_max", "masked_min", "masked_var", "masked_std"]


def pooled_batch(
    shape: tuple[int, int, int], seed: int = 0, poison: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """float32 ``(B, T, D)`` data with a post-padded ``(B, T)`` mask (a full row, an empty
    row, rows of 1 and 2 valid steps), NaN/inf planted under the mask if ``poison`` (else
    finite padding: tf_impl's matmul sum is kept only then)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype(np.float32)
    lengths = rng.integers(1, shape[1] + 1, shape[0])
    lengths[:4] = [shape[1], 0, 1, 2][: shape[0]]
    mask = np.arange(shape[1]) < lengths[:, None]
    return (plant(x, mask) if poison else x), mask


def vjp(backend_name: str, name: str, x, mask, upstream: float, mode: str) -> np.ndarray:
    """The gradient of ``name(x, mask, axis=1)`` for an incoming gradient of ``upstream``
    everywhere, in ``mode``: "eager", "graph" (``tf.function`` with every size unknown) or
    "compile" (``torch.compile``, autograd traced by AOTAutograd)."""
    kwargs = {"axis": 1} if name not in SCANS else {"axis": -1}
    if backend_name == "torch_impl":
        import torch

        fn = getattr(importlib.import_module("torch_impl"), name)
        if mode == "compile":  # every public function shares one code object: reset
            torch._dynamo.reset()
            fn = torch.compile(fn, backend="aot_eager", fullgraph=True, dynamic=False)
        xt = torch.tensor(x, requires_grad=True)
        y = fn(xt, torch.from_numpy(mask), **kwargs)
        (grad,) = torch.autograd.grad(y, xt, torch.full_like(y, upstream))
        return grad.numpy()
    import tensorflow as tf

    fn = getattr(importlib.import_module("tf_impl"), name)

    def run(xt, mt):
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = fn(xt, mt, **kwargs)
        return tape.gradient(y, xt, output_gradients=tf.fill(tf.shape(y), upstream))

    if mode == "graph":
        spec = [
            tf.TensorSpec([None] * x.ndim, tf.float32),
            tf.TensorSpec([None] * mask.ndim, tf.bool),
        ]
        run = tf.function(run, input_signature=spec)
    return np.asarray(run(tf.constant(x), tf.constant(mask)))


MODES = [("tf_impl", "eager"), ("tf_impl", "graph"), ("torch_impl", "eager")]


@pytest.mark.parametrize("poison", [True, False])
@pytest.mark.parametrize("upstream", [np.inf, np.nan])
@pytest.mark.parametrize(("backend_name", "mode"), MODES + [("torch_impl", "compile")])
@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_gradient_under_the_mask_is_zero_for_an_inf_or_nan_upstream(
    backend_name, mode, name, upstream, poison
):
    require(FRAMEWORK[backend_name])
    x, mask = pooled_batch((4, 5, 2), poison=poison)
    grad = vjp(backend_name, name, x, mask, upstream, mode)
    assert (grad[~mask] == 0).all(), grad[~mask]


@pytest.mark.parametrize("upstream", [np.inf, np.nan])
@pytest.mark.parametrize(("backend_name", "mode"), MODES)
@pytest.mark.parametrize("name", POOLED)
def test_fast_path_gradient_under_the_mask_is_zero_for_an_inf_or_nan_upstream(
    backend_name, mode, name, upstream
):
    """Finite padding: the fast paths are kept (NaN there sends tf_impl's sum to ``where``)."""
    require(FRAMEWORK[backend_name])
    x, mask = pooled_batch(LARGE, poison=False)
    grad = vjp(backend_name, name, x, mask, upstream, mode)
    assert (grad[~mask] == 0).all(), grad[~mask]


@pytest.mark.parametrize(("backend_name", "mode"), MODES + [("torch_impl", "compile")])
@pytest.mark.parametrize("shape", [(1, 4, 1), LARGE])
def test_sqrt_of_a_zero_masked_sum_has_zero_gradient_under_the_mask(backend_name, mode, shape):
    """The issue's example: d/dx sqrt(masked_sum(0, mask)) is inf at valid steps (d sqrt at
    0) and exactly 0 at masked ones (a matmul's gradient gave 0 * inf = NaN there)."""
    require(FRAMEWORK[backend_name])
    mask = np.arange(shape[1]) < np.array([2, 1, 0, 64, 5, 7, 3, 9])[: shape[0], None]
    x = np.zeros(shape, np.float32)
    if backend_name == "torch_impl":
        import torch

        fn = importlib.import_module("torch_impl").masked_sum
        if mode == "compile":  # every public function shares one code object: reset
            torch._dynamo.reset()
            fn = torch.compile(fn, backend="aot_eager", fullgraph=True, dynamic=False)
        xt = torch.tensor(x, requires_grad=True)
        torch.sqrt(fn(xt, torch.from_numpy(mask), axis=1)).sum().backward()
        grad = xt.grad.numpy()
    else:
        import tensorflow as tf

        fn = importlib.import_module("tf_impl").masked_sum

        def run(xt, mt):
            with tf.GradientTape() as tape:
                tape.watch(xt)
                y = tf.sqrt(fn(xt, mt, axis=1))
            return tape.gradient(y, xt)

        if mode == "graph":
            spec = [tf.TensorSpec([None] * 3, tf.float32), tf.TensorSpec([None] * 2, tf.bool)]
            run = tf.function(run, input_signature=spec)
        grad = np.asarray(run(tf.constant(x), tf.constant(mask)))
    assert (grad[mask] == np.inf).all()
    assert (grad[~mask] == 0).all(), grad[~mask]


# --- ties of max/min split the gradient evenly, whatever is masked (issue 12, item 4) -------


@pytest.mark.parametrize(("backend_name", "mode"), MODES)
@pytest.mark.parametrize("shape", [(4, 5, 2), LARGE])
@pytest.mark.parametrize("name", ["masked_max", "masked_min"])
def test_tied_extremes_share_the_gradient_evenly(backend_name, mode, name, shape):
    require(FRAMEWORK[backend_name])
    x, mask = pooled_batch(shape)  # row 3: two valid steps
    x[3, :2, 0] = 9.0 if name == "masked_max" else -9.0
    grad = vjp(backend_name, name, x, mask, 1.0, mode)
    np.testing.assert_array_equal(grad[3, :2, 0], [0.5, 0.5])
    assert (grad[~mask] == 0).all()
    np.testing.assert_allclose(
        grad.sum(axis=1), np.broadcast_to(mask.any(1)[:, None], (shape[0], shape[2]))
    )
