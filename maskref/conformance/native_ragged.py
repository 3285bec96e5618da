"""The frameworks' own ragged, packed and unpadded layouts, measured against ``reference.ragged``.

TensorFlow: ``tf.RaggedTensor.from_tensor`` (``lengths=`` and ``padding=``),
``RaggedTensor.to_tensor``, ``tf.ragged.boolean_mask``, ``tf.boolean_mask``
and ``tf.reverse_sequence``. PyTorch: ``pack_padded_sequence``,
``pad_packed_sequence``, ``pack_sequence``, ``unpack_sequence`` and jagged
nested tensors (``nested_tensor_from_jagged(...).to_padded_tensor``). Every
call is batch-first (``batch_first=True``, ``batch_axis=0``), as maskref is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference as ref
from reference import strategies as rs

from .core import Case, Inputs, case_family

TF = ("tensorflow",)
TORCH = ("torch",)
MAX_BATCH, MAX_LEN = 4, 6

#: Step shapes with no zero-size axis (PyTorch refuses to pack empty tensors).
solid_inner = st.sampled_from([(), (1,), (2,), (2, 1)])
#: Step shapes, zero-size axes included.
any_inner = rs.inner_shapes(max_dims=2, max_side=2)
#: ``maxlen`` values: an int (0..7), or None too.
int_maxlens = st.integers(0, MAX_LEN + 1)
any_maxlens = st.none() | int_maxlens


def _fixed(**inputs) -> st.SearchStrategy[Inputs]:
    return st.just(inputs)


def _other(value: object, dtype: np.dtype) -> object:
    """A value of ``dtype`` different from ``value`` (1, or 0 when ``value`` is 1)."""
    return np.asarray(0 if value == 1 else 1).astype(dtype)


# -- inputs -------------------------------------------------------------------------------


@st.composite
def padded_inputs(
    draw, layout: str | None = "post", inner=any_inner, dtype=None, plant: bool = True
) -> Inputs:
    """``x (B, T, ...)`` with a ``(B, T)`` mask of ``layout`` and ``lengths = mask.sum(1)``."""
    x, mask = draw(
        rs.padded_batches(
            dtype, max_batch=MAX_BATCH, max_len=MAX_LEN, inner=inner, layout=layout, plant=plant
        )
    )
    return dict(x=x, mask=mask, lengths=mask.sum(axis=1).astype(np.int64))


@st.composite
def from_tensor_lengths(draw) -> Inputs:
    """Post-padded ``x`` with lengths in ``[0, T + 2]``: full rows sometimes say more than T."""
    inputs = draw(padded_inputs())
    x, lengths = inputs["x"], inputs["lengths"]
    extra = draw(hnp.arrays(np.int64, lengths.shape, elements=st.integers(0, 2)))
    lengths = np.where(lengths == x.shape[1], lengths + extra, lengths)
    dtype = draw(st.sampled_from([np.int64, np.int32]))
    return dict(x=x, lengths=lengths.astype(dtype))


@st.composite
def padded_with_value(draw, trailing_pad_value: bool = False) -> Inputs:
    """Post-padded ``x`` whose padding holds ``padding``; a valid row never ends in it.

    With ``trailing_pad_value=True`` the last valid step of row 0 is ``padding``.
    """
    inputs = padded_inputs(inner=solid_inner, plant=False)
    if trailing_pad_value:
        inputs = inputs.filter(lambda i: i["lengths"][:1].sum() > 0)
    inputs = draw(inputs)
    x, mask, lengths = inputs["x"].copy(), inputs["mask"], inputs["lengths"]
    value = draw(rs.elements(x.dtype))
    pad = np.asarray(value).astype(x.dtype)
    x[~mask] = pad
    for b, n in enumerate(lengths):
        if n and (x[b, n - 1] == pad).all():
            x[(b, n - 1) + (0,) * (x.ndim - 2)] = _other(value, x.dtype)
    if trailing_pad_value:
        x[0, lengths[0] - 1] = pad
    return dict(x=x, mask=mask, padding=value)


@st.composite
def ragged_inputs(
    draw, dtype=None, inner=any_inner, min_batch: int = 0, value_filter=None, maxlens=any_maxlens
) -> Inputs:
    """``values``, int64 ``row_splits``, a ``maxlen`` (None or 0..7) and a pad ``value``."""
    dtype = np.dtype(draw(rs.dtypes()) if dtype is None else dtype)
    inner = draw(inner)
    seqs = draw(
        rs.ragged_batches(
            dtype, max_batch=MAX_BATCH, max_len=MAX_LEN, inner=inner, min_batch=min_batch
        )
    )
    values = np.concatenate(seqs) if seqs else np.zeros((0,) + inner, dtype)
    elements = rs.elements(dtype)
    value = draw(elements if value_filter is None else elements.filter(value_filter))
    return dict(
        values=values,
        row_splits=ref.row_splits_from_lengths([len(s) for s in seqs]),
        maxlen=draw(maxlens),
        value=value,
    )


@st.composite
def packable(draw, min_length: int = 1, inner=solid_inner, sort: bool = False) -> Inputs:
    """``x (B, T, ...)`` with B >= 1, T >= 1 and int64 ``lengths`` in ``[min_length, T]``."""
    dtype = draw(rs.dtypes())
    batch, steps = draw(st.integers(1, MAX_BATCH)), draw(st.integers(1, MAX_LEN))
    shape = (batch, steps) + draw(inner)
    x = draw(hnp.arrays(dtype, shape, elements=rs.elements(dtype)))
    lengths = draw(hnp.arrays(np.int64, batch, elements=st.integers(min_length, steps)))
    if sort and draw(st.integers(0, 3)):
        lengths = np.sort(lengths)[::-1].copy()
    if dtype.kind == "f" and x.size:  # padding that leaks would show
        x = x.copy()
        x[np.arange(steps)[None, :] >= lengths[:, None]] = np.nan
    return dict(x=x, lengths=lengths)


@st.composite
def packed_inputs(draw, min_length: int = 1) -> Inputs:
    """A reference ``PackedSequences``, a ``total_length`` and a ``padding_value``."""
    inputs = draw(packable(min_length))
    packed = ref.pack_sequences(inputs["x"], inputs["lengths"])
    steps = packed.batch_sizes.shape[0]
    return dict(
        packed=packed,
        total_length=draw(st.none() | st.integers(max(steps - 2, 0), steps + 2)),
        padding_value=draw(rs.elements(packed.data.dtype)),
    )


@st.composite
def sequence_lists(draw, min_length: int = 1) -> Inputs:
    """1..4 sequences of one dtype, each ``min_length``..6 steps of a solid step shape."""
    dtype, inner = draw(rs.dtypes()), draw(solid_inner)
    lengths = draw(st.lists(st.integers(min_length, MAX_LEN), min_size=1, max_size=MAX_BATCH))
    return dict(
        sequences=[
            draw(hnp.arrays(dtype, (n,) + inner, elements=rs.elements(dtype))) for n in lengths
        ]
    )


# -- TensorFlow ---------------------------------------------------------------------------


def _ragged_parts(rt) -> tuple:
    return rt.flat_values, rt.row_splits


def _tf_from_lengths(inputs: Inputs):
    import tensorflow as tf

    return _ragged_parts(tf.RaggedTensor.from_tensor(inputs["x"], lengths=inputs["lengths"]))


def _ref_from_lengths(inputs: Inputs):
    x = inputs["x"]
    return ref.ragged_from_padded(x, ref.sequence_mask(inputs["lengths"], x.shape[1]))


def _ref_ragged(inputs: Inputs):
    return ref.ragged_from_padded(inputs["x"], inputs["mask"])


def _from_lengths_cases() -> list[Case]:
    case = case_family(
        operation="ragged_from_padded",
        api="tf.RaggedTensor.from_tensor(lengths=)",
        inputs=from_tensor_lengths,
        reference=_ref_from_lengths,
        candidate=_tf_from_lengths,
        requires=TF,
    )
    i64 = np.int64
    return [
        case(
            domain="post-padded, any dtype and step shape; lengths above T clipped to T, as "
            "the mask sequence_mask(lengths, T)"
        ),
        case(
            "negative-lengths-mean-empty",
            lambda: st.builds(
                lambda x, n: dict(x=x, lengths=np.full(x.shape[0], n, i64)),
                hnp.arrays(i64, st.tuples(st.integers(1, 3), st.integers(0, 3))),
                st.integers(-3, -1),
            ),
            dict(x=np.zeros((1, 0), i64), lengths=np.array([-1])),
            "a negative length gives an empty row; the reference refuses it (ValueError).",
        ),
        case(
            "mask-holes-become-a-prefix",
            lambda: padded_inputs(layout="holes"),
            dict(x=np.array([[0, 1]]), mask=np.array([[False, True]]), lengths=np.array([1])),
            "lengths can only say how many steps a row keeps, always its first ones "
            "(x[b, :n]): with lengths=mask.sum(1), a pre-padded row or a mask with holes keeps "
            "the wrong steps; the reference keeps the valid ones (tf.ragged.boolean_mask does).",
            reference=_ref_ragged,
        ),
    ]


def _tf_from_padding(inputs: Inputs):
    import tensorflow as tf

    x = inputs["x"]
    padding = np.full(x.shape[2:], inputs["padding"], dtype=x.dtype)
    return _ragged_parts(tf.RaggedTensor.from_tensor(x, padding=padding))


def _from_padding_cases() -> list[Case]:
    case = case_family(
        operation="ragged_from_padded",
        api="tf.RaggedTensor.from_tensor(padding=)",
        inputs=padded_with_value,
        reference=_ref_ragged,
        candidate=_tf_from_padding,
        requires=TF,
    )
    f32 = np.float32
    return [
        case(
            domain="post-padded with the pad value, no valid row ending in it; finite "
            "values, steps of non-zero size"
        ),
        case(
            "valid-trailing-pad-value-dropped",
            lambda: padded_with_value(trailing_pad_value=True),
            dict(x=np.array([[0]]), mask=np.array([[True]]), padding=0),
            "a row loses its whole suffix of steps equal to the pad value, valid steps "
            "included (only trailing ones: a pad value inside a row is kept); the reference "
            "keeps every step the mask says is valid.",
        ),
        case(
            "nan-padding-strips-nothing",
            lambda: st.builds(
                lambda x: dict(x=x, mask=np.zeros(x.shape[:2], bool), padding=float("nan")),
                hnp.arrays(
                    f32,
                    st.tuples(st.integers(1, 3), st.integers(1, 3)),
                    elements=st.just(float("nan")),
                ),
            ),
            dict(x=np.array([[np.nan]], f32), mask=np.array([[False]]), padding=float("nan")),
            "NaN != NaN, so padding=nan never matches and no step is dropped; the reference "
            "drops the masked steps.",
        ),
        case(
            "zero-size-steps-always-padding",
            lambda: st.builds(
                lambda b, t, w: dict(
                    x=np.zeros((b, t, w, 0), f32), mask=np.ones((b, t), bool), padding=0.0
                ),
                st.integers(1, 3),
                st.integers(1, 3),
                st.integers(0, 2),
            ),
            dict(x=np.zeros((1, 1, 0), f32), mask=np.array([[True]]), padding=0.0),
            "a step with no elements compares equal to any padding (an empty all()), so every "
            "step of shape (..., 0) is dropped; the reference keeps the valid ones.",
        ),
    ]


def _tf_boolean_mask(inputs: Inputs):
    import tensorflow as tf

    return tf.boolean_mask(inputs["x"], inputs["mask"])


def _tf_ragged_boolean_mask(inputs: Inputs):
    import tensorflow as tf

    return _ragged_parts(tf.ragged.boolean_mask(inputs["x"], inputs["mask"]))


def _boolean_mask_cases() -> list[Case]:
    domain = "any dtype, step shape and mask (holes, pre, post); NaN/inf under the mask"
    return [
        Case(
            operation="ragged_from_padded",
            api="tf.ragged.boolean_mask",
            inputs=lambda: padded_inputs(layout=None),
            reference=_ref_ragged,
            candidate=_tf_ragged_boolean_mask,
            requires=TF,
            domain=domain,
        ),
        Case(
            operation="ragged_from_padded",
            api="tf.boolean_mask",
            inputs=lambda: padded_inputs(layout=None),
            reference=lambda i: ref.ragged_from_padded(i["x"], i["mask"])[0],
            candidate=_tf_boolean_mask,
            requires=TF,
            domain=domain + "; values only",
        ),
    ]


def _tf_to_tensor(inputs: Inputs):
    import tensorflow as tf

    values, splits, maxlen = inputs["values"], inputs["row_splits"], inputs["maxlen"]
    rt = tf.RaggedTensor.from_row_splits(values, splits)
    shape = None if maxlen is None else [splits.shape[0] - 1, maxlen] + [None] * (values.ndim - 1)
    return rt.to_tensor(default_value=inputs["value"], shape=shape)


def _ref_padded(truncating: str = "pre"):
    def call(inputs: Inputs):
        return ref.padded_from_ragged(
            inputs["values"],
            inputs["row_splits"],
            maxlen=inputs["maxlen"],
            padding="post",
            truncating=truncating,
            value=inputs["value"],
        )[0]

    return call


@st.composite
def _truncated_ragged(draw, value_filter=None) -> Inputs:
    inputs = draw(ragged_inputs(min_batch=1, value_filter=value_filter, maxlens=st.none()))
    longest = int(np.diff(inputs["row_splits"]).max())
    if longest < 2:
        return dict(inputs, values=np.array([0, 1]), row_splits=np.array([0, 2]), maxlen=1, value=0)
    return dict(inputs, maxlen=draw(st.integers(1, longest - 1)))


@st.composite
def _bad_int_value(draw, floats: bool = False) -> Inputs:
    """Integer values; a pad value out of their range (or, with ``floats``, not integral)."""
    dtype = np.dtype(draw(st.sampled_from(rs.INT_DTYPES)))
    inputs = draw(ragged_inputs(dtype))
    info = np.iinfo(dtype)
    bad: st.SearchStrategy[Any] = st.integers(info.max + 1, 2 * info.max + 1) | st.integers(
        -2 * info.max, info.min - 1
    )
    if floats:
        bad = bad | st.floats(-9, 9).filter(lambda v: v != int(v))
    return dict(inputs, value=draw(bad))


def _to_tensor_cases() -> list[Case]:
    case = case_family(
        operation="padded_from_ragged",
        api="tf.RaggedTensor.to_tensor",
        inputs=ragged_inputs,
        reference=_ref_padded("post"),
        candidate=_tf_to_tensor,
        requires=TF,
    )
    u8 = np.uint8
    return [
        case(
            domain="shape=[B, maxlen, ...] or None vs truncating='post' (keeps the first "
            "steps); padding part only (TF gives no mask)"
        ),
        case(
            "keeps-first-steps",
            _truncated_ragged,
            dict(values=np.array([0, 1]), row_splits=np.array([0, 2]), maxlen=1, value=0),
            "a shape shorter than a row keeps its first steps (truncating='post'); the "
            "reference's default truncating='pre' keeps the last ones, as pad_sequences.",
            reference=_ref_padded("pre"),
        ),
        case(
            "default-value-cast-unsafely",
            _bad_int_value,
            dict(values=np.zeros(0, u8), row_splits=np.array([0, 0]), maxlen=1, value=256),
            "an integer default_value out of the dtype's range wraps around (256 is 0 and -1 "
            "is 255 in uint8, 2**32 is 0 in int32); the reference refuses the lossy cast "
            "(ValueError).",
        ),
    ]


def _tf_reverse(inputs: Inputs):
    import tensorflow as tf

    return tf.reverse_sequence(
        inputs["x"], inputs["lengths"], seq_axis=inputs["axis"], batch_axis=0
    )


@st.composite
def reverse_inputs(draw, padding: str = "post") -> Inputs:
    """Any padded ``x``, an axis other than 0, lengths in ``[-1, size + 1]`` (int32/int64)."""
    x = draw(padded_inputs(layout=None))["x"]
    axis = draw(st.integers(1, x.ndim - 1))
    size = x.shape[axis]
    lengths = draw(
        hnp.arrays(
            draw(st.sampled_from([np.int64, np.int32])),
            x.shape[0],
            elements=st.integers(-1, size + 1) | st.integers(0, size),
        )
    )
    return dict(x=x, lengths=lengths, axis=axis, padding=padding)


def _reverse_cases() -> list[Case]:
    case = case_family(
        operation="reverse_sequences",
        api="tf.reverse_sequence",
        inputs=reverse_inputs,
        reference=lambda i: ref.reverse_sequences(**i),
        candidate=_tf_reverse,
        requires=TF,
    )
    return [
        case(
            domain="batch_axis=0, any seq_axis, any dtype; lengths out of [0, size] raise in both"
        ),
        case(
            "no-padding-side",
            lambda: reverse_inputs("pre"),
            dict(x=np.array([[0, 0, 1]]), lengths=np.array([2]), axis=1, padding="pre"),
            "there is no padding side: the first lengths[b] steps are reversed, so a "
            "left-padded row reverses its padding; the reference reverses the last lengths[b] "
            "with padding='pre'.",
        ),
    ]


# -- PyTorch ------------------------------------------------------------------------------


def _tensor(a: object):
    import torch

    return torch.from_numpy(np.array(a))  # a copy: inputs are never shared with torch


def _torch_packed(packed: ref.PackedSequences):
    from torch.nn.utils.rnn import PackedSequence

    return PackedSequence(*(_tensor(p) for p in packed))


def _torch_pack_padded(enforce_sorted: bool = False):
    def call(inputs: Inputs):
        from torch.nn.utils.rnn import pack_padded_sequence

        packed = pack_padded_sequence(
            _tensor(inputs["x"]),
            _tensor(inputs["lengths"]),
            batch_first=True,
            enforce_sorted=enforce_sorted,
        )
        return tuple(packed)[:2] if enforce_sorted else tuple(packed)

    return call


def _ref_pack_sorted(inputs: Inputs):
    return tuple(ref.pack_sequences(inputs["x"], inputs["lengths"], enforce_sorted=True))[:2]


def _pack_padded_cases() -> list[Case]:
    case = case_family(
        operation="pack_sequences",
        api="torch.nn.utils.rnn.pack_padded_sequence",
        inputs=packable,
        reference=lambda i: ref.pack_sequences(**i),
        candidate=_torch_pack_padded(),
        requires=TORCH,
    )
    i64 = np.int64
    return [
        case(
            domain="batch_first=True, enforce_sorted=False; B <= 4, lengths 1..T (ties "
            "included), any dtype, steps of non-zero size"
        ),
        case(
            domain="batch_first=True, enforce_sorted=True; lengths 1..T (not non-increasing: "
            "raises in both); data and batch_sizes only (torch's indices are None, the "
            "reference's the identity)",
            inputs=lambda: packable(sort=True),
            reference=_ref_pack_sorted,
            candidate=_torch_pack_padded(True),
        ),
        case(
            "zero-length-rows-refused",
            lambda: packable(min_length=0).filter(lambda i: (i["lengths"] == 0).any()),
            dict(x=np.zeros((1, 1), i64), lengths=np.array([0])),
            "a row of length 0 raises RuntimeError; the reference packs it (no step; it sorts "
            "last and unpacking restores it).",
        ),
        case(
            "empty-input-refused",
            lambda: st.builds(
                lambda b, t, w: dict(x=np.zeros((b, t, w), i64), lengths=np.full(b, t, i64)),
                st.integers(0, 2),
                st.integers(1, 2),
                st.integers(0, 1),
            ).filter(lambda i: i["x"].size == 0),
            dict(x=np.zeros((0, 1), i64), lengths=np.zeros(0, i64)),
            "an input with no elements (an empty batch, or steps of size 0) raises 'Cannot "
            "pack empty tensors'; the reference packs it.",
        ),
        case(
            "tied-lengths-unstable-order",
            lambda: st.builds(
                lambda b, n: dict(x=np.zeros((b, n), i64), lengths=np.full(b, n, i64)),
                st.integers(17, 20),
                st.integers(1, 2),
            ),
            dict(x=np.zeros((17, 1), i64), lengths=np.ones(17, i64)),
            "from 17 rows on, torch.sort is not stable: rows of equal length come out in "
            "another order (sorted_indices and data differ; unpacking still restores the "
            "batch); the reference keeps ties in their original order, as torch does up to "
            "16 rows.",
        ),
        case(
            "lengths-beyond-T-unchecked",
            lambda: st.builds(
                lambda t, k: dict(x=np.zeros((1, t), i64), lengths=np.array([t + k])),
                st.integers(1, 3),
                st.integers(1, 2),
            ),
            dict(x=np.zeros((1, 1), i64), lengths=np.array([2])),
            "a length above T gives batch_sizes that count more steps than data holds (an "
            "inconsistent PackedSequence); the reference raises ValueError.",
        ),
        case(
            "float-lengths-truncated",
            lambda: st.builds(
                lambda v: dict(x=np.zeros((1, 3), i64), lengths=np.array([v])),
                st.floats(1, 3).filter(lambda v: v != int(v)),
            ),
            dict(x=np.zeros((1, 2), i64), lengths=np.array([1.5])),
            "float lengths are truncated toward zero (1.5 -> 1); the reference refuses them "
            "(TypeError).",
        ),
        case(
            "lengths-count-unchecked",
            lambda: st.builds(
                lambda b, k: dict(x=np.zeros((b + k, 1), i64), lengths=np.ones(b, i64)),
                st.integers(1, 2),
                st.integers(1, 2),
            ),
            dict(x=np.zeros((2, 1), i64), lengths=np.array([1])),
            "fewer lengths than rows silently drops the rows without one; the reference "
            "raises ValueError.",
        ),
    ]


def _torch_pad_packed(inputs: Inputs):
    from torch.nn.utils.rnn import pad_packed_sequence

    return pad_packed_sequence(
        _torch_packed(inputs["packed"]),
        batch_first=True,
        padding_value=inputs["padding_value"],
        total_length=inputs["total_length"],
    )


@st.composite
def _packed_bad_int_value(draw) -> Inputs:
    inputs = draw(packed_inputs())
    if inputs["packed"].data.dtype.kind not in "iu":
        data = np.zeros((1,), np.int64)
        inputs["packed"] = ref.PackedSequences(
            data, np.ones(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64)
        )
    bad = st.floats(-9, 9).filter(lambda v: v != int(v))
    if inputs["packed"].data.dtype.kind == "u":  # out of range raises, except below 0
        bad = bad | st.integers(-9, -1)
    return dict(inputs, padding_value=draw(bad))


def _pad_packed_cases() -> list[Case]:
    case = case_family(
        operation="unpack_sequences",
        api="torch.nn.utils.rnn.pad_packed_sequence",
        inputs=packed_inputs,
        reference=lambda i: ref.unpack_sequences(**i),
        candidate=_torch_pad_packed,
        requires=TORCH,
    )
    i64 = np.int64
    return [
        case(
            domain="batch_first=True; rows of length >= 1, any dtype, padding_value of the "
            "dtype; total_length None or any (shorter than the longest: raises in both)"
        ),
        case(
            "padding-value-cast-unsafely",
            _packed_bad_int_value,
            dict(
                packed=ref.pack_sequences(np.ones((1, 1), i64), [1]),
                total_length=2,
                padding_value=0.5,
            ),
            "padding_value is cast unsafely to the data's dtype (0.5 -> 0 in int64, -1 -> 255 "
            "in uint8; 256 does raise); the reference refuses the lossy cast (ValueError).",
        ),
        case(
            "zero-length-rows-unsupported",
            lambda: packed_inputs(min_length=0).filter(
                lambda i: i["packed"].batch_sizes[:1].sum() < i["packed"].sorted_indices.size
            ),
            dict(
                packed=ref.pack_sequences(np.zeros((1, 1), i64), [0]),
                total_length=None,
                padding_value=0,
            ),
            "a packing whose sorted_indices name more rows than batch_sizes[0] (rows of "
            "length 0, which the reference's pack_sequences makes) raises (IndexError; "
            "RuntimeError when no row has a step); the reference restores those rows as "
            "padding.",
        ),
    ]


def _torch_pack_sequence(inputs: Inputs):
    from torch.nn.utils.rnn import pack_sequence

    packed = pack_sequence([_tensor(s) for s in inputs["sequences"]], enforce_sorted=False)
    return tuple(packed)


def _ref_pack_sequence(inputs: Inputs):
    seqs = inputs["sequences"]
    dtype = np.asarray(seqs[0]).dtype if seqs else "float32"
    x = ref.pad_sequences(seqs, dtype=dtype, padding="post")
    return ref.pack_sequences(x, [len(s) for s in seqs])


def _pack_sequence_cases() -> list[Case]:
    case = case_family(
        operation="pack_sequences",
        api="torch.nn.utils.rnn.pack_sequence",
        inputs=sequence_lists,
        reference=_ref_pack_sequence,
        candidate=_torch_pack_sequence,
        requires=TORCH,
    )
    i64 = np.int64
    return [
        case(
            domain="enforce_sorted=False; 1..4 sequences of length >= 1, one dtype, steps "
            "of non-zero size"
        ),
        case(
            "zero-length-sequence-refused",
            lambda: sequence_lists(min_length=0).filter(
                lambda i: min(len(s) for s in i["sequences"]) == 0
            ),
            dict(sequences=[np.zeros(0, i64)]),
            "a sequence of length 0 raises RuntimeError; the reference packs it (no step).",
        ),
        case(
            "empty-list-refused",
            lambda: _fixed(sequences=[]),
            dict(sequences=[]),
            "an empty list raises RuntimeError; the reference packs an empty batch.",
        ),
        case(
            "mixed-dtypes-cast-to-first",
            lambda: st.builds(
                lambda a, b: dict(sequences=[np.array(a, dtype=i64), np.array(b)]),
                st.lists(st.integers(0, 9), min_size=1, max_size=3),
                st.lists(st.floats(-9, 9).filter(lambda v: v != int(v)), min_size=1, max_size=3),
            ),
            dict(sequences=[np.array([0], i64), np.array([0.5])]),
            "the data takes the first sequence's dtype and the others are cast unsafely "
            "(0.5 -> 0 in int64); the reference refuses the lossy cast.",
        ),
    ]


def _torch_unpack_sequence(inputs: Inputs):
    from torch.nn.utils.rnn import unpack_sequence

    return unpack_sequence(_torch_packed(inputs["packed"]))


def _ref_unpack_list(inputs: Inputs):
    return ref.unpad_sequences(*ref.unpack_sequences(inputs["packed"]))


def _unpack_sequence_cases() -> list[Case]:
    case = case_family(
        operation="unpack_sequences",
        api="torch.nn.utils.rnn.unpack_sequence",
        inputs=packed_inputs,
        reference=_ref_unpack_list,
        candidate=_torch_unpack_sequence,
        requires=TORCH,
    )
    return [
        case(domain="rows of length >= 1, any dtype; vs unpack_sequences + unpad_sequences"),
        case(
            "zero-length-rows-unsupported",
            lambda: packed_inputs(min_length=0).filter(
                lambda i: i["packed"].batch_sizes[:1].sum() < i["packed"].sorted_indices.size
            ),
            dict(packed=ref.pack_sequences(np.zeros((1, 1), np.int64), [0])),
            "a packing with rows of length 0 raises (IndexError; RuntimeError when no row has "
            "a step); the reference gives those rows back empty.",
        ),
    ]


def _torch_jagged(max_seqlen: bool = False):
    """``to_padded_tensor`` with ``output_size=(B, maxlen, ...)`` unless ``maxlen`` is None."""

    def call(inputs: Inputs):
        from torch.nested import nested_tensor_from_jagged

        values, splits, maxlen = inputs["values"], inputs["row_splits"], inputs["maxlen"]
        extra: dict[str, Any] = {}
        if max_seqlen:
            extra["max_seqlen"] = int(np.diff(splits).max()) if splits.size > 1 else 0
        nt = nested_tensor_from_jagged(_tensor(values), _tensor(splits), **extra)
        if maxlen is None:
            return nt.to_padded_tensor(inputs["value"])
        size = (splits.shape[0] - 1, maxlen) + values.shape[1:]
        return nt.to_padded_tensor(inputs["value"], output_size=size)

    return call


def _exact_in_float64(v: Any) -> bool:
    return abs(v) < 2**53


def _jagged_inputs(maxlens=int_maxlens) -> st.SearchStrategy[Inputs]:
    return ragged_inputs(value_filter=_exact_in_float64, maxlens=maxlens)


@st.composite
def _wide_int64_value(draw) -> Inputs:
    inputs = draw(ragged_inputs(np.int64))
    wide = st.integers(2**53 + 1, 2**63 - 1).filter(lambda v: float(v) != v)
    return dict(inputs, value=draw(wide))


@st.composite
def _offsets_unchecked(draw) -> Inputs:
    count = draw(st.integers(1, 3))
    splits = sorted(draw(st.lists(st.integers(0, 3), min_size=2, max_size=4)))
    if splits[0] == 0 and splits[-1] == count:
        splits = [s + 1 for s in splits]
    return dict(
        values=np.zeros(count, np.int64),
        row_splits=np.array(splits, np.int64),
        maxlen=None,
        value=0,
    )


def _jagged_cases() -> list[Case]:
    api = "torch.nested.nested_tensor_from_jagged(...).to_padded_tensor"
    case = case_family(
        operation="padded_from_ragged",
        api=api,
        inputs=_jagged_inputs,
        reference=_ref_padded("post"),
        candidate=_torch_jagged(),
        requires=TORCH,
    )
    i64, u8 = np.int64, np.uint8
    return [
        case(
            domain="output_size=(B, maxlen, ...), any maxlen >= 0, vs truncating='post'; "
            "empty batch and zero-length rows included; padding exact in float64"
        ),
        case(
            domain="no output_size, max_seqlen=longest given to nested_tensor_from_jagged",
            inputs=lambda: _jagged_inputs(st.none()),
            candidate=_torch_jagged(max_seqlen=True),
        ),
        case(
            "pads-to-total-steps",
            lambda: _jagged_inputs(st.none()).filter(
                lambda i: (
                    i["row_splits"].size > 2
                    and np.diff(i["row_splits"]).max() < i["row_splits"][-1]
                )
            ),
            dict(values=np.array([1, 2]), row_splits=np.array([0, 1, 2]), maxlen=None, value=0),
            "without output_size, and unless max_seqlen was given or computed before, the "
            "width is values.shape[0] (all the steps of the batch), not the longest row; "
            "the reference pads to the longest row.",
        ),
        case(
            "keeps-first-steps",
            lambda: _truncated_ragged(_exact_in_float64),
            dict(values=np.array([0, 1]), row_splits=np.array([0, 2]), maxlen=1, value=0),
            "an output_size shorter than a row keeps its first steps (truncating='post'); "
            "the reference's default truncating='pre' keeps the last ones.",
            reference=_ref_padded("pre"),
        ),
        case(
            "padding-value-cast-unsafely",
            lambda: _bad_int_value(floats=True),
            dict(values=np.zeros(0, u8), row_splits=np.array([0, 0]), maxlen=1, value=-1),
            "padding is cast unsafely to the values' dtype (0.5 -> 0 in int64, -1 -> 255 in "
            "uint8); the reference refuses the lossy cast (ValueError).",
        ),
        case(
            "padding-value-rounded-through-float",
            _wide_int64_value,
            dict(values=np.zeros(0, i64), row_splits=np.array([0, 0]), maxlen=1, value=2**63 - 1),
            "padding is a float: an int64 padding above 2**53 is rounded (2**63 - 1 even "
            "wraps to -2**63); the reference keeps it exactly.",
        ),
        case(
            "offsets-unchecked",
            _offsets_unchecked,
            dict(values=np.zeros(1, i64), row_splits=np.array([0, 0]), maxlen=None, value=0),
            "offsets are not checked against the values: offsets that do not start at 0 or do "
            "not end at values.shape[0] give a padded batch anyway (steps left out, or read "
            "from outside the row); the reference raises ValueError.",
        ),
    ]


def cases() -> list[Case]:
    """Every native ragged / packed case."""
    return (
        _from_lengths_cases()
        + _from_padding_cases()
        + _boolean_mask_cases()
        + _to_tensor_cases()
        + _reverse_cases()
        + _pack_padded_cases()
        + _pad_packed_cases()
        + _pack_sequence_cases()
        + _unpack_sequence_cases()
        + _jagged_cases()
    )
