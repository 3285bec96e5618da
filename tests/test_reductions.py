"""Hand-written examples of the masked reductions, in every backend."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy
from helpers import agree, assert_same

import reference as ref
from maskref.api.exports import SHARED

T, F = True, False
NAN, INF = np.nan, np.inf

X = np.array([[1.0, 2.0, NAN], [4.0, INF, 6.0], [-INF, NAN, 9.0]])
M = np.array([[T, T, F], [T, F, T], [F, F, F]])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("masked_sum", [3.0, 10.0, 0.0]),
        ("masked_prod", [2.0, 24.0, 1.0]),
        ("masked_mean", [1.5, 5.0, NAN]),
        ("masked_max", [2.0, 6.0, -INF]),
        ("masked_min", [1.0, 4.0, INF]),
        ("masked_var", [0.25, 1.0, NAN]),
        ("masked_std", [0.5, 1.0, NAN]),
        ("masked_count", [2, 2, 0]),
        ("masked_any", [T, T, F]),
        ("masked_all", [T, T, T]),
        ("masked_argmax", [1, 2, -1]),
        ("masked_argmin", [0, 0, -1]),
    ],
)
def test_reductions_over_rows(backend, native, name, expected):
    out = to_numpy(getattr(backend, name)(native(X), native(M), axis=1))
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert out.shape == (3,)


def test_logsumexp(backend, native):
    out = to_numpy(backend.masked_logsumexp(native(X), native(M), axis=1))
    np.testing.assert_allclose(out, [np.log(np.e + np.e**2), np.log(np.e**4 + np.e**6), -INF])


@pytest.mark.parametrize(
    ("name", "empty", "expected"),
    [
        ("masked_sum", -1.0, -1.0),
        ("masked_mean", 0.0, 0.0),
        ("masked_max", 0.0, 0.0),
        ("masked_argmax", 7, 7),
        ("masked_count", -1, -1),
        ("masked_logsumexp", 0.0, 0.0),
    ],
)
def test_empty_parameter(backend, native, name, empty, expected):
    out = to_numpy(getattr(backend, name)(native(X), native(M), axis=1, empty=empty))
    assert out[2] == expected


def test_default_empty_is_the_identity_for_integers(backend, native):
    x = native(np.array([[1, 2], [3, 4]], dtype=np.int32))
    m = native(np.array([[T, F], [F, F]]))
    assert to_numpy(backend.masked_max(x, m, axis=1)).tolist() == [1, np.iinfo(np.int32).min]
    assert to_numpy(backend.masked_min(x, m, axis=1)).tolist() == [1, np.iinfo(np.int32).max]
    with pytest.raises(ValueError):
        backend.masked_sum(x, m, axis=1, empty=float("nan"))


@pytest.mark.parametrize(
    ("name", "dtype", "expected"),
    [
        ("masked_sum", "int8", "int64"),
        ("masked_sum", "bool", "int64"),
        ("masked_sum", "float32", "float32"),
        ("masked_prod", "int32", "int64"),
        ("masked_mean", "int32", "float64"),
        ("masked_mean", "bool", "float64"),
        ("masked_mean", "float16", "float16"),
        ("masked_var", "int64", "float64"),
        ("masked_max", "uint8", "uint8"),
        ("masked_max", "bool", "bool"),
        ("masked_count", "float32", "int64"),
        ("masked_argmax", "float32", "int64"),
        ("masked_any", "float32", "bool"),
        ("masked_logsumexp", "int16", "float64"),
        ("masked_cumsum", "int8", "int64"),
        ("masked_softmax", "int32", "float64"),
        ("masked_log_softmax", "float16", "float16"),
    ],
)
def test_result_dtypes(backend, native, name, dtype, expected):
    x = native(np.ones((2, 3), dtype=dtype))
    m = native(np.array([[T, F, T], [F, F, F]]))
    out = to_numpy(getattr(backend, name)(x, m))
    assert out.dtype == np.dtype(expected)


def test_axis_forms_and_keepdims(backend, native):
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    m = np.array([[T, F, T], [T, T, T]])
    for axis in (None, 0, 1, 2, -1, (0, 2), (1, 2)):
        for keepdims in (False, True):
            out = to_numpy(backend.masked_sum(native(x), native(m), axis=axis, keepdims=keepdims))
            full = np.broadcast_to(m[..., None], x.shape)
            expected = np.sum(np.where(full, x, 0), axis=axis, keepdims=keepdims)
            np.testing.assert_allclose(out, expected)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"axis": 3}, ValueError),
        ({"axis": (0, 0)}, ValueError),
        ({"axis": 1.0}, TypeError),
        ({"axis": True}, TypeError),
    ],
)
def test_axis_errors(backend, native, kwargs, error):
    with pytest.raises(error):
        backend.masked_sum(native(X), native(M), **kwargs)


def test_mask_errors(backend, native):
    with pytest.raises(TypeError, match="boolean"):
        backend.masked_mean(native(X), native(M.astype(np.int64)))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 3\)"):
        backend.masked_mean(native(X), native(M[:2]))
    with pytest.raises(ValueError, match="leading prefix"):
        backend.masked_mean(native(np.zeros((3, 2))), native(np.ones(2, bool)))
    with pytest.raises(TypeError):
        backend.masked_argmax(native(X), native(M), axis=(0, 1))


def test_argmax_ties_pick_the_first_valid_index(backend, native):
    x = native(np.array([[5.0, 1.0, 5.0, 5.0], [-INF, -INF, 0.0, 0.0]]))
    m = native(np.array([[F, T, T, T], [F, T, F, F]]))
    assert to_numpy(backend.masked_argmax(x, m, axis=1)).tolist() == [2, 1]
    assert to_numpy(backend.masked_argmin(x, m, axis=1)).tolist() == [1, 1]
    flat = to_numpy(backend.masked_argmax(x, m))
    assert flat.shape == () and int(flat) == 2


def test_valid_nan_propagates(backend, native):
    x = native(np.array([[1.0, NAN, 3.0]]))
    m = native(np.array([[T, T, F]]))
    assert np.isnan(to_numpy(backend.masked_max(x, m, axis=1))).all()
    assert np.isnan(to_numpy(backend.masked_sum(x, m, axis=1))).all()
    assert to_numpy(backend.masked_argmax(x, m, axis=1)).tolist() == [1]


def test_cumsum(backend, native):
    x = native(np.array([[NAN, 1.0, INF, 2.0], [1.0, 2.0, 3.0, 4.0]]))
    m = native(np.array([[F, T, F, T], [F, F, F, F]]))
    out = to_numpy(backend.masked_cumsum(x, m))
    np.testing.assert_array_equal(out, [[0.0, 1.0, 1.0, 3.0], [0.0] * 4])
    out = to_numpy(backend.masked_cumsum(x, m, empty=NAN))
    np.testing.assert_array_equal(out, [[NAN, 1.0, 1.0, 3.0], [NAN] * 4])


@pytest.mark.parametrize(
    ("empty", "row"), [("zeros", [0, 0, 0]), ("nan", [NAN] * 3), ("uniform", [1 / 3] * 3)]
)
def test_softmax_empty_rows(backend, native, empty, row):
    x = native(np.array([[0.0, 0.0, NAN], [1.0, 2.0, 3.0]]))
    m = native(np.array([[T, T, F], [F, F, F]]))
    out = to_numpy(backend.masked_softmax(x, m, empty=empty))
    np.testing.assert_allclose(out, [[0.5, 0.5, 0.0], row])


@pytest.mark.parametrize(
    ("empty", "row"),
    [("-inf", [-INF] * 3), ("nan", [NAN] * 3), ("uniform", [-np.log(3)] * 3)],
)
def test_log_softmax_empty_rows(backend, native, empty, row):
    x = native(np.array([[0.0, 0.0, NAN], [1.0, 2.0, 3.0]]))
    m = native(np.array([[T, T, F], [F, F, F]]))
    out = to_numpy(backend.masked_log_softmax(x, m, empty=empty))
    np.testing.assert_allclose(out, [[-np.log(2), -np.log(2), -INF], row])


def test_softmax_empty_choice_is_checked(backend, native):
    with pytest.raises(ValueError, match="empty"):
        backend.masked_softmax(native(X), native(M), empty="ones")


def test_reference_matches_numpy_ma():
    x = np.random.default_rng(0).normal(size=(4, 5))
    m = np.random.default_rng(1).random((4, 5)) > 0.3
    ma = np.ma.array(x, mask=~m)
    np.testing.assert_allclose(ref.masked_mean(x, m, axis=1), ma.mean(axis=1).filled(np.nan))
    np.testing.assert_allclose(
        ref.masked_var(x, m, axis=0, ddof=1), ma.var(axis=0, ddof=1).filled(np.nan)
    )


# --- bad arguments: the same error, naming the argument, in every backend (issue 12) --------

SCANS = ("masked_cumsum", "masked_softmax", "masked_log_softmax")
NAMES = SHARED["reductions"]
REDUCING = [n for n in NAMES if n not in SCANS]


def refused(backend, name: str, error: type[Exception], argument: str, **kwargs) -> None:
    """``backend.name(X, M, **kwargs)`` raises ``error`` naming ``argument``, with the
    reference's message."""
    kwargs = {"x": X, "mask": M, **kwargs}
    with pytest.raises(error, match=rf"\b{argument}\b"):
        getattr(backend, name)(**kwargs)
    agree(backend, name, **kwargs)


