"""Hand-written examples of the padding rules, in every backend."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy

import reference as ref

S = [[1], [2, 3], [4, 5, 6]]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, [[0, 0, 1], [0, 2, 3], [4, 5, 6]]),
        ({"padding": "post"}, [[1, 0, 0], [2, 3, 0], [4, 5, 6]]),
        ({"maxlen": 2}, [[0, 1], [2, 3], [5, 6]]),
        ({"maxlen": 2, "truncating": "post"}, [[0, 1], [2, 3], [4, 5]]),
        ({"maxlen": 5, "padding": "post"}, [[1, 0, 0, 0, 0], [2, 3, 0, 0, 0], [4, 5, 6, 0, 0]]),
        ({"value": -1}, [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]),
    ],
)
def test_pad_sequences_keras_examples(backend, kwargs, expected):
    out = to_numpy(backend.pad_sequences(S, **kwargs))
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, expected)


def test_pad_sequences_vectors(backend):
    seqs = [[[1, 2], [3, 4]], [[5, 6]]]
    out = to_numpy(backend.pad_sequences(seqs))
    np.testing.assert_array_equal(out, [[[1, 2], [3, 4]], [[0, 0], [5, 6]]])
    out = to_numpy(backend.pad_sequences(seqs, dtype="float32", padding="post", value=-1))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[[1, 2], [3, 4]], [[5, 6], [-1, -1]]])


def test_pad_sequences_edge_shapes(backend):
    assert to_numpy(backend.pad_sequences([[1], [2, 3]], maxlen=0)).shape == (2, 0)
    assert to_numpy(backend.pad_sequences([])).shape == (0, 0)
    assert to_numpy(backend.pad_sequences([], maxlen=3)).shape == (0, 3)
    np.testing.assert_array_equal(
        to_numpy(backend.pad_sequences([[], [1, 2], []])), [[0, 0], [1, 2], [0, 0]]
    )
    assert to_numpy(backend.pad_sequences([[], []])).shape == (2, 0)


def test_pad_sequences_from_native_tensors(backend, native):
    seqs = [native(np.array(s, dtype=np.int64)) for s in S]
    np.testing.assert_array_equal(
        to_numpy(backend.pad_sequences(seqs, padding="post")), [[1, 0, 0], [2, 3, 0], [4, 5, 6]]
    )


def test_pad_sequences_bool(backend):
    out = to_numpy(backend.pad_sequences([[True, False], [True]], dtype="bool"))
    np.testing.assert_array_equal(out, [[True, False], [False, True]])


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"sequences": [[1.5]]}, ValueError),  # lossy float -> int32
        ({"sequences": [[1]], "value": float("nan")}, ValueError),
        ({"sequences": [[1]], "value": 0.5}, ValueError),
        ({"sequences": [[300]], "dtype": "uint8"}, ValueError),
        ({"sequences": [[-1]], "dtype": "uint8"}, ValueError),
        ({"sequences": [[2]], "dtype": "bool"}, ValueError),
        ({"sequences": [[1]], "padding": "middle"}, ValueError),
        ({"sequences": [[]], "padding": "middle"}, ValueError),
        ({"sequences": [[1]], "truncating": "left"}, ValueError),
        ({"sequences": [[1]], "maxlen": -1}, ValueError),
        ({"sequences": [[1]], "maxlen": 2.0}, TypeError),
        ({"sequences": [[1]], "maxlen": True}, TypeError),
        ({"sequences": [[1], 5]}, TypeError),
        ({"sequences": 5}, TypeError),
        ({"sequences": [[[1, 2]], [[1, 2, 3]]]}, ValueError),  # ragged inner shapes
        ({"sequences": [[1], [[1, 2]]]}, ValueError),
        ({"sequences": [[1]], "dtype": "no-such-dtype"}, TypeError),
    ],
)
def test_pad_sequences_errors_are_the_same_in_every_backend(backend, kwargs, error):
    with pytest.raises(error):
        backend.pad_sequences(**kwargs)


def test_error_messages_name_the_argument():
    with pytest.raises(ValueError, match="padding='middle'"):
        ref.pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match="maxlen must be non-negative, got -1"):
        ref.pad_sequences([[1]], maxlen=-1)
    with pytest.raises(ValueError, match=r"sequences: 1\.5 cannot be cast to int32"):
        ref.pad_sequences([[1.5]])
    with pytest.raises(ValueError, match=r"sequences\[1\] has steps of shape \(3,\)"):
        ref.pad_sequences([[[1, 2]], [[1, 2, 3]]])


def test_reference_pads_strings_without_cutting_them():
    out = ref.pad_sequences([["a", "bb"], ["ccc"]], dtype=str, value="<pad>")
    assert out.tolist() == [["a", "bb"], ["<pad>", "ccc"]]
    assert out.dtype == np.dtype("<U5")
    out = ref.pad_sequences([["a", "bb"], ["ccc"]], dtype=object, padding="post", value=None)
    assert out.tolist() == [["a", "bb"], ["ccc", None]]
    assert ref.pad_sequences([["a"]], dtype="object", value="").dtype == object
    assert ref.pad_sequences([["ab"]], dtype="<U4", value="x").tolist() == [["ab"]]
    with pytest.raises(ValueError, match="wider than the dtype"):
        ref.pad_sequences([["abc"]], dtype="<U2", value="x")
    with pytest.raises(ValueError, match="not a string"):
        ref.pad_sequences([["a"], []], dtype=str)


@pytest.mark.parametrize("name", ["tf_impl", "torch_impl"])
def test_framework_backends_refuse_strings(name):
    from conftest import FRAMEWORK, require

    require(FRAMEWORK[name])
    import importlib

    with pytest.raises(TypeError):
        importlib.import_module(name).pad_sequences([["a"]], dtype=object)


def test_reference_accepts_any_iterable_and_arrays():
    gen = (s for s in S)
    np.testing.assert_array_equal(ref.pad_sequences(gen), ref.pad_sequences(S))
    arr = np.array([[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(
        ref.pad_sequences(arr, maxlen=2, truncating="post"), [[1, 2], [4, 5]]
    )
    tuples = tuple(tuple(s) for s in S)
    np.testing.assert_array_equal(ref.pad_sequences(tuples), ref.pad_sequences(S))


def test_pad_sequences_lossless_casts_are_allowed():
    np.testing.assert_array_equal(ref.pad_sequences([[1.0, 2.0]]), [[1, 2]])
    np.testing.assert_array_equal(ref.pad_sequences([[True]], dtype="int8"), [[1]])
    np.testing.assert_array_equal(ref.pad_sequences([[1, 0]], dtype="bool"), [[True, False]])
    out = ref.pad_sequences([[0.1]], dtype="float32")
    assert out.dtype == np.float32 and out[0, 0] == np.float32(0.1)
    big = 2**62
    assert ref.pad_sequences([[big]], dtype="int64")[0, 0] == big


def test_inputs_are_never_mutated(backend, native):
    seqs = [np.array([1.0, np.nan]), np.array([3.0])]
    copies = [s.copy() for s in seqs]
    backend.pad_sequences(seqs, dtype="float32", maxlen=1)
    for s, c in zip(seqs, copies):
        np.testing.assert_array_equal(s, c)
    padded = np.array([[1, 2, 0], [3, 0, 0]])
    before = padded.copy()
    parts = backend.unpad_sequences(native(padded), native(np.array([2, 1])))
    np.testing.assert_array_equal(padded, before)
    assert [to_numpy(p).tolist() for p in parts] == [[1, 2], [3]]


@pytest.mark.parametrize(("padding", "expected"), [("post", [[1, 2], [3]]), ("pre", [[2, 0], [0]])])
def test_unpad_sequences(backend, native, padding, expected):
    padded = native(np.array([[1, 2, 0], [3, 0, 0]]))
    parts = backend.unpad_sequences(padded, native(np.array([2, 1])), padding=padding)
    assert [to_numpy(p).tolist() for p in parts] == expected


@pytest.mark.parametrize(
    ("lengths", "error"),
    [([4, 1], ValueError), ([-1, 1], ValueError), ([1], ValueError), ([1.0, 1.0], TypeError)],
)
def test_unpad_sequences_errors(backend, native, lengths, error):
    with pytest.raises(error):
        backend.unpad_sequences(native(np.array([[1, 2, 0], [3, 0, 0]])), native(np.array(lengths)))


def test_pad_flat(backend, native):
    values = native(np.array([1, 2, 3, 4], dtype=np.int64))
    out = backend.pad_flat(values, native(np.array([3, 1, 0])), padding="post", value=-1)
    np.testing.assert_array_equal(to_numpy(out), [[1, 2, 3], [4, -1, -1], [-1, -1, -1]])
    out = backend.pad_flat(values, native(np.array([3, 1, 0])), maxlen=2)
    np.testing.assert_array_equal(to_numpy(out), [[2, 3], [0, 4], [0, 0]])
    with pytest.raises(ValueError, match="sum to"):
        backend.pad_flat(values, native(np.array([3, 2])))
