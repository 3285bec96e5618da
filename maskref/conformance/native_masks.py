"""The frameworks' own mask builders, measured against ``reference.masks``."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference as ref
from reference import strategies as rs

from .core import Case, Inputs, case_family


def _tf_sequence_mask(inputs: Inputs):
    import tensorflow as tf

    return tf.sequence_mask(inputs["lengths"], inputs.get("maxlen"))


@st.composite
def _lengths_domain(draw) -> Inputs:
    lens = draw(
        rs.lengths()
        | hnp.arrays(
            np.int64,
            hnp.array_shapes(min_dims=0, max_dims=2, max_side=3),
            elements=st.integers(0, 6),
        )
    )
    return dict(lengths=lens, maxlen=draw(st.none() | st.integers(0, 8)))


def _sequence_mask_cases() -> list[Case]:
    case = case_family(
        operation="sequence_mask",
        api="tf.sequence_mask",
        inputs=_lengths_domain,
        reference=lambda i: ref.sequence_mask(**i),
        candidate=_tf_sequence_mask,
        requires=("tensorflow",),
    )

    return [
        case(domain="integer lengths >= 0, any shape"),
        case(
            "negative-lengths-mean-empty",
            lambda: st.builds(
                lambda v, m: dict(lengths=np.array(v), maxlen=m),
                st.lists(st.integers(-3, 3), min_size=1, max_size=4).filter(lambda v: min(v) < 0),
                st.none() | st.integers(0, 4),
            ),
            dict(lengths=np.array([-1])),
            "a negative length gives an empty row; the reference raises ValueError.",
        ),
        case(
            "float-lengths-truncated",
            lambda: st.builds(
                lambda v: dict(lengths=np.array(v), maxlen=4),
                st.lists(st.floats(0, 4), min_size=1, max_size=4),
            ),
            dict(lengths=np.array([0.5]), maxlen=1),
            "float lengths are truncated toward zero; the reference refuses them (TypeError).",
        ),
    ]


def _keras_masking(inputs: Inputs):
    import keras
    from keras.src.backend import get_keras_mask

    y = keras.layers.Masking(mask_value=inputs["mask_value"])(inputs["x"])
    return y, get_keras_mask(y)


def _ref_masking(inputs: Inputs):
    mask = ref.mask_from_value(inputs["x"], inputs["mask_value"])
    return ref.apply_mask(inputs["x"], mask), mask


@st.composite
def _masking_domain(draw, dtype: str = "float32") -> Inputs:
    x, mask = draw(
        rs.padded_batches(dtype, inner=st.integers(1, 3).map(lambda n: (n,)), plant=False)
    )
    mask_value = draw(st.sampled_from([0.0, 1.0, -1.0]))
    x = np.where(mask[..., None], x, np.asarray(mask_value, dtype=x.dtype))
    return dict(x=x, mask_value=mask_value)


def _masking_cases() -> list[Case]:
    case = case_family(
        operation="mask_from_value",
        api="keras.layers.Masking",
        inputs=_masking_domain,
        reference=_ref_masking,
        candidate=_keras_masking,
        requires=("keras",),
    )

    f32 = np.float32
    return [
        case(domain="float32 (B, T, D) data, finite mask_value; output and mask"),
        case(
            "nan-mask-value-masks-nothing",
            lambda: st.builds(
                lambda x: dict(x=x, mask_value=float("nan")),
                hnp.arrays(
                    f32,
                    st.tuples(st.integers(1, 2), st.integers(1, 3), st.just(1)),
                    elements=st.just(float("nan")),
                ),
            ),
            dict(x=np.array([[[np.nan]]], dtype=f32), mask_value=float("nan")),
            "x != nan is always True, so Masking(nan) never masks; the reference masks steps "
            "whose features are all NaN.",
        ),
        case(
            "casts-to-compute-dtype",
            lambda: _masking_domain("float64"),
            dict(x=np.array([[[1.0]]]), mask_value=0.0),
            "float64 input comes out float32 (the layer's compute dtype); the reference keeps "
            "the input's dtype.",
        ),
    ]


def _keras_embedding_mask(inputs: Inputs):
    import keras

    return keras.layers.Embedding(10, 2, mask_zero=True).compute_mask(inputs["ids"])


def _embedding_cases() -> list[Case]:
    case = case_family(
        operation="mask_from_ids",
        api="keras.layers.Embedding(mask_zero=True).compute_mask",
        inputs=lambda: rs.token_ids().map(lambda ids: dict(ids=ids)),
        reference=lambda i: ref.mask_from_ids(**i),
        candidate=_keras_embedding_mask,
        requires=("keras",),
    )

    return [
        case(domain="integer ids"),
        case(
            "float-ids-masked-by-raw-value",
            lambda: st.builds(
                lambda v: dict(ids=np.array([v])),
                st.lists(st.floats(0, 5).filter(lambda v: v != int(v)), min_size=1, max_size=4),
            ),
            dict(ids=np.array([[0.5]])),
            "the mask is computed on the raw floats (0.5 is valid) while the lookup uses the "
            "int-cast id (row 0, the padding row); the reference refuses float ids.",
        ),
    ]


def cases() -> list[Case]:
    """Every native mask case."""
    return _sequence_mask_cases() + _masking_cases() + _embedding_cases()