@pytest.mark.parametrize("name", ["masked_var", "masked_std"])
@pytest.mark.parametrize("ddof", [1.5, np.float64(1.0), True, np.True_, "a", None, [1]])
def test_ddof_must_be_an_int(backend, name, ddof):
    """A fractional ddof was accepted and clamped (``ddof=1.5`` gave 2.0 where NumPy gives
    4.0): ddof counts degrees of freedom, so only ints are taken; a bool was a
    RuntimeError in torch_impl and a string named ``ddof`` only in tf_impl."""
    refused(backend, name, TypeError, "ddof", ddof=ddof)


@pytest.mark.parametrize("name", ["masked_var", "masked_std"])
def test_ddof_values(backend, native, name):
    refused(backend, name, ValueError, "ddof", ddof=-1)
    x, m = np.array([1.0, 3.0, 8.0]), np.array([T, T, F])
    for ddof, expected in [(np.int64(1), 2.0), (1, 2.0), (2, NAN), (5, NAN)]:
        got = to_numpy(getattr(backend, name)(native(x), native(m), ddof=ddof))
        want = expected if name == "masked_var" else np.sqrt(expected)
        np.testing.assert_allclose(got, want)


@pytest.mark.parametrize("name", REDUCING)
@pytest.mark.parametrize("keepdims", [1, 0, "yes", None, 1.0])
def test_keepdims_must_be_a_bool(backend, name, keepdims):
    refused(backend, name, TypeError, "keepdims", axis=1, keepdims=keepdims)


