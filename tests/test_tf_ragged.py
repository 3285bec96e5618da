"""tf_impl's ragged layouts: what the conformance registry does not cover.

The registry (``maskref/conformance/operations_ragged.py``) checks every
function against the reference on drawn tensors. Here: ``tf.RaggedTensor`` /
``tf.reverse_sequence`` / PyTorch's packing as the frameworks do it, round
trips, ``tf.function`` with unknown sizes and under XLA, assertions in graph
mode, gradients, inputs left alone, and the reference's error class and
message for bad input.
"""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest
from conftest import require
from helpers import agree
from helpers import assert_same as same
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

require("tensorflow")  # skips (fails on CI's full leg) when TensorFlow is missing

import tensorflow as tf

import reference as R
import tf_impl as T
from reference import strategies as S
from tf_impl import _fast_ragged


def flat(rows: list[np.ndarray], dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """A ragged batch (list of arrays) as ``(values, row_splits)``."""
    if not rows:
        return np.zeros((0,), dtype), np.zeros(1, np.int64)
    return np.concatenate(rows), R.row_splits_from_lengths([len(r) for r in rows])


def fill_values(dtype: np.dtype) -> st.SearchStrategy:
    """Mostly values of ``dtype``; sometimes ones that do not cast losslessly to it."""
    return st.one_of(S.elements(dtype), st.sampled_from([0.5, np.nan, 300, -1]))


# --- the frameworks' objects and tensor arguments, on drawn inputs ---------------------------


@given(S.padded_batches())
def test_to_ragged_tensor_holds_ragged_from_padded(batch: tuple[np.ndarray, np.ndarray]) -> None:
    x, mask = batch
    values, splits = R.ragged_from_padded(x, mask)
    rt = T.to_ragged_tensor(x, mask)
    assert isinstance(rt, tf.RaggedTensor) and rt.ragged_rank == 1
    same(rt.values, values)
    same(rt.row_splits, splits)


@given(S.ragged_batches(), st.data())
def test_from_ragged_tensor_is_padded_from_ragged(
    rows: list[np.ndarray], data: st.DataObject
) -> None:
    dtype = rows[0].dtype if rows else np.dtype("int64")
    values, splits = flat(rows, dtype)
    options = dict(
        maxlen=data.draw(st.none() | st.integers(0, 9)),
        padding=data.draw(S.padding_sides),
        truncating=data.draw(S.padding_sides),
        value=data.draw(fill_values(dtype)),
    )
    rt = tf.RaggedTensor.from_row_splits(values, splits)
    try:
        expected = R.padded_from_ragged(values, splits, **options)
    except (ValueError, TypeError) as err:
        with pytest.raises(type(err), match="^" + re.escape(str(err)) + "$"):
            T.from_ragged_tensor(rt, **options)
        return
    same(T.from_ragged_tensor(rt, **options), expected)


@given(S.padded_batches(layout="post"), st.booleans(), st.data())
def test_unpack_of_pack_is_the_batch_with_padding_zeroed(
    batch: tuple[np.ndarray, np.ndarray], enforce: bool, data: st.DataObject
) -> None:
    x, mask = batch
    lengths = mask.sum(axis=1)
    if enforce:  # sorted, so that enforce_sorted accepts it
        order = np.argsort(-lengths, kind="stable")
        x, mask, lengths = x[order], mask[order], lengths[order]
    ours = T.pack_sequences(tf.constant(x), tf.constant(lengths), enforce_sorted=enforce)
    full = mask.reshape(mask.shape + (1,) * (x.ndim - 2))
    width = int(lengths.max()) if lengths.size else 0  # unpacking pads to the longest row
    same(T.unpack_sequences(ours), (np.where(full, x, np.zeros((), x.dtype))[:, :width], lengths))


@given(S.padded_batches())
def test_repad_of_unpad_is_the_batch_with_padding_zeroed(
    batch: tuple[np.ndarray, np.ndarray],
) -> None:
    x, mask = batch
    values, indices, _, _ = T.unpad(tf.constant(x), tf.constant(mask))
    full = mask.reshape(mask.shape + (1,) * (x.ndim - 2))
    same(T.repad(values, indices, x.shape[0], x.shape[1]), np.where(full, x, np.zeros_like(x)))


@given(S.padded_batches(), S.padding_sides, st.data())
def test_reversing_twice_is_the_identity(
    batch: tuple[np.ndarray, np.ndarray], padding: str, data: st.DataObject
) -> None:
    x, _ = batch
    axis = data.draw(st.integers(1, x.ndim - 1))
    lengths = data.draw(hnp.arrays(np.int64, x.shape[:1], elements=st.integers(0, x.shape[axis])))
    if data.draw(st.booleans()):
        axis -= x.ndim
    once = T.reverse_sequences(tf.constant(x), lengths, axis=axis, padding=padding)
    same(T.reverse_sequences(once, lengths, axis=axis, padding=padding), x)


@given(
    st.integers(1, 3)
    .flatmap(lambda n: hnp.array_shapes(min_dims=n, max_dims=n, min_side=0, max_side=6))
    .flatmap(lambda shape: hnp.arrays(np.bool_, shape)),
    st.integers(-5, 5) | st.sampled_from([np.int32(3), np.uint8(200), np.array(-2)]),
    st.integers(-5, 5),
)
def test_positions_from_mask_takes_scalar_tensors(
    mask: np.ndarray, start: object, fill: int
) -> None:
    agree(T, "positions_from_mask", mask, start=start, fill=fill)
    same(
        T.positions_from_mask(mask, start=tf.constant(start), fill=tf.constant(fill)),
        R.positions_from_mask(mask, start=start, fill=fill),
    )


# --- round trips ---------------------------------------------------------------------------


@given(S.ragged_batches(min_batch=1))
def test_ragged_round_trip(rows: list[np.ndarray]) -> None:
    values, splits = flat(rows, rows[0].dtype)
    for padding in ("pre", "post"):
        x, mask = T.padded_from_ragged(values, splits, padding=padding)
        same(T.ragged_from_padded(x, mask), (values, splits))
        same(T.to_ragged_tensor(x, mask).row_lengths(), np.diff(splits))


@given(S.padded_batches())
def test_padded_round_trip_compacts_holes(batch: tuple[np.ndarray, np.ndarray]) -> None:
    x, mask = batch
    values, splits = T.ragged_from_padded(x, mask)
    back, back_mask = T.padded_from_ragged(values, splits)
    lengths = mask.sum(axis=1)
    width = int(lengths.max()) if lengths.size else 0
    same(back_mask, np.arange(width) < lengths[:, None])
    same(T.ragged_from_padded(back, back_mask), R.ragged_from_padded(x, mask))


# --- TensorFlow's own ragged API ----------------------------------------------------------


@given(S.padded_batches(layout="post"))
def test_to_ragged_tensor_is_from_tensor_with_lengths(batch: tuple[np.ndarray, np.ndarray]) -> None:
    x, mask = batch
    expected = tf.RaggedTensor.from_tensor(x, lengths=mask.sum(axis=1))
    got = T.to_ragged_tensor(tf.constant(x), tf.constant(mask))
    same(got.flat_values, expected.flat_values.numpy())
    same(got.row_splits, expected.row_splits.numpy())


@given(S.ragged_batches(min_batch=1), st.none() | st.integers(0, 9))
def test_from_ragged_tensor_is_to_tensor(rows: list[np.ndarray], maxlen: int | None) -> None:
    values, splits = flat(rows, rows[0].dtype)
    rt = tf.RaggedTensor.from_row_splits(values, splits)
    value = np.ones((), values.dtype)
    shape = None if maxlen is None else [None, maxlen, *values.shape[1:]]
    x, mask = T.from_ragged_tensor(rt, maxlen=maxlen, truncating="post", value=value)
    same(x, rt.to_tensor(default_value=value, shape=shape).numpy())
    width = x.shape[1]
    same(mask, tf.sequence_mask(tf.minimum(rt.row_lengths(), width), width).numpy())


def test_from_ragged_tensor_takes_int32_splits_and_uniform_steps() -> None:
    rt = tf.RaggedTensor.from_row_splits(
        tf.reshape(tf.range(12.0), (6, 2)), tf.constant([0, 4, 4, 6], tf.int32)
    )
    x, mask = T.from_ragged_tensor(rt, padding="pre")
    values = np.arange(12.0, dtype=np.float32).reshape(6, 2)
    same((x, mask), R.padded_from_ragged(values, [0, 4, 4, 6], padding="pre"))


def test_from_ragged_tensor_refuses_other_ragged_ranks_and_dense_tensors() -> None:
    nested = tf.ragged.constant([[[1], [2, 3]], [[4]]])
    assert nested.ragged_rank == 2
    with pytest.raises(ValueError, match="ragged rank 1"):
        T.from_ragged_tensor(nested)
    with pytest.raises(TypeError, match=r"tf\.RaggedTensor"):
        T.from_ragged_tensor(tf.zeros((2, 3)))


@given(S.padded_batches(layout="post"))
def test_reverse_sequences_is_tf_reverse_sequence(batch: tuple[np.ndarray, np.ndarray]) -> None:
    x, mask = batch
    lengths = mask.sum(axis=1)
    expected = tf.reverse_sequence(x, lengths, seq_axis=1, batch_axis=0).numpy()
    same(T.reverse_sequences(tf.constant(x), tf.constant(lengths)), expected)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_pack_sequences_is_pytorchs_packing_where_lengths_differ() -> None:
    import torch

    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 7, 3)).astype(np.float32)
    lengths = np.array([3, 7, 1, 5, 6])
    ours = T.pack_sequences(x, lengths)
    theirs = torch.nn.utils.rnn.pack_padded_sequence(
        torch.from_numpy(x), torch.from_numpy(lengths), batch_first=True, enforce_sorted=False
    )
    same(ours.data, theirs.data.numpy())
    same(ours.batch_sizes, theirs.batch_sizes.numpy())
    same(ours.sorted_indices, theirs.sorted_indices.numpy())
    same(ours.unsorted_indices, theirs.unsorted_indices.numpy())


