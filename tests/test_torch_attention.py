"""torch_impl attention and mask conventions: what only torch has.

The agreement with the reference on drawn inputs is checked by the
conformance cases; these tests pin the gradients under poisoned padding, the
fused kernel being called (and what it is given), torch.compile, dtypes,
devices, the CPU shortcuts against the always-replace path, and that inputs
are never written to.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require
from hypothesis import given
from hypothesis import strategies as st

require("torch")

import torch
import torch.nn.functional as F

import reference as ref
import torch_impl as ti
from maskref.api.attention import aligned_mask_shape, band_rule
from reference import strategies as rs
from torch_impl import _fast_attention as fast

NAN, INF = float("nan"), float("inf")
T, F_ = True, False
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
B, H, L, S, E = 2, 2, 4, 5, 3


@pytest.fixture(params=["shortcuts", "always_replace"])
def path(request, monkeypatch):
    """Both code paths: the CPU one that skips replacements that change nothing, and the
    one compiled graphs and GPUs take (every replacement made)."""
    if request.param == "always_replace":
        unknown(monkeypatch)
    return request.param


def unknown(monkeypatch):
    """The CPU shortcuts answer "unknown", as in compiled graphs and on other devices."""
    monkeypatch.setattr(fast, "all_true", lambda t: False)
    monkeypatch.setattr(fast, "all_finite", lambda *ts: None)


def visibility(mask, causal=False, align="top_left", window=None, lq=L, lk=S):
    """(full mask, rows with a visible key, keys some query sees) as NumPy, from the reference
    rules, for scores of shape (B, H, lq, lk)."""
    full = np.ones((B, H, lq, lk), bool)
    if mask is not None:
        full &= np.asarray(mask).reshape(aligned_mask_shape(np.shape(mask), full.shape))
    if causal or window is not None:
        full &= band_rule(lq, lk, causal, align, window)
    return full, full.any(-1), full.any(-2)


def poisoned_inputs(mask, poison, dtype=torch.float32, seed=0, **band):
    """q, k, v (requiring grad) with ``poison`` in the query rows with no visible key and in
    the keys and values no query sees; and the NumPy (has_key, seen)."""
    rng = np.random.default_rng(seed)
    _, has_key, seen = visibility(mask, **band)
    q = np.where(has_key[..., None], rng.normal(size=(B, H, L, E)), poison)
    k = np.where(seen[..., None], rng.normal(size=(B, H, S, E)), poison)
    v = np.where(seen[..., None], rng.normal(size=(B, H, S, E)), poison)
    tensors = [torch.tensor(a, dtype=dtype, requires_grad=True) for a in (q, k, v)]
    return tensors, has_key, seen


KEYS = np.array([[T, T, T, F_, F_], [F_, F_, F_, F_, F_]])  # row 1: no key at all
QUERIES = np.array([[T, T, F_, T], [T, T, T, T]])
MASKS = {
    "key_padding": KEYS[:, None, None, :],
    "short_rows": np.array([[T, T, T, F_, F_], [F_, T, F_, F_, F_]])[:, None, None, :],
    "per_batch": QUERIES[:, :, None] & KEYS[:, None, :],
    "LS": np.array([[T, F_, T, F_, F_], [F_] * 5, [T, T, F_, F_, F_], [F_, F_, F_, F_, T]]),
    "none": None,
}


def finite_loss(out: torch.Tensor, seed: int = 1) -> torch.Tensor:
    w = torch.from_numpy(np.random.default_rng(seed).normal(size=out.shape)).to(out.dtype)
    return torch.where(torch.isfinite(out), out, 0.0).mul(w).sum()


# --- gradients under poisoned padding -------------------------------------------------------


@pytest.mark.parametrize("layout", list(MASKS))
@pytest.mark.parametrize(
    ("causal", "align", "window"),
    [
        (False, "top_left", None),
        (True, "top_left", None),
        (True, "bottom_right", None),
        (True, "top_left", 2),
        (False, "top_left", 2),
    ],
)
@pytest.mark.parametrize("empty", ["zeros", "nan", "mean"])
@pytest.mark.parametrize("poison", [NAN, INF, -INF])
def test_gradients_are_finite_and_zero_where_nothing_is_seen(
    path, layout, causal, align, window, empty, poison
):
    mask = MASKS[layout]
    band = dict(causal=causal, align=align, window=window)
    (q, k, v), has_key, seen = poisoned_inputs(mask, poison, **band)
    m = None if mask is None else torch.from_numpy(mask)
    out = ti.scaled_dot_product_attention(q, k, v, m, empty=empty, **band)
    assert torch.isfinite(out[torch.from_numpy(has_key)]).all()  # rows with a key
    gq, gk, gv = torch.autograd.grad(finite_loss(out), (q, k, v))
    for g in (gq, gk, gv):
        assert torch.isfinite(g).all()
    assert (gq[torch.from_numpy(~has_key)] == 0).all()
    assert (gk[torch.from_numpy(~seen)] == 0).all()
    if empty != "mean":  # "mean" reads every value by its rule: 1/S of the row's gradient
        assert (gv[torch.from_numpy(~seen)] == 0).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_gradients_in_other_dtypes(path, dtype):
    mask = MASKS["per_batch"]
    (q, k, v), has_key, seen = poisoned_inputs(mask, NAN, dtype=dtype)
    out = ti.scaled_dot_product_attention(q, k, v, torch.from_numpy(mask), causal=True)
    gq, gk, gv = torch.autograd.grad(finite_loss(out), (q, k, v))
    assert all(torch.isfinite(g).all() and g.dtype == dtype for g in (gq, gk, gv))
    assert (gq[torch.from_numpy(~has_key)] == 0).all()
    assert (gk[torch.from_numpy(~seen)] == 0).all() and (gv[torch.from_numpy(~seen)] == 0).all()


@pytest.mark.parametrize("layout", ["key_padding", "per_batch", "LS"])
@pytest.mark.parametrize("empty", ["zeros", "nan", "mean"])
def test_attention_weights_gradients(path, layout, empty):
    mask = MASKS[layout]
    (q, k, _), has_key, seen = poisoned_inputs(mask, NAN)
    w = ti.attention_weights(q, k, torch.from_numpy(mask), causal=True, empty=empty)
    gq, gk = torch.autograd.grad(finite_loss(w), (q, k))
    assert torch.isfinite(gq).all() and torch.isfinite(gk).all()
    assert (gq[torch.from_numpy(~has_key)] == 0).all()
    assert (gk[torch.from_numpy(~seen)] == 0).all()


@given(
    rs.attention_batches(st.sampled_from([np.float32, np.float64]), max_len=4),
    st.sampled_from(["zeros", "nan"]),
)
def test_drawn_gradients_are_finite_and_zero_where_nothing_is_seen(inputs, empty):
    q, k, v = (torch.tensor(inputs[n], requires_grad=True) for n in ("query", "key", "value"))
    mask = inputs["mask"]
    band = {n: inputs[n] for n in ("causal", "align", "window")}
    out = ti.scaled_dot_product_attention(
        q, k, v, None if mask is None else torch.from_numpy(mask), empty=empty, **band
    )
    grads = torch.autograd.grad(finite_loss(out), (q, k, v), allow_unused=True)
    grads = [torch.zeros_like(t) if g is None else g for t, g in zip((q, k, v), grads)]
    full = np.ones(out.shape[:-1] + (k.shape[-2],), bool)
    if mask is not None:
        full = full & mask.reshape(aligned_mask_shape(mask.shape, full.shape))
    if band["causal"] or band["window"] is not None:
        full = full & band_rule(full.shape[-2], full.shape[-1], **band)
    hidden_rows = torch.from_numpy(~full.any(-1)[..., None]).expand(q.shape)
    unseen = torch.from_numpy(~full.any(-2)[..., None])
    for g in grads:
        assert torch.isfinite(g).all()
    assert (grads[0][hidden_rows] == 0).all()
    assert (grads[1][unseen.expand(k.shape)] == 0).all()
    assert (grads[2][unseen.expand(v.shape)] == 0).all()


def test_double_backward_is_finite():
    mask = MASKS["key_padding"]
    (q, k, _), _, _ = poisoned_inputs(mask, NAN, dtype=torch.float64)
    out = ti.attention_weights(q, k, torch.from_numpy(mask))
    (gq,) = torch.autograd.grad(finite_loss(out), (q,), create_graph=True)
    (gk,) = torch.autograd.grad(gq.square().sum(), (k,))
    assert torch.isfinite(gk).all()


# --- the fused kernel -----------------------------------------------------------------------


@pytest.fixture
def kernel_calls(monkeypatch):
    """Every call of F.scaled_dot_product_attention, with its arguments (then the real one)."""
    calls = []
    real = F.scaled_dot_product_attention

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    return calls


def test_the_fused_kernel_is_called_with_a_small_bool_mask(path, kernel_calls):
    q, k, v = torch.randn(B, H, L, E), torch.randn(B, H, S, E), torch.randn(B, H, S, E)
    keys = torch.from_numpy(MASKS["key_padding"])
    out = ti.scaled_dot_product_attention(q, k, v, keys)
    assert len(kernel_calls) == 1
    (_, ks, vs), kwargs = kernel_calls[0]
    attn_mask = kwargs["attn_mask"]
    assert attn_mask.dtype == torch.bool and attn_mask.shape == (B, 1, 1, S)  # never (B, H, L, S)
    assert attn_mask.any(-1).all()  # no kernel meets a fully masked row
    assert not kwargs.get("is_causal", False)
    unseen = ~keys.any(-2, keepdim=True).transpose(-1, -2)
    assert (ks[unseen.expand_as(ks)] == 0).all()  # replaced before the kernel
    assert (vs[unseen.expand_as(vs)] == 0).all()
    np.testing.assert_allclose(
        out.numpy(),
        ref.scaled_dot_product_attention(q.numpy(), k.numpy(), v.numpy(), keys.numpy()),
        rtol=1e-5,
        atol=1e-6,
    )


def test_causal_is_folded_into_the_mask_never_is_causal(path, kernel_calls):
    q, k, v = torch.randn(B, H, L, E), torch.randn(B, H, S, E), torch.randn(B, H, S, E)
    ti.scaled_dot_product_attention(q, k, v, causal=True)
    ti.scaled_dot_product_attention(
        q, k, v, torch.from_numpy(MASKS["key_padding"]), causal=True, align="bottom_right", window=2
    )
    for _, kwargs in kernel_calls:
        assert not kwargs.get("is_causal", False)
        assert kwargs["attn_mask"].dtype == torch.bool
    assert kernel_calls[0][1]["attn_mask"].shape == (1, 1, L, S)  # the band alone
    assert kernel_calls[1][1]["attn_mask"].shape == (B, 1, L, S)  # not (B, H, L, S)


def test_no_mask_calls_the_kernel_directly(kernel_calls):
    q, k, v = (torch.randn(B, H, L, E) for _ in range(3))
    out = ti.scaled_dot_product_attention(q, k, v, scale=0.5)
    ((args, kwargs),) = kernel_calls
    assert all(a.data_ptr() == b.data_ptr() for a, b in zip(args, (q, k, v)))  # views only
    assert kwargs == {"scale": 0.5}
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, scale=0.5))


def test_three_and_five_axes_reach_the_kernel_as_four(kernel_calls):
    for shape in [(L, E), (B, L, E), (3, B, H, L, E)]:
        q, k, v = (torch.randn(shape) for _ in range(3))
        mask = torch.ones(shape[:-2] + (L, L), dtype=torch.bool).tril()
        out = ti.scaled_dot_product_attention(q, k, v, mask)
        assert out.shape == shape
        expected = ref.scaled_dot_product_attention(q.numpy(), k.numpy(), v.numpy(), mask.numpy())
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert all(args[0].ndim == 4 and kwargs["attn_mask"].ndim == 4 for args, kwargs in kernel_calls)


def test_broadcast_batch_axes():
    q = torch.randn(B, H, L, E)
    k, v = torch.randn(1, H, S, E), torch.randn(H, S, E)
    mask = torch.from_numpy(MASKS["per_batch"])
    out = ti.scaled_dot_product_attention(q, k, v, mask, empty="mean")
    expected = ref.scaled_dot_product_attention(
        q.numpy(), k.numpy(), v.numpy(), mask.numpy(), empty="mean"
    )
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(B, 0, E), (B, L, 0), (0, L, E)])
@pytest.mark.parametrize("empty", ["zeros", "nan", "mean"])
def test_zero_sizes(shape, empty):
    q = torch.randn(shape, requires_grad=True)
    k = torch.randn(shape[0], 0 if shape[1] else S, shape[2], requires_grad=True)
    v = torch.randn(shape[0], k.shape[1], 2, requires_grad=True)
    out = ti.scaled_dot_product_attention(q, k, v, empty=empty)
    expected = ref.scaled_dot_product_attention(
        q.detach().numpy(), k.detach().numpy(), v.detach().numpy(), empty=empty
    )
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-6)
    out.sum().backward()  # connected to the inputs even when empty


def test_a_nan_key_that_one_query_sees_stays_in_its_row():
    """Issue 12, item 2: the fused kernel computes every score before the mask, so a NaN key
    that only the last query sees made every row NaN; now only that row is."""
    q, k, v = torch.zeros(4, 2), torch.zeros(4, 2), torch.ones(4, 2)
    k[3] = NAN
    out = ti.scaled_dot_product_attention(q, k, v, causal=True)
    expected = ref.scaled_dot_product_attention(q.numpy(), k.numpy(), v.numpy(), causal=True)
    np.testing.assert_array_equal(out.numpy(), expected)
    assert torch.isnan(out[3]).all() and torch.isfinite(out[:3]).all()


@pytest.mark.parametrize("poison", [NAN, INF, -INF])
@pytest.mark.parametrize("where", ["key", "value"])
def test_a_non_finite_input_that_some_query_sees_is_exact(poison, where):
    """Only the rows that may see a non-finite key or value are affected, as in the reference
    (NaN, inf or a finite row, whatever it gives): the eager CPU path checks the inputs and
    leaves every hidden pair out."""
    rng = np.random.default_rng(3)
    q, k, v = (rng.normal(size=(B, H, n, E)).astype(np.float32) for n in (L, S, S))
    mask = np.ones((B, H, L, S), bool)
    mask[..., 1:, 1] = False  # key 1: seen by query 0 only
    {"key": k, "value": v}[where][..., 1, 0] = poison
    with np.errstate(invalid="ignore", over="ignore"):
        expected = ref.scaled_dot_product_attention(q, k, v, mask)
    tensors = [torch.from_numpy(a) for a in (q, k, v, mask)]
    out = ti.scaled_dot_product_attention(*tensors).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)  # NaN where NaN
    assert np.isfinite(out[..., 1:, :]).all()


@pytest.mark.parametrize("poison", [NAN, INF])
def test_without_reading_values_the_rows_that_see_a_non_finite_key_are_nan(monkeypatch, poison):
    """Compiled graphs and other devices read no value: a non-finite key or value that one
    query sees and another does not is replaced before the kernel, and the rows that may see
    it are NaN; every other row is exact."""
    unknown(monkeypatch)
    q, k, v = torch.randn(B, H, L, E), torch.randn(B, H, S, E), torch.randn(B, H, S, E)
    mask = torch.ones(B, H, L, S, dtype=torch.bool)
    mask[..., 1:, 1] = False  # key 1: seen by query 0 only
    mask[1, :, :, 3] = False  # key 3: seen by every query of batch 0, by none of batch 1
    k[..., 1, 0], v[..., 3, 0] = poison, poison
    out = ti.scaled_dot_product_attention(q, k, v, mask)
    with np.errstate(invalid="ignore", over="ignore"):
        expected = ref.scaled_dot_product_attention(*(t.numpy() for t in (q, k, v, mask)))
    assert torch.isnan(out[:, :, 0]).all()
    np.testing.assert_allclose(out[:, :, 1:].numpy(), expected[:, :, 1:], rtol=1e-5, atol=1e-6)
    assert np.isfinite(expected[1, :, 1:]).all() and not np.isfinite(expected[0, :, 1:]).all()


# --- compile, dtypes, devices, inputs ------------------------------------------------------


def test_attention_compiles_to_one_graph():
    import torch._dynamo

    def fn(q, k, v, mask, keys):
        return (
            ti.scaled_dot_product_attention(q, k, v, mask),
            ti.scaled_dot_product_attention(q, k, v, mask, causal=True, empty="mean", window=2),
            ti.scaled_dot_product_attention(q, k, v, causal=True, align="bottom_right"),
            ti.scaled_dot_product_attention(q, k, v),
            ti.attention_weights(q, k, mask, empty="nan"),
            ti.causal_mask(L, S),
            ti.attention_mask(keys, keys, causal=True),
            ti.segment_mask(keys.long()),
        )

    torch._dynamo.reset()
    compiled = torch.compile(fn, backend="eager", fullgraph=True)
    q, k, v = torch.randn(B, H, L, E), torch.randn(B, H, S, E), torch.randn(B, H, S, E)
    mask = torch.from_numpy(MASKS["key_padding"])
    keys = torch.from_numpy(QUERIES)
    for a, b in zip(compiled(q, k, v, mask, keys), fn(q, k, v, mask, keys)):
        torch.testing.assert_close(a, b, equal_nan=True)
    torch._dynamo.reset()


def test_compiled_attention_backward_matches_eager():
    import torch._dynamo

    def fn(q, k, v, mask):
        return ti.scaled_dot_product_attention(q, k, v, mask, causal=True)

    torch._dynamo.reset()
    compiled = torch.compile(fn, backend="aot_eager", fullgraph=True)
    mask = MASKS["per_batch"]
    grads = []
    for f in (compiled, fn):
        (q, k, v), _, _ = poisoned_inputs(mask, NAN)
        out = f(q, k, v, torch.from_numpy(mask))
        grads.append(torch.autograd.grad(finite_loss(out), (q, k, v)))
    for a, b in zip(*grads):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b)
    torch._dynamo.reset()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("empty", ["zeros", "mean"])
def test_dtypes_are_kept(path, dtype, empty):
    rng = np.random.default_rng(0)
    q, k, v = (torch.from_numpy(rng.normal(size=(B, H, n, E))).to(dtype) for n in (L, S, S))
    mask = torch.from_numpy(MASKS["per_batch"])
    out = ti.scaled_dot_product_attention(q, k, v, mask, causal=True, empty=empty)
    w = ti.attention_weights(q, k, mask, causal=True, empty=empty)
    assert out.dtype == dtype and w.dtype == dtype
    # the reference on the same (rounded) values, in float64
    args = [t.double().numpy() for t in (q, k, v)]
    expected = ref.scaled_dot_product_attention(*args, mask.numpy(), causal=True, empty=empty)
    tol = 1e-10 if dtype == torch.float64 else 3e-2
    np.testing.assert_allclose(out.double().numpy(), expected, rtol=tol, atol=tol)
    expected_w = ref.attention_weights(*args[:2], mask.numpy(), causal=True, empty=empty)
    np.testing.assert_allclose(w.double().numpy(), expected_w, rtol=tol, atol=tol)


def test_bfloat16_convert_mask():
    keep = torch.tensor([T, F_])
    out = ti.convert_mask(keep, "keep", "additive_min", dtype="bfloat16")
    assert out.dtype == torch.bfloat16 and out[1] == torch.finfo(torch.bfloat16).min
    assert ti.convert_mask(keep, "keep", "additive", dtype=torch.bfloat16).dtype == torch.bfloat16
    assert ti.convert_mask(keep, "keep", "int", dtype=np.dtype("float64")).dtype == torch.float64
    back = ti.convert_mask(torch.tensor([0.0, -1e9], dtype=torch.bfloat16), "additive", "keep")
    assert back.tolist() == [True, False]
    assert ti.convert_mask(
        torch.tensor([1.0, 0.0], dtype=torch.bfloat16), "int", "drop"
    ).tolist() == [False, True]
    with pytest.raises(TypeError):
        ti.convert_mask(keep, "keep", "additive", dtype="bfloat17")


@pytest.mark.parametrize("device", DEVICES + ["meta"])
def test_results_stay_on_the_device(device):
    q = torch.zeros(B, H, L, E, device=device)
    mask = torch.ones(B, 1, 1, L, dtype=torch.bool, device=device)
    for empty in ("zeros", "mean"):
        assert (
            ti.scaled_dot_product_attention(q, q, q, mask, causal=True, empty=empty).device.type
            == device
        )
    assert ti.attention_weights(q, q, mask).device.type == device
    keys = mask[:, 0, 0]
    assert ti.attention_mask(keys, keys, causal=True).device.type == device
    assert ti.segment_mask(keys.long()).device.type == device
    assert ti.convert_mask(keys, "keep", "additive").device.type == device
    lengths = torch.ones(B, 2, dtype=torch.long, device=device)
    if device != "meta":  # the length checks read values
        assert ti.segment_ids_from_lengths(lengths, 3).device.type == device


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu"), "meta", torch.device("meta")])
def test_device_argument(device):
    expected = torch.device(device).type
    assert ti.causal_mask(3, 4, device=device).device.type == expected
    assert ti.attention_mask(query_len=2, causal=True, device=device).device.type == expected
    keys = torch.ones(1, 3, dtype=torch.bool)  # a part on the CPU follows device=
    assert ti.attention_mask(keys, causal=True, device=device).device.type == expected
    assert ti.attention_mask(keys.to(device), causal=True).device.type == expected  # inferred
    assert ti.causal_mask(3).device.type == "cpu"


@pytest.mark.parametrize("device", ["gpu0", 3, object()])
def test_bad_device_is_a_value_error(device):
    with pytest.raises(ValueError, match="device"):
        ti.causal_mask(2, device=device)
    with pytest.raises(ValueError, match="device"):
        ti.attention_mask(query_len=2, device=device)


def test_inputs_are_never_mutated():
    mask = MASKS["per_batch"]
    (q, k, v), _, _ = poisoned_inputs(mask, NAN)
    m = torch.from_numpy(mask.copy())
    before = [t.detach().clone() for t in (q, k, v)] + [m.clone()]
    for empty in ("zeros", "nan", "mean"):
        out = ti.scaled_dot_product_attention(q, k, v, m, causal=True, empty=empty)
        finite_loss(out).backward()
        finite_loss(ti.attention_weights(q, k, m, empty=empty)).backward()
        ti.scaled_dot_product_attention(q.transpose(-1, -2).detach().mT, k, v, m)  # strided
    for a, b in zip((q, k, v, m), before):
        torch.testing.assert_close(a.detach(), b, equal_nan=True, rtol=0, atol=0)
    lengths = torch.tensor([[2, 1], [3, 0]])
    rows = [torch.tensor([2, 1]), torch.tensor([3])]
    ti.segment_ids_from_lengths(lengths, 4)
    ti.segment_ids_from_lengths(rows, 4)
    assert lengths.tolist() == [[2, 1], [3, 0]] and [r.tolist() for r in rows] == [[2, 1], [3]]
    keep = torch.tensor([T, F_, T])
    for target in ("keep", "drop", "int", "additive"):
        out = ti.convert_mask(keep, "keep", target)
        assert out.data_ptr() != keep.data_ptr()
    assert keep.tolist() == [T, F_, T]


def test_shortcuts_are_exact(monkeypatch):
    """The CPU shortcuts (replacements skipped where they change nothing, the kernel's inputs
    checked instead of sanitised) give the same bits as the path that reads no value."""
    q, k, v = torch.randn(B, H, L, E), torch.randn(B, H, S, E), torch.randn(B, H, S, E)
    cases = [
        (MASKS["key_padding"], {}),
        (None, {"causal": True}),
        (np.ones((L, S), bool), {}),
        (MASKS["per_batch"], {"causal": True}),
    ]
    masks = [None if mask is None else torch.from_numpy(mask) for mask, _ in cases]
    quick = [ti.scaled_dot_product_attention(q, k, v, m, **b) for m, (_, b) in zip(masks, cases)]
    unknown(monkeypatch)
    for m, (_, band), expected in zip(masks, cases, quick):
        assert torch.equal(ti.scaled_dot_product_attention(q, k, v, m, **band), expected)


# --- segments ------------------------------------------------------------------------------


def test_segment_ids_from_ragged_tensors_and_lists():
    expected = [[1, 1, 2, 0, 0], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0]]
    for rows in (
        [
            torch.tensor([2, 1]),
            torch.tensor([3], dtype=torch.int32),
            torch.tensor([], dtype=torch.int64),
        ],
        [[2, 1], [3], []],
        ([2, 1], np.array([3, 0, 0]), []),
    ):
        out = ti.segment_ids_from_lengths(rows, 5)
        assert out.dtype == torch.int64 and out.tolist() == expected
    assert ti.segment_ids_from_lengths(np.zeros((0, 0), np.int64), 2).shape == (0, 2)
    with pytest.raises(ValueError, match="1-D"):
        ti.segment_ids_from_lengths([torch.tensor([[1]])], 2)
    with pytest.raises(TypeError):
        ti.segment_ids_from_lengths([torch.tensor([1.0])], 2)
    with pytest.raises(ValueError):
        ti.segment_ids_from_lengths([torch.tensor([3, 3])], 5)


def test_segment_ids_are_vectorised_on_the_batch():
    lengths = torch.randint(0, 4, (64, 8))
    out = ti.segment_ids_from_lengths(lengths, 32)
    expected = ref.segment_ids_from_lengths(lengths.numpy(), 32)
    np.testing.assert_array_equal(out.numpy(), expected)


@pytest.mark.parametrize("dtype", [torch.uint16, torch.uint32, torch.uint64, torch.int8])
def test_segment_mask_of_every_integer_dtype(dtype):
    ids = np.array([[1, 1, 2, 0]])
    out = ti.segment_mask(torch.from_numpy(ids).to(dtype), torch.from_numpy(ids[:, :2]))
    np.testing.assert_array_equal(out.numpy(), ref.segment_mask(ids, ids[:, :2]))
