"""Hand-written examples of the ragged, packed and unpadded layouts, in every backend; bad
arguments of the ragged and flow functions (the same class and message everywhere)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import to_numpy
from helpers import agree

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


# --- bad input: refused the same way in every backend ----------------------------------------

U64 = np.array([2**63], np.uint64)  # a length int64 cannot hold
X1 = np.array([[1, 2, 3]])
HUGE = 2**40  # a size whose result cannot fit in memory


def refused(backend, error, arg, name, *args, **kwargs):
    """``backend.name(*args, **kwargs)`` raises ``error`` naming ``arg``, with the reference's
    class and message (the reference reads the backends' CPU tensors as arrays)."""
    with pytest.raises(error, match=rf"\b{arg}\b"):
        getattr(backend, name)(*args, **kwargs)
    agree(backend, name, *args, **kwargs)


def test_lengths_that_int64_cannot_hold_are_refused(backend, native):
    # once wrapped below 0 after the check: x came back unchanged, the row was dropped,
    # the splits were negative
    refused(backend, ValueError, "lengths", "reverse_sequences", native(X1), native(U64))
    refused(backend, ValueError, "lengths", "pack_sequences", native(X1), native(U64))
    refused(backend, ValueError, "lengths", "row_splits_from_lengths", native(U64))
    splits = native(np.array([0, 2**63], np.uint64))
    refused(backend, ValueError, "row_splits", "lengths_from_row_splits", splits)


@pytest.mark.parametrize(
    "lengths", [np.array([2**62, 2**62]), np.array([2**63 - 1, 1], np.uint64)], ids=str
)
def test_lengths_whose_sum_would_wrap_are_refused(backend, native, lengths):
    refused(backend, ValueError, "lengths", "row_splits_from_lengths", native(lengths))
    with pytest.raises(ValueError, match="wrap"):
        backend.row_splits_from_lengths(native(lengths))


def test_positions_past_int64_are_refused(backend, native):
    two = native(np.array([[True, True], [True, False]]))
    refused(backend, ValueError, "start", "positions_from_mask", two, start=2**63 - 1)
    one = native(np.array([[True, False], [False, True]]))  # one valid step per row: fits
    got = to_numpy(backend.positions_from_mask(one, start=2**63 - 1, fill=-(2**63)))
    assert got.tolist() == [[2**63 - 1, -(2**63)], [-(2**63), 2**63 - 1]]
    refused(backend, ValueError, "start", "positions_from_mask", one, start=np.uint64(2**63))


@pytest.mark.parametrize(
    "lengths",
    [[], np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0, np.int32)],
    ids=["list", "int64", "uint64", "int32"],
)
def test_an_empty_batch_of_lengths_gives_empty_results(backend, native, lengths):
    given = lengths if isinstance(lengths, list) else native(lengths)
    assert _np(backend.row_splits_from_lengths(given)).tolist() == [0]
    empty = native(np.zeros((0, 3, 2), np.float32))
    packed = backend.pack_sequences(empty, given)
    assert [_np(p).shape for p in packed] == [(0, 2), (0,), (0,), (0,)]
    x, back = _np(backend.unpack_sequences(packed))
    assert x.shape == (0, 0, 2) and back.shape == (0,) and back.dtype == np.int64
    assert _np(backend.reverse_sequences(empty, given)).shape == (0, 3, 2)
    assert _np(backend.reverse_sequences(empty, given, padding="pre")).shape == (0, 3, 2)


@pytest.mark.parametrize("flag", [1, 0, "yes", None, 1.0], ids=repr)
def test_flags_must_be_bools(backend, native, flag):
    lengths = native(np.array([3]))
    refused(
        backend,
        TypeError,
        "enforce_sorted",
        "pack_sequences",
        native(X1),
        lengths,
        enforce_sorted=flag,
    )
    refused(
        backend,
        TypeError,
        "return_sequences",
        "flow_mask",
        "recurrent",
        None,
        return_sequences=flag,
    )


def test_numpy_bools_are_flags(backend, native):
    packed = backend.pack_sequences(native(X1), native(np.array([3])), enforce_sorted=np.True_)
    assert _np(packed.sorted_indices).tolist() == [0]
    mask = native(np.array([[True, False]]))
    assert _np(backend.flow_mask("recurrent", mask, return_sequences=np.True_)).tolist() == [
        [True, False]
    ]


