"""Keras's attention APIs (TensorFlow backend), measured against ``reference.attention``.

``keras.layers.MultiHeadAttention`` (its projection weights copied into the
reference computation), ``keras.layers.Attention`` and
``keras.ops.dot_product_attention`` (layout ``(B, T, N, H)``, transposed to the
reference's ``(B, N, T, H)``). Keras's masks are boolean with ``True`` = may
attend, as the reference's. Inputs are float32 (float64 too for
``dot_product_attention``) in [-2, 2], with NaN or inf planted in the keys or
values that no query may see where a case says so. Tolerances (rtol and
atol): float32 1e-5, 1e-4 for MultiHeadAttention (its reference runs the
copied projections in float64; Keras in float32); float64 1e-6 for
``dot_product_attention``, whose default scale is rounded to float32.
"""

from __future__ import annotations

import functools
from typing import Any, cast

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference as ref
from reference import strategies as rs

from .core import Case, Inputs, OnBackend, case_family
from .operations import FLOAT_TOLERANCES

F32, F64 = np.float32, np.float64
REQUIRES = ("keras", "tensorflow")
MHA_TOLERANCES = dict(FLOAT_TOLERANCES, float32=(1e-4, 1e-4))
#: The TF backend computes the default scale 1 / sqrt(H) in float32, also for float64 inputs.
DPA_TOLERANCES = dict(FLOAT_TOLERANCES, float64=(1e-6, 1e-6))
NONFINITE = st.sampled_from([np.nan, np.inf, -np.inf])


def _keras():
    # Any Keras backend: the report runs these cases on each one (maskref.keras_backends);
    # the recorded divergences are the TensorFlow backend's.
    import keras

    return keras


# -- strategies ----------------------------------------------------------------------------


def _floats(draw, shape: tuple[int, ...], dtype=F32) -> np.ndarray:
    width = np.dtype(dtype).itemsize * 8
    values = st.floats(-2, 2, width=width, allow_subnormal=False)
    return draw(hnp.arrays(dtype, shape, elements=values))


def _mask(draw, shape: tuple[int, ...], *, visible: bool) -> np.ndarray:
    """A bool mask (pre/post/holes rows) ANDed with a key-padding pattern, so that some
    keys are hidden from every query; ``visible``: every row keeps at least one key."""
    keys = (1 if len(shape) == 2 else shape[0],) + (1,) * (len(shape) - 2) + shape[-1:]
    mask = draw(rs.masks(shape)) & draw(rs.masks(keys))
    if visible:
        pick = draw(hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, shape[-1] - 1)))
        np.put_along_axis(mask, pick[..., None], True, axis=-1)
    return mask


def _plant(x: np.ndarray, hidden: np.ndarray, poison: float) -> np.ndarray:
    """``x`` with ``poison`` in the steps (all but the last axis) where ``hidden`` is True."""
    return np.where(hidden[..., None], x.dtype.type(poison), x)


# -- keras.layers.MultiHeadAttention -------------------------------------------------------


def _mha_weights(heads: int, key_dim: int, dim: int, seed: int) -> dict[str, tuple]:
    """Seeded (kernel, bias) of the query/key/value/output EinsumDense sublayers."""
    rng = np.random.default_rng(seed)

    def draw(*shape: int) -> np.ndarray:
        return rng.uniform(-0.5, 0.5, shape).astype(F32)

    proj = (dim, heads, key_dim)
    return {
        "query": (draw(*proj), draw(heads, key_dim)),
        "key": (draw(*proj), draw(heads, key_dim)),
        "value": (draw(*proj), draw(heads, key_dim)),
        "attention_output": (draw(heads, key_dim, dim), draw(dim)),
    }


@functools.cache
def _mha_layer(heads: int, key_dim: int, dim: int, seed: int):
    """A MultiHeadAttention layer holding :func:`_mha_weights` (built once per config)."""
    keras = _keras()
    layer = keras.layers.MultiHeadAttention(heads, key_dim)
    layer.build((1, 1, dim), (1, 1, dim), (1, 1, dim))
    weights = _mha_weights(heads, key_dim, dim, seed)
    for dense in (layer.query_dense, layer.key_dense, layer.value_dense, layer.output_dense):
        kernel, bias = weights[dense.name]
        dense.kernel.assign(kernel)
        dense.bias.assign(bias)
    return layer


def _layer_of(inputs: Inputs):
    return _mha_layer(inputs["heads"], inputs["key_dim"], inputs["query"].shape[-1], inputs["seed"])