def test_max_seqlen_is_a_python_int_eagerly_and_a_tensor_in_a_graph() -> None:
    x, mask = np.ones((2, 3)), np.array([[True, True, False], [True, False, False]])
    assert T.unpad(x, mask)[3] == 2 and type(T.unpad(x, mask)[3]) is int
    assert T.unpad(np.ones((0, 3)), np.ones((0, 3), bool))[3] == 0

    @tf.function
    def longest(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
        result = T.unpad(a, b)[3]
        assert isinstance(result, tf.Tensor) and result.dtype == tf.int64
        assert result.shape.rank == 0
        return result

    assert int(longest(x, mask)) == 2


def test_an_all_valid_mask_is_not_copied_and_holes_are_compacted() -> None:
    x = tf.reshape(tf.range(24.0), (2, 4, 3))
    values, splits = T.ragged_from_padded(x, tf.ones((2, 4), tf.bool))
    same(values, np.arange(24.0, dtype=np.float32).reshape(8, 3))
    same(splits, np.array([0, 4, 8]))
    holes = np.array([[True, False, True, False], [False, False, False, True]])
    same(T.ragged_from_padded(x, holes), R.ragged_from_padded(x.numpy(), holes))


def test_large_batches_take_the_traced_path_with_the_same_results_and_gradients() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(64, 128, 16)).astype(np.float32)  # above the size traced eagerly
    assert x.size >= _fast_ragged.COMPILE_FROM
    holes = rng.random((64, 128)) < 0.4
    holes[3] = False
    x[~holes] = np.nan
    for mask in (holes, np.ones((64, 128), bool), np.zeros((64, 128), bool)):
        same(T.ragged_from_padded(x, mask), R.ragged_from_padded(x, mask))
        got, expected = T.unpad(x, mask), R.unpad(x, mask)
        same(got[:3], expected[:3])
        assert got[3] == expected[3] and type(got[3]) is int
    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(T.ragged_from_padded(xv, holes)[0] * 3.0)
    grad = tf.convert_to_tensor(tape.gradient(loss, xv)).numpy()
    assert (grad[~holes] == 0).all() and (grad[holes] == 3).all()


