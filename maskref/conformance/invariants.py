"""Laws the reference must obey on its own: they need no framework.

Each law is a case whose two sides are two reference computations that must
give the same result (for instance padding then unpadding gives back the
truncated sequences). With no framework installed, these are what
``maskref report`` still checks.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference as ref
from reference import strategies as rs

from .core import Case, Inputs


@st.composite
def _pad_inputs(draw) -> Inputs:
    dtype = draw(rs.dtypes())
    return dict(
        sequences=draw(rs.ragged_batches(dtype)),
        maxlen=draw(st.none() | st.integers(0, 9)),
        dtype=dtype.name,
        padding=draw(rs.padding_sides),
        truncating=draw(rs.padding_sides),
    )


def _truncated(i: Inputs) -> list[np.ndarray]:
    m = i["maxlen"]
    if m is None:
        return list(i["sequences"])
    return [s[max(len(s) - m, 0):] if i["truncating"] == "pre" else s[:m] for s in i["sequences"]]


def _round_trip(i: Inputs) -> list[np.ndarray]:
    padded = ref.pad_sequences(**i)
    lengths = np.array([len(s) for s in _truncated(i)], dtype=np.int64)
    return ref.unpad_sequences(padded, lengths, padding=i["padding"])


def _flat_inputs(i: Inputs) -> Inputs:
    seqs = i["sequences"]
    values = np.concatenate(seqs) if seqs else np.zeros((0,), i["dtype"])
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    args = {k: v for k, v in i.items() if k not in ("sequences", "dtype")}
    return dict(values=values, lengths=lengths, **args)


@st.composite
def _lengths_maxlen(draw) -> Inputs:
    return dict(lengths=draw(rs.lengths()), maxlen=draw(st.none() | st.integers(0, 9)))


@st.composite
def _masked(draw) -> Inputs:
    x, mask = draw(rs.padded_batches())
    other = draw(hnp.arrays(x.dtype, x.shape, elements=rs.elements(x.dtype)))
    return dict(x=x, mask=mask, other=other, fill=draw(rs.elements(x.dtype)))


def _with_masked_replaced(i: Inputs) -> np.ndarray:
    """x with its masked slots overwritten by ``other``'s values."""
    keep = ref.expand_mask(i["mask"], i["x"])
    return np.where(keep, i["x"], i["other"])


def _law(operation: str, name: str, inputs, left, right, explanation: str) -> Case:
    return Case(
        operation=operation,
        api=f"law: {name}",
        inputs=inputs,
        reference=left,
        candidate=right,
        kind="invariant",
        same_error_class=True,
        explanation=explanation,
    )


def cases() -> list[Case]:
    """Every law of the reference, as cases."""
    return [
        _law(
            "pad_sequences", "unpad(pad(s)) == truncate(s)", _pad_inputs, _truncated,
            _round_trip, "unpadding a padded batch gives back each sequence, truncated to maxlen",
        ),
        _law(
            "pad_flat", "pad_flat(concat(s), lengths) == pad_sequences(s)", _pad_inputs,
            lambda i: ref.pad_sequences(**i), lambda i: ref.pad_flat(**_flat_inputs(i)),
            "padding a flat buffer plus lengths equals padding the list of sequences",
        ),
        _law(
            "sequence_mask", "lengths_from_mask(sequence_mask(l, m)) == min(l, m)",
            _lengths_maxlen,
            lambda i: np.minimum(i["lengths"], i["lengths"].max(initial=0)
                                 if i["maxlen"] is None else i["maxlen"]),
            lambda i: ref.lengths_from_mask(ref.sequence_mask(**i)),
            "a mask built from lengths has those lengths (truncated to maxlen)",
        ),
        _law(
            "sequence_mask", "sequence_mask(pre) == sequence_mask(post) reversed",
            _lengths_maxlen,
            lambda i: ref.sequence_mask(**i, padding="pre"),
            lambda i: ref.sequence_mask(**i, padding="post")[..., ::-1],
            "pre-padding puts the valid steps at the end",
        ),
        _law(
            "apply_mask", "apply_mask is idempotent", _masked,
            lambda i: ref.apply_mask(i["x"], i["mask"], i["fill"]),
            lambda i: ref.apply_mask(ref.apply_mask(i["x"], i["mask"], i["fill"]), i["mask"],
                                     i["fill"]),
            "masking twice is masking once",
        ),
        _law(
            "apply_mask", "masked values never reach the result", _masked,
            lambda i: ref.apply_mask(i["x"], i["mask"], i["fill"]),
            lambda i: ref.apply_mask(_with_masked_replaced(i), i["mask"], i["fill"]),
            "changing the values under the mask (NaN, inf, anything) changes nothing",
        ),
        _law(
            "mask_from_value", "Masking(v) then mask_from_value(v) gives the same mask",
            lambda: rs.padded_batches("float32", inner=(2,), plant=False).map(
                lambda b: dict(x=b[0], mask_value=0.0)
            ),
            lambda i: ref.mask_from_value(**i),
            lambda i: ref.mask_from_value(
                ref.apply_mask(i["x"], ref.mask_from_value(**i), i["mask_value"]), i["mask_value"]
            ),
            "the Masking layer's output carries the mask it was built from",
        ),
    ]
