"""What is JAX's alone: jit, vmap and grad, and the 32-bit default.

Every public function is compared with the reference by the registry (in x64
mode, so that dtypes compare exactly); here: the transformations, gradients
with NaN/inf planted under the mask, and the narrowing to 32 bits.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require

require("jax")

import jax
import jax.numpy as jnp
from helpers import assert_same, plant
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import jax_impl as J
import reference as R
from maskref.conformance.operations import reduction_elements
from reference import strategies as rs

X = np.array([[1.0, 2.0, 4.0], [3.0, 5.0, 6.0]], np.float32)
M = np.array([[True, True, False], [False, False, False]])
DIFFERENTIABLE = [
    "masked_sum",
    "masked_mean",
    "masked_var",
    "masked_std",
    "masked_logsumexp",
    "masked_max",
    "masked_min",
    "masked_prod",
]


@pytest.mark.parametrize("name", DIFFERENTIABLE + ["masked_softmax", "masked_log_softmax"])
def test_gradients_are_finite_and_zero_under_the_mask(name):
    x = jnp.asarray(plant(X, M))
    fn = getattr(J, name)

    def loss(x):
        out = fn(x, M, axis=1) if name in DIFFERENTIABLE else fn(x, M)
        return jnp.sum(jnp.where(jnp.isfinite(out), out, 0))

    for transform in (jax.grad, lambda f: jax.jit(jax.grad(f))):
        g = np.asarray(transform(loss)(x))
        assert np.isfinite(g).all(), (name, g)
        assert (g[~M] == 0).all(), (name, g)


def test_apply_mask_and_attention_gradients_under_jit():
    x = jnp.asarray(plant(X, M))
    g = jax.jit(jax.grad(lambda x: J.apply_mask(x, M).sum()))(x)
    np.testing.assert_array_equal(np.asarray(g), M.astype(np.float32))
    q = jnp.ones((2, 3, 4))
    k = jnp.asarray(plant(np.ones((2, 3, 4), np.float32), np.array([[1, 1, 0], [1, 0, 0]], bool)))
    mask = jnp.asarray(np.array([[1, 1, 0], [1, 0, 0]], bool))[:, None, :]
    grads = jax.jit(
        jax.grad(lambda q, k: J.scaled_dot_product_attention(q, k, k, mask).sum(), (0, 1))
    )(q, k)
    for g in grads:
        assert np.isfinite(np.asarray(g)).all()
    assert (np.asarray(grads[1])[0, 2] == 0).all() and (np.asarray(grads[1])[1, 1:] == 0).all()


def test_vmap_over_the_batch_equals_the_batched_call():
    x = jnp.asarray(plant(X, M))
    per_row = jax.vmap(lambda x, m: J.masked_mean(x, m))(x, jnp.asarray(M))
    np.testing.assert_allclose(np.asarray(per_row), R.masked_mean(X, M, axis=1).astype(np.float32))


def test_jit_with_static_sizes():
    pad = jax.jit(lambda v, n: J.pad_flat(v, n, 4, padding="post"))
    out = pad(jnp.arange(4.0), jnp.array([3, 1]))
    np.testing.assert_array_equal(np.asarray(out), [[0, 1, 2, 0], [3, 0, 0, 0]])
    mask = jax.jit(lambda n: J.sequence_mask(n, 3))(jnp.array([1, 3]))
    np.testing.assert_array_equal(np.asarray(mask), R.sequence_mask([1, 3], 3))
    with pytest.raises(TypeError, match="static"):
        jax.jit(lambda n: J.sequence_mask(n))(jnp.array([1, 3]))


def test_value_checks_raise_outside_jit_and_are_skipped_under_it():
    with pytest.raises(ValueError, match="non-negative"):
        J.sequence_mask(jnp.array([-1, 2]), 3)
    jax.jit(lambda n: J.sequence_mask(n, 3))(jnp.array([-1, 2]))  # no check under jit


def test_recurrence_under_jit_matches_the_reference():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 3)).astype(np.float32)
    mask = np.array([[True, True, False, False], [False, True, True, True]])
    weights = [rng.normal(size=s).astype(np.float32) for s in ((3, 8), (2, 8), (8,))]
    want = R.lstm(x, mask, *weights, return_sequences=True)
    got = jax.jit(lambda x: J.lstm(x, mask, *weights, return_sequences=True))(jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
    g = jax.grad(lambda x: J.lstm(x, mask, *weights).sum())(jnp.asarray(plant(x, mask)))
    assert np.isfinite(np.asarray(g)).all() and (np.asarray(g)[~mask] == 0).all()


def test_losses_ignore_masked_logits():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 3, 5)).astype(np.float32)
    targets = np.array([[1, 2, 7], [0, 9, 9]])
    mask = np.array([[True, True, False], [True, False, False]])
    want = R.masked_cross_entropy(logits, targets, mask)
    poisoned = jnp.asarray(plant(logits, mask))
    got = J.masked_cross_entropy(poisoned, targets, mask)
    np.testing.assert_allclose(float(got), float(want), rtol=1e-5)
    g = jax.grad(lambda z: J.masked_cross_entropy(z, targets, mask))(poisoned)
    assert np.isfinite(np.asarray(g)).all() and (np.asarray(g)[~mask] == 0).all()


def test_the_32_bit_default_narrows_and_never_wraps():
    assert not jax.config.jax_enable_x64
    assert J.lengths_from_mask(M).dtype == jnp.int32
    assert J.masked_mean(np.arange(3), np.ones(3, bool)).dtype == jnp.float32
    assert J.pad_sequences([[1, 2]], dtype="int64").dtype == jnp.int32
    with pytest.raises(ValueError, match="jax_enable_x64"):
        J.sequence_mask(np.array([2**40]), maxlen=1)
    with pytest.raises(ValueError, match="jax_enable_x64"):
        J.pad_sequences([[2**40]], dtype="int64")
    with jax.enable_x64(True):
        assert J.lengths_from_mask(M).dtype == jnp.int64
        assert int(J.pad_sequences([[2**40]], dtype="int64")[0, 0]) == 2**40


# -- the fast sum and max (jax_impl/_fast_reductions.py) ----------------------------------

FAST = ["masked_sum", "masked_mean", "masked_max", "masked_min"]
#: the width after the reduced axis that picks each path: the one-pass rewrites, the CPU loop
WIDTHS = {"one pass": 3, "cpu loop": 256}


def _planted_batch(seed: int, poison: float | None, width: int = 3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, 6, width)).astype(np.float32)
    mask = rng.random((4, 6)) < 0.6
    mask[1] = False  # an empty row
    if poison is not None:
        x[~mask] = poison
    return x, mask


@pytest.mark.parametrize("path", WIDTHS)
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("name", FAST)
@pytest.mark.parametrize("poison", [None, np.nan, np.inf, -np.inf, 3e38])
def test_fast_paths_equal_the_reference_whatever_lies_under_the_mask(name, poison, axis, path):
    from jax_impl import _fast_reductions as fast

    x, mask = _planted_batch(0, poison, WIDTHS[path])
    x[2, 0, 1] = np.nan if name != "masked_mean" else x[2, 0, 1]  # a valid NaN spreads
    mask[2, 0] = True
    assert fast.applies(jnp.asarray(x), jnp.asarray(mask), (axis,))
    assert fast._loops(x, (axis,)) == (path == "cpu loop")
    expected = getattr(R, name)(x, mask, axis=axis)
    for fn in (getattr(J, name), jax.jit(getattr(J, name), static_argnames="axis")):
        got = np.asarray(fn(jnp.asarray(x), jnp.asarray(mask), axis=axis))
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))


@pytest.mark.parametrize("path", WIDTHS)
@pytest.mark.parametrize("name", FAST)
def test_fast_gradients_are_zero_under_the_mask_even_for_an_infinite_cotangent(name, path):
    x, mask = _planted_batch(1, np.nan, WIDTHS[path])
    fn = getattr(J, name)

    def loss(x):  # sqrt at 0 sends an infinite cotangent into empty rows
        return jnp.sum(jnp.sqrt(jnp.abs(fn(x, jnp.asarray(mask), axis=1))))

    for grad in (jax.grad(loss), jax.jit(jax.grad(loss))):
        g = np.asarray(grad(jnp.asarray(x)))
        assert np.all(g[~mask] == 0), g[~mask]
        assert np.all(np.isfinite(g[mask]))


def test_one_pass_max_shares_a_tie_among_valid_elements_only():
    x = jnp.asarray([[2.0, 2.0, 2.0, -np.inf]])
    mask = jnp.asarray([[True, True, False, True]])
    g = np.asarray(jax.grad(lambda x: J.masked_max(x, mask, axis=1).sum())(x))
    np.testing.assert_array_equal(g, [[0.5, 0.5, 0.0, 0.0]])
    y = jnp.asarray([[-np.inf, 1.0, -np.inf]])
    m = jnp.asarray([[True, False, False]])  # a valid -inf ties with the masked fill
    g = np.asarray(jax.grad(lambda y: J.masked_max(y, m, axis=1).sum())(y))
    np.testing.assert_array_equal(g, [[1.0, 0.0, 0.0]])


@pytest.mark.parametrize("path", WIDTHS)
def test_fast_paths_under_vmap_and_forward_mode(path):
    x, mask = _planted_batch(2, np.inf, WIDTHS[path])
    xs, ms = jnp.asarray(np.stack([x, x])), jnp.asarray(np.stack([mask, mask]))
    out = jax.vmap(lambda a, b: J.masked_sum(a, b, axis=1))(xs, ms)
    np.testing.assert_allclose(out[1], R.masked_sum(x, mask, axis=1), rtol=1e-6)
    tangent = jax.jvp(
        lambda a: J.masked_max(a, jnp.asarray(mask), axis=1), (jnp.asarray(x),), (jnp.ones_like(x),)
    )[1]
    assert np.all(np.isfinite(np.asarray(tangent)[mask.any(1)]))


@st.composite
def _reduced_batches(draw):
    """(x, mask, axis): (B, T, D) data of a floating dtype with NaN/inf valid or masked, a
    mask of any layout over (B, T) or (B,), and one axis the mask covers."""
    dtype = np.dtype(draw(st.sampled_from(["float16", "float32", "float64"])))
    shape = (draw(st.integers(0, 3)), draw(st.integers(0, 9)), draw(st.integers(1, 4)))
    x = draw(hnp.arrays(dtype, shape, elements=reduction_elements(dtype, special=True)))
    mask = draw(rs.masks(shape[: draw(st.integers(1, 2))]))
    if dtype.kind == "f" and x.size:
        wide = np.broadcast_to(mask.reshape(mask.shape + (1,) * (3 - mask.ndim)), shape)
        x[~wide] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 3.0]))
    return x, mask, draw(st.integers(0, mask.ndim - 1))


@pytest.mark.parametrize("loop_run", [1, 2**62], ids=["cpu loop", "one pass"])
@given(case=_reduced_batches())
def test_fast_paths_agree_with_the_reference_on_drawn_batches(loop_run, case):
    from jax_impl import _fast_reductions as fast

    x, mask, axis = case
    saved, fast.LOOP_RUN = fast.LOOP_RUN, loop_run  # read at trace time: no jit cache here
    try:
        for name in FAST:
            with np.errstate(all="ignore"):
                expected = getattr(R, name)(x, mask, axis=axis)
            with jax.enable_x64(True):
                got = getattr(J, name)(jnp.asarray(x), jnp.asarray(mask), axis=axis)
            assert_same(got, expected)
    finally:
        fast.LOOP_RUN = saved
