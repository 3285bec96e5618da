"""JAX's and Flax's own masking APIs, measured against the reference.

Flax's mask helpers (``flax.linen.make_attention_mask``, ``make_causal_mask``,
``combine_masks``) return **float32** 1/0 masks of shape ``(B, 1, Lq, Lk)``;
they are read back as ``m[:, 0] != 0`` (nonzero = keep, as ``jnp.where``
reads them in attention) and compared with :func:`reference.attention_mask` /
:func:`reference.causal_mask`. Both attention functions,
``flax.linen.dot_product_attention`` (layout ``[B, L, heads, d]``) and
``jax.nn.dot_product_attention`` (layout ``B T N H``), replace masked scores
by a large finite negative number (``finfo(dtype).min`` in Flax, ``-0.7 *
finfo(dtype).max`` in JAX) with ``jnp.where``: a fully masked query row is a
uniform softmax, the mean of all values (the reference's ``empty="mean"``),
and NaN in a hidden key never reaches the output, while NaN in a hidden
value does (``0 * NaN``). The reference side transposes to its ``(..., L,
E)`` layout and back.

Every case runs in JAX's default 32-bit mode: the inputs are float32 (and
int32 lengths and ids), and the reference computes on the same float32
arrays, so its results are float32 too and dtypes are compared (tolerances:
float32 rtol 1e-4 / atol 1e-5; masks are compared exactly). Each JAX API is
called under one ``jax.jit`` per process, with NumPy arguments, and shapes
are drawn from a few fixed ones, so that compiles are few and shared.

The reductions ``jnp.sum/mean/max/min(..., where=)`` and
``jax.nn.softmax(where=)`` are compared with the reference's ``masked_*``
functions, with NaN and inf planted under the mask; gradients (``jax.grad``)
with the reference's rule: exactly 0 under the mask.
Inputs are small: attention (B, T, S, N, H) in (1, 1, 2, 1, 1), (2, 3, 4, 2, 1),
(2, 3, 2, 1, 2) with values in [-2, 2] from a drawn seed; masks and
reductions of at most 4 per side.
"""

from __future__ import annotations

import functools

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference as ref

from .core import Case, Inputs, case_family

JAX = ("jax",)
FLAX = ("jax", "flax")
F32 = np.dtype(np.float32)
TOLERANCES = {"float32": (1e-4, 1e-5)}
JAX_DPA = "jax.nn.dot_product_attention"
FLAX_DPA = "flax.linen.dot_product_attention"
FLOAT32 = "float32 (JAX's 32-bit default)"


def _values(low: float = -2.0, high: float = 2.0) -> st.SearchStrategy[float]:
    return st.floats(low, high, width=32, allow_subnormal=False)


