"""torch_impl reductions and pooling modules: what only torch has.

The agreement with the reference on drawn inputs is checked by the
conformance cases, and the gradients under poisoned masks by
tests/test_gradients.py; these tests pin the pooling modules, the CPU fast
paths (large enough to be taken), bfloat16, unsigned dtypes, devices,
torch.compile and that inputs are never written to.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require
from helpers import assert_same
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

require("torch")

import torch

import reference as ref
import torch_impl as ti
from maskref.api.exports import SHARED
from maskref.conformance.operations import reduction_elements
from reference import strategies as rs
from torch_impl import _fast_reductions as fr

NAN, INF = float("nan"), float("inf")
SCANS = ("masked_cumsum", "masked_softmax", "masked_log_softmax")
NAMES = list(SHARED["reductions"])
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
POOLS = [
    ("MaskedGlobalAveragePooling1D", "masked_mean"),
    ("MaskedGlobalMaxPooling1D", "masked_max"),
]


def call(name: str, x, mask, **kw):
    if name not in SCANS:
        kw.setdefault("axis", 1)
    return getattr(ti, name)(x, mask, **kw)


def pooled_case(steps: int = 40, seed: int = 0, poison: float = NAN):
    """(B, T, D) float32 data with a post-padded mask (a fully masked row, a full row), the
    padding poisoned; T >= 2 blocks, so the CPU fast paths are taken."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, steps, 3)).astype(np.float32)
    lengths = np.array([steps, 0, 5, steps - 7])
    mask = np.arange(steps) < lengths[:, None]
    x[~mask] = poison
    return x, mask


# --- pooling modules -----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "reduce"), POOLS)
@pytest.mark.parametrize("steps", [3, 40])
def test_pooling_matches_the_reference_with_a_fully_masked_row(name, reduce, steps):
    x, mask = pooled_case(steps)
    out = getattr(ti, name)()(torch.from_numpy(x), torch.from_numpy(mask))
    expected = getattr(ref, reduce)(x, mask, axis=1)
    assert_same(out, expected, rtol=1e-6, atol=1e-6)
    row = out[1]
    assert (torch.isnan(row) if reduce == "masked_mean" else row == -INF).all()


@pytest.mark.parametrize(("name", "reduce"), POOLS)
def test_pooling_arguments(name, reduce):
    x, mask = pooled_case(40)
    xt, mt = torch.from_numpy(x), torch.from_numpy(mask)
    out = getattr(ti, name)(keepdims=True, empty=0.0)(xt, mt)
    assert out.shape == (4, 1, 3)
    assert (out[1] == 0).all()
    assert_same(
        out, getattr(ref, reduce)(x, mask, axis=1, keepdims=True, empty=0.0), rtol=1e-6, atol=1e-6
    )
    clean = torch.randn(2, 5, 3)
    plain = clean.mean(1) if reduce == "masked_mean" else clean.amax(1)
    torch.testing.assert_close(getattr(ti, name)()(clean), plain)
    assert repr(getattr(ti, name)(keepdims=True)) == f"{name}(keepdims=True, empty=None)"
    with pytest.raises(ValueError, match=r"\(B, T, D\)"):
        getattr(ti, name)()(torch.zeros(2, 3))
    with pytest.raises(TypeError, match="boolean"):
        getattr(ti, name)()(clean, torch.ones(2, 5, dtype=torch.int64))


@pytest.mark.parametrize(("name", "reduce"), POOLS)
@pytest.mark.parametrize("steps", [3, 40])
@pytest.mark.parametrize("poison", [NAN, INF, -INF])
def test_pooling_gradient_is_finite_and_zero_under_the_mask(name, reduce, steps, poison):
    x, mask = pooled_case(steps, poison=poison)
    xt = torch.tensor(x, requires_grad=True)
    module = getattr(ti, name)()
    out = module(xt, torch.from_numpy(mask))
    torch.where(torch.isfinite(out), out, 0.0).sum().backward()
    grad = xt.grad.numpy()
    assert np.isfinite(grad).all()
    assert (grad[~mask] == 0).all() and (grad[1] == 0).all()
    if reduce == "masked_mean":
        np.testing.assert_allclose(grad[0], 1 / steps, rtol=1e-6)
    else:
        assert (np.count_nonzero(grad[0], axis=0) == 1).all()  # one winner per feature


# --- the CPU fast paths --------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["post", "pre", "holes", "full", "none"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_paths_agree_with_the_reference(layout, dtype):
    rng = np.random.default_rng(1)
    steps = 70  # 4 blocks and a tail
    x = rng.normal(size=(2, 3, steps, 4)).astype(dtype)
    lengths = rng.integers(0, steps + 1, (2, 3))
    t = np.arange(steps)
    mask = {
        "post": t < lengths[..., None],
        "pre": t >= steps - lengths[..., None],
        "holes": rng.random((2, 3, steps)) > 0.5,
        "full": np.ones((2, 3, steps), bool),
        "none": np.zeros((2, 3, steps), bool),
    }[layout]
    x[~mask] = NAN
    x[0, 0, 0, 0] = INF  # a valid inf (or a masked one)
    for keepdims in (False, True):
        for name in ("masked_sum", "masked_mean", "masked_max", "masked_min", "masked_var"):
            got = getattr(ti, name)(
                torch.from_numpy(x), torch.from_numpy(mask), axis=2, keepdims=keepdims
            )
            with np.errstate(all="ignore"):
                expected = getattr(ref, name)(x, mask, axis=2, keepdims=keepdims)
            assert got.dtype == torch.from_numpy(expected).dtype
            assert_same(got, expected)


