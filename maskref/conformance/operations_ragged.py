"""The input strategies of ``reference.ragged``'s operations (one backend case each)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference as ref
from reference import strategies as rs

from .core import Inputs
from .operations import Operation, maxlens, rarely, sides


@st.composite
def padded_inputs(draw, *, wrong_mask: bool = True) -> Inputs:
    """``x (B, T, ...)`` of any dtype with a ``(B, T)`` mask (pre, post, holes)."""
    x, mask = draw(rs.padded_batches())
    if wrong_mask and draw(st.integers(0, 9)) == 9:
        mask = draw(
            rarely(
                hnp.arrays(np.bool_, (mask.shape[0] + 1,) + mask.shape[1:]),
                st.just(mask.astype(np.int64)),
            )
        )
    return dict(x=x, mask=mask)


@st.composite
def padded_from_ragged_inputs(draw) -> Inputs:
    dtype = draw(rs.dtypes())
    seqs = draw(rs.ragged_batches(dtype))
    values = np.concatenate(seqs) if seqs else np.zeros((0,), dtype)
    splits = ref.row_splits_from_lengths([len(s) for s in seqs])
    if draw(st.integers(0, 9)) == 9 and splits.size > 1:  # splits that do not fit values
        splits = splits.copy()
        splits[-1] += 1
    return dict(
        values=values,
        row_splits=splits,
        maxlen=draw(maxlens),
        padding=draw(sides),
        truncating=draw(sides),
        value=draw(rarely(rs.elements(dtype), st.just(float("nan")))),
    )


def lengths_inputs() -> st.SearchStrategy[Inputs]:
    bad = st.sampled_from([np.array([1, -1]), np.array([1.0, 2.0]), np.array([[1, 2]])])
    return st.builds(dict, lengths=rarely(rs.lengths(), bad))


@st.composite
def row_splits_inputs(draw) -> Inputs:
    splits = ref.row_splits_from_lengths(draw(rs.lengths()))
    broken = st.sampled_from(
        [np.array([1, 2]), np.array([0, 2, 1]), np.zeros(0, np.int64), np.array([0.0, 1.0])]
    )
    return dict(row_splits=draw(rarely(st.just(splits), broken)))


@st.composite
def batch_with_lengths(draw, *, min_length: int = 0) -> tuple[np.ndarray, np.ndarray]:
    lens = draw(rs.lengths(min_batch=0))
    longest = int(lens.max()) if lens.size else 0
    steps = draw(st.integers(longest, longest + 2))
    dtype = draw(rs.dtypes())
    x = draw(
        hnp.arrays(dtype, (lens.size, steps) + draw(rs.inner_shapes()), elements=rs.elements(dtype))
    )
    return x, np.maximum(lens, min_length) if lens.size else lens


@st.composite
def pack_inputs(draw) -> Inputs:
    x, lens = draw(batch_with_lengths())
    enforce = draw(st.booleans())
    if enforce and draw(st.booleans()):
        lens = np.sort(lens)[::-1].copy()
    if draw(st.integers(0, 9)) == 9 and lens.size:
        lens = lens.copy()
        lens[0] = x.shape[1] + 1  # longer than the batch
    return dict(x=x, lengths=lens, enforce_sorted=enforce)


@st.composite
def unpack_inputs(draw) -> Inputs:
    x, lens = draw(batch_with_lengths())
    packed = ref.pack_sequences(x, lens)
    longest = int(lens.max()) if lens.size else 0
    inputs: Inputs = dict(packed=packed)
    if draw(st.booleans()):
        inputs["total_length"] = draw(
            rarely(st.integers(longest, longest + 2), st.integers(0, max(longest - 1, 0)))
        )
    if draw(st.booleans()):
        inputs["padding_value"] = draw(rarely(rs.elements(x.dtype), st.just(0.5)))
    return inputs


@st.composite
def repad_inputs(draw) -> Inputs:
    x, mask = draw(rs.padded_batches())
    values, indices, _, _ = ref.unpad(x, mask)
    if draw(st.integers(0, 9)) == 9 and indices.size:
        indices = indices.copy()
        indices[-1] = draw(st.sampled_from([-1, mask.size, indices[0]]))
    return dict(values=values, indices=indices, batch=mask.shape[0], seqlen=mask.shape[1])


@st.composite
def reverse_inputs(draw) -> Inputs:
    x, lens = draw(batch_with_lengths())
    inputs: Inputs = dict(x=x, lengths=lens, padding=draw(sides))
    if x.ndim > 2 and draw(st.booleans()):
        inputs["axis"] = draw(rarely(st.integers(1, x.ndim - 1), st.just(0)))
    return inputs


@st.composite
def positions_inputs(draw) -> Inputs:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5))
    inputs: Inputs = dict(
        mask=draw(rs.masks(shape) if len(shape) > 1 else hnp.arrays(np.bool_, shape))
    )
    if draw(st.booleans()):
        inputs["start"] = draw(rarely(st.integers(0, 3), st.just(1.5)))
    if draw(st.booleans()):
        inputs["fill"] = draw(st.sampled_from([0, 1, -1]))
    return inputs


@st.composite
def edge_inputs(draw) -> Inputs:
    inputs = draw(padded_inputs())
    if draw(st.booleans()):
        inputs["empty"] = draw(rarely(rs.elements(inputs["x"].dtype), st.just(float("nan"))))
    return inputs


RAGGED_OPERATIONS = [
    Operation("ragged_from_padded", padded_inputs, tensors=("x", "mask")),
    Operation("padded_from_ragged", padded_from_ragged_inputs, tensors=("values", "row_splits")),
    Operation("row_splits_from_lengths", lengths_inputs, tensors=("lengths",)),
    Operation("lengths_from_row_splits", row_splits_inputs, tensors=("row_splits",)),
    Operation("pack_sequences", pack_inputs, tensors=("x", "lengths")),
    Operation("unpack_sequences", unpack_inputs, tensors=("packed",)),
    Operation("unpad", padded_inputs, tensors=("x", "mask")),
    Operation("repad", repad_inputs, tensors=("values", "indices")),
    Operation("reverse_sequences", reverse_inputs, tensors=("x", "lengths")),
    Operation("positions_from_mask", positions_inputs, tensors=("mask",)),
    Operation("last_valid", edge_inputs, tensors=("x", "mask")),
    Operation("first_valid", edge_inputs, tensors=("x", "mask")),
]
