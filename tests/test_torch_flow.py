"""torch_impl's mask flow: what the conformance registry does not cover, and the modules.

The registry (``maskref/conformance/operations_flow.py``) checks each rule
against the reference on drawn tensors. Here: arrays and tensors mixed, mixed
dtypes, bad input (the reference's class and message). Then the modules:
``Masking``, ``Embedding``, the protocol of ``MaskedSequential`` (the per-step
allow-list propagates, an undeclared module given a mask raises, ``masked``
and ``compute_mask`` modules decide, the masked pooling modules consume), the
merges, gradients, ``torch.compile`` and inputs left untouched.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require
from helpers import agree, assert_same
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

require("torch")

import torch
from torch import nn

import reference as rf
import torch_impl as tf_
from maskref.api.flow import MERGE_OPS
from reference import strategies as rs
from torch_impl import apply_mask
from torch_impl.pooling import (
    MaskedGlobalAveragePooling1D,
    MaskedGlobalMaxPooling1D,
)

OPS = tuple(MERGE_OPS)


# --- helpers --------------------------------------------------------------------------------


def as_torch(value):
    """NumPy arrays (also inside lists) as tensors, copied; anything else unchanged."""
    if isinstance(value, list):
        return [as_torch(v) for v in value]
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value, copy=True))
    return value


@st.composite
def mask_lists(draw, max_n: int = 4):
    """A list of ``(B, T)`` masks or None (sometimes of mixed shapes, for the errors)."""
    batch, steps = draw(st.integers(0, 3)), draw(st.integers(0, 5))
    n = draw(st.integers(0, max_n))
    out = []
    for _ in range(n):
        if draw(st.booleans()):
            out.append(None)
            continue
        shape = (batch, steps) if draw(st.integers(0, 9)) else (batch, steps + 1)
        out.append(draw(rs.masks(shape)))
    return out


# --- mirrored functions ----------------------------------------------------------------------


@given(mask_lists())
def test_merge_masks_agree(masks):
    for name in ("merge_masks", "merge_masks_strict"):
        agree(tf_, name, as_torch(masks))
        agree(tf_, name, masks)


@given(st.data())
def test_concatenate_masks_agree(data):
    batch, steps = data.draw(st.integers(0, 3)), data.draw(st.integers(1, 4))
    n = data.draw(st.integers(1, 3))
    shapes = [(batch, steps, data.draw(st.integers(1, 3))) for _ in range(n)]
    if data.draw(st.booleans()):  # same feature size: the time axis can be joined too
        shapes = [shapes[0]] * n
    masks = [data.draw(st.none() | rs.masks((batch, steps))) for _ in range(n)]
    axis = data.draw(st.sampled_from([-1, 1, 2, -2, 0, 3, (1,)]))
    agree(tf_, "concatenate_masks", as_torch(masks), [torch.Size(s) for s in shapes], axis)


@given(
    rs.padded_batches(
        st.sampled_from([np.float32, np.float64, np.int32, np.bool_]),
        inner=st.sampled_from([(1,), (3,)]),
    ),
    st.sampled_from([0.0, 1.0, 0, float("nan")]),
)
def test_masking_values_agree(batch, mask_value):
    x, mask = batch
    x = np.where(mask[..., None] | (x.dtype.kind == "b"), x, 0).astype(x.dtype)  # masked: 0
    agree(tf_, "masking_values", as_torch(x), mask_value)


@given(st.data())
def test_merge_values_agree(data):
    op = data.draw(st.sampled_from((*OPS, "dot")))
    n = data.draw(st.integers(0, 3))
    shape = data.draw(hnp.array_shapes(min_dims=2, max_dims=3, min_side=0, max_side=3))
    dtypes = [np.float32, np.float64, np.float16, np.int32, np.int64, np.int8, np.bool_]
    xs = []
    for _ in range(n):
        dtype = np.dtype(data.draw(st.sampled_from(dtypes)))
        this = shape if data.draw(st.integers(0, 9)) else shape[:-1] + (shape[-1] + 1,)
        xs.append(data.draw(hnp.arrays(dtype, this, elements=rs.elements(dtype))))
    masks = [data.draw(st.none() | rs.masks(shape[:2])) for _ in range(n)]
    with np.errstate(all="ignore"):  # extreme values overflow in the reference, as in torch
        agree(tf_, "merge_values", op, as_torch(xs), as_torch(masks))


@pytest.mark.parametrize(
    ("fn", "args"),
    [
        ("merge_masks", ([np.array([[1, 0]])],)),  # not bool
        ("merge_masks", (np.array([[True]]),)),  # not a list
        ("merge_masks", ([np.ones((1, 2), bool), np.ones((1, 3), bool)],)),  # shapes differ
        ("merge_masks_strict", ("masks",)),
        ("concatenate_masks", ([np.ones((1, 2), bool)], [(1, 2, 3), (1, 2, 3)])),
        ("concatenate_masks", ([np.ones((1, 2), bool), None], [(1, 2, 3), (1, 2)])),
        ("concatenate_masks", ([np.ones((1, 2), bool)], [(1, 3, 3)])),
        ("concatenate_masks", ([np.ones((1, 2), bool)], [(1, 2, 3)], 1.0)),
        ("flow_mask", ("merge", None)),
        ("flow_mask", ("keep", np.array([[0.0]]))),
        ("merge_values", ("sum", [np.ones(2)], [None])),
        ("merge_values", ("subtract", [np.ones(2)] * 3, [None] * 3)),
        ("merge_values", ("add", [], [])),
        ("merge_values", ("add", [np.ones(2), np.ones(3)], [None, None])),
        ("merge_values", ("subtract", [np.ones(2), np.ones(3)], [None, None])),
        ("merge_values", ("subtract", [np.ones(2, bool), np.ones(2, bool)], [None, None])),
        ("merge_values", ("add", [np.ones(2)], [np.ones(2)])),
    ],
)
def test_errors_match_the_reference(fn, args):
    with pytest.raises((TypeError, ValueError)):
        getattr(rf, fn)(*args)
    agree(tf_, fn, *args)  # the same class and message, for arrays
    agree(tf_, fn, *(as_torch(list(a)) if isinstance(a, list) else a for a in args))


# --- Masking and Embedding -------------------------------------------------------------------


def test_masking_zeroes_with_where_and_ignores_an_incoming_mask():
    x = torch.tensor(
        [[[1.0, 2.0], [0.0, 0.0], [np.nan, 1.0]], [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]],
        requires_grad=True,
    )
    before = x.detach().clone()
    module = tf_.Masking()
    out, mask = module(x, mask=torch.ones(2, 3, dtype=torch.bool))
    assert mask.tolist() == [[True, False, True], [False, False, False]]
    ref_values, ref_mask = rf.masking_values(before.numpy())
    assert_same((out, mask), (ref_values, ref_mask))
    # inf/NaN at a masked step (mask_value=inf) is zeroed, and its gradient is 0
    y = torch.tensor([[[np.inf], [2.0]]], requires_grad=True)
    out, mask = tf_.Masking(np.inf)(y)
    assert out.tolist() == [[[0.0], [2.0]]] and mask.tolist() == [[False, True]]
    out.sum().backward()
    assert y.grad.tolist() == [[[0.0], [1.0]]]
    torch.testing.assert_close(x.detach(), before, equal_nan=True)
    assert "mask_value=inf" in repr(tf_.Masking(np.inf))


@pytest.mark.parametrize("flag", [1, "yes", None], ids=repr)
def test_module_flags_must_be_bools(flag):
    with pytest.raises(TypeError, match=r"\bstrict\b"):
        tf_.Add(strict=flag)
    with pytest.raises(TypeError, match=r"\bmask_zero\b"):
        tf_.Embedding(5, 3, mask_zero=flag)
    assert tf_.Add(strict=np.True_).strict is True
    assert tf_.Embedding(5, 3, mask_zero=np.False_).mask_zero is False


def test_embedding_mask_zero():
    torch.manual_seed(0)
    ids = torch.tensor([[4, 2, 0, 0], [0, 0, 0, 0]])
    emb = tf_.Embedding(5, 3, mask_zero=True)
    out, mask = emb(ids, mask=torch.zeros(2, 4, dtype=torch.bool))  # incoming mask ignored
    assert mask.tolist() == [[True, True, False, False], [False] * 4]
    torch.testing.assert_close(out, emb.weight[ids])  # row 0 is looked up, not zeroed
    assert isinstance(emb, nn.Embedding) and "mask_zero=True" in repr(emb)
    assert tf_.Embedding(5, 3)(ids)[1] is None
    padded = tf_.Embedding(5, 3, True, padding_idx=0)  # nn.Embedding's keywords pass through
    assert padded(ids)[0][1].abs().sum() == 0


# --- MaskedSequential ------------------------------------------------------------------------


PER_STEP = [
    nn.Linear(4, 4),
    nn.Dropout(0.5),
    nn.LayerNorm(4),
    nn.ReLU(),
    nn.GELU(),
    nn.Tanh(),
    nn.Sigmoid(),
    nn.SiLU(),
    nn.Softmax(dim=-1),
    nn.LogSoftmax(dim=2),
    nn.Identity(),
    nn.Sequential(nn.Linear(4, 4), nn.ReLU()),
]


@pytest.mark.parametrize("module", PER_STEP, ids=lambda m: type(m).__name__)
def test_per_step_modules_propagate_the_mask(module):
    torch.manual_seed(0)
    module.eval()
    x = torch.randn(2, 3, 4)
    mask = torch.tensor([[True, True, False], [False, True, True]])
    out, out_mask = tf_.MaskedSequential(module)(x, mask)
    torch.testing.assert_close(out, module(x))
    assert out_mask.tolist() == mask.tolist()
    assert tf_.MaskedSequential(module)(x)[1] is None


@pytest.mark.parametrize(
    ("module", "why"),
    [
        (nn.Conv1d(3, 3, 1), "PerStep"),
        (nn.Flatten(), "DropMask"),
        (nn.LayerNorm((3, 4)), "compute_mask"),
        (nn.Softmax(dim=1), "PerStep"),
        (nn.Softmax(), "PerStep"),
        (nn.LSTM(4, 4, batch_first=True), "recurrent"),
        (nn.Module(), "MaskedModule"),  # any other plain module
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else v,
)
def test_an_undeclared_module_given_a_mask_raises(module, why):
    x = torch.randn(2, 3, 4)
    mask = torch.tensor([[True, True, False], [False, True, True]])
    with pytest.raises(TypeError, match=why) as info:
        tf_.MaskedSequential(nn.Linear(4, 4), module)(x, mask)
    assert type(module).__name__ in str(info.value)
    assert "mask" in str(info.value)


def test_plain_modules_run_without_a_mask_and_after_the_mask_is_dropped():
    x = torch.randn(2, 3, 4)
    mask = torch.tensor([[True, True, False], [False, True, True]])
    out, out_mask = tf_.MaskedSequential(nn.Conv1d(3, 2, 1), nn.Flatten())(x)
    assert out.shape == (2, 8) and out_mask is None
    out, out_mask = tf_.MaskedSequential(
        nn.Linear(4, 4), tf_.DropMask(nn.Flatten()), nn.Linear(12, 1)
    )(x, mask)
    assert out.shape == (2, 1) and out_mask is None
    out, out_mask = tf_.MaskedSequential(tf_.PerStep(nn.Flatten(2)))(x[..., None], mask)
    assert out.shape == (2, 3, 4) and out_mask is mask


def test_masks_are_checked():
    x = torch.randn(2, 3, 4)
    seq = tf_.MaskedSequential(nn.Linear(4, 4))
    with pytest.raises(TypeError, match="mask"):
        seq(x, torch.ones(2, 3))
    with pytest.raises(ValueError, match="mask"):
        seq(x, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="fewer axes"):  # a per-feature mask cannot follow Linear
        seq(x, torch.ones(2, 3, 4, dtype=torch.bool))


class Halve(tf_.MaskedModule):
    """A masked module: halves x and masks out the first step."""

    def forward(self, x, mask=None):
        mask = torch.ones(x.shape[:2], dtype=torch.bool) if mask is None else mask
        return x / 2, mask & (torch.arange(x.shape[1]) > 0)


class Shift(nn.Module):
    """compute_mask without a mask parameter: x + 1, the mask shifted by one step."""

    def forward(self, x):
        return x + 1

    def compute_mask(self, x, mask):
        return None if mask is None else torch.roll(mask, 1, dims=1)


class ReadsMask(nn.Module):
    """compute_mask with forward(x, mask=None): the valid steps' sum, the mask consumed."""

    def forward(self, x, mask=None):
        self.seen = mask
        return torch.where(mask[..., None], x, 0).sum(1)

    def compute_mask(self, x, mask):
        return None


