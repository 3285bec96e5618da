"""maskref's own operations: their input strategies, and one case per backend.

Every operation of the reference is listed here with a strategy of inputs
(valid ones mostly, invalid ones sometimes, so that error classes are
compared too). :func:`backend_cases` turns each into a case per backend
(``tf_impl``, ``torch_impl``), calling the backend on native tensors.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from maskref.api.attention import ALIGNS, ATTENTION_EMPTY
from maskref.api.conventions import CONVENTIONS, NAMED_CONVENTIONS
from reference import strategies as rs

from .core import Case, Inputs

BACKENDS = {"tf_impl": ("tensorflow",), "torch_impl": ("torch",), "jax_impl": ("jax",)}


def rarely(strategy: st.SearchStrategy, other: st.SearchStrategy) -> st.SearchStrategy:
    """``strategy`` most of the time, ``other`` about one time in eight."""
    return st.integers(0, 7).flatmap(lambda i: other if i == 7 else strategy)


maxlens = rarely(st.none() | st.integers(0, 9), st.integers(-2, -1))
sides = rarely(rs.padding_sides, st.sampled_from(["middle", "PRE", ""]))


@st.composite
def pad_sequences_inputs(draw) -> Inputs:
    source = draw(rs.dtypes())
    target = draw(rarely(st.just(source), rs.dtypes()))
    value = draw(rarely(rs.elements(target), st.sampled_from([0.0, 0.5, float("nan"), -1])))
    return dict(
        sequences=draw(rs.ragged_batches(source)),
        maxlen=draw(maxlens),
        dtype=target.name,
        padding=draw(sides),
        truncating=draw(sides),
        value=value,
    )


@st.composite
def pad_flat_inputs(draw) -> Inputs:
    dtype = draw(rs.dtypes())
    lens = draw(rs.lengths())
    inner = draw(rs.inner_shapes())
    values = draw(hnp.arrays(dtype, (int(lens.sum()),) + inner, elements=rs.elements(dtype)))
    return dict(
        values=values,
        lengths=lens,
        maxlen=draw(maxlens),
        padding=draw(sides),
        truncating=draw(sides),
        value=draw(rarely(rs.elements(dtype), st.just(float("nan")))),
    )


@st.composite
def unpad_sequences_inputs(draw) -> Inputs:
    lens = draw(rs.lengths())
    steps = int(lens.max()) if lens.size else 0
    steps = draw(rarely(st.integers(steps, steps + 3), st.integers(0, steps)))
    dtype = draw(rs.dtypes())
    shape = (lens.size, steps) + draw(rs.inner_shapes())
    padded = draw(hnp.arrays(dtype, shape, elements=rs.elements(dtype)))
    return dict(padded=padded, lengths=lens, padding=draw(sides))


@st.composite
def sequence_mask_inputs(draw) -> Inputs:
    lens = draw(
        rarely(
            rs.lengths(),
            hnp.arrays(
                np.int64,
                hnp.array_shapes(min_dims=0, max_dims=2, max_side=3),
                elements=st.integers(-2, 6),
            ),
        )
    )
    return dict(lengths=lens, maxlen=draw(maxlens), padding=draw(sides))


@st.composite
def mask_inputs(draw) -> Inputs:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5))
    return dict(mask=draw(hnp.arrays(np.bool_, shape)))


@st.composite
def mask_from_value_inputs(draw) -> Inputs:
    x, mask = draw(rs.padded_batches(inner=rs.inner_shapes(max_dims=1), plant=False))
    mask_value = draw(rarely(rs.elements(x.dtype), st.just(float("nan"))))
    if x.size:
        x = x.copy()
        filler = np.asarray(mask_value)
        if filler.dtype.kind != "f" or x.dtype.kind == "f":
            x[~mask] = filler.astype(x.dtype) if x.dtype.kind != "b" else bool(mask_value)
    return dict(x=x, mask_value=mask_value)


@st.composite
def mask_from_ids_inputs(draw) -> Inputs:
    ids = draw(rs.token_ids())
    return dict(ids=ids, pad_id=draw(rarely(st.integers(0, 5), st.just(0.0))))


@st.composite
def masked_data_inputs(draw) -> Inputs:
    x, mask = draw(rs.padded_batches())
    if draw(st.integers(0, 7)) == 0 and mask.ndim:  # a mask of the wrong shape
        mask = draw(hnp.arrays(np.bool_, (mask.shape[0] + 1,) + mask.shape[1:]))
    return dict(x=x, mask=mask)


@st.composite
def apply_mask_inputs(draw) -> Inputs:
    inputs = draw(masked_data_inputs())
    dtype = inputs["x"].dtype
    inputs["fill"] = draw(rarely(rs.elements(dtype), st.sampled_from([float("nan"), 0.5])))
    return inputs


#: Float tolerance per result dtype, for operations that do arithmetic
#: (inputs are drawn in [-4, 4], at most 64 elements a slice).
FLOAT_TOLERANCES = {
    "float16": (1e-2, 0.25),
    "bfloat16": (2e-2, 1.0),
    "float32": (1e-5, 1e-5),
    "float64": (1e-10, 1e-10),
}

#: Attention: float16 kernels round the scores and the weights to float16.
ATTENTION_TOLERANCES = dict(FLOAT_TOLERANCES, float16=(2e-2, 2e-2))

REDUCTIONS = (
    "masked_sum",
    "masked_mean",
    "masked_max",
    "masked_min",
    "masked_prod",
    "masked_var",
    "masked_std",
    "masked_logsumexp",
    "masked_count",
    "masked_any",
    "masked_all",
)
ARG_REDUCTIONS = ("masked_argmax", "masked_argmin")
SCANS = ("masked_cumsum", "masked_softmax", "masked_log_softmax")


def reduction_elements(dtype: np.dtype, *, special: bool = False) -> st.SearchStrategy:
    """Small values (sums stay comparable); with ``special``, valid NaN/inf sometimes."""
    if dtype.kind == "b":
        return st.booleans()
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return st.integers(max(info.min, -9), min(info.max, 9))
    values = st.floats(
        -4, 4, width=cast("Literal[16, 32, 64]", dtype.itemsize * 8), allow_subnormal=False
    )
    if special:
        values = rarely(values, st.sampled_from([float("nan"), float("inf"), -float("inf")]))
    return values


@st.composite
def masked_tensor(draw, *, special: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(x, mask)``: x of 1-3 axes; the mask a leading prefix of its shape (or all of it),
    pre/post/holes; NaN or inf planted under the mask for floats."""
    dtype = draw(rs.dtypes())
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4))
    x = draw(hnp.arrays(dtype, shape, elements=reduction_elements(dtype, special=special)))
    mask = draw(rs.masks(shape[: draw(st.integers(1, len(shape)))]))
    if dtype.kind == "f" and x.size:
        full = np.broadcast_to(mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim)), x.shape)
        x = np.where(full, x, draw(st.sampled_from([np.nan, np.inf, -np.inf]))).astype(dtype)
    return x, mask


