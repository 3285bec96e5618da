"""Hand-written examples of the mask rules, in every backend."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy

T, F = True, False


def test_sequence_mask(backend, native):
    lengths = native(np.array([1, 3, 0]))
    np.testing.assert_array_equal(
        to_numpy(backend.sequence_mask(lengths)), [[T, F, F], [T, T, T], [F, F, F]]
    )
    np.testing.assert_array_equal(
        to_numpy(backend.sequence_mask(lengths, maxlen=2)), [[T, F], [T, T], [F, F]]
    )
    np.testing.assert_array_equal(
        to_numpy(backend.sequence_mask(lengths, maxlen=4, padding="pre")),
        [[F, F, F, T], [F, T, T, T], [F, F, F, F]],
    )
    assert to_numpy(backend.sequence_mask(native(np.array([2, 1])), maxlen=0)).shape == (2, 0)
    assert to_numpy(backend.sequence_mask(native(np.zeros(0, np.int64)))).shape == (0, 0)
    out = to_numpy(backend.sequence_mask(native(np.array([[1, 2], [3, 0]]))))
    assert out.shape == (2, 2, 3) and out.dtype == np.bool_


@pytest.mark.parametrize(
    ("lengths", "kwargs", "error"),
    [
        ([-1, 2], {}, ValueError),
        ([1.5, 2.0], {}, TypeError),
        ([True], {}, TypeError),
        ([1], {"maxlen": -1}, ValueError),
        ([1], {"maxlen": 1.0}, TypeError),
        ([1], {"padding": "left"}, ValueError),
    ],
)
def test_sequence_mask_errors(backend, native, lengths, kwargs, error):
    with pytest.raises(error):
        backend.sequence_mask(native(np.array(lengths)), **kwargs)


def test_lengths_from_mask(backend, native):
    mask = native(np.array([[T, T, F], [F, F, F], [T, F, T]]))
    out = to_numpy(backend.lengths_from_mask(mask))
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [2, 0, 2])
    with pytest.raises(TypeError, match="boolean"):
        backend.lengths_from_mask(native(np.array([[1, 0]])))
    with pytest.raises(ValueError):
        backend.lengths_from_mask(native(np.array(True)))


def test_mask_from_value(backend, native):
    x = native(np.array([[[1, 2], [0, 0], [0, 3], [0, 0]], [[0, 0]] * 4], dtype=np.float32))
    np.testing.assert_array_equal(
        to_numpy(backend.mask_from_value(x)), [[T, F, T, F], [F, F, F, F]]
    )
    x = native(np.array([[[5, 5], [5, 1], [1, 5], [-5, 5]]], dtype=np.float32))
    np.testing.assert_array_equal(to_numpy(backend.mask_from_value(x, 5.0)), [[F, T, T, T]])
    # 2-D data: one mask entry per row (the tutorial's Masking on (3, 4))
    x = native(np.array([[0, 0, 0], [1, 0, 2], [0, 0, 0]], dtype=np.float32))
    np.testing.assert_array_equal(to_numpy(backend.mask_from_value(x)), [F, T, F])
    # -0.0 equals 0.0; NaN differs from 0.0
    x = native(np.array([[[-0.0], [np.nan]]], dtype=np.float32))
    np.testing.assert_array_equal(to_numpy(backend.mask_from_value(x)), [[F, T]])
    x = native(np.array([[1, 0]], dtype=np.int32))
    np.testing.assert_array_equal(to_numpy(backend.mask_from_value(x)), [T])


def test_mask_from_value_nan_means_padding(backend, native):
    x = native(np.array([[[np.nan, np.nan], [np.nan, 1.0], [1.0, 2.0]]], dtype=np.float32))
    np.testing.assert_array_equal(to_numpy(backend.mask_from_value(x, float("nan"))), [[F, T, T]])


def test_mask_from_ids(backend, native):
    ids = native(np.array([[5, 3, 0, 0], [0, 0, 7, 1]]))
    np.testing.assert_array_equal(
        to_numpy(backend.mask_from_ids(ids)), [[T, T, F, F], [F, F, T, T]]
    )
    np.testing.assert_array_equal(
        to_numpy(backend.mask_from_ids(ids, pad_id=3)), [[T, F, T, T], [T, T, T, T]]
    )
    with pytest.raises(TypeError):
        backend.mask_from_ids(native(np.array([[0.5, 0.0]])))


def test_apply_mask_replaces_masked_steps_even_nan(backend, native):
    x = native(np.array([[[1.0, np.nan], [np.inf, 4.0]], [[5.0, 6.0], [np.nan, np.nan]]]))
    mask = native(np.array([[T, F], [T, F]]))
    out = to_numpy(backend.apply_mask(x, mask))
    np.testing.assert_array_equal(out, [[[1.0, np.nan], [0, 0]], [[5, 6], [0, 0]]])
    out = to_numpy(backend.apply_mask(x, mask, fill=-1))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out[:, 1], [[-1, -1], [-1, -1]])


def test_apply_mask_errors(backend, native):
    x = native(np.zeros((2, 3, 4), np.int32))
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3, 4\)"):
        backend.apply_mask(x, native(np.ones((3, 2), bool)))
    with pytest.raises(ValueError, match="leading prefix"):
        backend.apply_mask(x, native(np.ones((2, 4), bool)))
    with pytest.raises(TypeError, match="boolean"):
        backend.apply_mask(x, native(np.ones((2, 3), np.int32)))
    with pytest.raises(ValueError):
        backend.apply_mask(x, native(np.ones((2, 3), bool)), fill=float("nan"))


def test_expand_mask(backend, native):
    mask = np.array([[T, F, T]])
    out = to_numpy(backend.expand_mask(native(mask), native(np.zeros((1, 3, 2, 2)))))
    assert out.shape == (1, 3, 2, 2) and out.dtype == np.bool_
    np.testing.assert_array_equal(out[..., 1, 0], mask)
    out = to_numpy(backend.expand_mask(native(mask), native(np.zeros((1, 3)))))
    np.testing.assert_array_equal(out, mask)