class Broken(tf_.MaskedModule):
    def forward(self, x, mask=None):
        return x


def test_mask_aware_modules_decide():
    x = torch.ones(1, 3, 2)
    mask = torch.tensor([[True, True, False]])
    out, out_mask = tf_.MaskedSequential(Halve(), nn.ReLU())(x, mask)
    assert out_mask.tolist() == [[False, True, False]] and float(out[0, 0, 0]) == 0.5
    out, out_mask = tf_.MaskedSequential(Shift(), nn.ReLU())(x, mask)
    assert out_mask.tolist() == [[False, True, True]] and float(out[0, 0, 0]) == 2.0
    reader = ReadsMask()
    out, out_mask = tf_.MaskedSequential(Shift(), reader, nn.Linear(2, 1))(x, mask)
    assert out_mask is None and out.shape == (1, 1)
    assert reader.seen.tolist() == [[False, True, True]]
    nested = tf_.MaskedSequential(tf_.MaskedSequential(Halve()), Shift())
    assert nested(x, mask)[1].tolist() == [[False, False, True]]
    with pytest.raises(TypeError, match=r"\(output, mask\)"):
        tf_.MaskedSequential(Broken())(x, mask)


@pytest.mark.parametrize(
    ("pool", "reduce"),
    [(MaskedGlobalAveragePooling1D, "masked_mean"), (MaskedGlobalMaxPooling1D, "masked_max")],
)
def test_pooling_consumes_the_mask(pool, reduce):
    import reference

    torch.manual_seed(0)
    ids = torch.tensor([[3, 5, 0, 0], [0, 0, 2, 9], [0, 0, 0, 0]])
    emb, linear = tf_.Embedding(10, 3, mask_zero=True), nn.Linear(3, 3)
    seq = tf_.MaskedSequential(emb, linear, nn.Tanh(), pool(), nn.Linear(3, 1))
    out, mask = seq(ids)
    assert mask is None and out.shape == (3, 1)
    steps = torch.tanh(linear(emb.weight[ids])).detach().numpy()
    pooled = getattr(reference, reduce)(steps, ids.numpy() != 0, axis=1)
    with np.errstate(invalid="ignore"):  # max of a fully padded row: -inf, then inf - inf
        expected = pooled @ seq[-1].weight.detach().numpy().T + seq[-1].bias.detach().numpy()
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    # the direct call is unchanged: (x, mask) in, a tensor out
    direct = pool()(torch.from_numpy(steps), ids != 0)
    assert isinstance(direct, torch.Tensor)
    np.testing.assert_allclose(direct.numpy(), pooled, rtol=1e-6)
    assert pool().compute_mask(torch.from_numpy(steps), ids != 0) is None