def axes_for(ndim: int) -> st.SearchStrategy:
    valid = (
        st.none()
        | st.integers(-ndim, ndim - 1)
        | st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim).map(tuple)
    )
    return rarely(valid, st.sampled_from([ndim, (0, 0), 1.5]))


def empty_values(name: str, dtype: np.dtype) -> st.SearchStrategy:
    """Mostly the default (None: leave ``empty`` out), sometimes a value to use."""
    value: st.SearchStrategy[Any]
    if name in ("masked_any", "masked_all"):
        value = st.booleans()
    elif name in ("masked_count", "masked_argmax", "masked_argmin"):
        value = st.integers(-3, 3)
    elif dtype.kind == "f" or name in (
        "masked_mean",
        "masked_var",
        "masked_std",
        "masked_logsumexp",
    ):
        value = st.sampled_from([0.0, -1.0, float("nan")])
    else:
        value = st.integers(-3, 3)
    return rarely(st.none(), value)


def reduction_inputs(name: str):
    @st.composite
    def draw_inputs(draw) -> Inputs:
        x, mask = draw(masked_tensor(special=True))
        inputs = dict(x=x, mask=mask, axis=draw(axes_for(x.ndim)), keepdims=draw(st.booleans()))
        if name in ARG_REDUCTIONS:
            inputs["axis"] = draw(
                rarely(st.none() | st.integers(-x.ndim, x.ndim - 1), st.just((0,)))
            )
        if name in ("masked_var", "masked_std"):
            inputs["ddof"] = draw(rarely(st.just(0), st.integers(1, 2)))
        empty = draw(empty_values(name, x.dtype))
        if empty is not None:
            inputs["empty"] = empty
        return inputs

    return draw_inputs


