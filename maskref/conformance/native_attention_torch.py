"""PyTorch's own attention APIs, measured against ``reference.attention``.

``torch.nn.MultiheadAttention`` takes one of three code paths, each recorded
under its own label: the default call (``need_weights=True``, training mode or
grad enabled: an explicit softmax), ``need_weights=False`` (it calls
``F.scaled_dot_product_attention``) and the native fast path (eval mode, no
grad, ``query is key is value``, an even number of heads, bool masks). Its
bool masks mean True = IGNORE, the opposite of maskref's and of SDPA's; the
reference side reads them back with :func:`reference.convert_mask` and
recomputes the layer from the same weights: ``q' = q W_q^T + b_q`` (and so
for k, v), heads split, :func:`reference.scaled_dot_product_attention`, heads
merged, ``out_proj``.

Inputs are small (B <= 3, heads <= 2, L, S <= 5, E <= 4) with values in
[-2, 2]; the layer weights come from a drawn seed. Tolerances: float32
rtol 1e-4 / atol 1e-5, float64 1e-10 / 1e-10.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal, cast

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference as ref
from reference import strategies as rs

from .core import Case, Inputs, case_family

TORCH = ("torch",)
F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
TOLERANCES = {"float32": (1e-4, 1e-5), "float64": (1e-10, 1e-10)}
KPM = "torch.nn.MultiheadAttention.key_padding_mask"
ATTN_MASK = "torch.nn.MultiheadAttention.attn_mask"
SDPA = "torch.nn.functional.scaled_dot_product_attention"
MHA = "torch.nn.MultiheadAttention"
MHA_NO_WEIGHTS = "torch.nn.MultiheadAttention(need_weights=False)"
MHA_FAST = "torch.nn.MultiheadAttention(fast path: eval, no_grad, self-attention)"


def _values(dtype: np.dtype = F32) -> st.SearchStrategy[float]:
    return st.floats(
        -2, 2, width=cast("Literal[16, 32, 64]", dtype.itemsize * 8), allow_subnormal=False
    )


def _array(draw, shape: tuple[int, ...], dtype: np.dtype = F32) -> np.ndarray:
    return np.array(draw(hnp.arrays(dtype, shape, elements=_values(dtype))))


def _copy(array: np.ndarray | None):
    import torch

    return None if array is None else torch.from_numpy(np.array(array))


# -- torch.nn.MultiheadAttention -----------------------------------------------------------


def _mha_weights(embed_dim: int, seed: int) -> dict[str, np.ndarray]:
    """The layer's parameters, fixed by ``seed``: copied into torch and used by the reference."""
    rng = np.random.default_rng(seed)

    def uniform(shape: tuple[int, ...], scale: float) -> np.ndarray:
        return rng.uniform(-scale, scale, shape).astype(np.float32)

    d = embed_dim
    return dict(
        in_proj_weight=uniform((3 * d, d), 1.0),
        in_proj_bias=uniform((3 * d,), 0.5),
        out_proj_weight=uniform((d, d), 1.0),
        out_proj_bias=uniform((d,), 0.5),
    )


def _keep(mask: np.ndarray | None, named: str) -> np.ndarray | None:
    """A torch mask argument read as maskref's keep mask (bool: ``named``; float: additive)."""
    if mask is None:
        return None
    return ref.convert_mask(mask, named if mask.dtype == np.bool_ else "additive", "keep")