def test_gradient_through_the_stack_is_zero_under_the_mask_once_the_input_is_sanitised():
    torch.manual_seed(0)
    mask = torch.tensor([[True, False, True]])
    seq = tf_.MaskedSequential(nn.Linear(2, 2), nn.GELU(), MaskedGlobalAveragePooling1D())
    for sanitise in (True, False):
        x = torch.tensor([[[1.0, 2.0], [np.nan, np.inf], [3.0, 1.0]]], requires_grad=True)
        out, _ = seq(apply_mask(x, mask) if sanitise else x, mask)
        assert torch.isfinite(out).all()  # the pooling never reads the padded steps
        out.sum().backward()
        assert torch.isfinite(x.grad[0, [0, 2]]).all()
        # Per-step modules compute on padding (as in Keras); GELU's backward at a NaN step
        # gives 0 * NaN there, so NaN padding must be zeroed once, before the stack.
        assert (x.grad[0, 1] == 0).all() if sanitise else torch.isnan(x.grad[0, 1]).all()


def test_masked_sequential_compiles_to_one_graph():
    torch.manual_seed(0)
    seq = tf_.MaskedSequential(
        tf_.Embedding(10, 4, mask_zero=True),
        nn.Linear(4, 4),
        nn.ReLU(),
        Shift(),
        MaskedGlobalAveragePooling1D(),
        nn.Linear(4, 1),
    )
    compiled = torch.compile(seq, backend="eager", fullgraph=True)
    ids = torch.tensor([[3, 5, 0, 0], [1, 2, 3, 4]])
    (out, mask), (ref, ref_mask) = compiled(ids), seq(ids)
    torch.testing.assert_close(out, ref)
    assert mask is None and ref_mask is None