def scan_inputs(name: str):
    @st.composite
    def draw_inputs(draw) -> Inputs:
        x, mask = draw(masked_tensor(special=True))
        inputs = dict(x=x, mask=mask)
        if draw(st.booleans()):
            inputs["axis"] = draw(rarely(st.integers(-x.ndim, x.ndim - 1), st.none()))
        if name == "masked_cumsum":
            empty = draw(empty_values(name, x.dtype))
        elif name == "masked_softmax":
            empty = draw(
                rarely(st.none() | st.sampled_from(["zeros", "nan", "uniform"]), st.just("ones"))
            )
        else:
            empty = draw(st.none() | st.sampled_from(["-inf", "nan", "uniform"]))
        if empty is not None:
            inputs["empty"] = empty
        return inputs

    return draw_inputs


# -- conventions and attention --------------------------------------------------------

#: Same-shape mask conventions (``nonzero`` and ``lengths`` have tests of their own).
convention_names = st.sampled_from(
    CONVENTIONS + tuple(n for n, c in NAMED_CONVENTIONS.items() if c.convention in CONVENTIONS)
)


@st.composite
def mask_in(draw, convention: str, shape: tuple[int, ...]) -> np.ndarray:
    """A mask of ``shape`` written in ``convention`` (through the reference's own writer)."""
    from reference import convert_mask, mask_convention

    keep = draw(hnp.arrays(np.bool_, shape))
    kind = mask_convention(convention).convention
    dtype = None
    if kind == "int":
        dtype = draw(st.sampled_from(["int64", "int32", "uint8", "float32"]))
    elif kind.startswith("additive"):
        dtype = draw(st.sampled_from(["float32", "float64", "float16"]))
    mask = convert_mask(keep, "keep", convention, dtype=dtype)
    if kind.startswith("additive") and mask.size and draw(st.booleans()):
        # other spellings of "masked" and soft biases that stay valid
        masked = draw(st.sampled_from([-1e9, -1e4, -6e4, -np.inf]))
        soft = draw(st.sampled_from([0.0, -1.0, 0.5, -9999.0]))
        with np.errstate(over="ignore"):
            mask = np.where(keep, soft, masked).astype(mask.dtype)
    return mask


@st.composite
def convert_mask_inputs(draw) -> Inputs:
    source, target = draw(convention_names), draw(convention_names)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    mask = draw(mask_in(source, shape))
    inputs = dict(mask=mask, source=source, target=target)
    damage = draw(st.integers(0, 9))
    if damage == 9 and mask.size:  # a value no convention of its dtype allows
        bad = mask.copy()
        if bad.dtype.kind == "f":
            bad.flat[0] = draw(st.sampled_from([np.nan, 2.0, 0.5]))
        elif bad.dtype.kind in "iu":
            bad.flat[0] = 2
        inputs["mask"] = bad
    elif damage == 8:
        with np.errstate(invalid="ignore"):
            inputs["mask"] = mask.astype(draw(st.sampled_from(["bool", "int64", "float32"])))
    elif damage == 7:
        inputs[draw(st.sampled_from(["source", "target"]))] = draw(
            st.sampled_from(["Keep", "torch", "bool", ""])
        )
    if draw(st.integers(0, 3)) == 0:
        inputs["dtype"] = draw(
            st.sampled_from(["bool", "int32", "int64", "float16", "float32", "float64"])
        )
    if draw(st.integers(0, 7)) == 7:
        inputs["threshold"] = draw(st.sampled_from([-0.5, -1e9, 0.0, 1.0]))
    return inputs


def mask_convention_inputs() -> st.SearchStrategy[Inputs]:
    return st.builds(dict, name=rarely(convention_names, st.sampled_from(["KEEP", "torch", 3])))


lens_or_bad = rarely(st.integers(0, 6), st.sampled_from([-1, 2.0, True]))
windows = rarely(st.none() | st.integers(1, 4), st.sampled_from([0, -1, 1.5]))
aligns = rarely(st.sampled_from(ALIGNS), st.sampled_from(["top-left", "left"]))


@st.composite
def causal_mask_inputs(draw) -> Inputs:
    inputs = dict(query_len=draw(lens_or_bad))
    if draw(st.booleans()):
        inputs["key_len"] = draw(st.none() | lens_or_bad)
    return dict(inputs, align=draw(aligns), window=draw(windows))


@st.composite
def segment_ids(draw, batch: int, steps: int) -> np.ndarray:
    """Packed rows: documents numbered 1, 2, ... then padding 0 (or holes, sometimes)."""
    ids = draw(hnp.arrays(np.int64, (batch, steps), elements=st.integers(0, 3)))
    return np.sort(ids, axis=1)[:, ::-1] if draw(st.booleans()) else ids