def _ref_mha(
    inputs: Inputs, mask, *, causal: bool = False, empty: str = "zeros", scores: bool = False
):
    """The reference attention between the layer's own projections, in float64.

    Projection ``x @ W + b`` per head (``(B, N, T, H)``), the reference's
    attention with ``mask`` (``(B, Lq, Lk)``, broadcast over the heads), heads
    merged by the output projection; ``scores``: also the attention weights.
    """
    q, v = inputs["query"], inputs["value"]
    k: Any = inputs.get("key", v)
    w = {
        name: tuple(a.astype(F64) for a in pair)
        for name, pair in _mha_weights(
            inputs["heads"], inputs["key_dim"], q.shape[-1], inputs["seed"]
        ).items()
    }

    def project(x: np.ndarray, name: str) -> np.ndarray:
        kernel, bias = w[name]
        return np.einsum("btd,dnh->bnth", x.astype(F64), kernel) + bias[:, None, :]

    qp, kp, vp = project(q, "query"), project(k, "key"), project(v, "value")
    with np.errstate(invalid="ignore", over="ignore"):
        heads = ref.scaled_dot_product_attention(qp, kp, vp, mask, causal=causal, empty=empty)
        kernel, bias = w["attention_output"]
        out = (np.einsum("bnth,nhd->btd", heads, kernel) + bias).astype(F32)
    if scores:
        weights = ref.attention_weights(qp, kp, mask, causal=causal, empty="zeros")
        return out, weights.astype(F32)
    return out


@st.composite
def _mha_inputs(
    draw,
    *,
    visible: bool = False,
    mask: bool | None = True,
    plant: str | None = "key",
    causal: bool = False,
    key_dim: int = 2,
) -> Inputs:
    """MultiHeadAttention inputs: ``heads``, ``key_dim`` (from the given minimum to 3),
    weight ``seed``, query/key/value ``(B, L, D)`` float32 and a bool ``(B, Lq, Lk)``
    ``mask`` (``mask=False``: None; ``mask=None``: None or drawn); NaN/inf planted in the
    ``plant`` ("key"/"value") steps that no query may see.

    ``key_dim`` is 2 or more by default: with ``key_dim=1`` a projection bias is misapplied
    (the case ``key-dim-1-bias-added-along-the-sequence`` records it).
    """
    heads, key_dim = draw(st.integers(1, 2)), draw(st.integers(key_dim, 3))
    dim, seed = draw(st.integers(1, 4)), draw(st.integers(0, 2))
    b, lq, lk = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    inputs = dict(
        query=_floats(draw, (b, lq, dim)),
        key=_floats(draw, (b, lk, dim)),
        value=_floats(draw, (b, lk, dim)),
        heads=heads,
        key_dim=key_dim,
        seed=seed,
    )
    given = mask or (mask is None and draw(st.booleans()))
    m = _mask(draw, (b, lq, lk), visible=visible) if given else np.ones((b, lq, lk), bool)
    inputs["mask"] = m if given else None
    if causal:
        m = m & ref.causal_mask(lq, lk)
    if plant:
        hidden = cast(np.ndarray, ~m.any(axis=1))
        inputs[plant] = _plant(inputs[plant], hidden, draw(NONFINITE))
    return inputs


def _keras_mha(**options):
    def call(inputs: Inputs):
        layer = _layer_of(inputs)
        return layer(
            inputs["query"],
            inputs["value"],
            key=inputs["key"],
            attention_mask=inputs["mask"],
            **options,
        )

    return call


def _mha_example(query, key, value, mask, **extra) -> Inputs:
    arrays = dict(query=np.array(query, F32), key=np.array(key, F32), value=np.array(value, F32))
    return dict(
        arrays,
        heads=1,
        key_dim=2,
        seed=0,
        mask=None if mask is None else np.array(mask, bool),
        **extra,
    )


ONE_MASKED_ROW = _mha_example([[[1.0]]], [[[1.0]]], [[[1.0]]], [[[False]]])
MEAN_WHY = (
    "a query row with no visible key gets a uniform softmax, the mean of all the "
    "projected values (masked ones included); the reference's default empty='zeros' "
    "gives 0 before the output projection (empty='mean' matches)."
)


#: Why Keras on torch lets a NaN or inf in a hidden key through (MultiHeadAttention's fused
#: path and ops.dot_product_attention alike).
TORCH_ADDS_THE_MASK = (
    "on torch, Keras turns the boolean mask into an additive one (0, or a large negative "
    "number) for torch's scaled_dot_product_attention: a NaN or inf in a hidden key makes "
    "its score NaN, which no addition removes, so the row is NaN. TensorFlow's and JAX's "
    "backends replace the hidden scores instead."
)
#: Why Keras on torch and JAX returns float32 from ops.dot_product_attention.
KERAS_32_BIT = (
    "Keras's dtype promotion (result_type) maps float64 to float32 on every backend but "
    "TensorFlow, and ops.dot_product_attention computes in the promoted type: float64 "
    "inputs come back float32."
)
#: Why Keras on JAX differs in ops.dot_product_attention.
JAX_DPA = (
    f"on JAX, {KERAS_32_BIT} And a value whose last axis differs from the query's raises "
    "TypeError: Keras reshapes the output to the query's shape, after "
    "jax.nn.dot_product_attention (which needs equal head sizes) has failed; TensorFlow "
    "and torch return (B, T, N, the value's H)."
)