# --- merges ---------------------------------------------------------------------------------


MERGES = {
    "add": tf_.Add,
    "subtract": tf_.Subtract,
    "multiply": tf_.Multiply,
    "average": tf_.Average,
    "maximum": tf_.Maximum,
    "minimum": tf_.Minimum,
}


@given(st.sampled_from(OPS), st.data())
def test_merge_modules_follow_the_reference(op, data):
    n = 2 if op == "subtract" else data.draw(st.integers(1, 3))
    xs = [
        data.draw(hnp.arrays(np.float32, (2, 3, 2), elements=rs.elements(np.dtype(np.float32))))
        for _ in range(n)
    ]
    masks = [data.draw(st.none() | rs.masks((2, 3))) for _ in range(n)]
    with np.errstate(all="ignore"):
        expected = rf.merge_values(op, xs, masks)
    values, mask = MERGES[op]()(as_torch(xs), as_torch(masks))
    assert_same((values, mask), expected)
    strict = MERGES[op](strict=True)(as_torch(xs), as_torch(masks))
    assert_same(strict, (expected[0], rf.merge_masks_strict(masks)))
    assert MERGES[op]()(as_torch(xs))[1] is None


def test_merge_modules_check_their_masks():
    xs = [torch.ones(1, 2, 1), torch.ones(1, 2, 1)]
    with pytest.raises(ValueError, match="2 inputs"):
        tf_.Add()(xs, [None])
    with pytest.raises(ValueError, match="2 inputs"):
        tf_.Concatenate()(xs, [None, None, None])
    assert "strict=True" in repr(tf_.Average(strict=True))
    assert "axis=1" in repr(tf_.Concatenate(axis=1))


@pytest.mark.parametrize("axis", [-1, 1])
def test_concatenate_module(axis):
    a, b = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    ma = torch.tensor([[True, True, False], [True, False, False]])
    for masks in ([ma, None], [ma, ~ma], None):
        out, mask = tf_.Concatenate(axis)([a, b], masks)
        torch.testing.assert_close(out, torch.cat([a, b], dim=axis))
        np_masks = None if masks is None else [None if m is None else m.numpy() for m in masks]
        expected = (
            None
            if np_masks is None
            else rf.concatenate_masks(np_masks, [(2, 3, 4), (2, 3, 4)], axis)
        )
        assert_same(mask, expected)
    # on the feature axis an unmasked input makes every step valid (Keras's rule)
    assert tf_.Concatenate()([a, b], [ma, None])[1].all()
