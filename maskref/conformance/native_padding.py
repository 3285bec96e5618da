"""The frameworks' own padding APIs, measured against ``reference.pad_sequences``.

Each API has one agreement case over the inputs where it is meant to match
the reference, and one case per recorded divergence, with the smallest input
that shows it pinned as ``example``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference as ref
from reference import strategies as rs

from .core import Case, Inputs, case_family

KERAS = ("keras",)
TF = ("tensorflow",)
TORCH = ("torch",)


def _keras_pad(inputs: Inputs):
    import keras

    return keras.utils.pad_sequences(**inputs)


def _tf_keras_pad(inputs: Inputs):
    import tensorflow as tf

    return tf.keras.preprocessing.sequence.pad_sequences(**inputs)


def _ref_pad(inputs: Inputs):
    return ref.pad_sequences(**inputs)


python_lists = st.lists(st.lists(st.integers(-9, 99), max_size=6), min_size=1, max_size=5)


@st.composite
def keras_domain(draw) -> Inputs:
    """Lists of Python ints, maxlen None or >= 1, valid options, integral values."""
    return dict(
        sequences=draw(python_lists),
        maxlen=draw(st.none() | st.integers(1, 7)),
        dtype=draw(st.sampled_from(["int32", "int64", "float32", "float64"])),
        padding=draw(rs.padding_sides),
        truncating=draw(rs.padding_sides),
        value=draw(st.integers(-3, 3)),
    )


def _fixed(**inputs) -> st.SearchStrategy[Inputs]:
    return st.just(inputs)


def _keras_cases(api: str, call, requires: tuple[str, ...]) -> list[Case]:
    case = case_family(
        operation="pad_sequences",
        api=api,
        inputs=keras_domain,
        reference=_ref_pad,
        candidate=call,
        requires=requires,
    )

    return [
        case(domain="lists of ints, maxlen None or >= 1"),
        case(
            "maxlen-0-truncating-pre-raises",
            lambda: st.builds(
                lambda s, p: dict(sequences=s, maxlen=0, padding=p),
                st.lists(st.lists(st.integers(0, 9), min_size=1), min_size=1, max_size=3),
                rs.padding_sides,
            ),
            dict(sequences=[[0, 0]], maxlen=0),
            "maxlen=0 with truncating='pre' keeps s[-0:], the whole sequence, and fails to "
            "broadcast it into the (B, 0) output (one step still broadcasts, two do not); "
            "the reference gives a (B, 0) batch.",
        ),
        case(
            "bad-padding-accepted-when-all-empty",
            lambda: st.builds(
                lambda n, p: dict(sequences=[[]] * n, padding=p),
                st.integers(1, 3),
                st.sampled_from(["middle", "left", ""]),
            ),
            dict(sequences=[[]], padding="middle"),
            "padding/truncating are only checked when a sequence is non-empty; the reference "
            "always checks them.",
        ),
        case(
            "empty-batch-needs-maxlen",
            lambda: _fixed(sequences=[]),
            dict(sequences=[]),
            "np.max of no lengths raises; the reference returns a (0, 0) batch.",
        ),
        case(
            "float-data-truncated-to-int",
            lambda: st.builds(
                lambda s: dict(sequences=s),
                st.lists(
                    st.lists(st.floats(-9, 9).filter(lambda v: v != int(v)), min_size=1),
                    min_size=1,
                    max_size=3,
                ),
            ),
            dict(sequences=[[0.5]]),
            "float steps are cast unsafely into the default int32 dtype (1.7 -> 1); the "
            "reference refuses the lossy cast with a ValueError.",
        ),
        case(
            "strings-read-as-numbers",
            lambda: st.builds(
                lambda s, i, d: dict(sequences=[[*s[:i], str(d), *s[i:]]]),
                st.lists(st.integers(0, 9), max_size=3),
                st.integers(0, 3),
                st.integers(0, 9),
            ),
            dict(sequences=[["5"]]),
            "a string of digits among the steps is parsed into a number ('5' -> 5), and a "
            "Decimal is truncated; the reference refuses anything but bools, ints and floats "
            "with a ValueError naming the step.",
        ),
        case(
            "nan-value-cast-to-int",
            lambda: st.builds(lambda s: dict(sequences=s, value=float("nan")), python_lists),
            dict(sequences=[[]], value=float("nan")),
            "value=nan is cast unsafely into int32 (-2147483648); the reference raises.",
        ),
        case(
            "int-data-cast-to-bool",
            lambda: st.builds(
                lambda s: dict(sequences=s, dtype="bool"),
                st.lists(st.lists(st.integers(2, 9), min_size=1), min_size=1, max_size=3),
            ),
            dict(sequences=[[2]], dtype="bool"),
            "any non-zero number becomes True; the reference only accepts 0 and 1 as booleans.",
        ),
        case(
            "fixed-width-string-truncates",
            lambda: st.builds(
                lambda s: dict(sequences=s, dtype="<U1", value="x"),
                st.lists(
                    st.lists(st.text("ab", min_size=2, max_size=3), min_size=1),
                    min_size=1,
                    max_size=2,
                ),
            ),
            dict(sequences=[["aa"]], dtype="<U1", value="x"),
            "a fixed-width string dtype silently cuts longer strings; the reference raises "
            "(dtype=str sizes the width to fit).",
        ),
        case(
            "object-dtype-name-refused",
            lambda: st.builds(
                lambda s: dict(sequences=s, dtype="object", value="<pad>"),
                st.lists(st.lists(st.text("ab", max_size=2), max_size=2), min_size=1, max_size=2),
            ),
            dict(sequences=[["a"]], dtype="object", value="<pad>"),
            "dtype='object' (the string) with a string value is refused because the check is "
            "`dtype is not object`; the reference treats 'object' and object alike.",
        ),
    ]


def _torch_pad(batch_first: bool = True, side: str | None = None):
    def call(inputs: Inputs):
        import torch
        from torch.nn.utils.rnn import pad_sequence

        tensors = [torch.from_numpy(np.asarray(s)) for s in inputs["sequences"]]
        kwargs = {} if side is None else {"padding_side": side}
        return pad_sequence(
            tensors, batch_first=batch_first, padding_value=inputs["value"], **kwargs
        )

    return call


@st.composite
def torch_domain(draw) -> Inputs:
    dtype = draw(rs.dtypes())
    seqs = draw(rs.ragged_batches(dtype, min_batch=1))
    value = draw(rs.elements(dtype).filter(lambda v: abs(v) < 2**53))
    return dict(sequences=seqs, value=value)


def _ref_pad_like_torch(padding: str):
    def call(inputs: Inputs):
        seqs = inputs["sequences"]
        dtype = np.asarray(seqs[0]).dtype if seqs else "float32"
        return ref.pad_sequences(seqs, dtype=dtype, padding=padding, value=inputs["value"])

    return call


def _torch_cases() -> list[Case]:
    api = "torch.nn.utils.rnn.pad_sequence"

    def case(
        call, padding, expect=None, inputs=torch_domain, example=None, explanation="", domain=""
    ):
        return Case(
            operation="pad_sequences",
            api=api,
            inputs=inputs,
            reference=_ref_pad_like_torch(padding),
            candidate=call,
            requires=TORCH,
            expect=expect,
            example=example,
            explanation=explanation,
            domain=domain,
        )

    i64 = np.int64
    return [
        case(
            _torch_pad(True, "right"),
            "post",
            domain="batch_first=True, padding_side='right' vs padding='post'",
        ),
        case(
            _torch_pad(True, "left"),
            "pre",
            domain="batch_first=True, padding_side='left' vs padding='pre'",
        ),
        case(
            _torch_pad(False),
            "post",
            "time-major-by-default",
            example=dict(sequences=[np.array([1, 2], dtype=i64)], value=0),
            explanation="batch_first=False (the default) returns (T, B); Keras and maskref "
            "are batch-major (B, T).",
        ),
        case(
            _torch_pad(True),
            "post",
            "empty-batch-refused",
            inputs=lambda: _fixed(sequences=[], value=0),
            example=dict(sequences=[], value=0),
            explanation="an empty list raises RuntimeError; the reference returns a (0, 0) batch.",
        ),
        case(
            _torch_pad(True),
            "post",
            "mixed-dtypes-cast-to-first",
            inputs=lambda: st.builds(
                lambda a, b: dict(sequences=[np.array(a, dtype=i64), np.array(b)], value=0),
                st.lists(st.integers(0, 9), max_size=3),
                st.lists(st.floats(-9, 9).filter(lambda v: v != int(v)), min_size=1, max_size=3),
            ),
            example=dict(sequences=[np.array([], dtype=i64), np.array([0.5])], value=0),
            explanation="the output takes the first sequence's dtype and casts the others "
            "unsafely (1.5 -> 1 in int64); the reference refuses the lossy cast.",
        ),
        case(
            _torch_pad(True),
            "post",
            "padding-value-cast-unsafely",
            inputs=lambda: st.builds(
                lambda s, v: dict(
                    sequences=[np.array(s, dtype=i64), np.array([], dtype=i64)], value=v
                ),
                st.lists(st.integers(0, 9), min_size=1, max_size=3),
                st.floats(-9, 9).filter(lambda v: v != int(v)),
            ),
            example=dict(sequences=[np.array([0], dtype=i64), np.array([], dtype=i64)], value=0.5),
            explanation="padding_value is cast unsafely to the output dtype (-1.7 -> -1); the "
            "reference raises.",
        ),
        case(
            _torch_pad(True),
            "post",
            "padding-value-rounded-through-float",
            inputs=lambda: st.builds(
                lambda v: dict(
                    sequences=[np.array([0], dtype=i64), np.array([], dtype=i64)], value=v
                ),
                st.integers(2**53 + 1, 2**63 - 1).filter(lambda v: float(v) != v),
            ),
            example=dict(
                sequences=[np.array([0], dtype=i64), np.array([], dtype=i64)], value=2**63 - 1
            ),
            explanation="padding_value is a float: an int64 padding value above 2**53 is "
            "rounded (2**63 - 1 even wraps to -2**63); the reference keeps it exactly.",
        ),
    ]


@st.composite
def unpad_domain(draw, padding: str = "post") -> Inputs:
    lens = draw(rs.lengths(min_batch=1))
    steps = draw(st.integers(int(lens.max()), int(lens.max()) + 2))
    padded = draw(hnp.arrays(np.int64, (lens.size, steps), elements=st.integers(-9, 9)))
    return dict(padded=padded, lengths=lens, padding=padding)


def _torch_unpad(inputs: Inputs):
    import torch
    from torch.nn.utils.rnn import unpad_sequence

    padded = torch.from_numpy(inputs["padded"].copy())
    return unpad_sequence(padded, torch.from_numpy(inputs["lengths"]), batch_first=True)


def _torch_unpad_time_major(inputs: Inputs):
    """Returns the caller's tensor after the call: it should be unchanged."""
    import torch
    from torch.nn.utils.rnn import unpad_sequence

    padded = torch.from_numpy(inputs["padded"].copy())
    unpad_sequence(padded, torch.from_numpy(inputs["lengths"]))
    return padded


