"""Laws the reference must obey on its own: they need no framework.

Each law is a case whose two sides are two reference computations that must
give the same result (for instance padding then unpadding gives back the
truncated sequences). With no framework installed, these are what
``maskref report`` still checks.
"""

from __future__ import annotations

from typing import cast

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference as ref
from reference import strategies as rs

from .core import Case, Inputs
from .operations import FLOAT_TOLERANCES


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
    return [s[max(len(s) - m, 0) :] if i["truncating"] == "pre" else s[:m] for s in i["sequences"]]


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
    return cast(np.ndarray, np.where(keep, i["x"], i["other"]))


@st.composite
def _reduction_inputs(draw, special: bool = False) -> Inputs:
    from .operations import masked_tensor, reduction_elements

    x, mask = draw(masked_tensor(special=special))
    other = draw(hnp.arrays(x.dtype, x.shape, elements=reduction_elements(x.dtype, special=True)))
    axis = draw(st.none() | st.integers(0, x.ndim - 1))
    return dict(x=x, mask=mask, other=other, axis=axis)


UNMASKED = {
    "masked_sum": lambda x, a: np.sum(x, a, dtype=ref.reductions.sum_dtype(x.dtype)),
    "masked_prod": lambda x, a: np.prod(x, a, dtype=ref.reductions.sum_dtype(x.dtype)),
    "masked_mean": lambda x, a: np.mean(x, a, dtype=ref.reductions.float_dtype(x.dtype)),
    "masked_max": lambda x, a: np.max(x, a),
    "masked_min": lambda x, a: np.min(x, a),
    "masked_any": lambda x, a: np.any(x, a),
    "masked_all": lambda x, a: np.all(x, a),
    "masked_argmax": lambda x, a: np.argmax(x, a),
    "masked_argmin": lambda x, a: np.argmin(x, a),
}


def _full_mask_law(name: str) -> Case:
    def inputs():
        return _reduction_inputs(special=True).filter(
            lambda i: i["x"].size and (i["axis"] is None or i["x"].shape[i["axis"]] > 0)
        )

    def unmasked(i: Inputs):
        with np.errstate(all="ignore"):
            return np.asarray(UNMASKED[name](i["x"], i["axis"]))

    def masked(i: Inputs):
        return getattr(ref, name)(i["x"], np.ones(i["x"].shape, bool), i["axis"])

    return Case(
        operation=name,
        api=f"law: {name} with an all-True mask == numpy",
        inputs=inputs,
        reference=unmasked,
        candidate=masked,
        kind="invariant",
        same_error_class=True,
        tolerances=FLOAT_TOLERANCES,
        check_dtype=name not in ("masked_argmax", "masked_argmin"),
        explanation="a full mask gives the unmasked NumPy result, NaN and inf included",
    )


def _ignores_masked_law(name: str) -> Case:
    def left(i: Inputs):
        return getattr(ref, name)(i["x"], i["mask"], i["axis"])

    def right(i: Inputs):
        keep = ref.expand_mask(i["mask"], i["x"])
        return getattr(ref, name)(np.where(keep, i["x"], i["other"]), i["mask"], i["axis"])

    return Case(
        operation=name,
        api=f"law: {name} ignores masked values",
        inputs=_reduction_inputs,
        reference=left,
        candidate=right,
        kind="invariant",
        same_error_class=True,
        explanation="changing the values under the mask (NaN, inf, anything) changes nothing",
    )


def _mean_law() -> Case:
    def left(i: Inputs):
        count = ref.masked_count(i["x"], i["mask"], i["axis"])
        total = ref.masked_sum(i["x"], i["mask"], i["axis"])
        dtype = ref.reductions.float_dtype(i["x"].dtype)
        with np.errstate(all="ignore"):
            return np.where(count > 0, total.astype(np.float64) / count, np.nan).astype(dtype)

    return Case(
        operation="masked_mean",
        api="law: masked_mean == masked_sum / masked_count",
        inputs=_reduction_inputs,
        reference=left,
        candidate=lambda i: ref.masked_mean(i["x"], i["mask"], i["axis"]),
        kind="invariant",
        same_error_class=True,
        tolerances=FLOAT_TOLERANCES,
        explanation="the mean is the sum over the count wherever the count is positive",
    )