def _hidden_nan_key(mask: list) -> Inputs:
    """MultiHeadAttention's smallest input with a NaN key the mask hides from the query."""
    key = [[[0.0], [np.nan]]] if len(mask[0][0]) == 2 else [[[np.nan]]]
    return _mha_example([[[0.0]]], key, [[[0.0]] * len(mask[0][0])], mask)


def _mha_mask_cases() -> list[Case]:
    api = "keras.layers.MultiHeadAttention"
    case = case_family(
        operation="scaled_dot_product_attention",
        api=api,
        inputs=functools.partial(_mha_inputs, visible=True),
        reference=lambda i: _ref_mha(i, i["mask"]),
        candidate=_keras_mha(),
        requires=REQUIRES,
        tolerances=MHA_TOLERANCES,
    )
    scores = case_family(
        operation="scaled_dot_product_attention",
        api=f"{api}(return_attention_scores=True)",
        inputs=_mha_inputs,
        reference=lambda i: _ref_mha(i, i["mask"]),
        candidate=lambda i: _keras_mha(return_attention_scores=True)(i)[0],
        requires=REQUIRES,
        tolerances=MHA_TOLERANCES,
    )
    return [
        case(
            domain="attention_mask (B, Lq, Lk) bool, every query row sees a key; projections "
            "copied; NaN/inf in the keys no query sees",
            keras_elsewhere={
                "torch": OnBackend(
                    "hidden-nonfinite-key-leaks",
                    TORCH_ADDS_THE_MASK,
                    _hidden_nan_key([[[True, False]]]),
                )
            },
        ),
        case("fully-masked-row-gives-mean-of-values", _mha_inputs, ONE_MASKED_ROW, MEAN_WHY),
        case(
            inputs=_mha_inputs,
            reference=lambda i: _ref_mha(i, i["mask"], empty="mean"),
            domain="any attention_mask, fully masked rows included: reference empty='mean'",
            keras_elsewhere={
                "torch": OnBackend(
                    "hidden-nonfinite-key-leaks", TORCH_ADDS_THE_MASK, _hidden_nan_key([[[False]]])
                )
            },
        ),
        case(
            "nonfinite-hidden-value-leaks",
            functools.partial(_mha_inputs, plant="value"),
            _mha_example([[[1.0]]], [[[1.0], [1.0]]], [[[1.0], [np.nan]]], [[[True, False]]]),
            "the weights (0 for a hidden key) multiply every value, and 0 * NaN or 0 * inf is "
            "NaN: a NaN or inf in a value no query may see poisons the rows; the reference "
            "leaves hidden values out.",
            reference=lambda i: _ref_mha(i, i["mask"], empty="mean"),
        ),
        scores(
            domain="any attention_mask, fully masked rows included (scores path: the masked "
            "softmax zeroes them): reference empty='zeros'; NaN/inf in hidden keys"
        ),
        scores(
            "nonfinite-hidden-value-leaks",
            functools.partial(_mha_inputs, plant="value"),
            _mha_example([[[1.0]]], [[[1.0], [1.0]]], [[[1.0], [np.nan]]], [[[True, False]]]),
            "the zeroed scores still multiply every value, and 0 * NaN or 0 * inf is NaN, as "
            "on the fused path; the reference leaves hidden values out.",
        ),
        scores(
            operation="attention_weights",
            reference=lambda i: _ref_mha(i, i["mask"], scores=True)[1],
            candidate=lambda i: _keras_mha(return_attention_scores=True)(i)[1],
            domain="the returned (B, N, Lq, Lk) scores, any attention_mask: reference "
            "attention_weights (empty='zeros')",
        ),
        case(
            api=f"{api}(use_causal_mask=True)",
            inputs=functools.partial(_mha_inputs, mask=None, causal=True),
            reference=lambda i: _ref_mha(i, i["mask"], causal=True, empty="mean"),
            candidate=_keras_mha(use_causal_mask=True),
            domain="Lq != Lk included: top-left causal (query i sees keys 0..i, not the "
            "bottom-right KV-cache rule), with or without attention_mask; empty rows: "
            "reference empty='mean'; NaN/inf in hidden keys",
            keras_elsewhere={
                "torch": OnBackend(
                    "hidden-nonfinite-key-leaks", TORCH_ADDS_THE_MASK, _hidden_nan_key([[[False]]])
                )
            },
        ),
    ]


@st.composite
def _one_wide_heads_inputs(draw) -> Inputs:
    """Two heads of size 1 (key_dim=1), no mask."""
    return dict(draw(_mha_inputs(mask=False, plant=None, key_dim=1)), heads=2, key_dim=1)


