"""Laws of the mask conventions and of attention, checked on the reference alone."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference as ref
from maskref.api.conventions import CONVENTIONS, NAMED_CONVENTIONS
from reference import strategies as rs

from .core import Case, Inputs
from .operations import ATTENTION_TOLERANCES, mask_in


def _law(operation: str, name: str, inputs, left, right, explanation: str, **fields) -> Case:
    return Case(
        operation=operation,
        api=f"law: {name}",
        inputs=inputs,
        reference=left,
        candidate=right,
        kind="invariant",
        same_error_class=True,
        explanation=explanation,
        **fields,
    )


#: Same-shape mask conventions (``nonzero`` and ``lengths`` have tests of their own).
names = st.sampled_from(
    CONVENTIONS + tuple(n for n, c in NAMED_CONVENTIONS.items() if c.convention in CONVENTIONS)
)


@st.composite
def _keep_and_convention(draw) -> Inputs:
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    return dict(keep=draw(hnp.arrays(np.bool_, shape)), via=draw(names))


@st.composite
def _written(draw) -> Inputs:
    via = draw(names)
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=4))
    return dict(mask=draw(mask_in(via, shape)), via=draw(st.just(via)))


def _there_and_back(i: Inputs) -> np.ndarray:
    return ref.convert_mask(ref.convert_mask(i["keep"], "keep", i["via"]), i["via"], "keep")


def _canonical(i: Inputs) -> np.ndarray:
    """The mask rewritten in its own convention (soft biases become 0, -1e9 becomes -inf)."""
    keep = ref.convert_mask(i["mask"], i["via"], "keep")
    return ref.convert_mask(keep, "keep", i["via"], dtype=i["mask"].dtype)


def _back_and_there(i: Inputs) -> np.ndarray:
    canonical = _canonical(i)
    keep = ref.convert_mask(canonical, i["via"], "keep")
    return ref.convert_mask(keep, "keep", i["via"], dtype=canonical.dtype)


@st.composite
def _mask_parts(draw) -> Inputs:
    batch, lq, lk = draw(st.integers(0, 3)), draw(st.integers(0, 5)), draw(st.integers(0, 5))
    return dict(
        query_mask=draw(rs.masks((batch, lq))),
        key_mask=draw(rs.masks((batch, lk))),
        align=draw(st.sampled_from(["top_left", "bottom_right"])),
        window=draw(st.none() | st.integers(1, 4)),
    )


def _and_of_parts(i: Inputs) -> np.ndarray:
    causal = ref.causal_mask(
        i["query_mask"].shape[1], i["key_mask"].shape[1], align=i["align"], window=i["window"]
    )
    return i["query_mask"][:, :, None] & i["key_mask"][:, None, :] & causal[None]


def _combined(i: Inputs) -> np.ndarray:
    return ref.attention_mask(
        i["query_mask"], i["key_mask"], causal=True, align=i["align"], window=i["window"]
    )


def _attention():
    return rs.attention_batches(plant=False).map(
        lambda b: {k: v for k, v in b.items() if k in ("query", "key", "value")}
    )


def _all_true(i: Inputs) -> np.ndarray:
    scores = i["query"].shape[:-1] + i["key"].shape[-2:-1]
    return ref.scaled_dot_product_attention(**i, mask=np.ones(scores[-2:], bool))


def _replace_hidden(draw_other: np.ndarray, i: Inputs) -> Inputs:
    """``i`` with the planted (non-finite) keys, values and query rows made finite."""
    out = dict(i)
    for name in ("query", "key", "value"):
        out[name] = np.where(np.isfinite(i[name]), i[name], draw_other).astype(i[name].dtype)
    return out


@st.composite
def _planted(draw) -> Inputs:
    batch = draw(rs.attention_batches(plant=True))
    return dict(batch=batch, other=draw(st.sampled_from([0.0, 1.5, -2.0])))


@st.composite
def _packed(draw) -> Inputs:
    """One row packing documents (segment ids 1, 2, ... then padding 0), with q, k, v."""
    lengths = draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
    seqlen = sum(lengths) + draw(st.integers(0, 2))
    ids = ref.segment_ids_from_lengths([lengths], seqlen)
    values = st.floats(-2, 2, width=32, allow_subnormal=False)
    q, k, v = (draw(hnp.arrays(np.float32, (1, seqlen, 3), elements=values)) for _ in range(3))
    return dict(ids=ids, query=q, key=k, value=v, causal=draw(st.booleans()))


def _packed_attention(i: Inputs) -> np.ndarray:
    mask = ref.attention_mask(segment_ids=i["ids"], causal=i["causal"])
    return ref.scaled_dot_product_attention(i["query"], i["key"], i["value"], mask)


def _each_alone(i: Inputs) -> np.ndarray:
    out = np.zeros(i["value"].shape[:2] + i["value"].shape[2:], np.float32)
    for doc in np.unique(i["ids"][i["ids"] != 0]):  # a law may loop: it is the definition
        rows = np.flatnonzero(i["ids"][0] == doc)
        part = {n: i[n][:, rows] for n in ("query", "key", "value")}
        out[:, rows] = ref.scaled_dot_product_attention(**part, causal=i["causal"])
    return out


def cases() -> list[Case]:
    """Every law of ``reference.conventions`` and ``reference.attention``."""
    return [
        _law(
            "convert_mask",
            "keep -> any convention -> keep is the identity",
            _keep_and_convention,
            lambda i: i["keep"],
            _there_and_back,
            "every convention holds a boolean mask exactly",
        ),
        _law(
            "convert_mask",
            "any convention -> keep -> the same convention is exact",
            _written,
            _canonical,
            _back_and_there,
            "a mask in its canonical spelling survives a round trip through 'keep'",
        ),
        _law(
            "attention_mask",
            "attention_mask(causal) == query & key & causal_mask",
            _mask_parts,
            _and_of_parts,
            _combined,
            "the combined mask is the AND of its parts (Keras's MultiHeadAttention rule)",
        ),
        _law(
            "scaled_dot_product_attention",
            "an all-True mask == no mask",
            _attention,
            lambda i: ref.scaled_dot_product_attention(**i),
            _all_true,
            "a mask that hides nothing changes nothing",
            tolerances=ATTENTION_TOLERANCES,
        ),
        _law(
            "scaled_dot_product_attention",
            "hidden keys and empty query rows never matter",
            _planted,
            lambda i: ref.scaled_dot_product_attention(**i["batch"]),
            lambda i: ref.scaled_dot_product_attention(**_replace_hidden(i["other"], i["batch"])),
            "NaN or inf in keys and values no query sees, or in queries that see no key, "
            "changes nothing",
            tolerances=ATTENTION_TOLERANCES,
        ),
        _law(
            "segment_mask",
            "packed documents == each document attended alone",
            _packed,
            _each_alone,
            _packed_attention,
            "attention over a packed row with segment_mask equals attending each document "
            "on its own (padding rows give zeros)",
            tolerances=ATTENTION_TOLERANCES,
        ),
    ]
