"""torch_impl's ragged layouts: what the conformance registry does not cover.

The registry (``maskref/conformance/operations_ragged.py``) checks every
function against the reference on drawn tensors. Here: bad input (the
reference's class and message, for arrays and for tensors), round trips,
``PackedSequence`` and jagged ``torch.nested`` conversions against PyTorch's
API, devices, dtypes torch has few kernels for, gradients, ``torch.compile``,
and inputs left untouched.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import require
from helpers import agree, assert_same
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

require("torch")

import torch
from torch.nn.utils.rnn import (
    PackedSequence,
    pack_padded_sequence,
    pad_packed_sequence,
)

import reference as rr
import torch_impl as tr
from reference import strategies as rs

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


# --- helpers --------------------------------------------------------------------------------


def as_torch(value):
    """NumPy arrays (also inside tuples and NamedTuples) as tensors, copied."""
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(as_torch(v) for v in value))
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value, order="C", copy=True))
    return value


@st.composite
def batch_with_lengths(draw, *, sorted_lengths: bool = False):
    """``(x (B, T, ...), lengths)`` with lengths at most ``T``, any dtype."""
    lens = draw(rs.lengths())
    if sorted_lengths:
        lens = np.sort(lens)[::-1].copy()
    steps = draw(st.integers(int(lens.max()) if lens.size else 0, 9))
    dtype = draw(rs.dtypes())
    x = draw(
        hnp.arrays(dtype, (lens.size, steps) + draw(rs.inner_shapes()), elements=rs.elements(dtype))
    )
    return x, lens


# --- invalid input: the reference's error class and message --------------------------------

X = np.arange(6.0).reshape(2, 3)
MASK = np.array([[True, True, False], [True, False, False]])
PACKED = rr.pack_sequences(X, [2, 1])

INVALID = [
    ("row_splits_from_lengths", ([1.0, 2.0],), {}),
    ("row_splits_from_lengths", ([[1, 2]],), {}),
    ("row_splits_from_lengths", ([1, -1],), {}),
    ("row_splits_from_lengths", (np.array([True]),), {}),
    ("lengths_from_row_splits", (np.array([0.0, 1.0]),), {}),
    ("lengths_from_row_splits", (np.zeros(0, np.int64),), {}),
    ("lengths_from_row_splits", (np.array([1, 2]),), {}),
    ("lengths_from_row_splits", (np.array([0, 2, 1]),), {}),
    ("lengths_from_row_splits", (np.array([[0, 1]]),), {}),
    ("ragged_from_padded", (np.arange(3), np.ones(3, bool)), {}),
    ("ragged_from_padded", (X, MASK.astype(int)), {}),
    ("ragged_from_padded", (X, MASK[:1]), {}),
    ("ragged_from_padded", (X[..., None], np.ones((2, 3, 1), bool)), {}),
    ("padded_from_ragged", (np.arange(3), np.array([0, 2, 4])), {}),
    ("padded_from_ragged", (np.array(1), np.array([0, 1])), {}),
    ("padded_from_ragged", (np.arange(3), np.array([0, 3])), dict(padding="left")),
    ("padded_from_ragged", (np.arange(3), np.array([0, 3])), dict(truncating=None)),
    ("padded_from_ragged", (np.arange(3), np.array([0, 3])), dict(maxlen=-1)),
    ("padded_from_ragged", (np.arange(3), np.array([0, 3])), dict(maxlen=1.0)),
    ("padded_from_ragged", (np.arange(3), np.array([0, 3])), dict(value=0.5)),
    ("padded_from_ragged", (np.arange(3), np.array([0, 3])), dict(value=float("nan"))),
    ("pack_sequences", (np.arange(3), [1, 1, 1]), {}),
    ("pack_sequences", (X, [1.5, 1]), {}),
    ("pack_sequences", (X, [1, -1]), {}),
    ("pack_sequences", (X, [1]), {}),
    ("pack_sequences", (X, [4, 1]), {}),
    ("pack_sequences", (X, [1, 2]), dict(enforce_sorted=True)),
    ("unpack_sequences", (PACKED,), dict(total_length=1)),
    ("unpack_sequences", (PACKED,), dict(total_length=-1)),
    ("unpack_sequences", (PACKED,), dict(total_length=2.0)),
    ("unpack_sequences", (PACKED,), dict(padding_value="x")),
    ("unpack_sequences", (PACKED._replace(batch_sizes=np.array([1, 2])),), {}),
    ("unpack_sequences", (PACKED._replace(batch_sizes=np.array([3])),), {}),
    ("unpack_sequences", (PACKED._replace(batch_sizes=np.array([2, 0])),), {}),
    ("unpack_sequences", (PACKED._replace(batch_sizes=np.array([2.0, 1.0])),), {}),
    ("unpack_sequences", (PACKED._replace(batch_sizes=np.array([[2, 1]])),), {}),
    ("unpack_sequences", (PACKED._replace(batch_sizes=np.array([2, 2])),), {}),
    ("unpack_sequences", (PACKED._replace(data=np.array(1.0)),), {}),
    ("unpack_sequences", (PACKED._replace(unsorted_indices=np.array([0, 5])),), {}),
    ("unpad", (np.arange(3), np.ones(3, bool)), {}),
    ("unpad", (X, MASK.T), {}),
    ("unpad", (X, MASK.astype(np.float32)), {}),
    ("repad", (np.arange(2), np.array([0, 1])), dict(batch=-1, seqlen=2)),
    ("repad", (np.arange(2), np.array([0, 1])), dict(batch=1, seqlen=2.0)),
    ("repad", (np.array(1), np.array([0])), dict(batch=1, seqlen=2)),
    ("repad", (np.arange(2), np.array([0.0, 1.0])), dict(batch=1, seqlen=2)),
    ("repad", (np.arange(2), np.array([[0, 1]])), dict(batch=1, seqlen=2)),
    ("repad", (np.arange(2), np.array([0])), dict(batch=1, seqlen=2)),
    ("repad", (np.arange(2), np.array([0, 2])), dict(batch=1, seqlen=2)),
    ("repad", (np.arange(2), np.array([-1, 0])), dict(batch=1, seqlen=2)),
    ("repad", (np.arange(2), np.array([1, 1])), dict(batch=1, seqlen=2)),
    ("repad", (np.arange(3), np.array([2, 0, 2])), dict(batch=1, seqlen=3)),
    ("reverse_sequences", (np.arange(3), [1, 1, 1]), {}),
    ("reverse_sequences", (X, [1, 1]), dict(padding="both")),
    ("reverse_sequences", (X, [1, 1]), dict(axis=0)),
    ("reverse_sequences", (X, [1, 1]), dict(axis=2)),
    ("reverse_sequences", (X, [1, 1]), dict(axis=(1,))),
    ("reverse_sequences", (X, [1, 1]), dict(axis=1.0)),
    ("reverse_sequences", (X, [1, 1, 1]), {}),
    ("reverse_sequences", (X, [1, 4]), {}),
    ("reverse_sequences", (X, [1.0, 1.0]), {}),
    ("positions_from_mask", (MASK.astype(np.int8),), {}),
    ("positions_from_mask", (np.array(True),), {}),
    ("positions_from_mask", (MASK,), dict(start=1.5)),
    ("positions_from_mask", (MASK,), dict(start=True)),
    ("positions_from_mask", (MASK,), dict(fill="0")),
    ("positions_from_mask", (MASK,), dict(fill=2**63)),
    ("last_valid", (X.astype(np.int64), MASK), dict(empty=float("nan"))),
    ("last_valid", (X.astype(np.int32), MASK), dict(empty=0.5)),
    ("last_valid", (X.astype(np.uint8), MASK), dict(empty=-1)),
    ("first_valid", (X, MASK.astype(int)), {}),
    ("first_valid", (np.arange(3), MASK), {}),
    ("first_valid", (X, MASK[:, :2]), {}),
]


def _cases():
    for name, args, kwargs in INVALID:
        yield pytest.param(name, args, kwargs, id=f"{name}-{len(args)}-{sorted(kwargs)}")


@pytest.mark.parametrize(("name", "args", "kwargs"), list(_cases()))
def test_invalid_input_raises_the_reference_error(name, args, kwargs):
    with pytest.raises((ValueError, TypeError)):  # the case must be invalid for the reference
        getattr(rr, name)(*args, **kwargs)
    agree(tr, name, *args, **kwargs)  # arrays and lists as given
    tensors = {k: as_torch(v) for k, v in kwargs.items()}
    agree(tr, name, *[as_torch(a) for a in args], **tensors)  # as tensors (CPU: NumPy reads them)


# --- round trips ----------------------------------------------------------------------------


def _where(x: np.ndarray, mask: np.ndarray, fill=0) -> np.ndarray:
    return np.where(mask.reshape(mask.shape + (1,) * (x.ndim - 2)), x, np.asarray(fill, x.dtype))


@given(rs.padded_batches(layout="post"))
def test_ragged_round_trip(batch):
    x, mask = batch
    xt, mt = as_torch(x), as_torch(mask)
    values, splits = tr.ragged_from_padded(xt, mt)
    back, back_mask = tr.padded_from_ragged(values, splits, maxlen=x.shape[1])
    assert torch.equal(back_mask, mt)
    assert_same(back, _where(x, mask))


@given(batch_with_lengths(), st.booleans())
def test_pack_round_trip(batch, enforce_sorted):
    x, lens = batch
    if enforce_sorted:
        lens = np.sort(lens)[::-1].copy()
    xt, lt = as_torch(x), as_torch(lens)
    back, back_lengths = tr.unpack_sequences(
        tr.pack_sequences(xt, lt, enforce_sorted=enforce_sorted), total_length=x.shape[1]
    )
    assert torch.equal(back_lengths, lt)
    assert_same(back, _where(x, np.arange(x.shape[1]) < lens[:, None]))


@given(rs.padded_batches())
def test_unpad_repad_round_trip(batch):
    x, mask = batch
    values, indices, cu, max_seqlen = tr.unpad(as_torch(x), as_torch(mask))
    assert_same(tr.repad(values, indices, *mask.shape), _where(x, mask))
    lengths = torch.diff(cu)
    assert max_seqlen == (int(lengths.max()) if lengths.numel() else 0)


@given(batch_with_lengths(), rs.padding_sides)
def test_reverse_twice_is_the_identity(batch, padding):
    x, lens = batch
    xt = as_torch(x)
    twice = tr.reverse_sequences(
        tr.reverse_sequences(xt, lens, padding=padding), lens, padding=padding
    )
    assert_same(twice, x)


@given(rs.padded_batches())
def test_nested_round_trip(batch):
    x, mask = batch
    nt = tr.to_nested(as_torch(x), as_torch(mask))
    values, splits = rr.ragged_from_padded(x, mask)
    assert nt.is_nested and nt.layout == torch.jagged
    assert_same(nt.values(), values)
    assert_same(nt.offsets(), splits)
    back, back_mask = tr.from_nested(nt, maxlen=x.shape[1])
    assert_same((back, back_mask), rr.padded_from_ragged(values, splits, maxlen=x.shape[1]))


# --- PackedSequence against PyTorch's own -----------------------------------------------------


def _packed_fields_equal(a: PackedSequence, b: PackedSequence) -> None:
    assert isinstance(a, PackedSequence)
    for got, want in zip(a, b):
        if want is None:
            assert got is None
        else:
            assert got.dtype == want.dtype and got.device == want.device
            assert torch.equal(got, want)


@given(st.permutations(range(1, 7)), hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
def test_to_packed_sequence_equals_pack_padded_sequence(lengths, inner):
    lengths = torch.tensor(lengths)
    x = torch.randn(len(lengths), 7, *inner)
    ours = tr.to_packed_sequence(x, lengths)
    theirs = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    _packed_fields_equal(ours, theirs)
    ordered = lengths.sort(descending=True).values
    ours = tr.to_packed_sequence(x, ordered, enforce_sorted=True)
    theirs = pack_padded_sequence(x, ordered, batch_first=True, enforce_sorted=True)
    _packed_fields_equal(ours, theirs)


@given(batch_with_lengths())
def test_to_packed_sequence_with_ties_unpacks_as_pytorch(batch):
    x, lens = batch
    lens = np.maximum(lens, 1)
    if not lens.size or x.shape[1] == 0 or x.dtype.kind != "f":
        return
    xt, lt = as_torch(x), as_torch(lens)
    packed = tr.to_packed_sequence(xt, lt)
    assert packed.batch_sizes.device.type == "cpu"
    theirs = pad_packed_sequence(packed, batch_first=True, total_length=x.shape[1])
    ours = tr.from_packed_sequence(packed, total_length=x.shape[1])
    assert torch.equal(ours[0], theirs[0]) and torch.equal(ours[1], theirs[1])
    assert torch.equal(ours[0], torch.from_numpy(_where(x, np.arange(x.shape[1]) < lens[:, None])))


@pytest.mark.parametrize("enforce_sorted", [False, True])
@pytest.mark.parametrize("total_length", [None, 6])
def test_from_packed_sequence_equals_pad_packed_sequence(enforce_sorted, total_length):
    lengths = torch.tensor([4, 4, 2, 1]) if enforce_sorted else torch.tensor([2, 4, 1, 4])
    x = torch.randn(4, 5, 3)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=enforce_sorted)
    for value in (0.0, -1.5):
        ours = tr.from_packed_sequence(packed, total_length=total_length, padding_value=value)
        theirs = pad_packed_sequence(
            packed, batch_first=True, total_length=total_length, padding_value=value
        )
        assert torch.equal(ours[0], theirs[0]) and torch.equal(ours[1], theirs[1])
        assert ours[1].dtype == torch.int64
    bare = PackedSequence(packed.data, packed.batch_sizes)  # sorted_indices None
    ours = tr.from_packed_sequence(bare)
    assert torch.equal(ours[0], pad_packed_sequence(bare, batch_first=True)[0])


def test_packed_sequence_drives_an_rnn_as_pytorch_s():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 4, batch_first=True)
    x = torch.randn(5, 6, 3)
    lengths = torch.tensor([3, 6, 1, 6, 2])
    ours, (h, _) = lstm(tr.to_packed_sequence(x, lengths))
    theirs, (h2, _) = lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    assert torch.allclose(h, h2)
    padded, out_lengths = tr.from_packed_sequence(ours, total_length=6)
    assert torch.allclose(padded, pad_packed_sequence(theirs, batch_first=True, total_length=6)[0])
    assert torch.equal(out_lengths, lengths)
    last = tr.last_valid(padded, torch.arange(6) < lengths[:, None])
    assert torch.allclose(last, h[0])  # the last valid step is the final hidden state


@pytest.mark.parametrize("lengths", [[2, 0, 1], []])
def test_to_packed_sequence_refuses_what_pytorch_cannot_hold(lengths):
    x = torch.zeros(len(lengths), 3, 2)
    with pytest.raises(ValueError, match="PackedSequence cannot hold"):
        tr.to_packed_sequence(x, torch.tensor(lengths, dtype=torch.int64))
    with pytest.raises(RuntimeError):  # PyTorch refuses them too
        pack_padded_sequence(
            x, torch.tensor(lengths, dtype=torch.int64), batch_first=True, enforce_sorted=False
        )
    back, back_lengths = tr.unpack_sequences(tr.pack_sequences(x, lengths), total_length=3)
    assert torch.equal(back, x) and back_lengths.tolist() == lengths  # the reference's keep them


def test_to_packed_sequence_checks_as_pack_sequences():
    with pytest.raises(ValueError, match="non-increasing"):
        tr.to_packed_sequence(torch.zeros(2, 3), torch.tensor([1, 2]), enforce_sorted=True)
    with pytest.raises(TypeError, match="PackedSequence"):
        tr.from_packed_sequence(rr.pack_sequences(np.zeros((1, 1)), [1]))
    for flag in (1, "yes", None):  # once truthy values passed as True
        with pytest.raises(TypeError, match=r"\benforce_sorted\b"):
            tr.to_packed_sequence(torch.zeros(2, 3), torch.tensor([3, 2]), enforce_sorted=flag)


# --- jagged nested tensors against PyTorch's own ----------------------------------------------


@given(rs.padded_batches())
def test_to_nested_equals_torch_nested(batch):
    x, mask = batch
    if not x.shape[0]:
        return  # torch.nested.nested_tensor takes no empty list
    xt = as_torch(x)
    rows = [xt[b][torch.from_numpy(mask[b])] for b in range(x.shape[0])]
    theirs = torch.nested.nested_tensor(rows, layout=torch.jagged)
    ours = tr.to_nested(xt, as_torch(mask))
    assert ours.dtype == theirs.dtype and ours.shape[0] == theirs.shape[0]
    assert ours.dim() == theirs.dim()
    np.testing.assert_array_equal(ours.values().numpy(), theirs.values().numpy())
    assert torch.equal(ours.offsets(), theirs.offsets())
    assert all(torch.equal(a, b) for a, b in zip(ours.unbind(), theirs.unbind()))


@pytest.mark.parametrize("value", [0.0, -2.0])
def test_from_nested_equals_to_padded_tensor(value):
    rows = [torch.randn(n, 3) for n in (3, 0, 5, 1)]
    nt = torch.nested.nested_tensor(rows, layout=torch.jagged)
    x, mask = tr.from_nested(nt, value=value)
    assert torch.equal(x, torch.nested.to_padded_tensor(nt, value))
    assert mask.tolist() == [[t < n for t in range(5)] for n in (3, 0, 5, 1)]
    pre, pre_mask = tr.from_nested(nt, padding="pre", maxlen=2)  # keeps the last 2 steps
    assert torch.equal(pre[2], rows[2][-2:]) and torch.equal(pre[3, 1], rows[3][0])
    assert pre_mask.tolist() == [[True, True], [False, False], [True, True], [False, True]]


def test_from_nested_reads_a_jagged_tensor_with_holes():
    base = torch.arange(24.0).reshape(3, 4, 2).requires_grad_()
    holes = torch.nested.narrow(
        base, 1, torch.tensor([0, 1, 3]), torch.tensor([2, 3, 0]), layout=torch.jagged
    )
    assert holes.lengths() is not None
    x, mask = tr.from_nested(holes, value=-1.0)
    assert torch.equal(x[0, :2], base[0, :2]) and torch.equal(x[1], base[1, 1:])
    assert (x[0, 2] == -1).all() and (x[2] == -1).all()
    assert mask.tolist() == [[True, True, False], [True, True, True], [False, False, False]]
    x.sum().backward()
    assert base.grad.tolist() == [
        [[1.0] * 2] * 2 + [[0.0] * 2] * 2,
        [[0.0] * 2] + [[1.0] * 2] * 3,
        [[0.0] * 2] * 4,
    ]


def test_nested_conversions_check_their_inputs():
    with pytest.raises(TypeError, match="nested tensor"):
        tr.from_nested(torch.zeros(2, 3))
    with warnings.catch_warnings():  # torch warns about strided nested tensors once a process
        warnings.simplefilter("ignore", UserWarning)
        strided = torch.nested.nested_tensor([torch.zeros(2), torch.zeros(1)])
    with pytest.raises(TypeError, match=r"layout=torch\.jagged"):
        tr.from_nested(strided)
    with pytest.raises(TypeError, match="boolean mask"):
        tr.to_nested(torch.zeros(2, 3), torch.ones(2, 3))


def test_to_nested_caches_the_row_lengths_and_keeps_empty_rows():
    x = torch.arange(12).reshape(3, 4)
    nt = tr.to_nested(x, torch.tensor([[True, False, True, False], [False] * 4, [True] * 4]))
    assert nt._min_seqlen == 0 and nt._max_seqlen == 4
    assert [t.tolist() for t in nt.unbind()] == [[0, 2], [], [8, 9, 10, 11]]
    empty = tr.to_nested(torch.zeros(0, 3, 2), torch.zeros(0, 3, dtype=torch.bool))
    assert empty.shape[0] == 0 and empty.values().shape == (0, 2)
    x, mask = tr.from_nested(empty)
    assert x.shape == (0, 0, 2) and mask.shape == (0, 0)


# --- devices, dtypes, gradients, compile -----------------------------------------------------


def _all_results(x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> list:
    """One call of every function on the same batch; the results in a flat list."""
    values, splits = tr.ragged_from_padded(x, mask)
    packed = tr.pack_sequences(x, lengths)
    unpadded = tr.unpad(x, mask)
    nt = tr.to_nested(x, mask)
    out = [
        values,
        splits,
        *tr.padded_from_ragged(values, splits),
        *packed,
        *tr.unpack_sequences(packed),
        *unpadded[:3],
        tr.repad(unpadded[0], unpadded[1], *mask.shape),
        tr.row_splits_from_lengths(lengths),
        tr.lengths_from_row_splits(splits),
        tr.reverse_sequences(x, lengths),
        tr.positions_from_mask(mask),
        tr.last_valid(x, mask),
        tr.first_valid(x, mask),
        nt.values(),
        nt.offsets(),
        *tr.from_nested(nt),
    ]
    if lengths.numel() and bool((lengths > 0).all()):
        p = tr.to_packed_sequence(x, lengths)
        out += [p.data, p.sorted_indices, *tr.from_packed_sequence(p)]
    return out


def _float64(t: torch.Tensor) -> torch.Tensor:
    return (t.real if t.is_complex() else t).to(torch.float64)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "dtype",
    [
        torch.float32,
        torch.bfloat16,
        torch.complex64,
        torch.bool,
        torch.uint16,
        torch.uint32,
        torch.uint64,
        torch.int8,
    ],
)
def test_dtype_and_device_are_kept(device, dtype):
    lengths = torch.tensor([3, 1, 4], device=device)
    mask = torch.arange(4, device=device) < lengths[:, None]
    x = torch.arange(24, device=device).reshape(3, 4, 2).to(dtype)
    results = _all_results(x, mask, lengths)
    assert all(r.device == x.device for r in results)
    values, splits = tr.ragged_from_padded(x, mask)
    assert values.dtype == dtype and splits.dtype == torch.int64
    assert tr.unpad(x, mask)[2].dtype == torch.int32
    assert tr.positions_from_mask(mask).dtype == torch.int64
    for got in (
        tr.repad(*tr.unpad(x, mask)[:2], 3, 4),
        tr.unpack_sequences(tr.pack_sequences(x, lengths), total_length=4)[0],
    ):
        assert got.dtype == dtype
        assert torch.equal(_float64(got), torch.where(mask[..., None], _float64(x), 0))
    top = torch.iinfo(dtype).max if dtype in (torch.uint16, torch.uint32, torch.uint64) else 1
    assert tr.last_valid(x, torch.zeros_like(mask), empty=top)[0, 0].item() == top


def test_numpy_and_list_inputs_follow_the_tensor_s_device():
    lengths = torch.tensor([2, 1])
    x = np.arange(6).reshape(2, 3)
    packed = tr.pack_sequences(x, lengths)
    assert all(isinstance(p, torch.Tensor) for p in packed)
    values, splits = tr.ragged_from_padded(x.tolist(), [[True, True, False], [True] * 3])
    assert values.tolist() == [0, 1, 3, 4, 5] and splits.tolist() == [0, 2, 5]
    assert tr.repad(np.array([7, 8]), torch.tensor([0, 3]), 2, 2).tolist() == [[7, 0], [0, 8]]


def test_inputs_are_not_mutated():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 5, 2)).astype(np.float32)
    lengths = np.array([5, 0, 2, 3])
    mask = np.arange(5) < lengths[:, None]
    x[~mask] = np.nan
    arrays = (x, mask, lengths)
    before = [a.copy() for a in arrays]
    tensors = tuple(torch.from_numpy(a.copy()) for a in arrays)
    tensors_before = [t.clone() for t in tensors]
    for args in (arrays, tensors):
        out = _all_results(*(as_torch(a) if isinstance(a, np.ndarray) else a for a in args))
        for r in out:  # results never share memory with the inputs
            r.view(-1)[:1] = 0 if r.dtype != torch.bool else False
    tr.ragged_from_padded(x, mask)[0].fill_(0)  # arrays are shared by torch.from_numpy
    tr.reverse_sequences(x, lengths).fill_(0)
    tr.unpad(x, mask)[0].fill_(0)
    tr.from_nested(tr.to_nested(x, mask))[0].fill_(0)
    for a, b in zip(arrays, before):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(tensors, tensors_before):
        assert torch.equal(a.nan_to_num(), b.nan_to_num())


@pytest.mark.parametrize("poison", [float("nan"), float("inf")])
def test_gradients_never_reach_masked_steps(poison):
    lengths = torch.tensor([3, 0, 1])
    mask = torch.arange(4) < lengths[:, None]
    base = torch.randn(3, 4, 2).masked_fill(~mask[..., None], poison)
    outputs = {
        "ragged_from_padded": lambda x: tr.ragged_from_padded(x, mask)[0],
        "unpad": lambda x: tr.unpad(x, mask)[0],
        "pack_sequences": lambda x: tr.pack_sequences(x, lengths).data,
        "to_nested": lambda x: tr.to_nested(x, mask).values(),
        "reverse_sequences": lambda x: tr.reverse_sequences(x, lengths).masked_fill(
            ~mask[..., None], 0
        ),
        "last_valid": lambda x: tr.last_valid(x, mask, empty=1.0),
        "first_valid": lambda x: tr.first_valid(x, mask),
    }
    for name, fn in outputs.items():
        x = base.clone().requires_grad_()
        out = fn(x)
        assert torch.isfinite(out).all(), name
        out.sum().backward()
        assert torch.isfinite(x.grad).all(), name
        assert (x.grad[~mask] == 0).all(), name
    values = torch.randn(4, 2, requires_grad=True)
    indices = torch.tensor([0, 4, 5, 7])
    tr.repad(values, indices, 2, 4).sum().backward()
    assert torch.equal(values.grad, torch.ones(4, 2))
    packed = tr.pack_sequences(base.nan_to_num(), lengths)
    data = packed.data.clone().requires_grad_()
    tr.unpack_sequences(packed._replace(data=data), padding_value=poison)[
        0
    ].nan_to_num().sum().backward()
    assert torch.equal(data.grad, torch.ones_like(data))


def test_static_shape_functions_compile_to_one_graph():
    import torch._dynamo

    def fn(x, mask, lengths):
        return (
            tr.positions_from_mask(mask, start=1, fill=-1),
            tr.last_valid(x, mask, empty=-1.0),
            tr.first_valid(x, mask),
        )

    torch._dynamo.reset()
    compiled = torch.compile(fn, backend="eager", fullgraph=True)
    lengths = torch.tensor([2, 0, 4])
    mask = torch.arange(4) < lengths[:, None]
    x = torch.randn(3, 4, 2).masked_fill(~mask[..., None], float("nan"))
    for a, b in zip(compiled(x, mask, lengths), fn(x, mask, lengths)):
        assert torch.equal(a, b)
    torch._dynamo.reset()


def test_device_is_kept_without_touching_data():
    x = torch.empty(2, 3, 4, device="meta")
    mask = torch.empty(2, 3, dtype=torch.bool, device="meta")
    assert tr.positions_from_mask(mask).device.type == "meta"
    assert tr.last_valid(x, mask).device.type == "meta"


def test_unpack_with_an_inverse_that_is_not_a_permutation_follows_the_reference():
    packed = rr.pack_sequences(np.arange(6).reshape(2, 3), [2, 3])
    for bent in (np.array([1, 1]), np.array([1]), np.array([0], np.uint64)):
        bent_packed = packed._replace(unsorted_indices=bent)
        agree(tr, "unpack_sequences", bent_packed)
        agree(tr, "unpack_sequences", as_torch(bent_packed))


def test_repad_detects_repeats_in_any_order():
    with pytest.raises(ValueError, match="must not repeat"):
        tr.repad(torch.arange(3), torch.tensor([5, 0, 5]), 2, 3)
    out = tr.repad(torch.arange(3), torch.tensor([5, 0, 3]), 2, 3)
    assert out.tolist() == [[1, 0, 0], [2, 0, 0]]