def _mha_bias_cases() -> list[Case]:
    ones, zeros = np.ones((1, 1, 1), F32), np.zeros((1, 2, 1), F32)
    return [
        Case(
            operation="scaled_dot_product_attention",
            api="keras.layers.MultiHeadAttention(key_dim=1)",
            inputs=_one_wide_heads_inputs,
            reference=lambda i: _ref_mha(i, None),
            candidate=_keras_mha(),
            requires=REQUIRES,
            expect="key-dim-1-bias-added-along-the-sequence",
            example=dict(query=ones, key=zeros, value=zeros, heads=2, key_dim=1, seed=0, mask=None),
            explanation="keras.ops.add on TensorFlow treats the (heads, 1) projection bias as "
            "a channels-first bias when the sequence length equals the number of heads, so "
            "bias[n] is added to step n of every head instead of to head n of every step "
            "(eager calls, functional models and traces with a known length alike).",
            tolerances=MHA_TOLERANCES,
            keras_elsewhere=dict.fromkeys(
                ("torch", "jax"),
                OnBackend(
                    None,
                    "the channels-first reading of the bias is TensorFlow's alone: on torch "
                    "and JAX, keras.ops.add broadcasts the (heads, 1) bias onto the heads.",
                ),
            ),
        )
    ]


# -- automatic (Keras) masks and the explicit mask arguments -------------------------------


@st.composite
def _padded_mha_inputs(draw) -> Inputs:
    """Query and value ``(B, L, D)`` whose padded steps (pre/post/holes) are 0.0."""
    inputs = draw(_mha_inputs(mask=False, plant=None))
    for name in ("query", "value"):
        x = inputs[name]
        inputs[name] = np.where(draw(rs.masks(x.shape[:2]))[..., None], x, F32(0))
    del inputs["key"], inputs["mask"]
    return inputs


def _keras_masking_mha(inputs: Inputs):
    keras = _keras()
    from keras.src.backend import get_keras_mask

    masking = keras.layers.Masking(0.0)
    out = _layer_of(inputs)(masking(inputs["query"]), masking(inputs["value"]))
    return out, get_keras_mask(out)


def _ref_masking_mha(empty: str):
    def call(inputs: Inputs):
        qm, vm = ref.mask_from_value(inputs["query"]), ref.mask_from_value(inputs["value"])
        return _ref_mha(inputs, ref.attention_mask(qm, vm), empty=empty), qm

    return call


@st.composite
def _kwarg_mask_inputs(draw) -> Inputs:
    inputs = draw(_mha_inputs(mask=False, plant=None))
    b, lq, lk = inputs["query"].shape[0], inputs["query"].shape[1], inputs["key"].shape[1]
    del inputs["mask"]
    return dict(inputs, query_mask=draw(rs.masks((b, lq))), value_mask=draw(rs.masks((b, lk))))


def _keras_kwarg_masks(inputs: Inputs):
    return _layer_of(inputs)(
        inputs["query"],
        inputs["value"],
        key=inputs["key"],
        query_mask=inputs["query_mask"],
        value_mask=inputs["value_mask"],
    )


def _ref_kwarg_masks(use_query_mask: bool):
    def call(inputs: Inputs):
        qm = inputs["query_mask"] if use_query_mask else None
        mask = ref.attention_mask(qm, inputs["value_mask"], query_len=inputs["query"].shape[1])
        return _ref_mha(inputs, mask, empty="mean")

    return call


def _mha_keras_mask_cases() -> list[Case]:
    auto = case_family(
        operation="scaled_dot_product_attention",
        api="keras.layers.Masking -> keras.layers.MultiHeadAttention",
        inputs=_padded_mha_inputs,
        reference=_ref_masking_mha("mean"),
        candidate=_keras_masking_mha,
        requires=REQUIRES,
        tolerances=MHA_TOLERANCES,
    )
    kwargs = case_family(
        operation="scaled_dot_product_attention",
        api="keras.layers.MultiHeadAttention(query_mask=, value_mask=)",
        inputs=_kwarg_mask_inputs,
        reference=_ref_kwarg_masks(False),
        candidate=_keras_kwarg_masks,
        requires=REQUIRES,
        tolerances=MHA_TOLERANCES,
    )
    one = dict(heads=1, key_dim=2, seed=0)
    return [
        auto(
            domain="Keras masks from Masking(0.0) on query and value, eager: reference "
            "attention_mask(query_mask, key_mask), padded query rows get empty='mean'; "
            "the output carries the query mask"
        ),
        auto(
            "padded-query-rows-get-mean-of-values",
            example=dict(query=np.zeros((1, 1, 1), F32), value=np.ones((1, 1, 1), F32), **one),
            explanation="a padded query's row is fully masked and gets the uniform softmax: "
            "the mean of the projected values, not 0 (the reference's default empty='zeros'); "
            "only the output's Keras mask marks the row as padding.",
            reference=_ref_masking_mha("zeros"),
        ),
        kwargs(
            domain="explicit value_mask= honoured and query_mask= ignored: reference with "
            "the key mask alone, empty rows empty='mean'"
        ),
        kwargs(
            "query-mask-argument-ignored",
            example=dict(
                _mha_example([[[0.0]]], [[[0.0], [0.0]]], [[[0.0], [1.0]]], None),
                query_mask=np.array([[False]]),
                value_mask=np.array([[True, False]]),
            ),
            explanation="call() overwrites query_mask with the query tensor's own Keras mask "
            "(None for a plain tensor), so a masked query attends normally; the reference "
            "masks its row (here with Keras's own empty='mean' rule).",
            reference=_ref_kwarg_masks(True),
        ),
    ]