def test_string_data_where_no_number_is_needed() -> None:
    x = np.array([["a", "b", ""], ["c", "d", "e"]])
    mask = np.array([[True, True, False], [False, True, True]])

    def text(t: tf.Tensor) -> np.ndarray:
        return t.numpy().astype(str)

    values, splits = T.ragged_from_padded(x, mask)
    np.testing.assert_array_equal(text(values), R.ragged_from_padded(x, mask)[0])
    same(splits, R.ragged_from_padded(x, mask)[1])
    np.testing.assert_array_equal(
        text(T.last_valid(x, mask, empty="-")), R.last_valid(x, mask, empty="-")
    )
    np.testing.assert_array_equal(
        text(T.reverse_sequences(x, [2, 3])), R.reverse_sequences(x, [2, 3])
    )
    padded, _ = T.padded_from_ragged(np.array(["a", "b", "c"]), [0, 2, 3], value="<pad>")
    np.testing.assert_array_equal(text(padded), [["a", "b"], ["c", "<pad>"]])
    np.testing.assert_array_equal(
        text(T.repad(np.array(["a", "b"]), [0, 3], 2, 2)), [["a", ""], ["", "b"]]
    )
    with pytest.raises(ValueError, match="not a string"):  # as the reference: 0 is no string
        T.first_valid(x, mask)


