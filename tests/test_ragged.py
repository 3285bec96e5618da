"""Hand-written examples of the ragged, packed and unpadded layouts, in every backend."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy

T, F = True, False
X = np.array([[1, 2, 0, 0], [0, 3, 4, 5], [0, 0, 0, 0]])
MASK = np.array([[T, T, F, F], [F, T, T, T], [F, F, F, F]])


def _np(value):
    return to_numpy(value)


def test_ragged_round_trip(backend, native):
    values, splits = _np(backend.ragged_from_padded(native(X), native(MASK)))
    assert values.tolist() == [1, 2, 3, 4, 5] and splits.tolist() == [0, 2, 5, 5]
    assert splits.dtype == np.int64
    x, mask = _np(backend.padded_from_ragged(native(values), native(splits)))
    assert x.tolist() == [[1, 2, 0], [3, 4, 5], [0, 0, 0]]
    assert mask.tolist() == [[T, T, F], [T, T, T], [F, F, F]]
    x, mask = _np(
        backend.padded_from_ragged(
            native(values), native(splits), maxlen=2, padding="pre", value=-1
        )
    )
    assert x.tolist() == [[1, 2], [4, 5], [-1, -1]]  # truncating="pre" keeps the last steps
    assert mask.tolist() == [[T, T], [T, T], [F, F]]


def test_holes_are_compacted(backend, native):
    holes = np.array([[T, F, T]])
    values, splits = _np(backend.ragged_from_padded(native(np.array([[7, 8, 9]])), native(holes)))
    assert values.tolist() == [7, 9] and splits.tolist() == [0, 2]


def test_row_splits_and_lengths(backend, native):
    assert _np(backend.row_splits_from_lengths(native(np.array([2, 0, 3])))).tolist() == [
        0,
        2,
        2,
        5,
    ]
    assert _np(backend.lengths_from_row_splits(native(np.array([0, 2, 2, 5])))).tolist() == [
        2,
        0,
        3,
    ]
    assert _np(backend.row_splits_from_lengths(native(np.zeros(0, np.int64)))).tolist() == [0]
    for bad in ([1, 2], [0, 2, 1]):
        with pytest.raises(ValueError):
            backend.lengths_from_row_splits(native(np.array(bad)))
    with pytest.raises(ValueError):
        backend.row_splits_from_lengths(native(np.array([1, -1])))


def test_pack_like_pytorch(backend, native):
    x = np.array([[1, 2, 0], [3, 4, 5], [6, 0, 0]])
    packed = backend.pack_sequences(native(x), native(np.array([2, 3, 1])))
    data, sizes, order, inverse = (_np(p) for p in packed)
    assert data.tolist() == [3, 1, 6, 4, 2, 5]
    assert sizes.tolist() == [3, 2, 1] and order.tolist() == [1, 0, 2]
    assert inverse.tolist() == [1, 0, 2]
    back, lengths = _np(backend.unpack_sequences(packed, total_length=4, padding_value=-1))
    assert back.tolist() == [[1, 2, -1, -1], [3, 4, 5, -1], [6, -1, -1, -1]]
    assert lengths.tolist() == [2, 3, 1]
    with pytest.raises(ValueError):
        backend.unpack_sequences(packed, total_length=2)


def test_ties_keep_their_order_and_zero_length_rows_pack(backend, native):
    x = np.array([[1, 0], [2, 0], [0, 0], [3, 4]])
    packed = backend.pack_sequences(native(x), native(np.array([1, 1, 0, 2])))
    assert _np(packed.sorted_indices).tolist() == [3, 0, 1, 2]
    assert _np(packed.data).tolist() == [3, 1, 2, 4] and _np(packed.batch_sizes).tolist() == [3, 1]
    back, lengths = _np(backend.unpack_sequences(packed))
    assert back.tolist() == [[1, 0], [2, 0], [0, 0], [3, 4]] and lengths.tolist() == [1, 1, 0, 2]
    with pytest.raises(ValueError):
        backend.pack_sequences(native(x), native(np.array([1, 1, 0, 2])), enforce_sorted=True)


def test_unpad_repad(backend, native):
    values, indices, cu, longest = backend.unpad(native(X), native(MASK))
    assert _np(values).tolist() == [1, 2, 3, 4, 5]
    assert _np(indices).tolist() == [0, 1, 5, 6, 7]
    assert _np(cu).tolist() == [0, 2, 5, 5] and _np(cu).dtype == np.int32
    assert int(_np(longest)) == 3
    back = _np(backend.repad(values, indices, 3, 4))
    np.testing.assert_array_equal(back, np.where(MASK, X, 0))
    with pytest.raises(ValueError):
        backend.repad(values, native(np.array([0, 1, 5, 6, 12])), 3, 4)


def test_reverse_sequences(backend, native):
    x = np.array([[1, 2, 3, 0], [4, 5, 0, 0]])
    out = _np(backend.reverse_sequences(native(x), native(np.array([3, 2]))))
    assert out.tolist() == [[3, 2, 1, 0], [5, 4, 0, 0]]
    left = np.array([[0, 1, 2, 3], [0, 0, 4, 5]])
    out = _np(backend.reverse_sequences(native(left), native(np.array([3, 2])), padding="pre"))
    assert out.tolist() == [[0, 3, 2, 1], [0, 0, 5, 4]]
    with pytest.raises(ValueError):
        backend.reverse_sequences(native(x), native(np.array([5, 1])))


def test_positions_and_edges(backend, native):
    left = np.array([[F, T, T], [T, T, T]])
    assert _np(backend.positions_from_mask(native(left))).tolist() == [[0, 0, 1], [0, 1, 2]]
    assert _np(backend.positions_from_mask(native(left), start=1, fill=-1)).tolist() == [
        [-1, 1, 2],
        [1, 2, 3],
    ]
    assert _np(backend.last_valid(native(X), native(MASK))).tolist() == [2, 5, 0]
    assert _np(backend.first_valid(native(X), native(MASK), empty=-1)).tolist() == [1, 3, -1]