@st.composite
def attention_mask_inputs(draw) -> Inputs:
    batch, lq = draw(st.integers(0, 3)), draw(st.integers(0, 5))
    lk = draw(st.sampled_from([lq, draw(st.integers(0, 5))]))
    inputs: Inputs = {}
    if draw(st.booleans()):
        inputs["query_mask"] = draw(rs.masks((batch, lq)))
    if draw(st.booleans()):
        inputs["key_mask"] = draw(rs.masks((batch, lk)))
    if draw(st.integers(0, 2)) == 0:
        ids = draw(segment_ids(batch, lq))
        inputs["segment_ids"] = (
            ids if lq == lk and draw(st.booleans()) else (ids, draw(segment_ids(batch, lk)))
        )
    if not inputs or draw(st.integers(0, 3)) == 0:
        inputs["query_len"] = lq
        if draw(st.booleans()):
            inputs["key_len"] = lk
    inputs.update(causal=draw(st.booleans()), align=draw(aligns), window=draw(windows))
    if draw(st.integers(0, 9)) == 9:  # sizes that disagree
        inputs["query_len"] = lq + 1
    return inputs


@st.composite
def segment_mask_inputs(draw) -> Inputs:
    batch, lq = draw(st.integers(0, 3)), draw(st.integers(0, 5))
    inputs = dict(query_segment_ids=draw(segment_ids(batch, lq)))
    if draw(st.booleans()):
        other = draw(rarely(st.just(batch), st.just(batch + 1)))
        inputs["key_segment_ids"] = draw(segment_ids(other, draw(st.integers(0, 5))))
    if draw(st.integers(0, 9)) == 9:
        inputs["query_segment_ids"] = inputs["query_segment_ids"].astype(np.float32)
    return inputs


@st.composite
def segment_ids_from_lengths_inputs(draw) -> Inputs:
    lengths = draw(
        hnp.arrays(
            np.int64,
            (draw(st.integers(0, 3)), draw(st.integers(0, 3))),
            elements=rarely(st.integers(0, 3), st.just(-1)),
        )
    )
    total = int(lengths.sum(axis=1).max()) if lengths.size else 0
    seqlen = draw(rarely(st.integers(total, total + 3), st.integers(0, max(total - 1, 0))))
    return dict(lengths_per_row=lengths, seqlen=seqlen)


@st.composite
def attention_inputs(draw, values: bool = True) -> Inputs:
    inputs = draw(rs.attention_batches())
    if not values:
        del inputs["value"]
    if draw(st.integers(0, 3)) == 0:
        inputs["scale"] = draw(st.sampled_from([0.0, 0.5, 2.0]))
    inputs["empty"] = draw(rarely(st.sampled_from(ATTENTION_EMPTY), st.just("uniform")))
    damage = draw(st.integers(0, 15))
    if damage == 15 and inputs["mask"] is not None:  # a key-padding (B, S) mask is refused
        inputs["mask"] = np.ones(inputs["mask"].shape + (2,), bool)
    elif damage == 14 and inputs["mask"] is not None:
        inputs["mask"] = inputs["mask"].astype(np.int64)
    elif damage == 13:
        inputs["key"] = inputs["key"].astype(
            np.float64 if inputs["key"].dtype != np.float64 else np.float32
        )
    elif damage == 12:
        inputs["window"] = 0
    return inputs


@dataclass(frozen=True)
class Operation:
    """One reference function, the inputs to draw, and which arguments are tensors."""

    name: str
    inputs: Callable[[], st.SearchStrategy[Inputs]]
    tensors: tuple[str, ...] = ()
    sequences: str | None = None
    tolerances: dict[str, tuple[float, float]] | None = None


