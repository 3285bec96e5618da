"""TensorFlow-only behaviour of tf_impl.attention and tf_impl.conventions.

tf.function (known and unknown sizes) and XLA, graph-mode assertions for
data-dependent errors, gradients with NaN/inf planted where no query looks,
device placement, inputs left untouched, float16/bfloat16 and ragged input.
The cross-backend property tests against the reference live elsewhere.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require
from helpers import assert_same

require("tensorflow")  # skips (fails on CI's full leg) when TensorFlow is missing

import tensorflow as tf

import reference as R
import tf_impl as T

NAN, INF = np.nan, np.inf
EMPTY = ["zeros", "nan", "mean"]


def padded_batch(seed: int = 0, dtype: str = "float32"):
    """(B, H, L, E) queries, (B, H, S, E) keys/values and a (B, S) key padding mask.

    Row 1 has no valid key at all; NaN/inf are planted in every padded key and
    value (which no query can see).
    """
    rng = np.random.default_rng(seed)
    b, h, L, s, e = 3, 2, 4, 5, 3
    q = rng.uniform(-2, 2, (b, h, L, e)).astype(dtype)
    k = rng.uniform(-2, 2, (b, h, s, e)).astype(dtype)
    v = rng.uniform(-2, 2, (b, h, s, e)).astype(dtype)
    keys = np.arange(s) < np.array([3, 0, 5])[:, None]
    padding = np.broadcast_to(~keys[:, None, :], (b, h, s))
    k[padding] = NAN
    v[padding] = INF
    return q, k, v, keys


# --- tf.function and XLA -----------------------------------------------------------


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("empty", EMPTY)
def test_attention_in_tf_function_and_xla(jit: bool, empty: str) -> None:
    q, k, v, keys = padded_batch()
    mask = keys[:, None, None, :]  # (B, 1, 1, S): broadcast over heads and queries
    kw = dict(causal=True, align="bottom_right", window=3, empty=empty)
    sdpa = tf.function(
        lambda a, b, c, m: T.scaled_dot_product_attention(a, b, c, m, **kw), jit_compile=jit
    )
    weights = tf.function(lambda a, b, m: T.attention_weights(a, b, m, **kw), jit_compile=jit)
    assert_same(sdpa(q, k, v, mask), R.scaled_dot_product_attention(q, k, v, mask, **kw))
    assert_same(weights(q, k, mask), R.attention_weights(q, k, mask, **kw))


@pytest.mark.parametrize("jit", [False, True])
def test_valid_non_finite_values_in_graph_mode_and_xla(jit: bool) -> None:
    # key 1 is visible to queries 1.. only: its inf must not reach query 0 (0 * inf)
    q = np.zeros((1, 3, 2), np.float32)
    k = np.zeros((1, 3, 2), np.float32)
    v = np.array([[[1.0, 2.0], [INF, -INF], [NAN, 3.0]]], np.float32)
    sdpa = tf.function(
        lambda a, b, c: T.scaled_dot_product_attention(a, b, c, causal=True), jit_compile=jit
    )
    with np.errstate(invalid="ignore"):  # the reference's own 0 * inf, which it discards
        expected = R.scaled_dot_product_attention(q, k, v, causal=True)
    np.testing.assert_array_equal(sdpa(q, k, v).numpy(), expected)
    np.testing.assert_array_equal(expected[0, 0], [1.0, 2.0])


def test_no_retracing_when_only_the_mask_changes() -> None:
    traces = []

    @tf.function(jit_compile=True)
    def attend(q: tf.Tensor, k: tf.Tensor, m: tf.Tensor) -> tf.Tensor:
        traces.append(1)
        return T.scaled_dot_product_attention(q, k, k, m)

    q, k, _, _ = padded_batch()
    k = np.nan_to_num(k)
    rng = np.random.default_rng(1)
    for _ in range(3):
        m = rng.random((3, 1, 4, 5)) < 0.5
        assert_same(attend(q, k, m), R.scaled_dot_product_attention(q, k, k, m))
    assert len(traces) == 1


def test_unknown_sizes_in_tf_function() -> None:
    q, k, v, keys = padded_batch()
    spec = [tf.TensorSpec([None, None, None, 3], tf.float32)] * 3
    sdpa = tf.function(
        lambda a, b, c, m: T.scaled_dot_product_attention(
            a, b, c, m[:, None, None, :], causal=True, empty="mean"
        ),
        input_signature=[*spec, tf.TensorSpec([None, None], tf.bool)],
    )
    mask = keys[:, None, None, :]
    expected = R.scaled_dot_product_attention(q, k, v, mask, causal=True, empty="mean")
    assert_same(sdpa(q, k, v, keys), expected)
    rows = tf.TensorSpec([None, None], tf.bool)
    masks = tf.function(
        lambda a, b: T.attention_mask(a, b, causal=True), input_signature=[rows] * 2
    )
    qm = np.array([[True, True, False], [True, False, False]])
    assert_same(masks(qm, keys[:2]), R.attention_mask(qm, keys[:2], causal=True))
    with pytest.raises(tf.errors.InvalidArgumentError, match="batch sizes disagree"):
        masks(qm, keys)
    causal = tf.function(
        lambda n: T.causal_mask(n, 5, align="bottom_right"),
        input_signature=[tf.TensorSpec([], tf.int32)],
    )
    assert_same(causal(3), R.causal_mask(3, 5, align="bottom_right"))


@pytest.mark.parametrize("jit", [False, True])
def test_masks_in_tf_function_and_xla(jit: bool) -> None:
    qm = np.array([[True, True, False, True], [False, True, True, True]])
    ids = np.array([[1, 1, 2, 0], [3, 3, 3, 3]])
    masks = tf.function(
        lambda a, b: T.attention_mask(a, causal=True, window=2, segment_ids=b), jit_compile=jit
    )
    assert_same(masks(qm, ids), R.attention_mask(qm, causal=True, window=2, segment_ids=ids))
    segments = tf.function(
        lambda lengths, n: T.segment_ids_from_lengths(lengths, n), jit_compile=jit
    )
    lengths = np.array([[2, 0, 1], [3, 1, 0]])
    assert_same(segments(lengths, tf.constant(5)), R.segment_ids_from_lengths(lengths, 5))
    convert = tf.function(
        lambda m: T.convert_mask(m, "transformers", "additive_min", dtype="float16"),
        jit_compile=jit,
    )
    ints = np.array([[1, 1, 0], [0, 1, 1]])
    assert_same(
        convert(ints), R.convert_mask(ints, "transformers", "additive_min", dtype="float16")
    )


# --- data-dependent checks: ValueError eagerly, assertions in graph mode ----------------


@pytest.mark.parametrize(
    ("mask", "source"),
    [([1, 2, 0], "int"), ([0.0, 0.5], "int"), ([0.0, NAN], "additive"), ([1.0, NAN], "int")],
)
def test_bad_mask_values_raise_eagerly_and_assert_in_graph_mode(mask: list, source: str) -> None:
    with pytest.raises(ValueError) as expected:
        R.convert_mask(mask, source, "keep")
    with pytest.raises(ValueError) as got:
        T.convert_mask(tf.constant(mask), source, "keep")
    assert str(got.value) == str(expected.value)
    fn = tf.function(lambda m: T.convert_mask(m, source, "drop"))  # XLA drops assertions
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"convention|NaN"):
        fn(tf.constant(mask))
    fn = tf.function(lambda m: T.convert_mask(m, "int", "additive"))
    assert_same(fn(tf.constant([1, 0])), np.array([0.0, -INF], np.float32))  # good masks pass


def test_segment_lengths_checked_in_graph_mode() -> None:
    fn = tf.function(lambda lengths, n: T.segment_ids_from_lengths(lengths, n))
    with pytest.raises(tf.errors.InvalidArgumentError, match="more than seqlen"):
        fn(tf.constant([[2, 3]]), tf.constant(4))
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"lengths_per_row must hold .*2\*\*63 - 1"
    ):
        fn(tf.constant([[2, -1]]), tf.constant(4))
    with pytest.raises(ValueError, match="more than seqlen=4"):
        T.segment_ids_from_lengths(tf.constant([[2, 3]]), 4)


# --- gradients -------------------------------------------------------------------------


def _gradients(q, k, v, mask, jit: bool = False, **kw) -> list[np.ndarray]:
    variables = [tf.Variable(a) for a in (q, k, v)]

    @tf.function(jit_compile=jit)
    def step():
        with tf.GradientTape() as tape:
            out = T.scaled_dot_product_attention(*variables, mask, **kw)
            out = tf.cast(out, tf.float32)
            loss = tf.reduce_sum(tf.where(tf.math.is_finite(out), out, 0.0) ** 2)
        return tape.gradient(loss, variables)

    return [tf.convert_to_tensor(g).numpy() for g in step()]


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("empty", ["zeros", "nan"])
def test_gradients_finite_and_zero_where_no_query_looks(jit: bool, empty: str) -> None:
    q, k, v, keys = padded_batch()
    query_rows = np.array([[True, True, False, True], [True] * 4, [False, True, True, True]])
    q[np.broadcast_to(~query_rows[:, None], q.shape[:3])] = NAN  # batch 1 sees no key at all
    mask = T.attention_mask(query_rows, keys)[:, None]  # (B, 1, L, S)
    gq, gk, gv = _gradients(q, k, v, mask, jit, empty=empty)
    for g in (gq, gk, gv):
        assert np.isfinite(g).all()
    hidden_keys = np.broadcast_to(~keys[:, None, :, None], k.shape)
    assert (gk[hidden_keys] == 0).all() and (gv[hidden_keys] == 0).all()
    no_key = np.broadcast_to(~(query_rows & keys.any(1)[:, None])[:, None, :, None], q.shape)
    assert (gq[no_key] == 0).all()
    assert (gq[~no_key] != 0).any() and (gv[~hidden_keys] != 0).all()


def test_gradients_with_causal_rows_that_see_nothing() -> None:
    # bottom-right alignment with L > S: the first query rows see no key
    rng = np.random.default_rng(2)
    q = rng.normal(size=(2, 5, 3))
    k = rng.normal(size=(2, 3, 3))
    v = rng.normal(size=(2, 3, 4))
    q[:, :2] = INF
    keys = np.array([[True, True, False], [True, True, True]])
    k[0, 2], v[0, 2] = NAN, -INF
    mask = keys[:, None, :]  # (B, 1, S)
    gq, gk, gv = _gradients(q, k, v, mask, causal=True, align="bottom_right")
    assert all(np.isfinite(g).all() for g in (gq, gk, gv))
    assert (gq[:, :2] == 0).all() and (gk[0, 2] == 0).all() and (gv[0, 2] == 0).all()
    expected = R.scaled_dot_product_attention(q, k, v, mask, causal=True, align="bottom_right")
    assert_same(
        T.scaled_dot_product_attention(q, k, v, mask, causal=True, align="bottom_right"),
        expected,
        rtol=1e-10,
        atol=1e-10,
    )


# --- devices, inputs, dtypes, ragged input ---------------------------------------------


def test_device_placement() -> None:
    for device in ("cpu", "/CPU:0", tf.DeviceSpec(device_type="CPU", device_index=0)):
        assert T.causal_mask(3, device=device).device.endswith("CPU:0")
        assert T.attention_mask([[True, False]], device=device).device.endswith("CPU:0")
    for bad in ("cuda", "banana", 0):
        with pytest.raises(ValueError, match="device"):
            T.causal_mask(3, device=bad)
    if tf.config.list_physical_devices("GPU"):
        assert T.causal_mask(3, device="GPU:0").device.endswith("GPU:0")


def test_inputs_are_not_modified() -> None:
    q, k, v, keys = padded_batch()
    mask = keys[:, None, None, :]
    arrays = [q, k, v, mask]
    copies = [a.copy() for a in arrays]
    variables = [tf.Variable(a) for a in (q, k, v)]
    T.scaled_dot_product_attention(*arrays, causal=True, empty="mean")
    T.scaled_dot_product_attention(*variables, tf.constant(mask))
    T.attention_weights(q, k, mask)
    for a, c in zip(arrays, copies):
        np.testing.assert_array_equal(a, c)
    for var, c in zip(variables, copies):
        np.testing.assert_array_equal(var.numpy(), c)
    ints = np.array([[1, 0, 1]])
    T.convert_mask(ints, "int", "additive")
    np.testing.assert_array_equal(ints, [[1, 0, 1]])
    lengths = [[2, 1], [3]]
    T.segment_ids_from_lengths(lengths, 4)
    assert lengths == [[2, 1], [3]]


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_half_precision_dtypes_are_kept(dtype: tf.DType) -> None:
    q, k, v, keys = padded_batch()
    mask = keys[:, None, None, :]
    half = [tf.cast(a, dtype) for a in (q, k, v)]
    wide = [tf.cast(a, tf.float32) for a in half]  # the same values, in float32
    out = T.scaled_dot_product_attention(*half, mask, causal=True)
    weights = T.attention_weights(half[0], half[1], mask, empty="mean")
    assert out.dtype == dtype and weights.dtype == dtype
    expected = T.scaled_dot_product_attention(*wide, mask, causal=True)
    np.testing.assert_allclose(
        tf.cast(out, tf.float32).numpy(), expected.numpy(), rtol=2e-2, atol=2e-2
    )
    additive = T.convert_mask(keys, "keep", "additive_min", dtype=dtype)
    assert additive.dtype == dtype
    np.testing.assert_array_equal(T.convert_mask(additive, "additive", "keep").numpy(), keys)


def test_convert_mask_dtype_spellings() -> None:
    keep = np.array([True, False])
    for dtype in ("float16", np.dtype("float16"), tf.float16, np.float16):
        assert_same(
            T.convert_mask(keep, "keep", "additive", dtype=dtype), np.array([0.0, -INF], np.float16)
        )
    assert_same(T.convert_mask(keep, "keep", "int", dtype=tf.uint8), np.array([1, 0], np.uint8))
    with pytest.raises(TypeError):
        T.convert_mask(keep, "keep", "additive", dtype=tf.int32)


def test_segment_ids_from_ragged_input() -> None:
    rows = [[2, 0, 1], [], [4]]
    expected = R.segment_ids_from_lengths(rows, 4)
    assert_same(T.segment_ids_from_lengths(tf.ragged.constant(rows, dtype=tf.int64), 4), expected)
    assert_same(T.segment_ids_from_lengths(tf.ragged.constant(rows, dtype=tf.int32), 4), expected)
    assert_same(T.segment_ids_from_lengths(rows, 4), expected)
    with pytest.raises(TypeError):
        T.segment_ids_from_lengths(tf.ragged.constant([[1.0]]), 4)