# --- tf.function with unknown sizes, and XLA ---------------------------------------------


def graph_calls(x: np.ndarray, mask: np.ndarray) -> list[tuple[str, tuple, dict]]:
    """For one (x, mask) batch: ``(function name, args, kwargs)`` for every function."""
    lengths = mask.sum(axis=1)
    values, splits = R.ragged_from_padded(x, mask)
    packed = R.pack_sequences(x, lengths)
    unpadded = R.unpad(x, mask)
    b, t = x.shape[:2]
    return [
        ("row_splits_from_lengths", (lengths,), {}),
        ("lengths_from_row_splits", (splits,), {}),
        ("ragged_from_padded", (x, mask), {}),
        ("padded_from_ragged", (values, splits), {}),  # RaggedTensor.to_tensor, not under XLA
        ("padded_from_ragged", (values, splits), dict(maxlen=3, padding="pre")),
        ("pack_sequences", (x, lengths), {}),
        ("unpack_sequences", (packed,), dict(total_length=t + 1, padding_value=1)),
        ("unpad", (x, mask), {}),
        ("repad", (unpadded[0], unpadded[1], b, t), {}),
        ("reverse_sequences", (x, lengths), dict(padding="pre")),
        ("positions_from_mask", (mask,), dict(start=1, fill=-1)),
        ("last_valid", (x, mask), dict(empty=1)),
        ("first_valid", (x, mask), dict(empty=1)),
    ]


def spec(a: object) -> object:
    """A TensorSpec of unknown sizes (static rank) for an argument, or the Python value."""
    if isinstance(a, tuple):
        return type(a)(*(spec(p) for p in a))
    if isinstance(a, np.ndarray):
        return tf.TensorSpec([None] * a.ndim, tf.as_dtype(a.dtype))
    return a


def run_in_graph(name: str, args: tuple, kwargs: dict, jit: bool) -> object:
    """``T.<name>`` in a ``tf.function`` whose tensor arguments have unknown sizes."""
    tensors = [a for a in args if isinstance(a, (np.ndarray, tuple))]
    python = [a for a in args if not isinstance(a, (np.ndarray, tuple))]

    def call(*ts: object) -> object:
        result = getattr(T, name)(*ts, *python, **kwargs)
        return tuple(result) if isinstance(result, tuple) else result

    signature = [spec(a) for a in tensors]
    fn = tf.function(call, input_signature=signature, jit_compile=jit)
    return fn(*tensors)