def test_sizes_beyond_memory_are_refused_before_anything_is_allocated(backend, native):
    values, indices = native(np.arange(3.0)), native(np.array([0, 1, 2]))
    for batch, seqlen in ((HUGE, HUGE), (2, 2**62)):
        refused(backend, ValueError, "seqlen", "repad", values, indices, batch, seqlen)
        with pytest.raises(ValueError, match=r"batch \* seqlen=\d+ asks for .* bytes"):
            backend.repad(values, indices, batch, seqlen)
    packed = backend.pack_sequences(native(np.ones((2, 3))), native(np.array([3, 1])))
    refused(backend, ValueError, "total_length", "unpack_sequences", packed, total_length=HUGE)
    with pytest.raises(ValueError, match=r"total_length=\d+ asks for .* bytes"):
        backend.unpack_sequences(packed, total_length=HUGE)
    splits = native(np.array([0, 2, 3]))
    refused(backend, ValueError, "maxlen", "padded_from_ragged", values, splits, maxlen=HUGE)
    with pytest.raises(ValueError, match=r"maxlen=\d+ asks for .* bytes"):
        backend.padded_from_ragged(values, splits, maxlen=HUGE)
    refused(backend, ValueError, "maxlen", "padded_from_ragged", values, splits, maxlen=U64[0])


def test_repad_names_a_missing_size(backend, native):
    values, indices = native(np.arange(2)), native(np.array([0, 1]))
    refused(backend, TypeError, "batch", "repad", values, indices, None, 2)
    refused(backend, TypeError, "seqlen", "repad", values, indices, 2, None)


M2 = np.array([[True, True, False], [True, False, False]])
PACKED = (np.array([1, 3, 2]), np.array([2, 1]), np.array([0, 1]), np.array([0, 1]))
ONE = dict(values=np.arange(3), indices=np.array([0, 1, 3]), batch=2, seqlen=3)

