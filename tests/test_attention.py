"""Hand-written examples of the attention masks and the reference attention, in every backend."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy

T, F = True, False


def _int(value) -> list:
    return np.asarray(to_numpy(value)).astype(int).tolist()


def test_causal_mask_alignments(backend):
    assert _int(backend.causal_mask(2, 4)) == [[1, 0, 0, 0], [1, 1, 0, 0]]
    assert _int(backend.causal_mask(2, 4, align="bottom_right")) == [[1, 1, 1, 0], [1, 1, 1, 1]]
    # more queries than keys, bottom-right: the first rows see nothing
    assert _int(backend.causal_mask(4, 2, align="bottom_right")) == [[0, 0], [0, 0], [1, 0], [1, 1]]
    assert _int(backend.causal_mask(3)) == _int(backend.causal_mask(3, 3, align="bottom_right"))
    assert to_numpy(backend.causal_mask(0, 3)).shape == (0, 3)
    assert np.asarray(to_numpy(backend.causal_mask(2))).dtype == np.bool_


def test_causal_sliding_window(backend):
    assert _int(backend.causal_mask(4, window=2)) == [
        [1, 0, 0, 0],
        [1, 1, 0, 0],
        [0, 1, 1, 0],
        [0, 0, 1, 1],
    ]
    assert _int(backend.causal_mask(2, 4, align="bottom_right", window=1)) == [
        [0, 0, 1, 0],
        [0, 0, 0, 1],
    ]


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ((-1,), {}, ValueError),
        ((2.0,), {}, TypeError),
        ((2, 3), {"align": "bottom-right"}, ValueError),
        ((2,), {"window": 0}, ValueError),
        ((2,), {"window": 1.5}, TypeError),
    ],
)
def test_causal_mask_errors(backend, args, kwargs, error):
    with pytest.raises(error):
        backend.causal_mask(*args, **kwargs)


def test_attention_mask_is_the_keras_rule(backend, native):
    query = native(np.array([[T, T, F]]))
    keys = native(np.array([[T, F, T, T]]))
    out = _int(backend.attention_mask(query, keys))
    assert out == [[[1, 0, 1, 1], [1, 0, 1, 1], [0, 0, 0, 0]]]
    causal = _int(backend.attention_mask(query, keys, causal=True))
    assert causal == [[[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]]
    # with no part at all, the sizes are given; B is 1
    assert _int(backend.attention_mask(causal=True, query_len=2, key_len=3)) == [
        [[1, 0, 0], [1, 1, 0]]
    ]
    # a symmetric band without causal (Keras's sliding_window)
    assert _int(backend.attention_mask(window=2, query_len=3)) == [
        [[1, 1, 0], [1, 1, 1], [0, 1, 1]]
    ]


def test_attention_mask_errors(backend, native):
    with pytest.raises(ValueError, match="query length"):
        backend.attention_mask(causal=True)
    with pytest.raises(ValueError, match="disagree"):
        backend.attention_mask(native(np.ones((2, 3), bool)), native(np.ones((1, 3), bool)))
    with pytest.raises(TypeError):
        backend.attention_mask(native(np.ones((2, 3), np.int64)))
    with pytest.raises(ValueError):
        backend.attention_mask(native(np.ones((2, 3, 1), bool)))


def test_segment_mask_and_packing(backend, native):
    ids = native(np.array([[1, 1, 2, 0]]))
    assert _int(backend.segment_mask(ids)) == [
        [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    ]
    packed_causal = _int(backend.attention_mask(segment_ids=ids, causal=True))
    assert packed_causal == [[[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]]
    cross = _int(backend.segment_mask(ids, native(np.array([[2, 1]]))))
    assert cross == [[[0, 1], [0, 1], [1, 0], [0, 0]]]
    ids_out = backend.segment_ids_from_lengths(native(np.array([[2, 1], [3, 0]])), 4)
    assert _int(ids_out) == [[1, 1, 2, 0], [1, 1, 1, 0]]
    assert np.asarray(to_numpy(ids_out)).dtype == np.int64
    # a zero-length document takes no step, and its id is skipped
    assert _int(backend.segment_ids_from_lengths(native(np.array([[1, 0, 2]])), 3)) == [[1, 3, 3]]
    with pytest.raises(ValueError):
        backend.segment_ids_from_lengths(native(np.array([[3, 2]])), 4)
    with pytest.raises(ValueError):
        backend.segment_ids_from_lengths(native(np.array([[-1]])), 4)
    with pytest.raises(TypeError):
        backend.segment_mask(native(np.array([[1.0, 0.0]])))


def _qkv(native, dtype=np.float32):
    q = np.zeros((2, 1), dtype)  # zero queries: the weights are uniform over visible keys
    k = np.zeros((3, 1), dtype)
    v = np.array([[1.0], [3.0], [np.nan]], dtype)
    return native(q), native(k), native(v)


@pytest.mark.parametrize(
    ("empty", "row"), [("zeros", [0.0]), ("nan", [np.nan]), ("mean", [np.nan])]
)
def test_empty_rows(backend, native, empty, row):
    q, k, v = _qkv(native)
    mask = native(np.array([[T, T, F], [F, F, F]]))
    out = to_numpy(backend.scaled_dot_product_attention(q, k, v, mask, empty=empty))
    np.testing.assert_allclose(out, [[2.0], row])  # "mean" reads the NaN value too
    finite_v = native(np.array([[1.0], [3.0], [5.0]], np.float32))
    mean = to_numpy(backend.scaled_dot_product_attention(q, k, finite_v, mask, empty="mean"))
    np.testing.assert_allclose(mean, [[2.0], [3.0]])


def test_hidden_nan_never_reaches_the_output(backend, native):
    q, k, v = _qkv(native)
    out = to_numpy(backend.scaled_dot_product_attention(q, k, v, native(np.array([[T, T, F]]))))
    np.testing.assert_allclose(out, [[2.0], [2.0]])
    weights = to_numpy(
        backend.attention_weights(q, k, native(np.array([[T, T, F], [F] * 3])), empty="mean")
    )
    np.testing.assert_allclose(weights, [[0.5, 0.5, 0.0], [1 / 3] * 3])


def test_mask_layouts(backend, native):
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(2, 2, 3, 4)).astype(np.float32) for _ in range(3))
    keys = np.array([[T, T, F], [T, F, F]])
    padding = keys[:, None, None, :]
    expected = to_numpy(
        backend.scaled_dot_product_attention(native(q), native(k), native(v), native(padding))
    )
    full = np.broadcast_to(padding, (2, 2, 3, 3))
    per_batch = np.broadcast_to(keys[:, None, :], (2, 3, 3))
    for mask in (full, per_batch):
        got = backend.scaled_dot_product_attention(
            native(q), native(k), native(v), native(np.array(mask))
        )
        np.testing.assert_allclose(to_numpy(got), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):  # a (B, S) key mask is refused
        backend.scaled_dot_product_attention(
            native(q[:, :, :1]), native(k), native(v), native(keys)
        )


def test_causal_attention_with_fewer_queries(backend, native):
    v = np.arange(4, dtype=np.float32)[:, None]
    q, k = np.zeros((2, 1), np.float32), np.zeros((4, 1), np.float32)
    top = to_numpy(
        backend.scaled_dot_product_attention(native(q), native(k), native(v), causal=True)
    )
    np.testing.assert_allclose(top, [[0.0], [0.5]])
    bottom = to_numpy(
        backend.scaled_dot_product_attention(
            native(q), native(k), native(v), causal=True, align="bottom_right"
        )
    )
    np.testing.assert_allclose(bottom, [[1.0], [1.5]])


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_dtype_is_kept(backend, native, dtype):
    q, k, v = (native(np.ones((1, 2, 3), dtype)) for _ in range(3))
    out = backend.scaled_dot_product_attention(q, k, v, native(np.array([[T, F], [F, F]])))
    assert np.asarray(to_numpy(out)).dtype == np.dtype(dtype)
    np.testing.assert_allclose(to_numpy(out), [[[1, 1, 1], [0, 0, 0]]])


def test_scale(backend, native):
    q = native(np.array([[1.0]], np.float32))
    k = native(np.array([[0.0], [np.log(3.0)]], np.float32))
    w = to_numpy(backend.attention_weights(q, k, scale=1.0))
    np.testing.assert_allclose(w, [[0.25, 0.75]], rtol=1e-6)
    w4 = to_numpy(
        backend.attention_weights(
            native(np.ones((1, 4), np.float32)), native(np.zeros((2, 4), np.float32))
        )
    )
    np.testing.assert_allclose(w4, [[0.5, 0.5]])


@pytest.mark.parametrize(
    ("shapes", "kwargs", "error"),
    [
        (((2, 3), (4, 2), (4, 5)), {}, ValueError),  # E differs
        (((2, 3), (4, 3), (5, 5)), {}, ValueError),  # S differs
        (((3,), (4, 3), (4, 5)), {}, ValueError),  # rank 1
        (((2, 3), (4, 3), (4, 5)), {"empty": "uniform"}, ValueError),
        (((2, 3), (4, 3), (4, 5)), {"scale": "big"}, TypeError),
        (((2, 3), (4, 3), (4, 5)), {"align": "top"}, ValueError),
    ],
)
def test_attention_errors(backend, native, shapes, kwargs, error):
    q, k, v = (native(np.ones(s, np.float32)) for s in shapes)
    with pytest.raises(error):
        backend.scaled_dot_product_attention(q, k, v, **kwargs)


def test_attention_type_errors(backend, native):
    q = native(np.ones((2, 3), np.float32))
    with pytest.raises(TypeError):
        backend.scaled_dot_product_attention(q, q, native(np.ones((2, 3), np.float64)))
    ints = native(np.ones((2, 3), np.int64))
    with pytest.raises(TypeError):
        backend.scaled_dot_product_attention(ints, ints, ints)
    with pytest.raises(TypeError):
        backend.scaled_dot_product_attention(q, q, q, native(np.ones((2, 2), np.int64)))