def _ref_mha(
    inputs: Inputs, empty: str = "zeros", weights: bool = False, average: bool = True
) -> np.ndarray:
    """The layer recomputed by the reference with torch's weights (or its attention weights)."""
    query = inputs["query"]
    key: Any = inputs.get("key", query)
    value: Any = inputs.get("value", query)
    (b, lq, d), s, h = query.shape, key.shape[1], inputs["num_heads"]
    w = _mha_weights(d, inputs["seed"])

    def project(x: np.ndarray, part: int) -> np.ndarray:  # (B, T, D) -> (B, H, T, D / H)
        rows = slice(part * d, (part + 1) * d)
        y = x @ w["in_proj_weight"][rows].T + w["in_proj_bias"][rows]
        return y.reshape(b, x.shape[1], h, d // h).transpose(0, 2, 1, 3)

    q, k, v = project(query, 0), project(key, 1), project(value, 2)
    keep = np.ones((b, h, lq, s), bool)
    kpm = _keep(inputs.get("key_padding_mask"), KPM)
    if kpm is not None:
        keep &= kpm[:, None, None, :]
    attn = _keep(inputs.get("attn_mask"), ATTN_MASK)
    if attn is not None:
        keep &= attn if attn.ndim == 2 else attn.reshape(b, h, lq, s)  # batch-major
    if weights:
        found = ref.attention_weights(q, k, keep, empty=empty)
        return found.mean(axis=1) if average else found
    out = ref.scaled_dot_product_attention(q, k, v, keep, empty=empty)
    merged = out.transpose(0, 2, 1, 3).reshape(b, lq, d)
    return merged @ w["out_proj_weight"].T + w["out_proj_bias"]


def _torch_mha(path: str, output: str = "out", average: bool = True):
    """``path``: "default" (training mode, need_weights=True), "no_weights" (training mode,
    need_weights=False) or "fast" (eval, no_grad, self-attention, need_weights drawn)."""

    def call(inputs: Inputs):
        import torch

        d, h = inputs["query"].shape[-1], inputs["num_heads"]
        layer = torch.nn.MultiheadAttention(d, h, batch_first=True)
        with torch.no_grad():
            for name, array in _mha_weights(d, inputs["seed"]).items():
                layer.get_parameter(name.replace("out_proj_", "out_proj.")).copy_(
                    torch.from_numpy(array)
                )
        kwargs = dict(
            key_padding_mask=_copy(inputs.get("key_padding_mask")),
            attn_mask=_copy(inputs.get("attn_mask")),
        )
        if output == "weights":
            kwargs["average_attn_weights"] = average
        query = _copy(inputs["query"])
        if path == "fast":
            layer.eval()
            with torch.no_grad():
                out, weights = layer(
                    query, query, query, need_weights=inputs["need_weights"], **kwargs
                )
        else:
            layer.train()
            if path == "no_weights":
                kwargs["need_weights"] = False
            out, weights = layer(query, _copy(inputs["key"]), _copy(inputs["value"]), **kwargs)
        return weights if output == "weights" else out

    return call


def _ensure_visible(
    draw, kpm: np.ndarray | None, attn: np.ndarray | None, b: int, heads: int, lq: int, s: int
) -> None:
    """Make every query row see a key: for each empty row, a drawn key is opened in both masks."""
    keep = np.ones((b, heads, lq, s), bool)
    if kpm is not None:
        keep = keep & kpm[:, None, None, :]
    if attn is not None:
        keep = keep & (attn if attn.ndim == 2 else attn.reshape(b, heads, lq, s))
    rescue = draw(hnp.arrays(np.int64, keep.shape[:3], elements=st.integers(0, s - 1)))
    for i, j, row in zip(*np.nonzero(~keep.any(axis=-1))):
        key = rescue[i, j, row]
        if kpm is not None:
            kpm[i, key] = True
        if attn is not None and attn.ndim == 2:
            attn[row, key] = True
        elif attn is not None:
            attn[i * heads + j, row, key] = True


@st.composite
def _mha_inputs(
    draw, masks: str = "bool", visible: bool = False, fast: bool = False, plant: bool = False
) -> Inputs:
    """MultiheadAttention inputs with torch-convention masks.

    ``masks``: "bool" (True = ignore), "float" (additive 0/-inf) or "min" (additive
    finfo.min, key_padding_mask only). ``visible``: every query row sees a key.
    ``fast``: self-attention, two heads, need_weights drawn. ``plant``: NaN in the
    key and value inputs at padded keys (key 0 valid, at least one key padded).
    """
    heads = 2 if fast else draw(st.sampled_from((1, 2)))
    d = heads * draw(st.integers(1, 4 // heads))
    b, lq = draw(st.integers(1, 3)), draw(st.integers(2 if plant and fast else 1, 5))
    s = lq if fast else draw(st.integers(2 if plant else 1, 5))
    kpm = draw(rs.masks((b, s)) if plant or masks == "min" else st.none() | rs.masks((b, s)))
    kpm = None if kpm is None else np.array(kpm)
    if plant:  # key 0 is valid (every row sees a key), some other key is padded
        assert kpm is not None  # drawn from rs.masks when planting
        kpm[:, 0] = True
        if kpm.all():
            kpm[draw(st.integers(0, b - 1)), draw(st.integers(1, s - 1))] = False
    shapes = [None] if plant or masks == "min" else [None, (lq, s), (b * heads, lq, s)]
    shape = draw(st.sampled_from(shapes))
    attn = None if shape is None else np.array(draw(hnp.arrays(np.bool_, shape)))
    if visible:
        _ensure_visible(draw, kpm, attn, b, heads, lq, s)
    query = _array(draw, (b, lq, d))
    inputs = dict(query=query, num_heads=heads, seed=draw(st.integers(0, 3)))
    if fast:
        if plant:
            assert kpm is not None
            query[~kpm] = np.nan
        inputs["need_weights"] = draw(st.booleans())
    else:
        key, value = _array(draw, (b, s, d)), _array(draw, (b, s, d))
        if plant:
            assert kpm is not None
            key[~kpm] = np.nan
            value[~kpm] = np.nan
        inputs.update(key=key, value=value)
    if masks == "bool":
        kpm = None if kpm is None else ref.convert_mask(kpm, "keep", KPM)
        attn = None if attn is None else ref.convert_mask(attn, "keep", ATTN_MASK)
    else:
        target = "additive_min" if masks == "min" else "additive"
        kpm = None if kpm is None else ref.convert_mask(kpm, "keep", target)
        attn = None if attn is None else ref.convert_mask(attn, "keep", target)
    inputs.update(key_padding_mask=kpm, attn_mask=attn)
    return inputs


def _mha_example(fast: bool = False, masks: str = "bool", nan: bool = False) -> Inputs:
    """One query, one key: padded (or hidden), NaN in it when ``nan``."""
    pad = {
        "bool": np.array([[True]]),
        "float": np.array([[-np.inf]], np.float32),
        "min": np.array([[np.finfo(np.float32).min]], np.float32),
    }[masks]
    inputs = dict(
        query=np.ones((1, 1, 1), np.float32),
        num_heads=1,
        seed=0,
        key_padding_mask=pad,
        attn_mask=None,
    )
    if fast:
        return dict(inputs, num_heads=2, query=np.ones((1, 1, 2), np.float32), need_weights=False)
    if nan:
        key = np.array([[[1.0], [np.nan]]], np.float32)
        return dict(inputs, key=key, value=key.copy(), key_padding_mask=np.array([[False, True]]))
    return dict(inputs, key=np.ones((1, 1, 1), np.float32), value=np.ones((1, 1, 1), np.float32))


def _mha_cases() -> list[Case]:
    def family(
        api: str,
        path: str,
        operation: str = "scaled_dot_product_attention",
        output: str = "out",
        average: bool = True,
    ):
        return case_family(
            operation=operation,
            api=api,
            reference=_ref_mha,
            candidate=_torch_mha(path, output, average),
            requires=TORCH,
            tolerances=TOLERANCES,
        )

    def ref_with(empty: str, weights: bool = False, average: bool = True):
        return lambda i: _ref_mha(i, empty, weights, average)

    default, no_weights, fast = (
        family(MHA, "default"),
        family(MHA_NO_WEIGHTS, "no_weights"),
        family(MHA_FAST, "fast"),
    )
    nan_row = (
        "with need_weights=True (the default) a query row whose keys are all masked "
        "is a softmax of -inf only: NaN in every output feature; the reference's "
        "default empty='zeros' gives 0 before out_proj (empty='nan' matches)."
    )
    leak = (
        "NaN stored in a padded key or value reaches every query of its batch row (the "
        "scores of masked keys are computed, then biased by -inf: NaN + -inf is NaN, "
        "and 0 * NaN is NaN); the reference replaces keys no query may see by zeros."
    )
    cases = []
    for masks, words in (
        ("bool", "bool masks (True = ignore)"),
        ("float", "float additive masks (0 / -inf)"),
    ):
        masks_domain = f"{words}, key_padding_mask (B, S) and attn_mask (L, S) or (B*H, L, S)"
        visible, drawn = partial(_mha_inputs, masks, visible=True), partial(_mha_inputs, masks)
        cases += [
            default(domain=f"{masks_domain}; every query row sees a key", inputs=visible),
            default(
                domain=f"{masks_domain}; fully masked rows vs reference empty='nan'",
                inputs=drawn,
                reference=ref_with("nan"),
            ),
            default(f"fully-masked-row-is-nan-{masks}", drawn, _mha_example(masks=masks), nan_row),
            no_weights(
                domain=f"{masks_domain}; fully masked rows give 0 before out_proj", inputs=drawn
            ),
        ]
    fast_domain = (
        "bool masks (True = ignore), key_padding_mask (B, L) and attn_mask (L, L) "
        "or (B*H, L, L), two heads, need_weights True or False"
    )
    cases += [
        fast(
            domain=f"{fast_domain}; every query row sees a key",
            inputs=lambda: _mha_inputs(visible=True, fast=True),
        ),
        fast(
            domain=f"{fast_domain}; fully masked rows vs reference empty='nan'",
            inputs=lambda: _mha_inputs(fast=True),
            reference=ref_with("nan"),
        ),
        fast(
            "fully-masked-row-is-nan",
            lambda: _mha_inputs(fast=True),
            _mha_example(fast=True),
            "the native fast path gives NaN for a query row with no visible key, even with "
            "need_weights=False (where the regular path gives 0 before out_proj); the "
            "reference's default empty='zeros' gives 0 (empty='nan' matches).",
        ),
    ]
    # key_padding_mask holding finfo.min (Hugging Face style): an empty row is uniform.
    min_domain = "float key_padding_mask of 0 / finfo(float32).min"
    mean_row = (
        "with finfo.min instead of -inf every score of a fully masked row becomes "
        "finfo.min, so the softmax is uniform: the row is the mean of all values, "
        "padded ones included; the reference's default empty='zeros' gives 0 "
        "(empty='mean' matches)."
    )
    cases += [
        default(
            domain=f"{min_domain}; fully masked rows vs reference empty='mean'",
            inputs=lambda: _mha_inputs("min"),
            reference=ref_with("mean"),
        ),
        default(
            "fully-masked-row-is-mean-of-values-with-finfo-min",
            lambda: _mha_inputs("min"),
            _mha_example(masks="min"),
            mean_row,
        ),
        no_weights(
            domain=f"{min_domain}; fully masked rows vs reference empty='mean'",
            inputs=lambda: _mha_inputs("min"),
            reference=ref_with("mean"),
        ),
    ]
    # NaN stored in padded keys and values.
    planted = partial(_mha_inputs, plant=True)
    cases += [
        default("nan-in-padded-key-leaks", planted, _mha_example(nan=True), leak),
        no_weights("nan-in-padded-key-leaks", planted, _mha_example(nan=True), leak),
        fast(
            "nan-in-padded-step-leaks",
            lambda: _mha_inputs(fast=True, plant=True),
            dict(
                _mha_example(fast=True),
                query=np.array([[[1.0, 1.0], [np.nan, np.nan]]], np.float32),
                key_padding_mask=np.array([[False, True]]),
            ),
            "NaN in a padded step (self-attention: its key, value and query) turns every "
            "output row of the batch row into NaN; in the reference it stays in the padded "
            "step's own query row.",
        ),
    ]
    # The attention weights returned with need_weights=True.
    for average in (True, False):
        weights = family(
            f"{MHA}(average_attn_weights={average})",
            "default",
            "attention_weights",
            "weights",
            average,
        )
        wdomain = "bool masks (True = ignore), key_padding_mask and attn_mask"
        cases += [
            weights(
                domain=f"{wdomain}; every query row sees a key",
                inputs=lambda: _mha_inputs(visible=True),
                reference=ref_with("zeros", True, average),
            ),
            weights(
                domain=f"{wdomain}; fully masked rows vs reference empty='nan'",
                inputs=_mha_inputs,
                reference=ref_with("nan", True, average),
            ),
            weights(
                "fully-masked-row-weights-are-nan",
                _mha_inputs,
                _mha_example(),
                "the weights of a query row with no visible key are NaN (softmax of "
                "-inf only); the reference's default empty='zeros' gives 0.",
                reference=ref_with("zeros", True, average),
            ),
        ]
    return cases


# -- torch.nn.functional.scaled_dot_product_attention --------------------------------------


def _torch_sdpa(inputs: Inputs):
    import torch.nn.functional as F

    mask = inputs.get("mask")
    causal = inputs.get("causal_bias")
    if causal is not None:
        from torch.nn.attention import bias

        maker = bias.causal_lower_right if causal == "lower_right" else bias.causal_upper_left
        mask = maker(inputs["query"].shape[-2], inputs["key"].shape[-2])
    else:
        mask = _copy(mask)
    return F.scaled_dot_product_attention(
        _copy(inputs["query"]),
        _copy(inputs["key"]),
        _copy(inputs["value"]),
        attn_mask=mask,
        is_causal=inputs.get("is_causal", False),
    )


def _ref_sdpa(empty: str = "zeros"):
    def call(inputs: Inputs):
        mask = inputs.get("mask")
        if mask is not None and mask.dtype != np.bool_:
            mask = ref.convert_mask(mask, "additive", "keep")
        align = "bottom_right" if inputs.get("causal_bias") == "lower_right" else "top_left"
        causal = inputs.get("is_causal", False) or inputs.get("causal_bias") is not None
        return ref.scaled_dot_product_attention(
            inputs["query"],
            inputs["key"],
            inputs["value"],
            mask,
            causal=causal,
            align=align,
            empty=empty,
        )

    return call


@st.composite
def _sdpa_inputs(
    draw,
    mask: str | None = "bool",
    dtypes: tuple[np.dtype, ...] = (F32, F64),
    plant: str | None = None,
    seen: str = "none",
    head_dims: str = "any",
    **flags,
) -> Inputs:
    """(B, H, L, E) query, (B, H, S, E) key, (B, H, S, Ev) value; a mask of shape (L, S),
    (B, 1, L, S), (B, H, L, S) or (B, 1, 1, S): bool (True = attend), "float" (0 / -inf)
    or None. ``plant``: "key" or "value" gets NaN at a key that no query sees (``seen``
    "none") or that one row sees and another hides ("partly"). ``head_dims``: Ev and E
    "any", "same" or "differ". ``flags`` go into the inputs.
    """
    dtype = draw(st.sampled_from(dtypes))
    b, h = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    lq = draw(st.integers(2 if seen == "partly" else 1, 5))
    s, e, ev = draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if head_dims == "same":
        ev = e
    elif head_dims == "differ":
        ev = e % 4 + 1
    inputs = dict(
        query=_array(draw, (b, h, lq, e), dtype),
        key=_array(draw, (b, h, s, e), dtype),
        value=_array(draw, (b, h, s, ev), dtype),
        **flags,
    )
    if mask is None:
        return inputs
    shapes = [(lq, s), (b, 1, lq, s), (b, h, lq, s)]
    if seen != "partly":
        shapes.append((b, 1, 1, s))
    keep = np.array(draw(hnp.arrays(np.bool_, draw(st.sampled_from(shapes)))))
    if plant is not None:
        j = draw(st.integers(0, s - 1))
        if seen == "partly":
            row, other = draw(st.lists(st.integers(0, lq - 1), min_size=2, max_size=2, unique=True))
            keep[..., row, j], keep[..., other, j] = True, False
        else:
            keep[..., j] = False
        inputs[plant][..., j, :] = np.nan
    inputs["mask"] = (
        keep if mask == "bool" else ref.convert_mask(keep, "keep", "additive", dtype=dtype)
    )
    return inputs


def _sdpa_example(plant: str | None = None, seen: str = "none") -> Inputs:
    one = np.ones((1, 1, 1, 1), np.float32)
    if plant is None:  # an empty row
        return dict(query=one, key=one, value=one, mask=np.array([[False]]))
    pair = np.array([[[[0.0], [np.nan]]]], np.float32)
    inputs = dict(
        query=one, key=np.zeros((1, 1, 2, 1), np.float32), value=np.zeros((1, 1, 2, 1), np.float32)
    )
    inputs[plant] = pair
    if seen == "partly":
        inputs["query"] = np.ones((1, 1, 2, 1), np.float32)
        return dict(inputs, mask=np.array([[True, True], [True, False]]))
    return dict(inputs, mask=np.array([[True, False]]))


def _sdpa_cases() -> list[Case]:
    sdpa = case_family(
        operation="scaled_dot_product_attention",
        api=SDPA,
        reference=_ref_sdpa(),
        candidate=_torch_sdpa,
        requires=TORCH,
        tolerances=TOLERANCES,
    )
    both = case_family(
        operation="scaled_dot_product_attention",
        api=f"{SDPA}(attn_mask, is_causal=True)",
        reference=_ref_sdpa(),
        candidate=_torch_sdpa,
        requires=TORCH,
        tolerances=TOLERANCES,
    )
    shapes = "(L, S), (B, 1, L, S), (B, H, L, S) or (B, 1, 1, S)"
    leak = (
        "the scores of every key are computed before the mask is applied: NaN in {what} "
        "makes {rows} NaN (NaN + -inf is NaN, 0 * NaN is NaN); the reference {keeps}."
    )
    hidden = dict(
        rows="every row of its batch and head",
        keeps="replaces keys that no query sees by zeros before any arithmetic",
    )
    partly = dict(
        rows="also the rows that hide it",
        keeps="excludes a hidden pair from its row, so only the rows that see the NaN get NaN",
    )
    return [
        sdpa(
            domain=f"bool mask (True = attend) {shapes}, float32/float64; fully masked rows give 0",
            inputs=_sdpa_inputs,
        ),
        sdpa(
            domain=f"float additive mask (0 / -inf) {shapes}, float32/float64; fully masked "
            "rows give 0",
            inputs=lambda: _sdpa_inputs("float"),
        ),
        sdpa(
            domain="is_causal=True, any L and S: top-left causal",
            inputs=lambda: _sdpa_inputs(None, is_causal=True),
        ),
        sdpa(
            api=f"{SDPA}(attn_mask=torch.nn.attention.bias.causal_lower_right(L, S))",
            domain="bottom-right causal, L > S included (rows with no key give 0)",
            inputs=lambda: _sdpa_inputs(None, causal_bias="lower_right"),
        ),
        sdpa(
            api=f"{SDPA}(attn_mask=torch.nn.attention.bias.causal_upper_left(L, S))",
            domain="top-left causal, any L and S",
            inputs=lambda: _sdpa_inputs(None, causal_bias="upper_left"),
        ),
        both(
            domain=f"bool mask {shapes} AND top-left causal; Ev == E (the CPU flash kernel)",
            inputs=lambda: _sdpa_inputs(is_causal=True, head_dims="same"),
        ),
        both(
            "raises-when-dispatched-to-math",
            lambda: _sdpa_inputs(is_causal=True, head_dims="differ"),
            dict(
                _sdpa_example(),
                mask=np.array([[True]]),
                is_causal=True,
                value=np.ones((1, 1, 1, 2), np.float32),
            ),
            "on the CPU the flash kernel (4-D inputs, Ev == E) ANDs the mask with the causal "
            "pattern, but the math kernel that takes other shapes (here Ev != E) raises "
            "RuntimeError: explicit attn_mask should not be set when is_causal=True; the "
            "reference ANDs them.",
        ),
        sdpa(
            "nan-in-hidden-key-leaks",
            lambda: _sdpa_inputs(plant="key"),
            _sdpa_example("key"),
            leak.format(what="a key no query sees", **hidden),
        ),
        sdpa(
            "nan-in-hidden-value-leaks",
            lambda: _sdpa_inputs(plant="value"),
            _sdpa_example("value"),
            leak.format(what="the value of a key no query sees", **hidden),
        ),
        sdpa(
            "nan-in-partly-visible-key-leaks",
            lambda: _sdpa_inputs(plant="key", seen="partly"),
            _sdpa_example("key", "partly"),
            leak.format(what="a key one row sees and another hides", **partly),
        ),
        sdpa(
            "nan-in-partly-visible-value-leaks",
            lambda: _sdpa_inputs(plant="value", seen="partly"),
            _sdpa_example("value", "partly"),
            leak.format(what="the value of a key one row sees and another hides", **partly),
        ),
    ]


# -- torch.nn.Transformer.generate_square_subsequent_mask ----------------------------------


def _torch_square_mask(inputs: Inputs):
    import torch

    mask = torch.nn.Transformer.generate_square_subsequent_mask(inputs["n"])
    return ref.convert_mask(mask.numpy(), "additive", "keep")


def _mask_cases() -> list[Case]:
    return [
        Case(
            operation="causal_mask",
            api="torch.nn.Transformer.generate_square_subsequent_mask",
            inputs=lambda: st.builds(lambda n: dict(n=n), st.integers(0, 8)),
            reference=lambda i: ref.causal_mask(i["n"]),
            candidate=_torch_square_mask,
            requires=TORCH,
            domain="n >= 0, read with convert_mask(m, 'additive', 'keep')",
        )
    ]


def cases() -> list[Case]:
    """Every PyTorch attention case."""
    return _mha_cases() + _sdpa_cases() + _mask_cases()
