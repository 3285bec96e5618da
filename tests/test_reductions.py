"""Hand-written examples of the masked reductions, in every backend."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy

import reference as ref

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
