"""The input strategies of ``reference.flow``'s operations (one backend case each)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from maskref.api.flow import MERGE_OPS
from reference import strategies as rs

from .core import Inputs
from .operations import FLOAT_TOLERANCES, Operation, rarely


@st.composite
def mask_lists(draw, shape: tuple[int, int] | None = None, *, same: bool = True) -> list:
    """1-3 masks of one ``(B, T)`` shape (holes, pre, post), some entries None."""
    shape = shape or (draw(st.integers(0, 3)), draw(st.integers(0, 4)))
    count = draw(st.integers(1, 3))
    out = []
    for _ in range(count):
        steps = shape[1] if same else draw(st.integers(0, 4))
        out.append(draw(st.none() | rs.masks((shape[0], steps))))
    if draw(st.integers(0, 9)) == 9 and out[0] is not None:
        out[0] = out[0].astype(np.int64)  # not a boolean mask
    return out


def merge_inputs() -> st.SearchStrategy[Inputs]:
    return st.builds(dict, masks=mask_lists())


@st.composite
def concatenate_inputs(draw) -> Inputs:
    batch, steps = draw(st.integers(0, 3)), draw(st.integers(1, 4))
    time_axis = draw(st.booleans())
    masks, shapes = [], []
    for _ in range(draw(st.integers(1, 3))):
        length = draw(st.integers(0, 4)) if time_axis else steps
        features = 2 if time_axis else draw(st.integers(0, 3))
        shapes.append((batch, length, features))
        masks.append(draw(st.none() | rs.masks((batch, length))))
    return dict(masks=masks, shapes=shapes, axis=1 if time_axis else draw(st.sampled_from([-1, 2])))


@st.composite
def flow_mask_inputs(draw) -> Inputs:
    kinds = ["propagate", "keep", "consume", "destroy", "attention", "recurrent"]
    inputs: Inputs = dict(
        kind=draw(rarely(st.sampled_from(kinds), st.just("merge"))),
        mask=draw(st.none() | rs.masks((2, draw(st.integers(0, 4))))),
    )
    if draw(st.booleans()):
        inputs["return_sequences"] = draw(st.booleans())
    return inputs


@st.composite
def masking_inputs(draw) -> Inputs:
    x, mask = draw(rs.padded_batches(rs.dtypes("f"), inner=(2,), plant=False))
    value = draw(st.sampled_from([0.0, 1.0]))
    x = np.where(mask[..., None], x, np.asarray(value, x.dtype))
    return dict(x=x, mask_value=value)


@st.composite
def merge_values_inputs(draw) -> Inputs:
    op = draw(st.sampled_from(sorted(MERGE_OPS)))
    dtype = draw(rs.dtypes())
    shape = (draw(st.integers(0, 3)), draw(st.integers(0, 4)), draw(st.integers(1, 2)))
    count = 2 if op == "subtract" else draw(st.integers(1, 3))
    xs = [
        draw(
            hnp.arrays(
                dtype,
                shape,
                elements=st.integers(-3, 3)
                if dtype.kind in "iu" and dtype.kind != "u"
                else rs.elements(dtype),
            )
        )
        for _ in range(count)
    ]
    masks = [draw(st.none() | rs.masks(shape[:2])) for _ in range(count)]
    return dict(op=op, xs=xs, masks=masks)


FLOW_OPERATIONS = [
    Operation("merge_masks", merge_inputs, tensors=("masks",)),
    Operation("merge_masks_strict", merge_inputs, tensors=("masks",)),
    Operation("concatenate_masks", concatenate_inputs, tensors=("masks",)),
    Operation("flow_mask", flow_mask_inputs, tensors=("mask",)),
    Operation("masking_values", masking_inputs, tensors=("x",), tolerances=FLOAT_TOLERANCES),
    Operation(
        "merge_values", merge_values_inputs, tensors=("xs", "masks"), tolerances=FLOAT_TOLERANCES
    ),
]