@st.composite
def pooling_shaped(draw):
    """(x, mask, poison): (B, T, D) data with T from 32 (2 blocks) to 80, a (B, T) mask of
    any layout, valid NaN/inf sometimes, and NaN/inf/a finite value under the mask."""
    dtype = np.dtype(draw(st.sampled_from(["float32", "float64", "int32", "uint8"])))
    shape = (draw(st.integers(1, 3)), draw(st.integers(32, 80)), draw(st.integers(1, 3)))
    x = draw(hnp.arrays(dtype, shape, elements=reduction_elements(dtype, special=True)))
    mask = draw(rs.masks(shape[:2]))
    if dtype.kind == "f":
        x[~mask] = draw(st.sampled_from([NAN, INF, -INF, 3.0]))
    return x, mask


@given(pooling_shaped(), st.booleans())
def test_fast_path_shapes_agree_with_the_reference(case, keepdims):
    x, mask = case
    for name in ("masked_sum", "masked_mean", "masked_max", "masked_min", "masked_var"):
        with np.errstate(all="ignore"):
            expected = getattr(ref, name)(x, mask, axis=1, keepdims=keepdims)
        got = getattr(ti, name)(
            torch.from_numpy(x), torch.from_numpy(mask), axis=1, keepdims=keepdims
        )
        assert_same(got, expected)


@given(pooling_shaped())
def test_fast_path_gradients_are_finite_and_zero_under_the_mask(case):
    x, mask = case
    if x.dtype.kind != "f":
        return
    x[mask] = np.nan_to_num(x[mask], posinf=2.0, neginf=-2.0, nan=1.0)  # finite valid data
    for name in ("masked_sum", "masked_mean", "masked_max", "masked_min", "masked_std"):
        xt = torch.tensor(x, requires_grad=True)
        y = getattr(ti, name)(xt, torch.from_numpy(mask), axis=1)
        torch.where(torch.isfinite(y), y, 0.0).sum().backward()
        grad = xt.grad.numpy()
        assert np.isfinite(grad).all() and (grad[~mask] == 0).all(), name


def test_fast_paths_are_taken_and_valid_nan_still_propagates(monkeypatch):
    taken = []
    for helper in ("_ValidRowSum", "_BlockExtreme"):
        original = getattr(fr, helper).apply

        def spy(*args, _original=original, _helper=helper):
            taken.append(_helper)
            return _original(*args)

        monkeypatch.setattr(getattr(fr, helper), "apply", spy)
    x, mask = pooled_case(40)  # NaN under the mask: never read by either path
    xt, mt = torch.from_numpy(x), torch.from_numpy(mask)
    for name in ("masked_sum", "masked_mean", "masked_max", "masked_min", "masked_var"):
        assert_same(
            getattr(ti, name)(xt, mt, axis=1),
            getattr(ref, name)(x, mask, axis=1),
            rtol=1e-6,
            atol=1e-6,
        )
    assert taken == ["_ValidRowSum"] * 2 + ["_BlockExtreme"] * 2 + ["_ValidRowSum"]
    x[0, 3, 1] = NAN  # a valid NaN propagates
    for name in ("masked_sum", "masked_max", "masked_min"):
        out = getattr(ti, name)(xt, mt, axis=1)
        assert torch.isnan(out[0, 1]) and torch.isfinite(out[0, [0, 2]]).all()
    taken.clear()
    holes = torch.from_numpy(np.random.default_rng(0).random(mask.shape) < 0.5)
    ti.masked_sum(xt, holes, axis=1)  # any mask: the valid rows are summed
    ti.masked_max(xt, holes, axis=1)  # scattered holes: the sanitising path
    ti.masked_sum(xt.to(torch.float16), mt, axis=1)  # float16 is widened: the sanitising path
    assert taken == ["_ValidRowSum"]
    clean = torch.from_numpy(pooled_case(40, poison=0.0)[0])
    for name in ("masked_sum", "masked_max"):  # torch.func transforms: the sanitising path
        fn = getattr(ti, name)
        out = torch.func.vmap(lambda a, f=fn: f(a, mt, axis=1))(clean[None])
        torch.testing.assert_close(out[0], fn(clean, mt, axis=1))
    assert taken == ["_ValidRowSum", "_ValidRowSum", "_BlockExtreme"]  # outside vmap only