# -- a (B, Lk) key-padding mask passed as attention_mask -----------------------------------


@st.composite
def _key_padding_inputs(draw, sizes: str) -> Inputs:
    inputs = draw(_mha_inputs(mask=False, plant=None))
    b, lq, lk = inputs["query"].shape[0], inputs["query"].shape[1], inputs["key"].shape[1]
    if sizes == "B == 1":
        b = 1
    elif sizes == "B == Lq":
        b = lq = draw(st.integers(2, 3))
    elif sizes == "Lq == 1":
        b, lq = draw(st.integers(2, 3)), 1
    else:
        b = draw(st.integers(2, 3))
        lq = draw(st.integers(2, 5).filter(lambda n: n != b))
    dim = inputs["query"].shape[-1]
    inputs.update(
        query=_floats(draw, (b, lq, dim)),
        key=_floats(draw, (b, lk, dim)),
        value=_floats(draw, (b, lk, dim)),
        mask=draw(rs.masks((b, lk))),
    )
    return inputs


def _ref_key_padding(inputs: Inputs):
    mask = ref.attention_mask(key_mask=inputs["mask"], query_len=inputs["query"].shape[1])
    return _ref_mha(inputs, mask, empty="mean")


def _mha_key_padding_cases() -> list[Case]:
    case = case_family(
        operation="scaled_dot_product_attention",
        api="keras.layers.MultiHeadAttention(attention_mask=(B, Lk))",
        inputs=lambda: _key_padding_inputs("B == 1"),
        reference=_ref_key_padding,
        candidate=_keras_mha(),
        requires=REQUIRES,
        tolerances=MHA_TOLERANCES,
    )
    both = [[[1.0], [2.0]], [[1.0], [2.0]]]
    return [
        case(
            domain="B == 1: the (1, Lk) mask broadcasts over the queries as a key mask "
            "(reference key_mask, empty='mean')"
        ),
        case(
            "key-padding-mask-read-as-query-by-key",
            lambda: _key_padding_inputs("B == Lq"),
            _mha_example(
                [[[1.0], [1.0]], [[1.0], [1.0]]], both, both, [[True, False], [False, True]]
            ),
            "a rank-2 mask is expanded to (1, 1, B, Lk), so when B == Lq row i of the mask "
            "masks query i of every batch element instead of the keys of element i; the "
            "reference reads (B, Lk) as a key mask, which must be reshaped to (B, 1, Lk).",
        ),
        case(
            "key-padding-mask-raises-unless-batch-is-query-length",
            lambda: _key_padding_inputs("B != Lq"),
            _mha_example(
                np.ones((2, 3, 1)), np.ones((2, 1, 1)), np.ones((2, 1, 1)), [[True], [True]]
            ),
            "the mask expanded to (1, 1, B, Lk) does not broadcast against (B, N, Lq, Lk): "
            "InvalidArgumentError (the reference takes it as a key mask).",
        ),
        case(
            "key-padding-mask-with-one-query-gives-B-query-rows",
            lambda: _key_padding_inputs("Lq == 1"),
            _mha_example(
                np.ones((2, 1, 1)), np.ones((2, 1, 1)), np.ones((2, 1, 1)), [[True], [True]]
            ),
            "with one query the (1, 1, B, Lk) mask broadcasts the scores to (B, N, B, Lk): "
            "the output has B query steps instead of 1, silently.",
        ),
    ]


# -- keras.layers.Attention ----------------------------------------------------------------


