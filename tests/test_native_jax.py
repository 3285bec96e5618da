"""JAX and Flax facts that ``maskref/conformance/native_jax.py`` relies on.

Plain asserts on the installed jax and flax: if one fails, a framework's behaviour
changed and the cases (and their explanations) need another look.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require

require("jax")
require("flax")

import flax.linen as nn
import jax
import jax.numpy as jnp

F32 = np.float32
BIG = np.finfo(F32).max


def _qkv(values=(0.0, 1.0)):
    """One query and len(values) keys (B, T, N, H layout), all scores 0; value j = values[j]."""
    s = len(values)
    query, key = jnp.zeros((1, 1, 1, 1), F32), jnp.zeros((1, s, 1, 1), F32)
    return query, key, jnp.asarray(np.array(values, F32).reshape(1, s, 1, 1))


def test_default_mode_is_32_bit():
    """Every case assumes x64 is off: float64 and int64 NumPy inputs become 32-bit."""
    assert not jax.config.jax_enable_x64
    assert jnp.asarray(np.zeros(1)).dtype == jnp.float32
    assert jnp.asarray(np.zeros(1, np.int64)).dtype == jnp.int32


def test_flax_masks_are_float32_with_a_head_axis():
    mask = nn.make_attention_mask(jnp.array([[True, False]]), jnp.array([[True, True, False]]))
    assert mask.dtype == jnp.float32 and mask.shape == (1, 1, 2, 3)
    np.testing.assert_array_equal(mask[0, 0], [[1, 1, 0], [0, 0, 0]])


def test_make_attention_mask_multiplies_its_inputs():
    """pairwise_fn=jnp.multiply: ids (not bools) give products, and int32 products wrap."""
    ids = jnp.array([[3, 2**16]], jnp.int32)
    mask = nn.make_attention_mask(ids, ids)[0, 0]
    np.testing.assert_array_equal(mask, [[9, 3 * 2**16], [3 * 2**16, 0]])  # 2**32 wraps to 0


def test_make_causal_mask_is_lower_triangular_with_the_diagonal():
    mask = nn.make_causal_mask(jnp.zeros((2, 3)))
    assert mask.dtype == jnp.float32 and mask.shape == (2, 1, 3, 3)
    np.testing.assert_array_equal(mask[1, 0], np.tril(np.ones((3, 3))))


def test_combine_masks_none_and_ranks():
    assert nn.combine_masks(None, None) is None
    a = jnp.array([[[[1.0, 0.0]]]])
    assert nn.combine_masks(None, a) is not None
    np.testing.assert_array_equal(nn.combine_masks(a, jnp.ones_like(a) * 2), a)  # nonzero ANDs
    with pytest.raises(AssertionError, match="same rank"):
        nn.combine_masks(a, jnp.ones((1, 2)))


def test_flax_attention_fills_masked_scores_with_finfo_min():
    """A fully masked row is uniform (the mean of the values); and a valid key whose score
    is -inf loses to a masked one, filled with finfo.min: the fill is finite."""
    q, k, v = _qkv()
    empty = nn.dot_product_attention(q, k, v, mask=jnp.zeros((1, 1, 1, 2)))
    assert float(empty[0, 0, 0, 0]) == pytest.approx(0.5)
    bias = jnp.array([[[[-np.inf, 0.0]]]], F32)  # key 0 valid but -inf, key 1 masked
    out = nn.dot_product_attention(q, k, v, bias=bias, mask=jnp.array([[[[1.0, 0.0]]]]))
    assert float(out[0, 0, 0, 0]) == 1.0  # all the weight on the masked key


def test_jax_attention_fill_is_minus_0_7_finfo_max():
    """A valid key whose score is below -0.7 * finfo.max loses to a masked key; above, wins."""
    q, k, v = _qkv()
    mask = jnp.array([[[[True, False]]]])
    for score, expected in ((-0.8 * BIG, 1.0), (-0.6 * BIG, 0.0)):
        bias = jnp.array([[[[score, 0.0]]]], F32)
        out = jax.nn.dot_product_attention(q, k, v, bias=bias, mask=mask)
        assert float(out[0, 0, 0, 0]) == expected


def test_jax_attention_fully_masked_rows():
    """A bool mask gives the mean of the values; an additive -inf bias gives NaN."""
    q, k, v = _qkv()
    masked = jax.nn.dot_product_attention(q, k, v, mask=jnp.zeros((1, 1, 1, 2), bool))
    assert float(masked[0, 0, 0, 0]) == pytest.approx(0.5)
    biased = jax.nn.dot_product_attention(q, k, v, bias=jnp.full((1, 1, 1, 2), -jnp.inf))
    assert np.isnan(biased).all()


def test_jax_attention_mask_must_be_bool():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="mask dtype"):
        jax.nn.dot_product_attention(q, k, v, mask=jnp.ones((1, 1, 1, 2), F32))


def test_jax_attention_lengths_are_right_padding():
    """key_value_seq_lengths=1 keeps key 0; a padded query row (query_seq_lengths=0) is 0."""
    q, k, v = _qkv((5.0, 1.0))
    one = jnp.array([1], jnp.int32)
    out = jax.nn.dot_product_attention(q, k, v, key_value_seq_lengths=one)
    assert float(out[0, 0, 0, 0]) == 5.0
    zero = jnp.array([0], jnp.int32)
    out = jax.nn.dot_product_attention(q, k, v, query_seq_lengths=zero)
    assert float(out[0, 0, 0, 0]) == 0.0


def test_jax_attention_local_window_is_inclusive():
    """(1, 0): the query and the key before it, 2 keys; an int w is (w, w)."""
    t = 3
    q = k = jnp.zeros((1, t, 1, t), F32)  # all scores 0; value j is the one-hot of j
    v = jnp.eye(t, dtype=F32).reshape(1, t, 1, t)
    seen = jax.nn.dot_product_attention(q, k, v, local_window_size=(1, 0))[0, :, 0] > 0
    np.testing.assert_array_equal(seen, [[1, 0, 0], [1, 1, 0], [0, 1, 1]])
    seen = jax.nn.dot_product_attention(q, k, v, local_window_size=1)[0, :, 0] > 0
    np.testing.assert_array_equal(seen, [[1, 1, 0], [1, 1, 1], [0, 1, 1]])


def test_jax_attention_is_causal_is_top_left():
    q, k = jnp.zeros((1, 2, 1, 3), F32), jnp.zeros((1, 3, 1, 3), F32)
    v = jnp.eye(3, dtype=F32).reshape(1, 3, 1, 3)
    seen = jax.nn.dot_product_attention(q, k, v, is_causal=True)[0, :, 0] > 0
    np.testing.assert_array_equal(seen, [[1, 0, 0], [1, 1, 0]])


def test_jnp_reductions_with_where():
    x = jnp.array([[1.0, jnp.nan], [jnp.inf, 3.0]])
    m = jnp.array([[True, False], [False, False]])
    np.testing.assert_array_equal(jnp.sum(x, axis=1, where=m), [1.0, 0.0])
    np.testing.assert_array_equal(jnp.mean(x, axis=1, where=m), [1.0, np.nan])
    np.testing.assert_array_equal(jnp.max(x, axis=1, where=m, initial=-jnp.inf), [1.0, -np.inf])
    with pytest.raises(ValueError, match="initial"):
        jnp.max(x, axis=1, where=m)


def test_softmax_where_gives_zero_at_masked_slots_and_empty_rows():
    x = jnp.array([[0.0, 0.0, jnp.nan], [1.0, 2.0, 3.0]])
    m = jnp.array([[True, True, False], [False, False, False]])
    np.testing.assert_array_equal(jax.nn.softmax(x, where=m), [[0.5, 0.5, 0.0], [0.0, 0.0, 0.0]])


def test_gradient_through_where_needs_the_double_where():
    """The JAX FAQ: where after the op leaks NaN into the gradient; where before it too
    gives exactly 0. jnp.mean(where=) and jax.nn.softmax(where=) are already safe."""
    x, m = jnp.array([2.0, jnp.nan, jnp.inf]), jnp.array([True, False, False])

    def naive(x):
        return jnp.sum(jnp.where(m, x**2, 0))

    def double(x):
        return naive(jnp.where(m, x, 0))

    grad = jax.grad(naive)(x)
    assert float(grad[0]) == 4.0 and np.isnan(grad[1:]).all()
    np.testing.assert_array_equal(jax.grad(double)(x), [4.0, 0.0, 0.0])
    np.testing.assert_array_equal(jax.grad(lambda x: jnp.mean(x, where=m))(x), [1.0, 0.0, 0.0])
    grad = jax.grad(lambda x: jax.nn.softmax(x, where=m)[0])(x)
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.0])


def test_native_jax_cases_need_jax():
    from maskref.conformance import native_jax

    found = native_jax.cases()
    assert found and all("jax" in case.requires for case in found)
    assert all(case.example is not None for case in found if case.expect)