@pytest.mark.parametrize("name", ["masked_sum", "masked_mean", "masked_max", "masked_min"])
def test_fast_path_gradient_is_zero_under_the_mask_even_for_a_nan_upstream(name):
    x, mask = pooled_case(40, poison=0.0)  # finite padding: the fast paths are taken
    x[2, 1, 0] = 7.0  # a tie for the max/min with the next step
    x[2, 2, 0] = 7.0
    xt = torch.tensor(x, requires_grad=True)
    out = getattr(ti, name)(xt, torch.from_numpy(mask), axis=1)
    upstream = torch.ones_like(out)
    upstream[0, 0] = NAN
    (grad,) = torch.autograd.grad(out, xt, upstream)
    grad = grad.numpy()
    assert (grad[~mask] == 0).all()
    assert np.isfinite(grad[1:]).all()
    if name in ("masked_max", "masked_min") and getattr(ref, name)(x, mask, axis=1)[2, 0] == 7:
        assert grad[2, 1, 0] == grad[2, 2, 0] == 0.5


def test_fast_paths_double_backward():
    x, mask = pooled_case(40, poison=0.0)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    mt = torch.from_numpy(mask)
    for fn in (ti.masked_mean, ti.masked_max):
        y = fn(xt, mt, axis=1)
        (g,) = torch.autograd.grad(
            torch.where(torch.isfinite(y), y, 0.0).pow(2).sum(), xt, create_graph=True
        )
        (gg,) = torch.autograd.grad(g.sum(), xt)
        assert torch.isfinite(gg).all() and (gg[~mt] == 0).all()


# --- dtypes --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_bfloat16_is_computed_in_float32_and_returned_as_bfloat16(name):
    x, mask = pooled_case(40)
    xb = torch.from_numpy(x).to(torch.bfloat16)
    got = call(name, xb, torch.from_numpy(mask))
    expected = call(name, xb.float(), torch.from_numpy(mask))  # the float32 computation
    float_out = expected.dtype == torch.float32
    assert got.dtype == (torch.bfloat16 if float_out else expected.dtype)
    if float_out:
        expected = expected.to(torch.bfloat16)  # rounded once
    torch.testing.assert_close(got, expected, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("dtype", ["uint16", "uint32", "uint64"])
@pytest.mark.parametrize("name", NAMES)
def test_unsigned_dtypes_torch_has_few_kernels_for(dtype, name):
    x = np.array([[3, 2**16 - 1, 7, 0], [5, 1, 2, 9]], dtype=dtype)
    if dtype == "uint64":
        x[0, 1] = 2**64 - 2
    mask = np.array([[True, True, False, True], [False] * 4])
    kw = {} if name in SCANS else {"axis": 1}
    got = getattr(ti, name)(torch.from_numpy(x), torch.from_numpy(mask), **kw)
    expected = getattr(ref, name)(x, mask, **kw)
    assert str(got.dtype).replace("torch.", "") == str(expected.dtype)
    got = np.array(got.tolist(), dtype=expected.dtype)
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    else:
        np.testing.assert_array_equal(got, expected)


# --- devices, compile, inputs --------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES + ["meta"])
def test_results_stay_on_the_input_device(device):
    x = torch.zeros(2, 40, 3, device=device)
    mask = torch.ones(2, 40, dtype=torch.bool, device=device)
    for name in NAMES:
        assert call(name, x, mask).device.type == device, name
    for name, _ in POOLS:
        assert getattr(ti, name)()(x, mask).device.type == device


def test_a_mask_on_another_device_follows_x():
    if not torch.cuda.is_available():
        pytest.skip("needs a second device")
    out = ti.masked_sum(torch.ones(2, 3, device="cuda"), torch.ones(2, 3, dtype=torch.bool), 1)
    assert out.device.type == "cuda"


def test_reductions_compile_to_one_graph():
    import torch._dynamo

    def fn(x, mask):
        return [call(name, x, mask) for name in NAMES]

    torch._dynamo.reset()
    compiled = torch.compile(fn, backend="eager", fullgraph=True)
    x, mask = pooled_case(40)
    xt, mt = torch.from_numpy(x), torch.from_numpy(mask)
    for name, a, b in zip(NAMES, compiled(xt, mt), fn(xt, mt)):
        torch.testing.assert_close(a, b, equal_nan=True, msg=name)
    torch._dynamo.reset()


@pytest.mark.parametrize("steps", [3, 40])
def test_inputs_are_never_mutated(steps):
    x, mask = pooled_case(steps)
    xt, mt = torch.from_numpy(x), torch.from_numpy(mask)
    bits, mask_copy = xt.view(torch.int32).clone(), mt.clone()
    for name in NAMES:
        call(name, xt, mt)
        call(name, xt.transpose(0, 1), mt.t())  # non-contiguous views
    for name, _ in POOLS:
        getattr(ti, name)()(xt, mt)
    assert torch.equal(xt.view(torch.int32), bits) and torch.equal(mt, mask_copy)
    assert np.array_equal(x.view(np.int32), bits.numpy())