@st.composite
def _luong_inputs(draw, *, visible: bool = False, plant: str | None = None) -> Inputs:
    """``keras.layers.Attention`` inputs: query ``(B, Lq, D)``, key/value ``(B, Lk, D)``/
    ``(B, Lk, Dv)``, query and value masks, ``causal``; ``visible``: every valid query sees
    a key; NaN/inf planted in the ``plant`` steps that no query may see."""
    b, lq, lk = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dim, dim_v = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    causal = draw(st.booleans())
    qm, vm = draw(rs.masks((b, lq))), draw(rs.masks((b, lk)))
    if visible and causal:
        vm[:, 0] = True  # query 0 sees key 0 alone
    elif visible:
        vm[np.arange(b), draw(hnp.arrays(np.int64, (b,), elements=st.integers(0, lk - 1)))] = True
    inputs = dict(
        query=_floats(draw, (b, lq, dim)),
        key=_floats(draw, (b, lk, dim)),
        value=_floats(draw, (b, lk, dim_v)),
        query_mask=qm,
        value_mask=vm,
        causal=causal,
    )
    if plant:
        hidden = cast(np.ndarray, ~_luong_mask(inputs).any(axis=1))
        inputs[plant] = _plant(inputs[plant], hidden, draw(NONFINITE))
    return inputs


def _luong_mask(inputs: Inputs) -> np.ndarray:
    return ref.attention_mask(inputs["query_mask"], inputs["value_mask"], causal=inputs["causal"])


def _ref_luong(empty: str):
    """The reference with scale 1 and Keras's mask rule; query-masked rows are 0."""

    def call(inputs: Inputs):
        out = ref.scaled_dot_product_attention(
            inputs["query"],
            inputs["key"],
            inputs["value"],
            _luong_mask(inputs),
            scale=1.0,
            empty=empty,
        )
        return ref.apply_mask(out, inputs["query_mask"])

    return call


def _keras_luong(inputs: Inputs):
    keras = _keras()
    layer = keras.layers.Attention(use_scale=False)
    return layer(
        [inputs["query"], inputs["value"], inputs["key"]],
        mask=[inputs["query_mask"], inputs["value_mask"]],
        use_causal_mask=inputs["causal"],
    )


def _luong_example(query, key, value, value_mask, **extra) -> Inputs:
    return dict(
        query=np.array(query, F32),
        key=np.array(key, F32),
        value=np.array(value, F32),
        query_mask=np.ones(np.shape(query)[:2], bool),
        value_mask=np.array(value_mask, bool),
        causal=False,
        **extra,
    )


def _luong_cases() -> list[Case]:
    case = case_family(
        operation="scaled_dot_product_attention",
        api="keras.layers.Attention",
        inputs=functools.partial(_luong_inputs, visible=True),
        reference=_ref_luong("zeros"),
        candidate=_keras_luong,
        requires=REQUIRES,
        tolerances=FLOAT_TOLERANCES,
    )
    return [
        case(
            domain="mask=[query_mask, value_mask], use_causal_mask (top-left) or not, "
            "use_scale=False (scale 1.0); valid query rows see a key; query-masked "
            "rows are 0"
        ),
        case(
            "fully-masked-value-row-gives-mean-of-values",
            _luong_inputs,
            _luong_example([[[1.0]]], [[[1.0]]], [[[1.0]]], [[False]]),
            "masked scores are lowered by 1e9, so a valid query with no visible key gets a "
            "uniform softmax, the mean of all the values; the reference's default "
            "empty='zeros' gives 0 (empty='mean' matches).",
        ),
        case(
            inputs=_luong_inputs,
            reference=_ref_luong("mean"),
            domain="valid query rows with no visible key: reference empty='mean' "
            "(query-masked rows 0)",
        ),
        case(
            "nonfinite-hidden-key-poisons-the-row",
            functools.partial(_luong_inputs, plant="key"),
            _luong_example([[[1.0]]], [[[1.0], [np.nan]]], [[[1.0], [1.0]]], [[True, False]]),
            "a masked score is score - 1e9, not a replacement: a NaN or inf key gives a NaN "
            "or inf score that survives the mask and turns the softmax row into NaN; the "
            "reference leaves hidden keys out.",
            reference=_ref_luong("mean"),
        ),
        case(
            "nonfinite-hidden-value-leaks",
            functools.partial(_luong_inputs, plant="value"),
            _luong_example([[[1.0]]], [[[1.0], [1.0]]], [[[1.0], [np.nan]]], [[True, False]]),
            "weights @ value multiplies the hidden value by its weight 0, and 0 * NaN or "
            "0 * inf is NaN; the reference leaves hidden values out.",
            reference=_ref_luong("mean"),
        ),
        case(
            "hidden-score-above-1e9-wins",
            lambda: st.just(
                _luong_example([[[1.0]]], [[[0.0], [2e9]]], [[[1.0], [2.0]]], [[True, False]])
            ),
            _luong_example([[[1.0]]], [[[0.0], [2e9]]], [[[1.0], [2.0]]], [[True, False]]),
            "the mask subtracts 1e9 from a hidden score instead of removing it: a hidden key "
            "scoring 2e9 still outweighs every visible one (here it takes all the weight).",
        ),
    ]


# -- keras.ops.dot_product_attention -------------------------------------------------------

