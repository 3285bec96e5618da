"""TensorFlow-only behaviour of tf_impl: ragged input, tf.function, gradients, dtypes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require

require("tensorflow")  # skips (fails on CI's full leg) when TensorFlow is missing

import helpers
import tensorflow as tf

import reference as R
import tf_impl as T

SIDES = [("pre", "pre"), ("pre", "post"), ("post", "pre"), ("post", "post")]
SEQS = [[1, 2, 3], [], [4, 5], [6, 7, 8, 9, 10]]


def assert_same(got: object, expected: np.ndarray) -> None:
    """A ``tf.Tensor`` equal to the reference's result (helpers.assert_same: dtype, shape,
    values; exact for integers)."""
    assert isinstance(got, tf.Tensor), type(got)
    helpers.assert_same(got, expected)


# --- pad_sequences on TensorFlow's ragged forms --------------------------------------


@pytest.mark.parametrize(("padding", "truncating"), SIDES)
@pytest.mark.parametrize("maxlen", [None, 0, 2, 4, 7])
def test_ragged_tensor_input(padding: str, truncating: str, maxlen: int | None) -> None:
    rt = tf.ragged.constant(SEQS, dtype=tf.int64)
    kw = dict(maxlen=maxlen, padding=padding, truncating=truncating, value=-1)
    assert_same(T.pad_sequences(rt, **kw), R.pad_sequences(SEQS, **kw))


def test_ragged_tensor_with_step_vectors() -> None:
    seqs = [np.arange(6.0).reshape(3, 2), np.zeros((0, 2)), np.ones((1, 2))]
    rt = tf.RaggedTensor.from_row_lengths(tf.constant(np.concatenate(seqs)), [3, 0, 1])
    expected = R.pad_sequences(seqs, maxlen=2, dtype="float32", value=np.nan)
    assert_same(T.pad_sequences(rt, maxlen=2, dtype="float32", value=np.nan), expected)


def test_ragged_inner_dimensions_must_be_uniform() -> None:
    nested = [[[1, 2], [3, 4]], [], [[5, 6]]]
    rt = tf.ragged.constant(nested)  # ragged_rank 2, but every step has 2 features
    assert rt.ragged_rank == 2
    assert_same(T.pad_sequences(rt), R.pad_sequences(nested))
    with pytest.raises(ValueError, match="ragged inner"):
        T.pad_sequences(tf.ragged.constant([[[1, 2], [3]]]))


def test_list_of_tensors_input() -> None:
    seqs = [tf.constant(s, tf.int32) for s in SEQS]
    for padding, truncating in SIDES:
        kw = dict(maxlen=3, padding=padding, truncating=truncating)
        assert_same(T.pad_sequences(seqs, **kw), R.pad_sequences(SEQS, **kw))
    mixed = [tf.constant([1.0, 2.0]), tf.constant([3], tf.int64)]  # cast each, then concat
    expected = R.pad_sequences([[1, 2], [3]], dtype="int16")
    assert_same(T.pad_sequences(mixed, dtype="int16"), expected)
    with pytest.raises(ValueError, match="steps of shape"):
        T.pad_sequences([tf.zeros((2, 3)), tf.zeros((1, 4))])
    with pytest.raises(TypeError, match="must be a sequence"):
        T.pad_sequences([tf.constant([1]), tf.constant(2)])


def test_dense_tensor_and_python_inputs() -> None:
    dense = np.arange(12).reshape(3, 4)
    assert_same(T.pad_sequences(tf.constant(dense), maxlen=2), R.pad_sequences(dense, maxlen=2))
    assert_same(T.pad_sequences(SEQS, maxlen=3), R.pad_sequences(SEQS, maxlen=3))
    assert_same(T.pad_sequences([]), R.pad_sequences([]))


@pytest.mark.parametrize("dtype", [tf.int8, tf.float16, tf.bool, tf.uint8, tf.float64])
def test_dtype_as_tf_dtype(dtype: tf.DType) -> None:
    seqs = [[1, 0], [1]]
    expected = R.pad_sequences(seqs, dtype=dtype.name)
    assert_same(T.pad_sequences(tf.ragged.constant(seqs), dtype=dtype), expected)
    assert_same(T.pad_sequences(seqs, dtype=dtype), expected)
    assert_same(T.pad_sequences(seqs, dtype=np.dtype(dtype.name)), expected)


def test_string_and_object_dtypes_are_reference_only() -> None:
    for dtype in (str, object, "U3", tf.string):
        with pytest.raises(TypeError, match="padded only by the reference backend"):
            T.pad_sequences([["a"]], dtype=dtype)


def test_lossless_cast_rule_on_tensors() -> None:
    with pytest.raises(ValueError, match="without loss"):
        T.pad_sequences(tf.ragged.constant([[1.0, 1.5]]), dtype="int32")
    with pytest.raises(ValueError, match="without loss"):
        T.pad_sequences(tf.ragged.constant([[300]]), dtype="uint8")
    with pytest.raises(ValueError, match="without loss"):
        T.pad_sequences(tf.ragged.constant([[1.0]]), dtype="int32", value=np.nan)
    with pytest.raises(ValueError, match="without loss"):
        T.pad_sequences(tf.ragged.constant([[2]]), dtype="bool")
    # float64 -> float16 rounds once, like NumPy (tf.cast alone rounds twice).
    tricky = np.array([1 + 2**-11 + 2**-40, -(1 + 2**-11 + 2**-40), 65519.0, 1e-6])
    rt = tf.RaggedTensor.from_row_lengths(tf.constant(tricky), [4])
    assert_same(T.pad_sequences(rt, dtype="float16"), R.pad_sequences([tricky], dtype="float16"))


# --- pad_flat: the shared vectorised path --------------------------------------------


@pytest.mark.parametrize(("padding", "truncating"), SIDES)
def test_pad_flat_matches_reference(padding: str, truncating: str) -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 6, 7)
    values = rng.normal(size=(int(lengths.sum()), 2)).astype(np.float32)
    for maxlen in (None, 0, 3):
        kw = dict(maxlen=maxlen, padding=padding, truncating=truncating, value=np.nan)
        expected = R.pad_flat(values, lengths, **kw)
        assert_same(T.pad_flat(tf.constant(values), tf.constant(lengths), **kw), expected)
        assert_same(T.pad_flat(values, lengths.tolist(), **kw), expected)


@pytest.mark.parametrize(("padding", "truncating"), SIDES)
def test_pad_flat_large_batches(padding: str, truncating: str) -> None:
    # Big enough for the precompiled graph path (more than 2**16 output elements).
    rng = np.random.default_rng(1)
    lengths = rng.integers(0, 300, 400)
    values = rng.integers(-5, 5, (int(lengths.sum()), 2)).astype(np.int16)
    for maxlen in (None, 100):
        kw = dict(maxlen=maxlen, padding=padding, truncating=truncating, value=9)
        expected = R.pad_flat(values, lengths, **kw)
        assert_same(T.pad_flat(tf.constant(values), tf.constant(lengths), **kw), expected)


@pytest.mark.parametrize("maxlen", [None, 3])
def test_pad_flat_inside_tf_function(maxlen: int | None) -> None:
    spec = [tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int64)]

    @tf.function(input_signature=spec)
    def pad(values: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
        return T.pad_flat(values, lengths, maxlen=maxlen, padding="post", truncating="pre")

    for lengths in ([3, 0, 5], [], [0, 0], [1, 7, 2, 2]):
        lengths = np.asarray(lengths, np.int64)
        values = np.arange(int(lengths.sum()), dtype=np.int32)
        expected = R.pad_flat(values, lengths, maxlen, "post", "pre")
        assert_same(pad(tf.constant(values), tf.constant(lengths)), expected)
    assert pad.experimental_get_tracing_count() == 1
    with pytest.raises(tf.errors.InvalidArgumentError, match="non-negative"):
        pad(tf.constant([1, 2], tf.int32), tf.constant([-1, 3], tf.int64))
    with pytest.raises(tf.errors.InvalidArgumentError, match="sum"):
        pad(tf.constant([1, 2], tf.int32), tf.constant([3], tf.int64))


def test_pad_sequences_of_ragged_inside_tf_function() -> None:
    pad = tf.function(lambda rt: T.pad_sequences(rt, maxlen=4, dtype="float32", value=-1.0))
    assert_same(pad(tf.ragged.constant(SEQS)), R.pad_sequences(SEQS, 4, "float32", value=-1.0))
    with pytest.raises(tf.errors.InvalidArgumentError, match="without loss"):
        tf.function(lambda rt: T.pad_sequences(rt, dtype="int8"))(tf.ragged.constant([[1.5]]))


def test_unpad_sequences_returns_tensors() -> None:
    padded = T.pad_sequences(tf.ragged.constant(SEQS), padding="pre")
    parts = T.unpad_sequences(padded, [3, 0, 2, 5], padding="pre")
    assert all(isinstance(p, tf.Tensor) for p in parts)
    assert [p.numpy().tolist() for p in parts] == SEQS
    assert T.unpad_sequences(tf.zeros((0, 3)), tf.zeros([0], tf.int64)) == []


# --- masks ---------------------------------------------------------------------------


def test_sequence_mask_inside_tf_function_and_unlike_tf_sequence_mask() -> None:
    mask = tf.function(lambda lengths, n: T.sequence_mask(lengths, n, padding="pre"))
    got = mask(tf.constant([1, 3, 0]), tf.constant(3))
    assert_same(got, R.sequence_mask([1, 3, 0], 3, padding="pre"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="non-negative"):
        mask(tf.constant([-1, 2]), tf.constant(3))
    # tf.sequence_mask truncates 1.7 and treats -1 as 0; maskref refuses both.
    with pytest.raises(TypeError, match="integer dtype"):
        T.sequence_mask(tf.constant([1.7]))
    with pytest.raises(ValueError, match="non-negative"):
        T.sequence_mask(tf.constant([-1, 2]))


def test_masks_are_bool_and_lengths_int64() -> None:
    lengths = T.lengths_from_mask(tf.constant([[True, False, True], [False] * 3]))
    assert lengths.dtype == tf.int64
    assert lengths.numpy().tolist() == [2, 0]
    assert T.mask_from_ids(tf.constant([[5, 0]], tf.int32)).dtype == tf.bool
    assert T.sequence_mask([2]).dtype == tf.bool


def test_mask_from_value_nan_marks_padding() -> None:
    x = np.array([[[np.nan, np.nan], [1.0, np.nan], [0.0, 0.0]]], np.float32)
    assert_same(T.mask_from_value(tf.constant(x), np.nan), R.mask_from_value(x, np.nan))
    assert T.mask_from_value(tf.constant(x), np.nan).numpy().tolist() == [[False, True, True]]
    fn = tf.function(lambda x, v: T.mask_from_value(x, v))
    assert fn(tf.constant(x), tf.constant(np.nan, tf.float32)).numpy().tolist() == [
        [False, True, True]
    ]


def test_apply_mask_gradient_is_zero_at_masked_steps() -> None:
    x = tf.constant([[[1.0, 2.0], [np.nan, np.inf]], [[-np.inf, np.nan], [3.0, 4.0]]])
    mask = tf.constant([[True, False], [False, True]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = T.apply_mask(x, mask)
        loss = tf.reduce_sum(y * y)
    grad = tape.gradient(loss, x).numpy()
    assert np.isfinite(y.numpy()).all()
    assert np.isfinite(grad).all()
    keep = np.broadcast_to(mask.numpy()[..., None], grad.shape)
    assert (grad[~keep] == 0).all()
    np.testing.assert_array_equal(grad[keep], 2 * x.numpy()[keep])


def test_expand_mask_checks_unknown_sizes_in_graph_mode() -> None:
    spec = [tf.TensorSpec([None, None], tf.bool), tf.TensorSpec([None, None, 2])]
    fn = tf.function(lambda m, x: T.apply_mask(x, m, fill=-1.0), input_signature=spec)
    got = fn(tf.constant([[True, False]]), tf.ones((1, 2, 2)))
    assert got.numpy().tolist() == [[[1.0, 1.0], [-1.0, -1.0]]]
    with pytest.raises(tf.errors.InvalidArgumentError, match="leading prefix"):
        fn(tf.constant([[True, False, True]]), tf.ones((1, 2, 2)))


# --- errors and inputs ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: T.pad_flat(tf.constant([1, 2]), tf.constant([-1, 3])), ValueError),
        (lambda: T.pad_flat(tf.constant([1, 2]), tf.constant([1])), ValueError),
        (lambda: T.pad_flat(tf.constant([1, 2]), tf.constant([1.0, 1.0])), TypeError),
        (lambda: T.unpad_sequences(tf.zeros((2, 3)), tf.constant([1, 4])), ValueError),
        (lambda: T.lengths_from_mask(tf.constant([[1, 0]])), TypeError),
        (lambda: T.expand_mask(tf.constant([True, False]), tf.zeros((3, 2))), ValueError),
        (lambda: T.apply_mask(tf.constant([1, 2]), tf.constant([True, False]), 0.5), ValueError),
        (lambda: T.mask_from_ids(tf.constant([1.0])), TypeError),
        (lambda: T.pad_sequences(tf.constant(3)), TypeError),
    ],
)
def test_eager_errors_are_python_errors(call: object, error: type) -> None:
    with pytest.raises(error) as info:
        call()
    assert not isinstance(info.value, tf.errors.OpError)


def test_inputs_are_never_mutated() -> None:
    values = np.arange(6, dtype=np.float32)
    lengths = np.array([2, 4])
    x = np.array([[1.0, np.nan], [3.0, 4.0]])
    mask = np.array([True, False])
    seqs = [np.array([1, 2]), np.array([3])]
    copies = [a.copy() for a in (values, lengths, x, mask, *seqs)]
    T.pad_flat(values, lengths, maxlen=1, value=-1)
    T.pad_sequences(seqs, maxlen=1, value=-1)
    T.pad_sequences([tf.constant(s) for s in seqs], value=-1)
    T.apply_mask(x, mask, fill=7.0)
    T.unpad_sequences(x, [1, 2])
    T.mask_from_value(x, np.nan)
    for before, after in zip(copies, (values, lengths, x, mask, *seqs)):
        np.testing.assert_array_equal(before, after)
    t = tf.constant(x)
    T.apply_mask(t, mask)
    np.testing.assert_array_equal(t.numpy(), x)