@pytest.mark.parametrize("jit", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("dtype", ["float32", "int64", "bool", "uint8", "float16"])
@pytest.mark.parametrize("case", ["mixed", "holes", "empty-batch", "no-steps", "all-valid"])
def test_in_tf_function_with_unknown_sizes(case: str, dtype: str, jit: bool) -> None:
    rng = np.random.default_rng(1)
    shape = {
        "mixed": (4, 5, 2),
        "holes": (3, 6),
        "empty-batch": (0, 4, 2),
        "no-steps": (3, 0),
        "all-valid": (2, 3, 2),
    }[case]
    x = (rng.integers(0, 2, shape) if dtype == "bool" else rng.integers(0, 50, shape)).astype(dtype)
    b, t = shape[:2]
    if case == "holes":
        mask = rng.random((b, t)) < 0.5
        mask[0] = False
    elif case == "all-valid":
        mask = np.ones((b, t), bool)
    else:
        mask = np.arange(t) < rng.integers(0, t + 1, b)[:, None]
    for name, args, kwargs in graph_calls(x, mask):
        if case == "holes" and name in ("pack_sequences", "unpack_sequences"):
            continue
        expected = getattr(R, name)(*args, **kwargs)
        if jit and name == "pack_sequences":  # XLA miscompiles it: refused, not miscomputed
            with pytest.raises(NotImplementedError, match="XLA"):
                run_in_graph(name, args, kwargs, jit)
            continue
        got = run_in_graph(name, args, kwargs, jit)
        if name == "unpad":
            same(got[:3], expected[:3])
            assert got[3].dtype == tf.int64 and int(got[3]) == expected[3]
        else:
            same(got, tuple(expected) if isinstance(expected, tuple) else expected)


@pytest.mark.parametrize("jit", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("padding", ["pre", "post"])
def test_from_and_to_ragged_tensor_in_tf_function(padding: str, jit: bool) -> None:
    rt = tf.ragged.constant([[1.0, 2.0], [], [3.0]])

    @tf.function(jit_compile=jit)
    def there_and_back(r: tf.RaggedTensor) -> tf.RaggedTensor:
        x, mask = T.from_ragged_tensor(r, padding=padding)
        return T.to_ragged_tensor(x, mask)

    assert there_and_back(rt).to_list() == rt.to_list()


def test_symbolic_sizes_and_options_in_tf_function() -> None:
    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([None], tf.int64),
            tf.TensorSpec([], tf.int32),
        ]
    )
    def padded(values: tf.Tensor, splits: tf.Tensor, width: tf.Tensor) -> tuple:
        return T.padded_from_ragged(values, splits, maxlen=width)

    same(
        padded(np.arange(3.0, dtype=np.float32), np.array([0, 2, 3]), np.int32(1)),
        R.padded_from_ragged(np.arange(3.0, dtype=np.float32), [0, 2, 3], maxlen=1),
    )

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.bool),
            tf.TensorSpec([], tf.int64),
            tf.TensorSpec([], tf.int32),
        ]
    )
    def positions(mask: tf.Tensor, start: tf.Tensor, fill: tf.Tensor) -> tf.Tensor:
        return T.positions_from_mask(mask, start=start, fill=fill)

    mask = np.array([[False, True, True], [True, False, True]])
    same(positions(mask, np.int64(5), np.int32(-1)), R.positions_from_mask(mask, start=5, fill=-1))

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([None], tf.int64),
            tf.TensorSpec([], tf.int64),
            tf.TensorSpec([], tf.int64),
        ]
    )
    def back(values: tf.Tensor, indices: tf.Tensor, b: tf.Tensor, t: tf.Tensor) -> tf.Tensor:
        return T.repad(values, indices, b, t)

    same(
        back(np.ones(2, np.float32), np.array([0, 3]), np.int64(2), np.int64(2)),
        R.repad(np.ones(2, np.float32), np.array([0, 3]), 2, 2),
    )


def test_no_retracing_when_only_the_data_change() -> None:
    traces = []

    @tf.function(reduce_retracing=True)
    def f(x: tf.Tensor, mask: tf.Tensor) -> tuple:
        traces.append(1)
        return T.ragged_from_padded(x, mask), T.last_valid(x, mask)

    rng = np.random.default_rng(2)
    for _ in range(4):
        mask = rng.random((3, 5)) < 0.5
        x = rng.normal(size=(3, 5, 2)).astype(np.float32)
        (values, splits), last = f(tf.constant(x), tf.constant(mask))
        same((values, splits), R.ragged_from_padded(x, mask))
        same(last, R.last_valid(x, mask))
    assert len(traces) == 1