MASK_LAYOUTS = {
    "(T, S)": lambda b, n, t, s: (t, s),
    "(B, 1, T, S)": lambda b, n, t, s: (b, 1, t, s),
    "(B, N, T, S)": lambda b, n, t, s: (b, n, t, s),
}


@st.composite
def _dpa_inputs(
    draw,
    *,
    visible: bool = False,
    mask: bool = True,
    causal: bool | None = False,
    bias: bool = False,
    plant: str | None = "key",
) -> Inputs:
    """``dot_product_attention`` inputs ``(B, T, N, H)`` float32/float64; a bool ``mask``
    (or an additive 0/-inf ``bias``) in one of :data:`MASK_LAYOUTS`; ``is_causal`` (drawn
    when ``causal`` is None); a ``scale`` or None; NaN/inf planted in the ``plant`` steps
    that no query may see."""
    dtype = draw(st.sampled_from([F32, F64]))
    b, n, t, s = (
        draw(st.integers(1, 3)),
        draw(st.integers(1, 2)),
        draw(st.integers(1, 5)),
        draw(st.integers(1, 5)),
    )
    h, h_v = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    causal = draw(st.booleans()) if causal is None else causal
    inputs = dict(
        query=_floats(draw, (b, t, n, h), dtype),
        key=_floats(draw, (b, s, n, h), dtype),
        value=_floats(draw, (b, s, n, h_v), dtype),
        mask=None,
        bias=None,
        is_causal=causal,
        scale=draw(st.none() | st.sampled_from([0.5, 1.0])),
    )
    full = np.ones((b, n, t, s), bool)
    if mask:
        layout = draw(st.sampled_from(sorted(MASK_LAYOUTS)))
        m = _mask(draw, MASK_LAYOUTS[layout](b, n, t, s), visible=visible)
        full = full & m
        if bias:
            inputs["bias"] = ref.convert_mask(m, "keep", "additive", dtype=dtype)
        else:
            inputs["mask"] = m
    if causal:
        full = full & ref.causal_mask(t, s)
    if plant:
        hidden = np.swapaxes(~full.any(axis=2), 1, 2)  # (B, S, N): steps no query sees
        inputs[plant] = _plant(inputs[plant], hidden, draw(NONFINITE))
    return inputs


def _heads_first(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x, 1, 2)  # (B, T, N, H) <-> (B, N, T, H)


def _ref_dpa(empty: str = "zeros"):
    def call(inputs: Inputs):
        mask = inputs["mask"]
        if inputs["bias"] is not None:
            mask = ref.convert_mask(inputs["bias"], "additive", "keep")
        q, k, v = (_heads_first(inputs[n]) for n in ("query", "key", "value"))
        with np.errstate(invalid="ignore", over="ignore"):
            out = ref.scaled_dot_product_attention(
                q, k, v, mask, causal=inputs["is_causal"], scale=inputs["scale"], empty=empty
            )
        return _heads_first(out)

    return call


def _keras_dpa(inputs: Inputs):
    keras = _keras()
    return keras.ops.dot_product_attention(
        inputs["query"],
        inputs["key"],
        inputs["value"],
        bias=inputs["bias"],
        mask=inputs["mask"],
        scale=inputs["scale"],
        is_causal=inputs["is_causal"],
    )


def _dpa_example(mask, key=((1.0,), (1.0,)), value=((1.0,), (1.0,)), *, bias=False) -> Inputs:
    """B = N = H = 1, one query, two keys; ``mask`` (T, S) given as a list of rows."""
    m = np.array(mask, bool)
    return dict(
        query=np.ones((1, 1, 1, 1), F32),
        key=np.array(key, F32).reshape(1, -1, 1, 1),
        value=np.array(value, F32).reshape(1, -1, 1, 1),
        mask=None if bias else m,
        bias=ref.convert_mask(m, "keep", "additive", dtype="float32") if bias else None,
        is_causal=False,
        scale=None,
    )


def _dpa_float64(visible: bool | None = None, *, is_causal: bool = False, bias: bool = False):
    """One float64 query, key and value (B = T = S = N = H = 1); a (T, S) mask that shows
    the key or hides it (``visible``), or no mask (causal, or a 0/-inf ``bias``)."""
    one = np.zeros((1, 1, 1, 1))
    mask = None if visible is None else np.array([[visible]])
    return dict(
        query=one,
        key=one,
        value=one,
        mask=mask,
        bias=np.full((1, 1, 1, 1), -np.inf) if bias else None,
        is_causal=is_causal,
        scale=None,
    )


#: Why Keras on torch differs in ops.dot_product_attention.
TORCH_DPA = f"on torch, {KERAS_32_BIT}"