OPERATIONS = [
    Operation("pad_sequences", pad_sequences_inputs, sequences="sequences"),
    Operation("pad_flat", pad_flat_inputs, tensors=("values", "lengths")),
    Operation("unpad_sequences", unpad_sequences_inputs, tensors=("padded", "lengths")),
    Operation("sequence_mask", sequence_mask_inputs, tensors=("lengths",)),
    Operation("lengths_from_mask", mask_inputs, tensors=("mask",)),
    Operation("mask_from_value", mask_from_value_inputs, tensors=("x",)),
    Operation("mask_from_ids", mask_from_ids_inputs, tensors=("ids",)),
    Operation("apply_mask", apply_mask_inputs, tensors=("x", "mask")),
    Operation("expand_mask", masked_data_inputs, tensors=("x", "mask")),
    *(
        Operation(name, reduction_inputs(name), tensors=("x", "mask"), tolerances=FLOAT_TOLERANCES)
        for name in REDUCTIONS + ARG_REDUCTIONS
    ),
    *(
        Operation(name, scan_inputs(name), tensors=("x", "mask"), tolerances=FLOAT_TOLERANCES)
        for name in SCANS
    ),
    Operation("convert_mask", convert_mask_inputs, tensors=("mask",)),
    Operation("mask_convention", mask_convention_inputs),
    Operation("causal_mask", causal_mask_inputs),
    Operation(
        "attention_mask", attention_mask_inputs, tensors=("query_mask", "key_mask", "segment_ids")
    ),
    Operation(
        "segment_mask", segment_mask_inputs, tensors=("query_segment_ids", "key_segment_ids")
    ),
    Operation(
        "segment_ids_from_lengths", segment_ids_from_lengths_inputs, tensors=("lengths_per_row",)
    ),
    Operation(
        "attention_weights",
        lambda: attention_inputs(values=False),
        tensors=("query", "key", "mask"),
        tolerances=ATTENTION_TOLERANCES,
    ),
    Operation(
        "scaled_dot_product_attention",
        attention_inputs,
        tensors=("query", "key", "value", "mask"),
        tolerances=ATTENTION_TOLERANCES,
    ),
]


def to_native(backend: str, array: np.ndarray) -> Any:
    """A NumPy array as the backend's tensor."""
    if backend == "torch_impl":
        import torch

        return torch.from_numpy(np.array(array, order="C", copy=True))
    if backend == "jax_impl":
        import jax.numpy as jnp

        return jnp.asarray(array)
    import tensorflow as tf

    return tf.constant(array)


def tensors_to_native(backend: str, value: Any) -> Any:
    """An array, a tuple of arrays or None, with every array as the backend's tensor."""
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        parts = [tensors_to_native(backend, v) for v in value]
        return type(value)(*parts) if hasattr(value, "_fields") else type(value)(parts)
    return to_native(backend, np.asarray(value))


def sequences_to_native(backend: str, seqs: list[np.ndarray]) -> Any:
    """A list of sequences in the backend's own ragged form.

    torch: a list of tensors. TensorFlow: a ``tf.RaggedTensor`` built from the
    concatenated values and the row lengths (an empty batch stays a list).
    """
    if backend in ("torch_impl", "jax_impl") or not seqs:
        return [to_native(backend, s) for s in seqs]
    import tensorflow as tf

    values = np.concatenate(seqs)
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    return tf.RaggedTensor.from_row_lengths(tf.constant(values), tf.constant(lengths))


def reference_call(name: str) -> Callable[[Inputs], Any]:
    def call(inputs: Inputs) -> Any:
        return getattr(importlib.import_module("reference"), name)(**inputs)

    return call


def backend_call(backend: str, op: Operation) -> Callable[[Inputs], Any]:
    """Call ``op`` of ``backend`` on its own tensors. JAX runs with ``jax_enable_x64`` here,
    so that dtypes compare exactly (its 32-bit default is tested on its own)."""
    call = _native_call(backend, op)
    if backend != "jax_impl":
        return call

    def with_x64(inputs: Inputs) -> Any:
        import jax

        with jax.enable_x64(True):
            return to_numpy_now(call(inputs))

    return with_x64


def _native_call(backend: str, op: Operation) -> Callable[[Inputs], Any]:
    def call(inputs: Inputs) -> Any:
        module = importlib.import_module(backend)
        args = dict(inputs)
        for key in op.tensors:
            if key in args:
                args[key] = tensors_to_native(backend, args[key])
        if op.sequences:
            args[op.sequences] = sequences_to_native(backend, args[op.sequences])
        return getattr(module, op.name)(**args)

    return call


def ragged_operations() -> list[Operation]:
    """The operations of ``reference.ragged``, then ``reference.flow`` (their strategies live
    in their own modules)."""
    from .operations_flow import FLOW_OPERATIONS
    from .operations_ragged import RAGGED_OPERATIONS

    return RAGGED_OPERATIONS + FLOW_OPERATIONS


def to_numpy_now(value: Any) -> Any:
    """Results as NumPy while still inside a context (JAX's x64 mode)."""
    from .core import to_numpy

    return to_numpy(value)


def backend_cases() -> list[Case]:
    """One agreement case per operation and backend (the backend's own tensors in)."""
    return [
        Case(
            operation=op.name,
            api=f"{backend}.{op.name}",
            inputs=op.inputs,
            reference=reference_call(op.name),
            candidate=backend_call(backend, op),
            requires=requires,
            kind="backend",
            same_error_class=True,
            tolerances=op.tolerances,
        )
        for op in OPERATIONS + ragged_operations()
        for backend, requires in BACKENDS.items()
    ]