BAD_DATA = {  # name -> args whose *values* are wrong (shapes and dtypes are fine)
    "row_splits_from_lengths": (np.array([2, -1]),),
    "lengths_from_row_splits": (np.array([1, 2, 3]),),
    "lengths_from_row_splits ": (np.array([0, 2, 1]),),
    "padded_from_ragged": (np.arange(3.0), np.array([0, 2, 4])),
    "pack_sequences": (np.zeros((2, 3)), np.array([4, 1])),
    "pack_sequences ": (np.zeros((2, 3)), np.array([1, 2, 3])),
    "unpack_sequences": (
        R.PackedSequences(np.zeros(3), np.array([1, 2]), np.array([0, 1]), np.array([0, 1])),
    ),
    "unpack_sequences ": (
        R.PackedSequences(np.zeros(3), np.array([2, 1]), np.array([0, 1]), np.array([1, 0])),
    ),
    "repad": (np.zeros(2), np.array([1, 1]), 2, 2),
    "repad ": (np.zeros(2), np.array([1, 4]), 2, 2),
    "reverse_sequences": (np.zeros((2, 3)), np.array([1, 4])),
    "ragged_from_padded": (np.zeros((2, 3)), np.ones((2, 4), bool)),
    "last_valid": (np.zeros((2, 3)), np.ones((3, 3), bool)),
}


@pytest.mark.parametrize("key", list(BAD_DATA))
def test_bad_data_is_an_assertion_in_a_graph(key: str) -> None:
    name, args = key.strip(), BAD_DATA[key]
    with pytest.raises((ValueError, TypeError)):
        getattr(R, name)(*args)
    with pytest.raises((ValueError, TypeError)):  # eagerly: the reference's class
        getattr(T, name)(*args)
    with pytest.raises(tf.errors.InvalidArgumentError):
        run_in_graph(name, args, {}, jit=False)


# --- gradients: padding never reaches a result or its gradient ------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "ragged_from_padded",
        "unpad",
        "last_valid",
        "first_valid",
        "pack_sequences",
        "to_ragged_tensor",
    ],
)
def test_gradient_is_zero_under_the_mask(name: str) -> None:
    rng = np.random.default_rng(3)
    mask = rng.random((4, 6)) < 0.5
    if name == "pack_sequences":  # packing reads the first `lengths` steps
        mask = np.arange(6) < rng.integers(0, 7, 4)[:, None]
    mask[1] = False
    x = rng.normal(size=(4, 6, 3)).astype(np.float32)
    x[~mask] = np.nan
    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        if name == "pack_sequences":
            result = T.pack_sequences(xv, mask.sum(axis=1)).data
        elif name == "to_ragged_tensor":
            result = T.to_ragged_tensor(xv, mask).flat_values
        else:
            result = getattr(T, name)(xv, mask)
            result = result[0] if isinstance(result, tuple) else result
        loss = tf.reduce_sum(result * 2.0)
    grad = tf.convert_to_tensor(tape.gradient(loss, xv)).numpy()
    assert np.isfinite(result.numpy()).all()
    assert np.isfinite(grad).all()
    assert (grad[~mask] == 0).all()
    if name not in ("last_valid", "first_valid"):
        assert (grad[mask] == 2).all()


# --- inputs are never modified -------------------------------------------------------------


def test_inputs_are_not_modified() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 4, 2))
    mask = np.array([[True, True, False, False], [False, True, True, True], [False] * 4])
    lengths = mask.sum(axis=1)
    values, indices, _, _ = R.unpad(x, mask)
    splits = R.row_splits_from_lengths(lengths)
    packed = R.pack_sequences(x, lengths)
    arrays = [x, mask, lengths, values, indices, splits, *packed]
    copies = [a.copy() for a in arrays]
    variable = tf.Variable(x)
    before = variable.numpy().copy()
    for data in (x, variable):
        T.ragged_from_padded(data, mask)
        T.to_ragged_tensor(data, mask)
        T.unpad(data, mask)
        T.pack_sequences(data, lengths)
        T.reverse_sequences(data, lengths, padding="pre")
        T.last_valid(data, mask)
        T.first_valid(data, mask)
    T.padded_from_ragged(values, splits, maxlen=1)
    T.row_splits_from_lengths(lengths)
    T.lengths_from_row_splits(splits)
    T.unpack_sequences(packed, total_length=6)
    T.repad(values, indices, 3, 4)
    T.positions_from_mask(mask, start=2)
    for a, c in zip(arrays, copies):
        np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(variable.numpy(), before)