def _softmax_law() -> Case:
    def inputs():
        return _reduction_inputs().map(lambda i: {**i, "axis": -1})

    def left(i: Inputs):
        m = ref.expand_mask(i["mask"], i["x"])
        has = m.any(-1, keepdims=True)
        dtype = ref.reductions.float_dtype(i["x"].dtype)
        return np.broadcast_to(has, m.shape).astype(dtype), m

    def right(i: Inputs):
        y = ref.masked_softmax(i["x"], i["mask"], -1)
        m = ref.expand_mask(i["mask"], i["x"])
        total = np.where(m, y, 0).astype(np.float64).sum(-1, keepdims=True)
        return np.broadcast_to(total, m.shape).astype(y.dtype), (y != 0) | m

    return Case(
        operation="masked_softmax",
        api="law: masked_softmax sums to 1 over valid entries, 0 elsewhere",
        inputs=inputs,
        reference=left,
        candidate=right,
        kind="invariant",
        same_error_class=True,
        tolerances=FLOAT_TOLERANCES,
        explanation="each slice with a valid entry is a distribution over its valid entries",
    )


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


def reduction_cases() -> list[Case]:
    """The laws of the masked reductions."""
    from .operations import ARG_REDUCTIONS, REDUCTIONS

    return (
        [_full_mask_law(name) for name in UNMASKED]
        + [
            _ignores_masked_law(name)
            for name in REDUCTIONS
            + ARG_REDUCTIONS
            + ("masked_cumsum", "masked_softmax", "masked_log_softmax")
        ]
        + [_mean_law(), _softmax_law()]
    )


def cases() -> list[Case]:
    """Every law of the reference, as cases."""
    return reduction_cases() + [
        _law(
            "pad_sequences",
            "unpad(pad(s)) == truncate(s)",
            _pad_inputs,
            _truncated,
            _round_trip,
            "unpadding a padded batch gives back each sequence, truncated to maxlen",
        ),
        _law(
            "pad_flat",
            "pad_flat(concat(s), lengths) == pad_sequences(s)",
            _pad_inputs,
            lambda i: ref.pad_sequences(**i),
            lambda i: ref.pad_flat(**_flat_inputs(i)),
            "padding a flat buffer plus lengths equals padding the list of sequences",
        ),
        _law(
            "sequence_mask",
            "lengths_from_mask(sequence_mask(l, m)) == min(l, m)",
            _lengths_maxlen,
            lambda i: np.minimum(
                i["lengths"], i["lengths"].max(initial=0) if i["maxlen"] is None else i["maxlen"]
            ),
            lambda i: ref.lengths_from_mask(ref.sequence_mask(**i)),
            "a mask built from lengths has those lengths (truncated to maxlen)",
        ),
        _law(
            "sequence_mask",
            "sequence_mask(pre) == sequence_mask(post) reversed",
            _lengths_maxlen,
            lambda i: ref.sequence_mask(**i, padding="pre"),
            lambda i: ref.sequence_mask(**i, padding="post")[..., ::-1],
            "pre-padding puts the valid steps at the end",
        ),
        _law(
            "apply_mask",
            "apply_mask is idempotent",
            _masked,
            lambda i: ref.apply_mask(i["x"], i["mask"], i["fill"]),
            lambda i: ref.apply_mask(
                ref.apply_mask(i["x"], i["mask"], i["fill"]), i["mask"], i["fill"]
            ),
            "masking twice is masking once",
        ),
        _law(
            "apply_mask",
            "masked values never reach the result",
            _masked,
            lambda i: ref.apply_mask(i["x"], i["mask"], i["fill"]),
            lambda i: ref.apply_mask(_with_masked_replaced(i), i["mask"], i["fill"]),
            "changing the values under the mask (NaN, inf, anything) changes nothing",
        ),
        _law(
            "mask_from_value",
            "Masking(v) then mask_from_value(v) gives the same mask",
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
