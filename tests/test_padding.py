"""Hand-written examples of the padding rules, in every backend."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import numpy as np
import pytest
from conftest import require, to_numpy
from helpers import agree

import reference as ref

S = [[1], [2, 3], [4, 5, 6]]


@pytest.fixture(autouse=True)
def _jax_in_x64(request):
    """JAX runs in x64 here: its 32-bit default narrows int64 and float64 (tests/test_jax_impl.py
    checks that mode); every other backend as it is."""
    backend = request.getfixturevalue("backend") if "backend" in request.fixturenames else None
    if backend is None or backend.__name__ != "jax_impl":
        yield
        return
    import jax

    with jax.enable_x64(True):
        yield


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


# --- bad input: one clear error, the same in every backend (issue 12) ----------------------


@pytest.mark.parametrize(
    "odd", ["5", "1e3", "nan", b"7", Decimal(2), None, {1: 2}, {3}, 1j, np.str_("5")]
)
@pytest.mark.parametrize("where", ["first", "last"])
def test_elements_that_are_not_numbers_raise_wherever_they_stand(backend, odd, where):
    row = [odd, 1] if where == "first" else [1, odd]
    j = row.index(odd) if not isinstance(odd, float) else 1
    for seqs in ([row], [[2, 3], row], [[2.5], row]):
        with pytest.raises(
            ValueError, match=rf"sequences\[{len(seqs) - 1}\]\[{j}\] holds .*not a number"
        ):
            backend.pad_sequences(seqs, dtype="float32")
        agree(backend.__name__, "pad_sequences", seqs, dtype="float32")
        agree(backend.__name__, "pad_sequences", seqs)


def test_numpy_string_rows_are_refused_for_numeric_dtypes(backend):
    with pytest.raises(ValueError, match="not a number"):
        backend.pad_sequences([np.array(["5", "6"])], dtype="int64")
    with pytest.raises(ValueError, match="not a number"):
        backend.pad_sequences([np.array([1, Decimal(2)], dtype=object)])


def test_reference_string_dtypes_still_take_strings():
    assert ref.pad_sequences([["5", "1e3"]], dtype=str, value="").tolist() == [["5", "1e3"]]
    assert ref.pad_sequences([[Decimal(2)]], dtype=object).tolist() == [[Decimal(2)]]


@pytest.mark.parametrize("row", [{1: 2}, {1, 2}, frozenset([1]), "ab", b"ab", 5, None, np.int64(3)])
def test_rows_that_are_not_sequences_raise_a_type_error_naming_the_row(backend, row):
    with pytest.raises(TypeError, match=r"sequences\[1\] must be a sequence"):
        backend.pad_sequences([[1], row])
    agree(backend.__name__, "pad_sequences", [[1], row])


@pytest.mark.parametrize(
    ("seqs", "dtype", "expected"),
    [
        ([[1.0, 2**53 + 1]], "int64", [[1, 2**53 + 1]]),
        ([[2**53 + 1], [1.0]], "int64", [[2**53 + 1], [1]]),
        ([[1.5, 2**62 + 1]], "float64", [[1.5, float(2**62)]]),
        ([[0.0, 2**64 - 1]], "uint64", [[0, 2**64 - 1]]),
        ([[2.0**60, 2**60 + 1, 7]], "int64", [[2**60, 2**60 + 1, 7]]),
        ([[[1.0, 2**53 + 1]], [[2, 3]]], "int64", [[[1, 2**53 + 1]], [[2, 3]]]),
    ],
)
def test_integers_never_pass_through_float64(backend, seqs, dtype, expected):
    out = to_numpy(backend.pad_sequences(seqs, dtype=dtype))
    assert out.dtype == np.dtype(dtype)
    assert out.tolist() == expected


@pytest.mark.parametrize(
    ("seqs", "dtype", "message"),
    [
        ([[1.5, 2**63]], "int64", r"sequences: 1\.5 cannot"),
        ([[2**63, 1.5]], "int64", r"sequences: 9223372036854775808 cannot"),
        ([[1.0, 2**64]], "uint64", r"sequences: 18446744073709551616 cannot"),
        ([[1.0, -1]], "uint64", r"sequences: -1 cannot"),
        ([[1, 2**70]], "int64", r"sequences: 1180591620717411303424 cannot"),
    ],
)
def test_big_integers_next_to_floats_are_checked_in_order(backend, seqs, dtype, message):
    with pytest.raises(ValueError, match=message):
        backend.pad_sequences(seqs, dtype=dtype)
    agree(backend.__name__, "pad_sequences", seqs, dtype=dtype)


def test_float_data_into_the_default_int32_says_to_pass_dtype(backend, native):
    with pytest.raises(ValueError, match=r"1\.5 cannot be cast to int32.*pass dtype="):
        backend.pad_sequences([native(np.array([1.0, 1.5], np.float32))])


@pytest.mark.parametrize("maxlen", [2**50, 2**62])
def test_results_too_large_for_memory_are_refused_up_front(backend, native, maxlen):
    pattern = rf"maxlen={maxlen} asks for a result of shape \(2, {maxlen}\): \d+ bytes"
    with pytest.raises(ValueError, match=pattern):
        backend.pad_sequences([[1], [2, 3]], maxlen=maxlen)
    with pytest.raises(ValueError, match=pattern):
        backend.pad_sequences([native(np.array([1])), native(np.array([2, 3]))], maxlen=maxlen)
    with pytest.raises(ValueError, match=pattern):
        backend.pad_flat(native(np.arange(3)), native(np.array([1, 2])), maxlen=maxlen)


def test_lengths_whose_sum_wraps_around_are_refused_never_a_crash():
    # reference.pad_flat crashed the interpreter here: 4 * 2**62 wraps to 0 in int64.
    code = (
        "import numpy as np, reference\n"
        "try:\n"
        "    reference.pad_flat(np.zeros(0), np.array([2**62] * 4), maxlen=0)\n"
        "except ValueError as err:\n"
        "    print(err)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "lengths sum to 18446744073709551616 but values has 0 steps" in done.stdout


def test_lengths_whose_sum_wraps_around_in_every_backend(backend, native):
    with pytest.raises(ValueError, match="lengths sum to 18446744073709551616 but values"):
        backend.pad_flat(native(np.zeros(0)), native(np.array([2**62] * 4)), maxlen=0)
    with pytest.raises(ValueError, match="lengths sum to 9223372036854775809 but values"):
        backend.pad_flat(native(np.zeros(3)), native(np.array([2**63 - 1, 1, 1])))


@pytest.mark.parametrize("lengths", [[2**63, 1], [2**64 - 1, 0]])
def test_uint64_lengths_beyond_int64_are_one_value_error(backend, native, lengths):
    big = native(np.array(lengths, dtype=np.uint64))
    message = r"lengths must hold .*\(0 to 2\*\*63 - 1\), got " + str(lengths[0])
    with pytest.raises(ValueError, match=message):
        backend.pad_flat(native(np.arange(3.0)), big)
    with pytest.raises(ValueError, match=message):
        backend.unpad_sequences(native(np.zeros((2, 3))), big)


def test_uint64_lengths_that_fit_work(backend, native):
    lengths = native(np.array([2, 1], dtype=np.uint64))
    out = backend.pad_flat(native(np.arange(3)), lengths, padding="post")
    np.testing.assert_array_equal(to_numpy(out), [[0, 1], [2, 0]])
    parts = backend.unpad_sequences(native(np.array([[1, 2, 0], [3, 0, 0]])), lengths)
    assert [to_numpy(p).tolist() for p in parts] == [[1, 2], [3]]


def test_an_empty_batch_of_lengths_is_valid(backend, native):
    assert to_numpy(backend.pad_flat(native(np.zeros(0)), [])).shape == (0, 0)
    out = backend.pad_flat(native(np.zeros((0, 2), np.float32)), [], maxlen=3)
    assert to_numpy(out).shape == (0, 3, 2)
    assert backend.unpad_sequences(native(np.zeros((0, 3))), []) == []
    assert backend.unpad_sequences(native(np.zeros((0, 3))), native(np.zeros(0, np.int64))) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.pad_sequences(None),
        lambda m: m.pad_flat(None, [1]),
        lambda m: m.pad_flat([1], None),
        lambda m: m.unpad_sequences(None, [1]),
        lambda m: m.unpad_sequences([[1]], None),
    ],
)
def test_none_where_data_is_expected_is_a_type_error(backend, call):
    with pytest.raises(TypeError, match="got None"):
        call(backend)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_bfloat16_and_float16_round_once_in_every_backend(backend, native, dtype, request):
    if dtype == "bfloat16":
        require("ml_dtypes")  # NumPy's bfloat16 (installed with TensorFlow and JAX)
    tricky = [1 + 2**-8 + 2**-30, 1 + 2**-11 + 2**-40, -(1 + 3 * 2**-8 + 2**-40), 0.1]
    expected = to_numpy(ref.pad_sequences([tricky], dtype=dtype, value=0.5)).astype(np.float64)
    for seqs in ([tricky], [native(np.array(tricky))]):
        out = backend.pad_sequences(seqs, dtype=dtype, value=0.5)
        assert (getattr(out.dtype, "name", None) or str(out.dtype)).endswith(dtype)
        np.testing.assert_array_equal(to_numpy(out).astype(np.float64), expected)


def test_bfloat16_in_every_spelling(backend):
    require("ml_dtypes")
    out = backend.pad_sequences([[1, 2], [3]], dtype="bfloat16", value=0.5)
    assert to_numpy(out).astype(np.float32).tolist() == [[1.0, 2.0], [0.5, 3.0]]


def test_reference_bfloat16_names_the_package_it_needs(monkeypatch):
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)  # as if not installed
    with pytest.raises(TypeError, match="ml_dtypes"):
        ref.pad_sequences([[1]], dtype="bfloat16")


@pytest.mark.parametrize(("odd", "dtype"), [(1.5, "int64"), (2**60, "int32"), (1.5, "int32")])
def test_one_odd_value_rereads_one_chunk_not_the_batch(backend, monkeypatch, odd, dtype):
    """A float among integers (or an integer out of range) at the end of a large batch of
    lists is read again with its chunk only (it re-read the whole batch: 1.2 s -> 5.9 s)."""
    from maskref.api import _sequences

    seqs = [[i % 7, 3, 5] for i in range(60_000)]
    seqs[-1] = [1, 2, odd]
    reread = []
    real = _sequences._array
    monkeypatch.setattr(
        _sequences, "_array", lambda items: reread.append(len(items)) or real(items)
    )
    with pytest.raises(ValueError, match=rf"sequences: {odd} cannot be cast to {dtype}"):
        backend.pad_sequences(seqs, dtype=dtype)
    assert 0 < sum(reread) <= 2 * _sequences.CHUNK_STEPS < 3 * len(seqs)