def _dpa_cases() -> list[Case]:
    case = case_family(
        operation="scaled_dot_product_attention",
        api="keras.ops.dot_product_attention",
        inputs=functools.partial(_dpa_inputs, visible=True),
        reference=_ref_dpa(),
        candidate=_keras_dpa,
        requires=REQUIRES,
        tolerances=DPA_TOLERANCES,
    )
    biased = case_family(
        operation="scaled_dot_product_attention",
        api="keras.ops.dot_product_attention(bias=0/-inf)",
        inputs=functools.partial(_dpa_inputs, bias=True, plant=None),
        reference=_ref_dpa("nan"),
        candidate=_keras_dpa,
        requires=REQUIRES,
        tolerances=DPA_TOLERANCES,
    )
    return [
        case(
            domain="bool mask (T, S), (B, 1, T, S) or (B, N, T, S), every query row sees a "
            "key; float32/float64; NaN/inf in the keys no query sees",
            keras_elsewhere={
                "torch": OnBackend(
                    "hidden-nonfinite-key-leaks",
                    f"{TORCH_ADDS_THE_MASK} Besides, {KERAS_32_BIT}",
                    _dpa_example([[True, False]], key=((1.0,), (np.nan,))),
                ),
                "jax": OnBackend("float64-comes-back-float32", JAX_DPA, _dpa_float64(True)),
            },
        ),
        case(
            "fully-masked-row-gives-mean-of-values",
            functools.partial(_dpa_inputs, plant=None),
            _dpa_example([[False, False]], value=((1.0,), (3.0,))),
            "masked logits are set to -0.7 * float32 max, so a row with no visible key gets a "
            "uniform softmax, the mean of the values; the reference's default empty='zeros' "
            "gives 0 (empty='mean' matches).",
        ),
        case(
            inputs=functools.partial(_dpa_inputs, causal=None),
            reference=_ref_dpa("mean"),
            domain="any bool mask, is_causal or not: fully masked rows get reference empty='mean'",
            keras_elsewhere={
                "torch": OnBackend(
                    "hidden-nonfinite-key-leaks",
                    f"{TORCH_ADDS_THE_MASK} Besides, {KERAS_32_BIT}",
                    _dpa_example([[False]], key=((np.nan,),), value=((1.0,),)),
                ),
                "jax": OnBackend("float64-comes-back-float32", JAX_DPA, _dpa_float64(False)),
            },
        ),
        case(
            inputs=functools.partial(_dpa_inputs, mask=False, causal=True),
            domain="is_causal=True, T != S included: top-left (query i sees keys 0..i), "
            "not the bottom-right KV-cache rule; NaN/inf in the keys no query sees",
            keras_elsewhere={
                "torch": OnBackend(
                    "float64-comes-back-float32", TORCH_DPA, _dpa_float64(is_causal=True)
                ),
                "jax": OnBackend(
                    "float64-comes-back-float32", JAX_DPA, _dpa_float64(is_causal=True)
                ),
            },
        ),
        case(
            "nonfinite-hidden-value-leaks",
            functools.partial(_dpa_inputs, causal=None, plant="value"),
            _dpa_example([[True, False]], value=((1.0,), (np.nan,))),
            "probs @ value multiplies a hidden value by its probability 0, and 0 * NaN or "
            "0 * inf is NaN; the reference leaves hidden values out.",
            reference=_ref_dpa("mean"),
        ),
        biased(
            domain="additive bias 0/-inf in any layout, fully masked rows included: "
            "reference empty='nan'",
            keras_elsewhere={
                "torch": OnBackend(
                    "fully-masked-bias-row-is-0",
                    "on torch, Keras hands the bias to torch's scaled_dot_product_attention, "
                    "which returns 0 for a row whose bias is all -inf where TensorFlow and "
                    "JAX give NaN (a softmax of -inf only).",
                    _dpa_example([[False]], key=((1.0,),), value=((1.0,),), bias=True),
                ),
                "jax": OnBackend("float64-comes-back-float32", JAX_DPA, _dpa_float64(bias=True)),
            },
        ),
        biased(
            "fully-masked-bias-row-is-nan",
            example=_dpa_example([[False, False]], bias=True),
            explanation="a row whose bias is all -inf is a softmax of -inf only: NaN; the "
            "reference's default empty='zeros' gives 0 (empty='nan' matches).",
            reference=_ref_dpa("zeros"),
        ),
        biased(
            "nonfinite-hidden-key-leaks-through-bias",
            functools.partial(_dpa_inputs, bias=True, plant="key"),
            _dpa_example([[True, False]], key=((1.0,), (np.nan,)), bias=True),
            "a hidden key's logit is NaN (or inf) plus the -inf bias, NaN, and the softmax "
            "spreads it over the row; a bool mask replaces the logit and does not leak.",
        ),
    ]


def cases() -> list[Case]:
    """Every Keras attention case."""
    return (
        _mha_mask_cases()
        + _mha_bias_cases()
        + _mha_keras_mask_cases()
        + _mha_key_padding_cases()
        + _luong_cases()
        + _dpa_cases()
    )
