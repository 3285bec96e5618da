"""Hand-written examples of the attention masks and the reference attention, in every backend."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy
from helpers import agree

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


# --- issue 12: non-finite inputs, flags, sizes, bad arguments -------------------------------


def test_a_nan_key_or_inf_value_reaches_only_the_rows_that_see_it(backend, native):
    """Item 2: torch's fused kernel computes every score before masking, so a NaN key that
    only the last query sees made every row NaN."""
    q, k, v = (np.zeros((4, 2), np.float32) for _ in range(3))
    v += 1
    k[3] = np.nan
    out = to_numpy(
        backend.scaled_dot_product_attention(native(q), native(k), native(v), causal=True)
    )
    assert np.isnan(out[3]).all() and (out[:3] == 1).all()
    k[3], v[3] = 0.0, np.inf
    out = to_numpy(
        backend.scaled_dot_product_attention(native(q), native(k), native(v), causal=True)
    )
    assert np.isposinf(out[3]).all() and (out[:3] == 1).all()


FLAG_CALLS = {
    "attention_mask": ((), {"query_len": 3}),
    "attention_weights": ((np.zeros((3, 2)), np.zeros((3, 2))), {}),
    "scaled_dot_product_attention": ((np.zeros((3, 2)), np.zeros((3, 2)), np.ones((3, 2))), {}),
}


@pytest.mark.parametrize("name", sorted(FLAG_CALLS))
@pytest.mark.parametrize("flag", ["no", "yes", 1, 0, None, 1.0])
def test_causal_must_be_a_bool(backend, name, flag):
    """Item 11: ``causal="no"`` was read as True."""
    args, kwargs = FLAG_CALLS[name]
    with pytest.raises(TypeError, match="causal must be a bool"):
        getattr(backend, name)(*args, causal=flag, **kwargs)
    agree(backend.__name__, name, *args, causal=flag, **kwargs)


@pytest.mark.parametrize("name", sorted(FLAG_CALLS))
def test_numpy_bools_are_flags(backend, name):
    args, kwargs = FLAG_CALLS[name]
    expected = to_numpy(getattr(backend, name)(*args, causal=True, **kwargs))
    got = to_numpy(getattr(backend, name)(*args, causal=np.True_, **kwargs))
    np.testing.assert_array_equal(got, expected)


HUGE = [
    ("causal_mask", (2**40,), {}, "query_len"),
    ("causal_mask", (2, 2**40), {}, "key_len"),
    ("causal_mask", (np.uint64(2**63),), {}, "query_len"),
    ("attention_mask", (), {"query_len": 2**30, "key_len": 2**30, "causal": True}, "query_len"),
    ("attention_mask", (), {"query_len": np.uint64(2**63)}, "query_len"),
    ("attention_mask", ([[True, False]],), {"key_len": 2**40}, "key_len"),
    ("attention_mask", ([[True] * 3] * 2,), {"key_mask": [[True] * 4] * 2, "query_len": 3}, None),
]


@pytest.mark.parametrize(("name", "args", "kwargs", "argument"), HUGE)
def test_masks_beyond_memory_are_refused_up_front(backend, name, args, kwargs, argument):
    """Item 12: a mask too large for memory is one ValueError naming the argument and the
    bytes, in every backend (before: MemoryError, or an attempt to allocate it)."""
    if argument is None:  # a small mask: no error
        agree(backend.__name__, name, *args, **kwargs)
        return
    with pytest.raises(ValueError, match=rf"^{argument}=\d+ asks for a result of shape .* bytes"):
        getattr(backend, name)(*args, **kwargs)
    agree(backend.__name__, name, *args, **kwargs)


@pytest.mark.parametrize(
    "lengths",
    [
        [[2**62, 2**62]],
        np.array([[2**62, 2**62]], np.int64),
        np.array([[2**63 - 1, 2**63 - 1, 5]], np.int64),
        np.array([[2**63 - 1, 1]], np.uint64),
        [[1, 2], [2**62, 2**62, 2**62]],
    ],
)
def test_segment_totals_cannot_wrap(backend, native, lengths):
    """Item 15: the int64 total of 2**62 + 2**62 wrapped, then IndexError / RuntimeError."""
    with pytest.raises(ValueError, match=r"^lengths_per_row: a row's documents add up to more"):
        backend.segment_ids_from_lengths(lengths, 4)
    agree(backend.__name__, "segment_ids_from_lengths", lengths, 4)
    if isinstance(lengths, np.ndarray):
        with pytest.raises(ValueError, match="lengths_per_row"):
            backend.segment_ids_from_lengths(native(lengths), 4)


def test_segment_lengths_beyond_int64_are_refused(backend, native):
    lengths = np.array([[2**63, 1]], np.uint64)
    with pytest.raises(ValueError, match=r"^lengths_per_row must hold .*2\*\*63 - 1"):
        backend.segment_ids_from_lengths(lengths, 4)
    agree(backend.__name__, "segment_ids_from_lengths", lengths, 4)
    agree(backend.__name__, "segment_ids_from_lengths", [np.array([2**63], np.uint64)], 4)


def test_a_key_padding_mask_points_to_attention_mask(backend, native):
    q = native(np.zeros((2, 3, 4), np.float32))
    keys = native(np.ones((2, 3), bool))  # (B, S): not an attention mask
    with pytest.raises(ValueError, match=r"attention_mask\(key_mask=mask, query_len=L\)"):
        backend.scaled_dot_product_attention(q, q, q, keys)


Q2, K3, V3 = np.zeros((2, 2)), np.zeros((3, 2)), np.ones((3, 4))
ATTACKS = [
    # causal_mask
    ("causal_mask", (None,), {}, TypeError),
    ("causal_mask", ("3",), {}, TypeError),
    ("causal_mask", (2.0,), {}, TypeError),
    ("causal_mask", (True,), {}, TypeError),
    ("causal_mask", (np.True_,), {}, TypeError),
    ("causal_mask", (-1,), {}, ValueError),
    ("causal_mask", (2, -1), {}, ValueError),
    ("causal_mask", (2, 3.0), {}, TypeError),
    ("causal_mask", (np.int8(2), np.uint64(3)), {}, None),
    ("causal_mask", (3,), {"window": True}, TypeError),
    ("causal_mask", (3,), {"window": "2"}, TypeError),
    ("causal_mask", (3,), {"window": np.uint64(2**63)}, None),
    ("causal_mask", (3,), {"window": np.int32(2)}, None),
    ("causal_mask", (3,), {"align": None}, ValueError),
    ("causal_mask", (0,), {}, None),
    # attention_mask
    ("attention_mask", (), {}, ValueError),
    ("attention_mask", (), {"query_len": True}, TypeError),
    ("attention_mask", (), {"query_len": 2.0}, TypeError),
    ("attention_mask", (), {"query_len": -1}, ValueError),
    ("attention_mask", (), {"query_len": "3"}, TypeError),
    ("attention_mask", (), {"query_len": np.int16(3), "key_len": np.uint8(2)}, None),
    ("attention_mask", ([[1, 0]],), {}, TypeError),
    ("attention_mask", ([True, False],), {}, ValueError),
    ("attention_mask", (np.zeros((0, 3), bool),), {"causal": True}, None),
    ("attention_mask", (), {"segment_ids": ([[1, 1]],)}, ValueError),
    ("attention_mask", (), {"segment_ids": [[1.0, 0.0]]}, TypeError),
    ("attention_mask", (), {"segment_ids": np.zeros((0, 2), np.int64)}, None),
    ("attention_mask", (), {"segment_ids": ([[1, 1]], [[1], [2]])}, ValueError),
    # segment_mask
    ("segment_mask", (None,), {}, TypeError),
    ("segment_mask", ([[1.5]],), {}, TypeError),
    ("segment_mask", ([[True]],), {}, TypeError),
    ("segment_mask", ([1, 2],), {}, ValueError),
    ("segment_mask", (["ab"],), {}, TypeError),
    ("segment_mask", (np.zeros((0, 3), np.int64),), {}, None),
    ("segment_mask", ([[]],), {}, None),
    ("segment_mask", (np.array([[2**63, 0]], np.uint64),), {}, None),
    # segment_ids_from_lengths
    ("segment_ids_from_lengths", (None, 3), {}, TypeError),
    ("segment_ids_from_lengths", ([[1]], None), {}, TypeError),
    ("segment_ids_from_lengths", ([[1]], True), {}, TypeError),
    ("segment_ids_from_lengths", ([[1]], 2.0), {}, TypeError),
    ("segment_ids_from_lengths", ([[1]], "3"), {}, TypeError),
    ("segment_ids_from_lengths", ([[1]], -1), {}, ValueError),
    ("segment_ids_from_lengths", ([[-1]], 3), {}, ValueError),
    ("segment_ids_from_lengths", ([[1.0]], 3), {}, TypeError),
    ("segment_ids_from_lengths", ([[True]], 3), {}, TypeError),
    ("segment_ids_from_lengths", ("ab", 3), {}, TypeError),
    ("segment_ids_from_lengths", ([1, 2], 3), {}, ValueError),
    ("segment_ids_from_lengths", ([[1], 2], 3), {}, ValueError),
    ("segment_ids_from_lengths", ([[1], None], 3), {}, TypeError),
    ("segment_ids_from_lengths", ([], 3), {}, None),
    ("segment_ids_from_lengths", ([[], []], 3), {}, None),
    ("segment_ids_from_lengths", (np.zeros((0, 2), np.int64), 3), {}, None),
    ("segment_ids_from_lengths", ([[1, 2], [3]], np.int64(4)), {}, None),
    ("segment_ids_from_lengths", (np.array([[1, 2]], np.uint64), np.uint8(4)), {}, None),
    ("segment_ids_from_lengths", ([[1, 2]], np.uint64(2**63)), {}, ValueError),
    # convert_mask and mask_convention
    ("convert_mask", (None, "keep", "drop"), {}, TypeError),
    ("convert_mask", ([True], None, "keep"), {}, TypeError),
    ("convert_mask", ([True], "keep", 3), {}, ValueError),
    ("convert_mask", (["a"], "int", "keep"), {}, TypeError),
    ("convert_mask", ([1 + 1j], "int", "keep"), {}, TypeError),
    ("convert_mask", ([True], "keep", "additive"), {"dtype": "bfloat17"}, TypeError),
    ("convert_mask", ([True], "keep", "additive"), {"dtype": "str"}, TypeError),
    ("convert_mask", ([0.0], "additive", "keep"), {"threshold": True}, TypeError),
    ("convert_mask", ([0.0], "additive", "keep"), {"threshold": "-1"}, TypeError),
    ("convert_mask", ([0.0], "additive", "keep"), {"threshold": None}, TypeError),
    ("convert_mask", ([0.0], "additive", "keep"), {"threshold": np.nan}, ValueError),
    ("convert_mask", ([0.0, -9.0], "additive", "keep"), {"threshold": np.float32(-5)}, None),
    ("convert_mask", ([np.uint64(2**63)], "int", "keep"), {}, ValueError),
    ("convert_mask", (np.zeros((0, 2), bool), "keep", "additive"), {}, None),
    ("convert_mask", (np.zeros((0,), np.int64), "int", "drop"), {}, None),
    ("mask_convention", (None,), {}, TypeError),
    ("mask_convention", (3,), {}, ValueError),
    # attention
    ("scaled_dot_product_attention", (None, K3, V3), {}, TypeError),
    ("scaled_dot_product_attention", (Q2, K3, None), {}, TypeError),
    ("scaled_dot_product_attention", (Q2, K3, V3), {"scale": True}, TypeError),
    ("scaled_dot_product_attention", (Q2, K3, V3), {"scale": "2"}, TypeError),
    ("scaled_dot_product_attention", (Q2, K3, V3), {"scale": np.float32(0.5)}, None),
    ("scaled_dot_product_attention", (Q2, K3, V3), {"scale": np.int64(2)}, None),
    ("scaled_dot_product_attention", (Q2, K3, V3), {"window": 0}, ValueError),
    ("scaled_dot_product_attention", (Q2, K3, V3), {"window": 1.5}, TypeError),
    ("scaled_dot_product_attention", (Q2, K3, V3), {"window": np.uint64(2**63)}, None),
    ("scaled_dot_product_attention", (Q2, K3, V3), {"empty": None}, ValueError),
    ("scaled_dot_product_attention", (Q2, K3, V3), {"align": 1}, ValueError),
    ("scaled_dot_product_attention", (Q2, K3, V3, [[1, 0, 1]] * 2), {}, TypeError),
    ("scaled_dot_product_attention", (Q2, K3, V3, "mask"), {}, TypeError),
    ("scaled_dot_product_attention", (["a"], K3, V3), {}, TypeError),
    ("scaled_dot_product_attention", (np.zeros((0, 2, 2)), np.zeros((0, 3, 2)), V3), {}, None),
    ("attention_weights", (None, K3), {}, TypeError),
    ("attention_weights", (Q2, K3), {"scale": np.True_}, TypeError),
    ("attention_weights", (Q2, K3), {"window": -1}, ValueError),
    ("attention_weights", (np.zeros((0, 2, 2)), np.zeros((0, 3, 2))), {"causal": True}, None),
]


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "error"),
    ATTACKS,
    ids=[f"{a[0]}-{i}" for i, a in enumerate(ATTACKS)],
)
def test_bad_arguments_give_the_references_error(backend, name, args, kwargs, error):
    """None, wrong types, NumPy scalars, bools for ints, floats for ints, negatives, uint64
    beyond int64, strings, empty batches: one error class and message in every backend (or
    the reference's result, when the input is valid)."""
    if error is not None:
        with pytest.raises(error):
            getattr(backend, name)(*args, **kwargs)
    agree(backend.__name__, name, *args, **kwargs)