@pytest.mark.parametrize("name", REDUCING)
def test_keepdims_takes_numpy_bools(backend, native, name):
    for flag in (np.True_, np.False_):
        got = getattr(backend, name)(native(X), native(M), axis=1, keepdims=flag)
        expected = getattr(ref, name)(X, M, axis=1, keepdims=bool(flag))
        assert_same(got, expected)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("x", [None, "abc", [["a", "b"]], np.array([1 + 2j])])
def test_x_must_hold_numbers(backend, name, x):
    refused(backend, name, TypeError, "x", x=x, mask=np.ones(np.shape(x)[:1], bool))


@pytest.mark.parametrize("name", NAMES)
def test_mask_must_not_be_none(backend, name):
    """tf_impl and torch_impl said that only the reference supports a None mask."""
    refused(backend, name, TypeError, "mask", mask=None)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("axis", [True, 1.0, "1", np.float64(0)])
def test_axis_must_be_an_int(backend, name, axis):
    refused(backend, name, TypeError, "axis", axis=axis)


@pytest.mark.parametrize("name", [n for n in REDUCING if n not in ("masked_max", "masked_min")])
@pytest.mark.parametrize("empty", [None, "abc", [1, 2], np.zeros(2)])
def test_empty_must_be_one_number(backend, name, empty):
    refused(backend, name, TypeError, "empty", axis=1, empty=empty)


@pytest.mark.parametrize("name", ["masked_max", "masked_min", "masked_cumsum"])
@pytest.mark.parametrize("empty", ["abc", [1, 2]])
def test_empty_of_max_min_and_cumsum_must_be_one_number(backend, name, empty):
    refused(backend, name, TypeError, "empty", empty=empty)


def test_empty_is_cast_without_loss(backend, native):
    ints = np.array([[1, 2], [3, 4]], np.int32)
    for name in ("masked_sum", "masked_max", "masked_cumsum", "masked_argmax", "masked_count"):
        kwargs = {"x": ints, "mask": M[:2, :2], "empty": 0.5}
        with pytest.raises(ValueError, match=r"\bempty\b"):
            getattr(backend, name)(**kwargs)
        agree(backend, name, **kwargs)
    got = backend.masked_sum(native(ints), native(M[:2, :2]), axis=1, empty=np.float32(7.0))
    assert to_numpy(got).tolist() == [3, 3]


@pytest.mark.parametrize("name", ["masked_softmax", "masked_log_softmax"])
def test_a_valid_infinite_maximum_gives_nan_at_every_valid_position(backend, native, name):
    # exp(x - max) with max = +inf (or every valid value -inf) has no finite shift
    x = np.array([[0.0, np.inf, 5.0], [-np.inf, -np.inf, 7.0]], np.float32)
    mask = np.array([[True, True, False], [True, True, False]])
    got = to_numpy(getattr(backend, name)(native(x), native(mask)))
    np.testing.assert_array_equal(np.isnan(got), mask)
    np.testing.assert_array_equal(got[~mask], 0.0 if name == "masked_softmax" else -np.inf)