def _unpad_cases() -> list[Case]:
    api = "torch.nn.utils.rnn.unpad_sequence"

    def case(
        candidate,
        reference=None,
        expect=None,
        inputs=unpad_domain,
        example=None,
        explanation="",
        domain="",
    ):
        return Case(
            operation="unpad_sequences",
            api=api,
            inputs=inputs,
            reference=reference or (lambda i: ref.unpad_sequences(**i)),
            candidate=candidate,
            requires=TORCH,
            expect=expect,
            example=example,
            explanation=explanation,
            domain=domain,
        )

    return [
        case(_torch_unpad, domain="batch_first=True, right-padded"),
        case(
            _torch_unpad,
            expect="assumes-right-padding",
            inputs=lambda: unpad_domain("pre"),
            example=dict(padded=np.array([[0, 1]]), lengths=np.array([1]), padding="pre"),
            explanation="there is no padding side: a left-padded batch gives back its padding.",
        ),
        case(
            _torch_unpad,
            expect="lengths-beyond-T-unchecked",
            inputs=lambda: _fixed(padded=np.array([[1]]), lengths=np.array([2])),
            example=dict(padded=np.array([[1]]), lengths=np.array([2])),
            explanation="a length larger than T silently gives a shorter part; the reference "
            "raises ValueError.",
        ),
        case(
            _torch_unpad_time_major,
            reference=lambda i: i["padded"],
            expect="transposes-input-in-place",
            inputs=lambda: st.builds(
                lambda p: dict(padded=p, lengths=np.full(p.shape[1], p.shape[0])),
                hnp.arrays(np.int64, st.tuples(st.integers(1, 3), st.integers(1, 3))),
            ),
            example=dict(padded=np.array([[1, 2]]), lengths=np.array([1, 1])),
            explanation="with batch_first=False it calls transpose_ on the caller's tensor, "
            "which is left (B, T) afterwards; maskref never mutates an input.",
        ),
    ]


def cases() -> list[Case]:
    """Every native padding case."""
    return (
        _keras_cases("keras.utils.pad_sequences", _keras_pad, KERAS)
        + _keras_cases("tf.keras.preprocessing.sequence.pad_sequences", _tf_keras_pad, TF)[:1]
        + _torch_cases()
        + _unpad_cases()
    )