#: function -> (a valid call, [(argument, bad value, error class), ...]). Each bad value replaces
#: one argument of the valid call; every backend raises the class, naming the argument, with
#: the reference's message. (tests/test_bad_inputs.py attacks every function's common
#: arguments; these are the ragged and flow functions' own.)
ATTACKS: dict[str, tuple[dict, list[tuple[str, object, type]]]] = {
    "row_splits_from_lengths": (
        dict(lengths=[2, 1]),
        [
            ("lengths", [[2, 1]], ValueError),
            ("lengths", np.int64(2), ValueError),
            ("lengths", ["2"], TypeError),
            ("lengths", [2.0], TypeError),
        ],
    ),
    "lengths_from_row_splits": (
        dict(row_splits=[0, 2, 3]),
        [
            ("row_splits", [], ValueError),
            ("row_splits", [1, 2], ValueError),
            ("row_splits", [0, -1], ValueError),
            ("row_splits", [[0, 1]], ValueError),
            ("row_splits", [0.0, 1.0], TypeError),
            ("row_splits", "01", TypeError),
        ],
    ),
    "padded_from_ragged": (
        dict(values=np.arange(3), row_splits=[0, 2, 3]),
        [
            ("row_splits", [0, 2, 4], ValueError),
            ("values", np.int64(1), ValueError),
            ("truncating", "left", ValueError),
            ("value", 0.5, ValueError),
            ("value", "x", ValueError),
            ("maxlen", np.uint64(2**63), ValueError),
        ],
    ),
    "pack_sequences": (
        dict(x=np.ones((2, 3)), lengths=[3, 1]),
        [
            ("lengths", [3], ValueError),
            ("lengths", [4, 1], ValueError),
            ("x", np.ones(3), ValueError),
        ],
    ),
    "unpack_sequences": (
        dict(packed=PACKED),
        [
            ("packed", None, TypeError),
            ("packed", PACKED[:3], ValueError),
            ("packed", np.ones(4), TypeError),
            ("total_length", True, TypeError),
            ("total_length", 2.0, TypeError),
            ("total_length", "3", TypeError),
            ("total_length", -1, ValueError),
            ("total_length", 1, ValueError),
            ("total_length", np.uint64(2**63), ValueError),
            ("padding_value", 0.5, ValueError),
            ("padding_value", None, TypeError),
        ],
    ),
    "unpad": (dict(x=np.ones((2, 3)), mask=M2), [("x", np.ones(3), ValueError)]),
    "repad": (
        ONE,
        [
            ("indices", [0.0, 1.0, 3.0], TypeError),
            ("indices", [[0, 1, 3]], ValueError),
            ("indices", [0, 1], ValueError),
            ("indices", [0, 1, 6], ValueError),
            ("indices", [-1, 1, 3], ValueError),
            ("indices", [1, 1, 3], ValueError),
            ("indices", np.array([0, 1, 2**63], np.uint64), ValueError),
            ("indices", None, TypeError),
            ("values", np.int64(1), ValueError),
            ("batch", -1, ValueError),
            ("seqlen", np.uint64(2**63), ValueError),
        ],
    ),
    "reverse_sequences": (
        dict(x=np.ones((2, 3)), lengths=[3, 1]),
        [
            ("axis", 0, ValueError),
            ("axis", 2, ValueError),
            ("axis", True, TypeError),
            ("axis", 1.0, TypeError),
            ("axis", "1", TypeError),
            ("axis", None, TypeError),
            ("axis", (1,), TypeError),
            ("lengths", [4, 1], ValueError),
            ("lengths", [3, 1, 1], ValueError),
        ],
    ),
    "positions_from_mask": (
        dict(mask=M2),
        [
            ("fill", None, TypeError),
            ("fill", 1.5, TypeError),
            ("fill", True, TypeError),
            ("fill", "0", TypeError),
            ("fill", np.uint64(2**63), ValueError),
            ("fill", -(2**63) - 1, ValueError),
            ("start", None, TypeError),
            ("mask", np.array(True), ValueError),
        ],
    ),
    "last_valid": (
        dict(x=np.ones((2, 3), np.int64), mask=M2),
        [
            ("empty", 0.5, ValueError),
            ("empty", "x", ValueError),
            ("empty", None, TypeError),
            ("mask", M2[:, :2], ValueError),
            ("x", np.ones(3), ValueError),
        ],
    ),
    "first_valid": (
        dict(x=np.ones((2, 3), np.uint8), mask=M2),
        [("empty", -1, ValueError), ("empty", np.nan, ValueError), ("mask", M2.T, ValueError)],
    ),
    "merge_masks": (
        dict(masks=[M2, None]),
        [
            ("masks", M2, TypeError),
            ("masks", "ab", TypeError),
            ("masks", [M2, M2[:1]], ValueError),
            ("masks", [M2.astype(int)], TypeError),
        ],
    ),
    "concatenate_masks": (
        dict(masks=[M2, None], shapes=[(2, 3, 1), (2, 3, 2)]),
        [
            ("shapes", None, TypeError),
            ("shapes", [(2, 3, 1)], ValueError),
            ("shapes", [(2, 3, 1), (2, 3)], ValueError),
            ("shapes", [3, 3], TypeError),
            ("shapes", [(2, 4, 1), (2, 4, 2)], ValueError),
            ("axis", 3, ValueError),
            ("axis", 1, ValueError),
            ("masks", [M2], ValueError),
        ],
    ),
    "flow_mask": (
        dict(kind="keep", mask=M2),
        [
            ("kind", "merge", ValueError),
            ("kind", None, ValueError),
            ("mask", M2.astype(np.int8), TypeError),
        ],
    ),
    "masking_values": (
        dict(x=np.ones((2, 3, 1))),
        [
            ("x", np.ones((2, 3), "U1"), TypeError),
            ("mask_value", None, TypeError),
            ("mask_value", "0", TypeError),
        ],
    ),
    "merge_values": (
        dict(op="add", xs=[np.ones((2, 3)), np.ones((2, 3))], masks=[M2, None]),
        [
            ("xs", None, TypeError),
            ("xs", np.ones((2, 2, 3)), TypeError),
            ("xs", [np.ones((2, 3)), None], TypeError),
            ("xs", [M2, M2], TypeError),
            ("xs", [np.ones((2, 3)), np.ones((2, 4))], ValueError),
            ("xs", [], ValueError),
            ("masks", [M2], ValueError),
            ("masks", [M2[:, :2], None], ValueError),
            ("op", "dot", ValueError),
        ],
    ),
}
ROWS = [
    pytest.param(fn, arg, value, error, id=f"{fn}-{arg}-{i}")
    for fn, (_, attacks) in ATTACKS.items()
    for i, (arg, value, error) in enumerate(attacks)
]


@pytest.mark.parametrize(("fn", "arg", "value", "error"), ROWS)
def test_bad_argument(backend, fn, arg, value, error):
    base, _ = ATTACKS[fn]
    getattr(backend, fn)(**base)  # the valid call
    kwargs = {**base, arg: value}
    with pytest.raises(error) as got:
        getattr(backend, fn)(**kwargs)
    assert type(got.value) is error
    assert re.search(rf"\b{re.escape(arg)}\b", str(got.value)), str(got.value)
    agree(backend, fn, **kwargs)