# --- bad input: the reference's error class (and message) --------------------------------

X, M = np.zeros((2, 3)), np.array([[True, False, False], [True, True, True]])
PACKED = R.pack_sequences(np.arange(6).reshape(2, 3), [2, 3])
BAD = [  # (function, args, kwargs)
    ("row_splits_from_lengths", ([1.5],), {}),
    ("row_splits_from_lengths", ([True],), {}),
    ("row_splits_from_lengths", ([[1]],), {}),
    ("row_splits_from_lengths", ([2, -1],), {}),
    ("lengths_from_row_splits", ([],), {}),
    ("lengths_from_row_splits", (np.zeros(0, np.int64),), {}),
    ("lengths_from_row_splits", ([0.0, 1.0],), {}),
    ("lengths_from_row_splits", ([[0]],), {}),
    ("lengths_from_row_splits", ([1, 2],), {}),
    ("lengths_from_row_splits", ([0, 2, 1],), {}),
    ("ragged_from_padded", (np.zeros(3), [True] * 3), {}),
    ("ragged_from_padded", (X, M.astype(int)), {}),
    ("ragged_from_padded", (X, M[0]), {}),
    ("ragged_from_padded", (X, M[:, :2]), {}),
    ("ragged_from_padded", ([[1, 2], [3]], M), {}),
    ("padded_from_ragged", (np.float32(1), [0, 1]), {}),
    ("padded_from_ragged", ([1, 2, 3], [0, 2]), {}),
    ("padded_from_ragged", ([1, 2], [0, 2]), dict(padding="left")),
    ("padded_from_ragged", ([1, 2], [0, 2]), dict(truncating=None)),
    ("padded_from_ragged", ([1, 2], [0, 2]), dict(maxlen=-1)),
    ("padded_from_ragged", ([1, 2], [0, 2]), dict(maxlen=1.5)),
    ("padded_from_ragged", ([1, 2], [0, 2]), dict(value=0.5)),
    ("padded_from_ragged", ([1, 2], [0, 2]), dict(value="a")),
    ("padded_from_ragged", ([1, 2], [0.0, 2.0]), {}),
    ("pack_sequences", (np.zeros(3), [1, 1, 1]), {}),
    ("pack_sequences", (X, [1, 1, 1]), {}),
    ("pack_sequences", (X, [1, 4]), {}),
    ("pack_sequences", (X, [1, -1]), {}),
    ("pack_sequences", (X, [1.0, 1.0]), {}),
    ("pack_sequences", (X, [1, 2]), dict(enforce_sorted=True)),
    ("unpack_sequences", (PACKED,), dict(total_length=2)),
    ("unpack_sequences", (PACKED,), dict(total_length=-1)),
    ("unpack_sequences", (PACKED,), dict(total_length=3.0)),
    ("unpack_sequences", (PACKED,), dict(padding_value=0.5)),
    ("unpack_sequences", (PACKED._replace(batch_sizes=PACKED.batch_sizes * 1.0),), {}),
    ("unpack_sequences", (PACKED._replace(batch_sizes=np.array([1, 2, 2])),), {}),
    ("unpack_sequences", (PACKED._replace(batch_sizes=np.array([3, 2])),), {}),
    ("unpack_sequences", (PACKED._replace(batch_sizes=np.array([2, 2, 0, 1])),), {}),
    ("unpack_sequences", (PACKED._replace(batch_sizes=np.array([2, 2])),), {}),
    ("unpack_sequences", (PACKED._replace(batch_sizes=PACKED.batch_sizes[None]),), {}),
    ("unpack_sequences", (PACKED._replace(data=np.int64(1)),), {}),
    ("unpack_sequences", (PACKED[:3],), {}),
    ("unpack_sequences", (PACKED._replace(sorted_indices=np.array([0.0, 1.0])),), {}),
    ("unpack_sequences", (PACKED._replace(unsorted_indices=np.array([[1, 0]])),), {}),
    ("unpack_sequences", (PACKED._replace(unsorted_indices=np.array([1, 0, 2])),), {}),
    ("unpack_sequences", (PACKED._replace(unsorted_indices=np.array([0, 1])),), {}),
    ("unpack_sequences", (PACKED._replace(unsorted_indices=np.array([1, 5])),), {}),
    ("unpack_sequences", (PACKED._replace(sorted_indices=np.array([1, 2])),), {}),
    ("unpack_sequences", (PACKED._replace(sorted_indices=np.array([1, 1])),), {}),
    ("unpad", (np.zeros(3), [True] * 3), {}),
    ("unpad", (X, M.astype(int)), {}),
    ("unpad", (X, M[:, :2]), {}),
    ("repad", ([1, 2], [0, 1], -1, 2), {}),
    ("repad", ([1, 2], [0, 1], 2, 1.5), {}),
    ("repad", ([1, 2], [0, 1], None, 2), {}),
    ("repad", ([1, 2], [0.0, 1.0], 2, 2), {}),
    ("repad", ([1, 2], [[0, 1]], 2, 2), {}),
    ("repad", ([1, 2], [0, 1, 2], 2, 2), {}),
    ("repad", ([1, 2], [0, 4], 2, 2), {}),
    ("repad", ([1, 2], [-1, 0], 2, 2), {}),
    ("repad", ([1, 2], [3, 3], 2, 2), {}),
    ("repad", (np.int64(1), [0], 2, 2), {}),
    ("reverse_sequences", (np.zeros(3), [1, 1, 1]), {}),
    ("reverse_sequences", (X, [1, 1]), dict(axis=0)),
    ("reverse_sequences", (X, [1, 1]), dict(axis=2)),
    ("reverse_sequences", (X, [1, 1]), dict(axis=-3)),
    ("reverse_sequences", (X, [1, 1]), dict(axis=(1,))),
    ("reverse_sequences", (X, [1, 1]), dict(axis=None)),
    ("reverse_sequences", (X, [1, 1]), dict(axis=1.0)),
    ("reverse_sequences", (X, [1, 1]), dict(padding="both")),
    ("reverse_sequences", (X, [1, 4]), {}),
    ("reverse_sequences", (X, [1, 1, 1]), {}),
    ("reverse_sequences", (X, [1, -1]), {}),
    ("reverse_sequences", (X, [0.5, 1]), {}),
    ("positions_from_mask", (M.astype(int),), {}),
    ("positions_from_mask", (np.bool_(True),), {}),
    ("positions_from_mask", (M,), dict(start=1.5)),
    ("positions_from_mask", (M,), dict(start=True)),
    ("positions_from_mask", (M,), dict(start="1")),
    ("positions_from_mask", (M,), dict(fill=None)),
    ("positions_from_mask", (M,), dict(fill=np.array([1]))),
    ("positions_from_mask", (M,), dict(start=np.nan)),
    ("positions_from_mask", (M,), dict(start=1.0)),
    ("positions_from_mask", (M,), dict(start=np.float32(2))),
    ("positions_from_mask", (M,), dict(start=2**63)),
    ("positions_from_mask", (M,), dict(fill=-(2**63) - 1)),
    ("positions_from_mask", (M,), dict(fill=np.bool_(True))),
    ("last_valid", (np.zeros(3), [True] * 3), {}),
    ("last_valid", (X, M.astype(int)), {}),
    ("last_valid", (X, M[:1]), {}),
    ("last_valid", (X.astype(int), M), dict(empty=0.5)),
    ("last_valid", (X.astype(int), M), dict(empty=np.nan)),
    ("last_valid", (X.astype(np.uint8), M), dict(empty=-1)),
    ("last_valid", (X, M), dict(empty="x")),
    ("last_valid", (X, M), dict(empty=[1.0])),
    ("first_valid", (X.astype(bool), M), dict(empty=2)),
    ("first_valid", (X, M.T), {}),
]


@pytest.mark.parametrize(
    ("index", "case"), list(enumerate(BAD)), ids=[f"{c[0]}-{i}" for i, c in enumerate(BAD)]
)
def test_bad_input_raises_the_references_error(index: int, case: tuple) -> None:
    name, args, kwargs = case
    with pytest.raises((ValueError, TypeError)):  # the case must be invalid for the reference
        getattr(R, name)(*args, **kwargs)
    agree(T, name, *args, **kwargs)  # the same class and message