def _array(draw, shape: tuple[int, ...], low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return np.array(draw(hnp.arrays(F32, shape, elements=_values(low, high))))


def _bools(draw, shape: tuple[int, ...]) -> np.ndarray:
    return np.array(draw(hnp.arrays(np.bool_, shape)))


def _arg(array):
    """An argument for a jitted JAX function: NumPy arrays go in as they are (converting
    them with jnp.asarray first would be one more eager op, compiled per shape)."""
    return None if array is None else np.asarray(array)


def _keep(mask) -> np.ndarray:
    """A Flax float mask (nonzero = keep, as jnp.where reads it) as a bool keep mask, the
    head axis dropped."""
    return np.asarray(mask)[:, 0] != 0


# Each API is called through one jax.jit made once per process, and the strategies draw
# their shapes from a few fixed ones: a compile per new shape (about 0.2-1 s on a CPU)
# would otherwise dominate, and a shape compiled for one case is reused by the others.


@functools.cache
def _jitted(name: str, static: tuple[str, ...] = ()):
    """``name`` (a dotted path under jax or flax) under jax.jit, ``static`` its static args."""
    import importlib

    import jax

    module, attr = name.rsplit(".", 1)
    return jax.jit(getattr(importlib.import_module(module), attr), static_argnames=static)


# -- flax.linen: make_attention_mask, make_causal_mask, combine_masks ----------------------

#: (B, Lq, Lk) of the query/key padding masks; (B, L) of make_causal_mask's input.
PADDING_SHAPES = ((1, 1, 1), (2, 3, 2), (2, 4, 4))
CAUSAL_SHAPES = ((1, 1), (1, 0), (2, 4))


@st.composite
def _padding_masks(draw, square: bool = False) -> Inputs:
    b, lq, lk = draw(st.sampled_from(PADDING_SHAPES))
    return dict(query_mask=_bools(draw, (b, lq)), key_mask=_bools(draw, (b, lq if square else lk)))


def _flax_attention_mask(raw: bool = False):
    def call(inputs: Inputs):
        make = _jitted("flax.linen.make_attention_mask")
        mask = make(_arg(inputs["query_mask"]), _arg(inputs["key_mask"]))
        return mask if raw else _keep(mask)

    return call


@st.composite
def _ids(draw) -> Inputs:
    b, length, _ = draw(st.sampled_from(PADDING_SHAPES))
    big = st.sampled_from([2**16, 2**20, 2**24, 2**31 - 1])
    elements = st.integers(0, 3) | big | st.integers(0, 2**31 - 1)
    return dict(ids=np.array(draw(hnp.arrays(np.int32, (b, length), elements=elements))))


def _flax_mask_from_ids(inputs: Inputs):
    ids = _arg(inputs["ids"])
    return _keep(_jitted("flax.linen.make_attention_mask")(ids, ids))


def _ref_mask_from_ids(inputs: Inputs) -> np.ndarray:
    keep = ref.mask_from_ids(inputs["ids"], 0)
    return ref.attention_mask(keep, keep)


def _flax_causal_mask(raw: bool = False):
    def call(inputs: Inputs):
        mask = _jitted("flax.linen.make_causal_mask")(_arg(inputs["x"]))
        return mask if raw else _keep(mask)

    return call


def _ref_causal(inputs: Inputs) -> np.ndarray:
    b, length = inputs["x"].shape
    return np.broadcast_to(ref.causal_mask(length), (b, length, length))


@st.composite
def _combine_inputs(draw, none_only: bool = False) -> Inputs:
    """Padding (make_attention_mask), causal (make_causal_mask) and an arbitrary
    (B, 1, L, L) bool mask, each present or None (at least one present, unless
    ``none_only``: all None)."""
    parts = draw(_padding_masks(square=True))
    b, length = parts["query_mask"].shape
    present = (
        (False, False, False)
        if none_only
        else draw(st.tuples(*[st.booleans()] * 3).filter(lambda p: any(p)))
    )
    return dict(
        parts,
        padding=present[0],
        causal=present[1],
        extra=_bools(draw, (b, 1, length, length)) if present[2] else None,
    )


def _combine(query_mask, key_mask, extra, padding: bool, causal: bool):
    """The three masks made by Flax's helpers and ANDed by combine_masks (jitted)."""
    import flax.linen as nn

    return nn.combine_masks(
        nn.make_attention_mask(query_mask, key_mask) if padding else None,
        nn.make_causal_mask(query_mask) if causal else None,
        extra,
    )


def _flax_combine(inputs: Inputs):
    combined = _combine_jitted()(
        _arg(inputs["query_mask"]),
        _arg(inputs["key_mask"]),
        _arg(inputs["extra"]),
        padding=inputs["padding"],
        causal=inputs["causal"],
    )
    return None if combined is None else _keep(combined)


@functools.cache
def _combine_jitted():
    import jax

    return jax.jit(_combine, static_argnames=("padding", "causal"))


def _ref_combine(inputs: Inputs) -> np.ndarray:
    b, length = inputs["query_mask"].shape
    keep = ref.attention_mask(
        inputs["query_mask"] if inputs["padding"] else None,
        inputs["key_mask"] if inputs["padding"] else None,
        causal=inputs["causal"],
        query_len=length,
    )
    if inputs["extra"] is not None:
        keep = keep & inputs["extra"][:, 0]
    return np.broadcast_to(keep, (b, length, length))


def _flax_combine_ranks(inputs: Inputs):
    """A (B, 1, L, L) padding mask combined with the (L, L) causal pattern (ranks differ)."""
    import flax.linen as nn

    q = _arg(inputs["query_mask"])
    padding = _jitted("flax.linen.make_attention_mask")(q, q)
    return _keep(nn.combine_masks(padding, _arg(ref.causal_mask(q.shape[1]))))


def _ref_combine_ranks(inputs: Inputs) -> np.ndarray:
    q = inputs["query_mask"]
    return ref.attention_mask(q, q, causal=True)


def _flax_mask_cases() -> list[Case]:
    attention = case_family(
        operation="attention_mask",
        api="flax.linen.make_attention_mask",
        inputs=_padding_masks,
        reference=lambda i: ref.attention_mask(i["query_mask"], i["key_mask"]),
        candidate=_flax_attention_mask(),
        requires=FLAX,
    )
    causal = case_family(
        operation="causal_mask",
        api="flax.linen.make_causal_mask",
        inputs=lambda: st.builds(
            lambda shape: dict(x=np.zeros(shape, F32)), st.sampled_from(CAUSAL_SHAPES)
        ),
        reference=_ref_causal,
        candidate=_flax_causal_mask(),
        requires=FLAX,
    )
    combine = case_family(
        operation="attention_mask",
        api="flax.linen.combine_masks",
        inputs=_combine_inputs,
        reference=_ref_combine,
        candidate=_flax_combine,
        requires=FLAX,
    )
    one = np.array([[True]])
    float_mask = (
        "{api} returns float32 1/0 (its dtype argument's default) of shape (B, 1, Lq, Lk), "
        "with a head axis of 1 for broadcasting; the reference returns a bool (B, Lq, Lk) "
        "mask (m[:, 0] != 0 reads Flax's back exactly)."
    )
    return [
        attention(
            domain="bool query/key masks (B, L); read as nonzero = keep, head axis dropped",
        ),
        attention(
            "float32-with-head-axis",
            _padding_masks,
            dict(query_mask=one, key_mask=one),
            float_mask.format(api="make_attention_mask"),
            candidate=_flax_attention_mask(raw=True),
        ),
        attention(
            "integer-ids-product-overflows",
            _ids,
            dict(ids=np.array([[2**16]], np.int32)),
            "given token ids instead of bool masks, make_attention_mask multiplies them "
            "(pairwise_fn=jnp.multiply) in int32: two nonzero ids whose product is a "
            "multiple of 2**32 (65536 * 65536) give 0, a hidden pair; the reference's "
            "attention_mask(mask_from_ids(ids), mask_from_ids(ids)) keeps it. Pass "
            "ids > 0, not ids.",
            reference=_ref_mask_from_ids,
            candidate=_flax_mask_from_ids,
        ),
        causal(domain="x of shape (B, L), L >= 0; read as nonzero = keep, head axis dropped"),
        causal(
            "float32-with-head-axis",
            example=dict(x=np.zeros((1, 1), F32)),
            explanation=float_mask.format(api="make_causal_mask"),
            candidate=_flax_causal_mask(raw=True),
        ),
        combine(
            domain="make_attention_mask, make_causal_mask and a (B, 1, L, L) bool mask, "
            "any of them None (not all); read as nonzero = keep",
        ),
        combine(
            "all-none-gives-none",
            lambda: _combine_inputs(none_only=True),
            dict(query_mask=one, key_mask=one, padding=False, causal=False, extra=None),
            "combine_masks(None, None) returns None, not a mask; the reference's "
            "attention_mask with no part returns the all-True mask of its sizes (what "
            "'no mask' means to an attention function).",
        ),
        combine(
            "needs-equal-ranks",
            _padding_masks,
            dict(query_mask=one, key_mask=one),
            "combine_masks asserts that every mask has the same rank: a (B, 1, L, L) "
            "padding mask with an (L, L) causal pattern raises AssertionError instead of "
            "broadcasting; the reference's attention_mask ANDs parts of any rank.",
            reference=_ref_combine_ranks,
            candidate=_flax_combine_ranks,
        ),
    ]


# -- attention: flax.linen.dot_product_attention and jax.nn.dot_product_attention ----------


def _to_ref(x: np.ndarray) -> np.ndarray:
    """(B, T, N, H) -> (B, N, T, H), the reference's (..., L, E) layout (and back)."""
    return np.swapaxes(x, 1, 2)


def _ref_attention(empty: str = "mean", window_offset: int = 1):
    """The reference on JAX's layout. ``inputs``: query/key/value (B, T, N, H), and any of
    mask (4-D bool or Flax float 1/0), bias (additive), is_causal, local_window_size,
    query_seq_lengths, key_value_seq_lengths (read with ``padding``: "post" unless given).
    ``window_offset``: a window (l, 0) is read as ``causal_mask(window=l + window_offset)``.
    """

    def call(inputs: Inputs) -> np.ndarray:
        q, k, v = (_to_ref(inputs[n]) for n in ("query", "key", "value"))
        (b, n, t, _), s = q.shape, k.shape[2]
        keep = np.ones((b, n, t, s), bool)
        mask = inputs.get("mask")
        if mask is not None:
            keep &= mask != 0  # bool, or Flax's float 1/0 (nonzero = keep)
        if inputs.get("bias") is not None:
            keep &= ref.convert_mask(inputs["bias"], "additive", "keep")
        q_len, kv_len = inputs.get("query_seq_lengths"), inputs.get("key_value_seq_lengths")
        padding = inputs.get("padding", "post")
        if q_len is not None or kv_len is not None:
            keep &= ref.attention_mask(
                None if q_len is None else ref.sequence_mask(q_len, t, padding),
                None if kv_len is None else ref.sequence_mask(kv_len, s, padding),
                query_len=t,
                key_len=s,
            )[:, None]
        causal, window = inputs.get("is_causal", False), None
        size = inputs.get("local_window_size")
        if isinstance(size, int):  # symmetric: |i - j| <= size
            keep &= ref.attention_mask(query_len=t, key_len=s, window=size + 1)[:, None]
        elif size is not None:  # (l, 0): the l keys before and the key itself
            causal, window = True, size[0] + window_offset
        out = ref.scaled_dot_product_attention(
            q, k, v, keep, causal=causal, window=window, empty=empty
        )
        return _to_ref(out)

    return call


def _jax_attention(inputs: Inputs):
    lengths = {
        name: None if inputs.get(name) is None else _arg(inputs[name].astype(np.int32))
        for name in ("query_seq_lengths", "key_value_seq_lengths")
    }
    attention = _jitted(JAX_DPA, ("is_causal", "local_window_size"))
    return attention(
        _arg(inputs["query"]),
        _arg(inputs["key"]),
        _arg(inputs["value"]),
        bias=_arg(inputs.get("bias")),
        mask=_arg(inputs.get("mask")),
        is_causal=inputs.get("is_causal", False),
        local_window_size=inputs.get("local_window_size"),
        **lengths,
    )


def _flax_attention(inputs: Inputs):
    attention = _jitted(FLAX_DPA)
    return attention(
        _arg(inputs["query"]), _arg(inputs["key"]), _arg(inputs["value"]), mask=_arg(inputs["mask"])
    )


#: (B, T, S, N, H): one query and two keys (the smallest examples), T < S and T > S.
ATTENTION_SHAPES = ((1, 1, 2, 1, 1), (2, 3, 4, 2, 1), (2, 3, 2, 1, 2))
#: Mask shapes: per batch row (B, 1, T, S), per head (B, N, T, S), key padding (B, 1, 1, S).
MASK_SHAPES = ("B1TS", "BNTS", "B11S")


@st.composite
def _attention_inputs(
    draw,
    mask: str | tuple[str | None, ...] | None = "bool",
    shapes: tuple[str, ...] = MASK_SHAPES,
    plant: str | None = None,
    seen: str | tuple[str, ...] = "none",
    sizes: tuple[tuple[int, ...], ...] = ATTENTION_SHAPES,
    **flags,
) -> Inputs:
    """(B, T, N, H) query, (B, S, N, H) key and value in [-2, 2] (sizes from ``sizes``,
    values from a drawn seed); a mask of one of ``shapes``: "bool" (True = attend),
    "flax" (float32 1/0, as make_attention_mask gives), "bias" (additive 0 / -inf, as
    ``bias``) or None. ``plant``: "key" or "value" gets NaN at a key that no query sees
    (``seen`` "none") or that one row sees and another hides ("partly", T >= 2 only). A
    tuple ``mask`` or ``seen``: one of them, drawn. ``flags`` go into the inputs; a tuple
    value is drawn from.
    """
    if isinstance(mask, tuple):
        mask = draw(st.sampled_from(mask))
    if isinstance(seen, tuple):
        seen = draw(st.sampled_from(seen))
    b, t, s, n, h = draw(st.sampled_from([c for c in sizes if seen != "partly" or c[1] >= 2]))
    # The values come from a drawn seed (drawing each float costs more than the
    # attention call; the masks, which decide the findings, are drawn element by element).
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    inputs = {
        name: rng.uniform(-2, 2, (b, length, n, h)).astype(F32)
        for name, length in (("query", t), ("key", s), ("value", s))
    }
    for name, value in flags.items():
        inputs[name] = draw(st.sampled_from(value)) if isinstance(value, tuple) else value
    if mask is None:
        return inputs
    dims = dict(B=b, N=n, T=t, S=s, **{"1": 1})
    shape = tuple(dims[c] for c in draw(st.sampled_from(shapes)))
    keep = _bools(draw, shape)
    if plant is not None:
        j = draw(st.integers(0, s - 1))
        if seen == "partly":
            row, other = draw(st.lists(st.integers(0, t - 1), min_size=2, max_size=2, unique=True))
            keep[..., row, j], keep[..., other, j] = True, False
        else:
            keep[..., j] = False
        inputs[plant][:, j] = np.nan
    if mask == "flax":
        inputs["mask"] = keep.astype(F32)
    elif mask == "bias":
        inputs["bias"] = ref.convert_mask(keep, "keep", "additive", dtype=F32)
    else:
        inputs["mask"] = keep
    return inputs


@st.composite
def _length_inputs(draw, padding: str = "post", empty_keys: bool = False) -> Inputs:
    """Attention inputs with query_seq_lengths and key_value_seq_lengths (int32, 0..T and
    1..S, or 0..S when ``empty_keys``). ``padding`` says how the data is padded."""
    inputs = draw(_attention_inputs(None))
    b, t, s = inputs["query"].shape[0], inputs["query"].shape[1], inputs["key"].shape[1]
    q_len = draw(hnp.arrays(np.int32, (b,), elements=st.integers(0, t)))
    kv_len = draw(hnp.arrays(np.int32, (b,), elements=st.integers(0 if empty_keys else 1, s)))
    inputs.update(query_seq_lengths=np.array(q_len), key_value_seq_lengths=np.array(kv_len))
    if padding != "post":
        inputs["padding"] = padding
    return inputs


def _window_inputs(symmetric: bool = False) -> st.SearchStrategy[Inputs]:
    """Attention inputs with local_window_size (l, 0), l in 1..2, or (``symmetric``) an
    int w in 0..1; no mask; T < S and T > S."""
    sizes = ATTENTION_SHAPES[1:]
    if symmetric:
        return _attention_inputs(None, sizes=sizes, local_window_size=(0, 1))
    return _attention_inputs(None, sizes=sizes, local_window_size=((1, 0), (2, 0)))


def _one(*shape: int) -> np.ndarray:
    return np.ones(shape, F32)


def _example_empty_row(mask: np.ndarray | None = None, **more) -> Inputs:
    """One query that sees nothing; two keys of values 0 and 1 (their mean is 0.5)."""
    inputs = dict(
        query=_one(1, 1, 1, 1),
        key=_one(1, 2, 1, 1),
        value=np.array([0.0, 1.0], F32).reshape(1, 2, 1, 1),
        **more,
    )
    if mask is not None:
        inputs["mask"] = mask
    return inputs


def _example_nan(plant: str, seen: str = "none", mask: str = "bool") -> Inputs:
    """Key 1 (NaN in ``plant``) hidden from the only query, or ("partly") seen by query 0
    and hidden from query 1."""
    t = 2 if seen == "partly" else 1
    inputs = dict(
        query=_one(1, t, 1, 1),
        key=np.zeros((1, 2, 1, 1), F32),
        value=np.zeros((1, 2, 1, 1), F32),
    )
    inputs[plant][:, 1] = np.nan
    keep = np.array([[[[True, True], [True, False]]]]) if t == 2 else np.array([[[[True, False]]]])
    inputs["mask"] = keep.astype(F32) if mask == "flax" else keep
    return inputs


def _attention_cases() -> list[Case]:
    flax_dpa = case_family(
        operation="scaled_dot_product_attention",
        api=FLAX_DPA,
        reference=_ref_attention("mean"),
        candidate=_flax_attention,
        requires=FLAX,
        tolerances=TOLERANCES,
    )
    jax_dpa = case_family(
        operation="scaled_dot_product_attention",
        api=JAX_DPA,
        reference=_ref_attention("mean"),
        candidate=_jax_attention,
        requires=JAX,
        tolerances=TOLERANCES,
    )
    shapes = "(B, 1, T, S), (B, N, T, S) or (B, 1, 1, S)"
    mean_row = (
        "masked scores are replaced by {fill} (finite) with jnp.where, so a query row with "
        "no visible key is a uniform softmax: the mean of all S values, hidden ones "
        "included; the reference's default empty='zeros' gives 0 (empty='mean' matches)."
    )
    value_leak = (
        "masked scores are replaced (jnp.where), so NaN in a hidden key changes nothing, "
        "but the weights are then multiplied with every value: weight 0 * NaN is NaN, and "
        "NaN in the value of a key that no query sees makes every row of its batch and "
        "head NaN; the reference leaves hidden values out."
    )
    flax_fill = "finfo(dtype).min"
    jax_fill = "-0.7 * finfo(dtype).max"
    empty_mask = np.array([[[[False, False]]]])
    cases = [
        flax_dpa(
            domain="mask (B, 1, T, S), float32 1/0 (as make_attention_mask gives) or bool; "
            f"{FLOAT32}; fully masked rows vs reference empty='mean'",
            inputs=lambda: _attention_inputs(("flax", "bool"), ("B1TS",)),
        ),
        flax_dpa(
            "fully-masked-row-is-mean-of-values",
            lambda: _attention_inputs("flax"),
            _example_empty_row(empty_mask.astype(F32)),
            mean_row.format(fill=flax_fill),
            reference=_ref_attention("zeros"),
        ),
        flax_dpa(
            domain="float32 mask (B, 1, T, S) or (B, N, T, S); NaN in a key no query sees, "
            "or that one row sees and another hides: the rows that hide it are unaffected",
            inputs=lambda: _attention_inputs(
                "flax", ("B1TS", "BNTS"), plant="key", seen=("none", "partly")
            ),
        ),
        flax_dpa(
            "nan-in-hidden-value-leaks",
            lambda: _attention_inputs("flax", plant="value"),
            _example_nan("value", mask="flax"),
            value_leak,
        ),
        jax_dpa(
            domain=f"bool mask (True = attend) {shapes} or None; {FLOAT32}; fully masked "
            "rows vs reference empty='mean'",
            inputs=lambda: _attention_inputs(("bool", None)),
        ),
        jax_dpa(
            api=f"{JAX_DPA}(is_causal=True)",
            domain="top-left causal (T < S and T > S), AND a bool mask (B, 1, T, S) or None; "
            "fully masked rows vs reference empty='mean'",
            inputs=lambda: _attention_inputs(("bool", None), ("B1TS",), is_causal=True),
        ),
        jax_dpa(
            "fully-masked-row-is-mean-of-values",
            _attention_inputs,
            _example_empty_row(empty_mask),
            mean_row.format(fill=jax_fill),
            reference=_ref_attention("zeros"),
        ),
        jax_dpa(
            domain="bool mask (B, 1, T, S) or (B, N, T, S); NaN in a key no query sees, "
            "or that one row sees and another hides: the rows that hide it are unaffected",
            inputs=lambda: _attention_inputs(
                "bool", ("B1TS", "BNTS"), plant="key", seen=("none", "partly")
            ),
        ),
        jax_dpa(
            "nan-in-hidden-value-leaks",
            lambda: _attention_inputs(plant="value"),
            _example_nan("value"),
            value_leak,
        ),
        jax_dpa(
            api=f"{JAX_DPA}(bias=additive mask)",
            domain="bias 0 / -inf (B, 1, T, S); fully masked rows vs reference empty='nan'",
            inputs=lambda: _attention_inputs("bias", ("B1TS",)),
            reference=_ref_attention("nan"),
        ),
        jax_dpa(
            "fully-masked-row-is-nan",
            lambda: _attention_inputs("bias"),
            _example_empty_row(bias=np.full((1, 1, 1, 2), -np.inf, F32)),
            "an additive -inf bias is added to the scores and is not a mask: a row whose "
            "keys are all -inf is a softmax of -inf only, NaN (the bool mask gives the "
            "mean of the values instead); the reference's default empty='zeros' gives 0 "
            "(empty='nan' matches).",
            api=f"{JAX_DPA}(bias=additive mask)",
            reference=_ref_attention("zeros"),
        ),
    ]
    lengths = case_family(
        operation="scaled_dot_product_attention",
        api=f"{JAX_DPA}(query_seq_lengths, key_value_seq_lengths)",
        reference=_ref_attention("zeros"),
        candidate=_jax_attention,
        requires=JAX,
        tolerances=TOLERANCES,
    )
    left = dict(
        query=_one(1, 1, 1, 1),
        key=_one(1, 2, 1, 1),
        value=np.array([0.0, 1.0], F32).reshape(1, 2, 1, 1),
        key_value_seq_lengths=np.array([1], np.int32),
    )
    cases += [
        lengths(
            inputs=_length_inputs,
            domain="int32 lengths 0..T for queries, 1..S for keys (right padding), vs "
            "attention_mask(sequence_mask(q), sequence_mask(kv)); padded query rows give 0",
        ),
        lengths(
            "zero-key-length-row-is-mean-of-values",
            lambda: _length_inputs(empty_keys=True),
            left | dict(key_value_seq_lengths=np.array([0], np.int32)),
            "a valid query whose key_value_seq_lengths is 0 sees no key: its scores are all "
            "-0.7 * finfo.max, a uniform softmax, the mean of all values (padded query "
            "rows, by contrast, are multiplied by 0); the reference's default "
            "empty='zeros' gives 0.",
        ),
        lengths(
            "lengths-assume-right-padding",
            lambda: _length_inputs("pre"),
            left | dict(padding="pre"),
            "query_seq_lengths and key_value_seq_lengths mark the first `length` steps "
            "valid (right padding); on left-padded data (Keras's pad_sequences default) "
            "they keep the padding and hide the data; the reference's "
            "sequence_mask(lengths, padding='pre') keeps the last steps.",
        ),
    ]
    window = case_family(
        operation="scaled_dot_product_attention",
        api=f"{JAX_DPA}(local_window_size)",
        reference=_ref_attention("mean"),
        candidate=_jax_attention,
        requires=JAX,
        tolerances=TOLERANCES,
    )
    cases += [
        window(
            domain="local_window_size=(l, 0), l in 1..2, vs causal=True, window=l + 1 (both "
            "ends inclusive); T < S and T > S",
            inputs=_window_inputs,
        ),
        window(
            domain="local_window_size=w (an int: (w, w)), w in 0..1, vs "
            "attention_mask(window=w + 1), the band |i - j| <= w; rows with no key vs "
            "empty='mean'",
            inputs=lambda: _window_inputs(symmetric=True),
        ),
        window(
            "window-counts-the-query-too",
            _window_inputs,
            dict(
                query=_one(1, 2, 1, 1),
                key=_one(1, 2, 1, 1),
                value=np.array([0.0, 1.0], F32).reshape(1, 2, 1, 1),
                local_window_size=(1, 0),
            ),
            "local_window_size=(l, r) is inclusive and counts from the query's own "
            "position: (l, 0) sees l + 1 keys (the l before and the key itself); the "
            "reference's causal_mask(window=w) sees w keys, the query's included, so "
            "(l, 0) is window=l + 1, not window=l.",
            reference=_ref_attention("mean", window_offset=0),
        ),
    ]
    return cases


# -- jnp reductions with where=, jax.nn.softmax(where=) ------------------------------------


#: x's shapes, each with the axes drawn for it (a zero-length axis included).
REDUCTION_SHAPES = (((1,), (0,)), ((4,), (0,)), ((2, 3), (None, 0, 1)), ((2, 0), (None, 1)))


@st.composite
def _masked_floats(draw, nonempty: bool = False, axis_none: bool = True) -> Inputs:
    """float32 x (shapes and axes from REDUCTION_SHAPES; no zero-length axis when
    ``nonempty``; no axis=None unless ``axis_none``), a bool mask of its shape; the valid
    values are finite in [-100, 100], the masked ones NaN, inf, -inf or 7."""
    choices = [c for c in REDUCTION_SHAPES if not nonempty or 0 not in c[0]]
    shape, axes = draw(st.sampled_from(choices))
    valid = _array(draw, shape, -100.0, 100.0)
    junk = np.array(
        draw(hnp.arrays(F32, shape, elements=st.sampled_from([np.nan, np.inf, -np.inf, 7.0])))
    )
    mask = _bools(draw, shape)
    axis = draw(st.sampled_from([a for a in axes if axis_none or a is not None]))
    return dict(x=np.where(mask, valid, junk), mask=mask, axis=axis)


@functools.cache
def _jnp_jitted(op: str, initial: float | None):
    import jax
    import jax.numpy as jnp

    kwargs = {} if initial is None else dict(initial=initial)

    def reduce(x, mask, axis):
        return getattr(jnp, op)(x, axis=axis, where=mask, **kwargs)

    return jax.jit(reduce, static_argnames="axis")


def _jnp_reduction(op: str, initial: float | None = None):
    """jnp.<op>(x, axis, where=mask[, initial]) under jax.jit (axis static); JAX is imported
    only when the case runs (the registry is built without it)."""

    def call(inputs: Inputs):
        jitted = _jnp_jitted(op, initial)
        return jitted(_arg(inputs["x"]), _arg(inputs["mask"]), axis=inputs["axis"])

    return call


def _jax_softmax(inputs: Inputs):
    softmax = _jitted("jax.nn.softmax", ("axis",))
    return softmax(_arg(inputs["x"]), axis=inputs["axis"], where=_arg(inputs["mask"]))


def _reduction_cases() -> list[Case]:
    def case(op: str, api: str, candidate, **fields) -> Case:
        return Case(
            operation=f"masked_{op}",
            api=api,
            inputs=fields.pop("inputs", _masked_floats),
            reference=fields.pop("reference", lambda i: getattr(ref, f"masked_{op}")(**i)),
            candidate=candidate,
            requires=JAX,
            tolerances=TOLERANCES,
            **fields,
        )

    domain = f"{FLOAT32}, rank 1-2, axis None or one axis; NaN and inf under the mask"
    return [
        case("sum", "jnp.sum(where=)", _jnp_reduction("sum"), domain=domain),
        case(
            "mean",
            "jnp.mean(where=)",
            _jnp_reduction("mean"),
            domain=f"{domain}; an empty slice is NaN (0 / 0)",
        ),
        case(
            "max",
            "jnp.max(where=, initial=-inf)",
            _jnp_reduction("max", -np.inf),
            domain=f"{domain}; an empty slice is -inf",
        ),
        case(
            "max",
            "jnp.max(where=)",
            _jnp_reduction("max"),
            expect="where-needs-initial",
            example=dict(x=np.zeros(1, F32), mask=np.array([True]), axis=None),
            explanation="jnp.max (as np.max) raises ValueError with where= and no initial: "
            "max has no identity, even when no slice is empty; the reference returns -inf "
            "for an empty slice (pass initial=-jnp.inf).",
        ),
        case(
            "min",
            "jnp.min(where=, initial=inf)",
            _jnp_reduction("min", np.inf),
            domain=f"{domain}; an empty slice is +inf",
        ),
        case(
            "softmax",
            "jax.nn.softmax(where=)",
            _jax_softmax,
            inputs=lambda: _masked_floats(axis_none=False),
            domain=f"{FLOAT32}, rank 1-2, one axis; NaN and inf under the mask; 0 at masked "
            "slots, fully masked slices give 0",
        ),
    ]


# -- gradients through where ---------------------------------------------------------------


@st.composite
def _grad_inputs(draw) -> Inputs:
    inputs = draw(_masked_floats(nonempty=True, axis_none=False))
    inputs["weights"] = _array(draw, inputs["x"].shape)
    return inputs


def _count(mask: np.ndarray, axis: int) -> np.ndarray:
    return np.maximum(mask.sum(axis=axis, keepdims=True), 1).astype(F32)


def _mse_loss(x, mask, weights, axis: int, sanitise: bool):
    """sum(masked mean of x**2) with jnp.where after the op; ``sanitise``: the JAX FAQ's
    double where, jnp.where(mask, x, 0) before the op too."""
    import jax.numpy as jnp

    count = jnp.maximum(jnp.sum(mask, axis=axis, keepdims=True), 1)
    if sanitise:
        x = jnp.where(mask, x, 0)
    return jnp.sum(jnp.where(mask, x**2, 0) / count)


def _mean_loss(x, mask, weights, axis: int):
    import jax.numpy as jnp

    return jnp.sum(jnp.mean(x, axis=axis, where=mask))


def _softmax_loss(x, mask, weights, axis: int):
    import jax
    import jax.numpy as jnp

    return jnp.sum(weights * jax.nn.softmax(x, axis=axis, where=mask))


@functools.cache
def _grad_jitted(loss, static: tuple):
    import jax

    return jax.jit(jax.grad(loss), static_argnames=("axis", *static))


@functools.cache
def _jax_grad(loss, **static):
    """jax.grad of ``loss`` with respect to x, under jax.jit (axis and ``static`` fixed)."""

    def call(inputs: Inputs):  # JAX is imported only when the case runs
        jitted = _grad_jitted(loss, tuple(static))
        x, mask, w = (_arg(inputs[n]) for n in ("x", "mask", "weights"))
        return jitted(x, mask, w, axis=inputs["axis"], **static)

    return call


def _ref_grad_mse(inputs: Inputs) -> np.ndarray:
    """d/dx of sum(masked_mean(x**2)): 2x / count at valid steps, exactly 0 under the mask."""
    x, mask = inputs["x"], inputs["mask"]
    return np.where(mask, 2 * x / _count(mask, inputs["axis"]), 0).astype(F32)


def _ref_grad_mean(inputs: Inputs) -> np.ndarray:
    mask = inputs["mask"]
    return np.where(mask, 1 / _count(mask, inputs["axis"]), 0).astype(F32)


def _ref_grad_softmax(inputs: Inputs) -> np.ndarray:
    """d/dx of sum(weights * masked_softmax(x)): y * (w - sum(w * y)); 0 under the mask."""
    x, mask, axis, w = inputs["x"], inputs["mask"], inputs["axis"], inputs["weights"]
    y = ref.masked_softmax(x, mask, axis)
    grad = y * (w - ref.masked_sum(w * y, mask, axis, keepdims=True))
    return np.where(mask, grad, 0).astype(F32)


def _gradient_cases() -> list[Case]:
    domain = (
        f"{FLOAT32}, rank 1-2, one axis; NaN and inf under the mask; reference: the "
        "gradient of the masked rule, exactly 0 under the mask"
    )

    def case(operation: str, api: str, reference, candidate, **fields) -> Case:
        return Case(
            operation=operation,
            api=api,
            inputs=_grad_inputs,
            reference=reference,
            candidate=candidate,
            requires=JAX,
            tolerances=TOLERANCES,
            **fields,
        )

    naive = "jax.grad(sum(jnp.where(mask, x**2, 0)) / count)"
    return [
        case(
            "masked_mean",
            naive,
            _ref_grad_mse,
            _jax_grad(_mse_loss, sanitise=False),
            expect="grad-nan-under-mask",
            example=dict(
                x=np.array([np.nan], F32),
                mask=np.array([False]),
                axis=0,
                weights=np.zeros(1, F32),
            ),
            explanation="the forward pass is right (where picks 0), but where's gradient "
            "sends a cotangent of 0 to x**2 at masked steps and the chain rule multiplies "
            "it by 2x: 0 * NaN (or 0 * inf) is NaN under the mask; the reference's rule "
            "is a gradient of exactly 0 there. Sanitise first: jnp.where(mask, x, 0) "
            "before the op (the JAX FAQ's double where).",
        ),
        case(
            "masked_mean",
            "jax.grad(double where: x = jnp.where(mask, x, 0) before x**2)",
            _ref_grad_mse,
            _jax_grad(_mse_loss, sanitise=True),
            domain=domain,
        ),
        case(
            "masked_mean",
            "jax.grad(jnp.mean(where=))",
            _ref_grad_mean,
            _jax_grad(_mean_loss),
            domain=domain,
        ),
        case(
            "masked_softmax",
            "jax.grad(jax.nn.softmax(where=))",
            _ref_grad_softmax,
            _jax_grad(_softmax_loss),
            domain=f"{domain}; loss sum(weights * softmax)",
        ),
    ]


def cases() -> list[Case]:
    """Every JAX and Flax case."""
    return _flax_mask_cases() + _attention_cases() + _reduction_cases() + _gradient_cases()
