"""Keras mask flow (TensorFlow backend), measured against ``reference.flow``.

Each case runs a small chain of real Keras 3 layers on drawn inputs whose padded
steps are 0.0, so that ``Masking(0.0)`` makes the mask; an input that a case
leaves unmasked skips the ``Masking``. The chain runs in one of these modes:

- ``functional``: a ``keras.Model`` built once, whose outputs are the chain's
  output and that output's symbolic mask (the mask the model's next layer
  would receive), evaluated on the drawn inputs;
- ``functional output``: the mask Keras attaches at run time to the output
  tensor of the same model (without the mask as an output);
- ``eager``: the same layers called on tensors, the mask read from the output
  tensor with ``keras.src.backend.get_keras_mask`` (which ``tf_impl.get_mask``
  wraps);
- ``subclassed``: the same calls inside a subclassed ``keras.Model``.

The reference side is the rule of ``reference.flow``: ``flow_mask`` of
``KERAS_LAYER_KINDS[layer]``, ``merge_masks``, ``concatenate_masks``,
``masking_values``, ``merge_values``. "No mask" is None on both sides (the
comparer tells None from an array). Inputs: B <= 3, T <= 5, D <= 3, float32
in [-2, 2]; layers are built once per input signature, their weights seeded.
Values are compared within rtol = atol = 1e-6 (element-wise float32 ops) or
1e-5 (pooling, and LSTMs, whose reference is a float64 NumPy LSTM holding the
layer's own weights).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference as ref
from maskref.api.flow import KERAS_LAYER_KINDS
from reference import strategies as rs

from .core import Case, Inputs, OnBackend

F32 = np.float32
REQUIRES = ("keras", "tensorflow")
UNITS = 2  # recurrent units, and the width of the Dense/Conv1D outputs
STATES = ("h", "c")  # inputs that are recurrent states (B, UNITS), not sequences
EXACT = (1e-6, 1e-6)
CLOSE = (1e-5, 1e-5)


def _keras():
    # Any Keras backend: the report runs these cases on each one (maskref.keras_backends);
    # the recorded divergences are the TensorFlow backend's.
    import keras

    return keras


def _get_mask(tensor: Any) -> Any:
    from keras.src.backend import get_keras_mask

    return get_keras_mask(tensor)


def _numpy(tensor: Any) -> np.ndarray:
    """Any Keras backend's tensor as NumPy (a torch tensor may require grad)."""
    return np.asarray(_keras().ops.convert_to_numpy(tensor))


def _no_mask(mask: Any) -> Any:
    return None if mask is None else _numpy(mask)


# -- inputs --------------------------------------------------------------------------------


def _floats(draw, shape: tuple[int, ...], low: float = -2.0, high: float = 2.0) -> np.ndarray:
    values = st.floats(low, high, width=32, allow_subnormal=False)
    return draw(hnp.arrays(F32, shape, elements=values))


@st.composite
def _sequences(
    draw,
    names: tuple[str, ...] = ("x",),
    *,
    dims: str = "same",
    lens: str = "same",
    states: bool = False,
) -> Inputs:
    """Float32 ``(B, T, D)`` sequences, 0.0 in their padded steps (pre, post or holes; fully
    padded rows included). The inputs after the first share its ``D`` (``dims="same"``) or
    draw their own, and share its ``T`` (``lens="same"``) or draw their own; ``states``:
    also ``h`` and ``c`` ``(B, UNITS)`` in [-1, 1]."""
    b, t, d = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 3))
    out: Inputs = {}
    for i, name in enumerate(names):
        tn = t if lens == "same" or i == 0 else draw(st.integers(1, 5))
        dn = d if dims == "same" or i == 0 else draw(st.integers(1, 3))
        mask = draw(rs.masks((b, tn)))
        out[name] = np.where(mask[..., None], _floats(draw, (b, tn, dn)), F32(0))
    if states:
        out.update({s: _floats(draw, (b, UNITS), -1.0, 1.0) for s in STATES})
    return out


@st.composite
def _ids(draw) -> Inputs:
    """Token ids ``(B, T)`` int32 in [1, 5], padded with 0 (pre, post or holes)."""
    b, t = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    ids = draw(hnp.arrays(np.int32, (b, t), elements=st.integers(1, 5)))
    return dict(ids=np.where(draw(rs.masks((b, t))), ids, np.int32(0)))


def _seq(steps: list[float]) -> np.ndarray:
    """One sequence (B = 1, D = 1) from its step values."""
    return np.array([[[v] for v in steps]], F32)


# -- the chains of layers ------------------------------------------------------------------


@dataclass
class _Built:
    """A chain's layers (built once per input signature) and how to apply them."""

    apply: Callable[[dict[str, Any]], Any]
    parts: dict[str, Any] = field(default_factory=dict)


def _seeded(keras, seed: int = 0) -> dict[str, Any]:
    return dict(
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        bias_initializer=keras.initializers.RandomUniform(-0.5, 0.5, seed=seed + 1),
    )


def _lstm(keras, **options):
    return keras.layers.LSTM(
        UNITS,
        recurrent_initializer=keras.initializers.Orthogonal(seed=2),
        **_seeded(keras),
        **options,
    )


def _custom_layer(keras, kind: str):
    """A custom layer ``x * 2`` (or a masked mean over time, for "consume") of ``kind``:
    "plain" (no masking support), "supports" (``supports_masking = True``), "compute_mask"
    (overrides ``compute_mask``, no flag), "reads" (``call(x, mask=None)``, no flag),
    "consume" (reads the mask in ``call``, ``compute_mask`` returns None)."""
    ops = keras.ops

    class Plain(keras.layers.Layer):
        def call(self, inputs):
            return inputs * 2.0

    class Supports(Plain):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

    class ComputeMask(Plain):
        def compute_mask(self, inputs, mask=None):
            return mask

    class Reads(keras.layers.Layer):
        def call(self, inputs, mask=None):
            return inputs * 2.0 if mask is None else ops.where(mask[..., None], inputs, 0.0)

    class Consume(keras.layers.Layer):
        def call(self, inputs, mask=None):
            m = ops.ones(ops.shape(inputs)[:2], "bool") if mask is None else mask
            w = ops.cast(m, inputs.dtype)[..., None]
            return ops.sum(ops.where(m[..., None], inputs, 0.0), axis=1) / ops.maximum(
                ops.sum(w, axis=1), 1.0
            )

        def compute_mask(self, inputs, mask=None):
            return None

    return {
        "plain": Plain,
        "supports": Supports,
        "compute_mask": ComputeMask,
        "reads": Reads,
        "consume": Consume,
    }[kind]()


#: One layer after ``Masking(0.0)``: key -> (layer maker, kind in reference.flow,
#: return_sequences). The kind of a built-in layer is ``KERAS_LAYER_KINDS[class name]``.
ONE_LAYER: dict[str, tuple[Callable[[Any], Any], str | None, bool]] = {
    "Dense": (lambda k: k.layers.Dense(UNITS, **_seeded(k)), None, False),
    "Dropout": (lambda k: k.layers.Dropout(0.5, seed=0), None, False),
    "TimeDistributed": (
        lambda k: k.layers.TimeDistributed(k.layers.Dense(UNITS, **_seeded(k))),
        None,
        False,
    ),
    "LSTM": (_lstm, None, False),
    "LSTM(return_sequences=True)": (lambda k: _lstm(k, return_sequences=True), None, True),
    "Bidirectional": (lambda k: k.layers.Bidirectional(_lstm(k)), None, False),
    "Bidirectional(return_sequences=True)": (
        lambda k: k.layers.Bidirectional(_lstm(k, return_sequences=True)),
        None,
        True,
    ),
    "GlobalAveragePooling1D": (lambda k: k.layers.GlobalAveragePooling1D(), None, False),
    "GlobalMaxPooling1D": (lambda k: k.layers.GlobalMaxPooling1D(), None, False),
    "Conv1D": (lambda k: k.layers.Conv1D(UNITS, 2, padding="same", **_seeded(k)), None, False),
    "Flatten": (lambda k: k.layers.Flatten(), None, False),
    "Lambda": (lambda k: k.layers.Lambda(lambda t: t * 2.0), "destroy", False),
    "Lambda(mask=)": (
        lambda k: k.layers.Lambda(lambda t: t * 2.0, mask=lambda t, m: m),
        "propagate",
        False,
    ),
    "Lambda(identity)": (lambda k: k.layers.Lambda(lambda t: t), "destroy", False),
    "custom layer": (lambda k: _custom_layer(k, "plain"), "destroy", False),
    "custom layer(supports_masking=True)": (
        lambda k: _custom_layer(k, "supports"),
        "propagate",
        False,
    ),
    "custom layer(compute_mask)": (lambda k: _custom_layer(k, "compute_mask"), "propagate", False),
    "custom layer(call(x, mask=None))": (lambda k: _custom_layer(k, "reads"), "destroy", False),
    "custom layer(consumes: call mask, compute_mask None)": (
        lambda k: _custom_layer(k, "consume"),
        "consume",
        False,
    ),
}


def _one_layer(key: str) -> Callable[[Any], _Built]:
    def build(keras) -> _Built:
        masking, layer = keras.layers.Masking(0.0), ONE_LAYER[key][0](keras)
        return _Built(lambda t: layer(masking(t["x"])), dict(layer=layer))

    return build


def _two_inputs(
    make: Callable[[Any], Any], *, second_masked: bool = True, attention: bool = False
) -> Callable[[Any], _Built]:
    """``layer([masked x, y])`` (``layer(x, y)`` for MultiHeadAttention); ``y`` masked too
    unless ``second_masked`` is False."""

    def build(keras) -> _Built:
        masking, layer = keras.layers.Masking(0.0), make(keras)

        def apply(t):
            x = masking(t["x"])
            y = masking(t["y"]) if second_masked else t["y"]
            return layer(x, y) if attention else layer([x, y])

        return _Built(apply, dict(layer=layer))

    return build


def _mha(keras):
    return keras.layers.MultiHeadAttention(1, 2, **_seeded(keras))


def _mha_add(pool: bool) -> Callable[[Any], _Built]:
    """``Add()([x, MultiHeadAttention(x, x)])`` on the masked ``x``, then (``pool``)
    ``GlobalAveragePooling1D``."""

    def build(keras) -> _Built:
        masking, mha, add = keras.layers.Masking(0.0), _mha(keras), keras.layers.Add()
        gap = keras.layers.GlobalAveragePooling1D()

        def apply(t):
            x = masking(t["x"])
            s = add([x, mha(x, x)])
            return gap(s) if pool else s

        return _Built(apply, dict(masking=masking, mha=mha))

    return build


def _lstm_with_state(explicit_mask: bool) -> Callable[[Any], _Built]:
    """``LSTM(masked x, initial_state=[h, c])``, with ``mask=`` the Masking mask or not."""

    def build(keras) -> _Built:
        masking, lstm = keras.layers.Masking(0.0), _lstm(keras)

        def apply(t):
            x = masking(t["x"])
            extra = dict(mask=_get_mask(x)) if explicit_mask else {}
            return lstm(x, initial_state=[t["h"], t["c"]], **extra)

        return _Built(apply, dict(lstm=lstm))

    return build


def _merge_layer(op: str) -> Callable[[Any], Any]:
    """A fresh ``keras.layers.<op>()`` merge layer."""
    return lambda k: getattr(k.layers, op)()


def _embedding(keras) -> _Built:
    emb = keras.layers.Embedding(6, UNITS, mask_zero=True)
    return _Built(lambda t: emb(t["ids"]), dict(layer=emb))


def _masking(keras) -> _Built:
    masking = keras.layers.Masking(0.0)
    return _Built(lambda t: masking(t["x"]), dict(layer=masking))


MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")

CHAINS: dict[str, Callable[[Any], _Built]] = {
    **{key: _one_layer(key) for key in ONE_LAYER},
    "Masking": _masking,
    "Embedding": _embedding,
    "MultiHeadAttention": _two_inputs(_mha, attention=True),
    "Attention": _two_inputs(lambda k: k.layers.Attention()),
    **{op: _two_inputs(_merge_layer(op)) for op in MERGES},
    **{
        f"{op}(second unmasked)": _two_inputs(_merge_layer(op), second_masked=False)
        for op in MERGES
    },
    "Concatenate": _two_inputs(lambda k: k.layers.Concatenate()),
    "Concatenate(second unmasked)": _two_inputs(
        lambda k: k.layers.Concatenate(), second_masked=False
    ),
    "Concatenate(axis=1)": _two_inputs(lambda k: k.layers.Concatenate(axis=1)),
    "Concatenate(axis=1, second unmasked)": _two_inputs(
        lambda k: k.layers.Concatenate(axis=1), second_masked=False
    ),
    "MHA -> Add": _mha_add(pool=False),
    "MHA -> Add -> GAP": _mha_add(pool=True),
    "LSTM(initial_state=)": _lstm_with_state(explicit_mask=False),
    "LSTM(initial_state=, mask=)": _lstm_with_state(explicit_mask=True),
}


def _signature(inputs: Inputs) -> tuple[tuple[str, tuple, str], ...]:
    """``(name, shape without the batch (time as None), dtype)`` of each input."""
    sig = []
    for name, value in inputs.items():
        shape = value.shape[1:] if name in STATES else (None, *value.shape[2:])
        sig.append((name, tuple(shape), str(value.dtype)))
    return tuple(sig)


@functools.cache
def _built(key: str, signature: tuple) -> _Built:
    """The chain ``key``'s layers for inputs of this ``signature``, built (weights made, by
    a call on zeros) once and reused."""
    built = CHAINS[key](_keras())
    zeros = {
        name: np.zeros((1, *(1 if n is None else n for n in shape)), dtype)
        for name, shape, dtype in signature
    }
    built.apply(zeros)
    return built


@functools.cache
def _model(key: str, signature: tuple, with_mask: bool):
    """A functional model of the chain; ``with_mask``: its output mask is an output too."""
    keras = _keras()
    inputs = [keras.Input(shape, dtype=dtype, name=name) for name, shape, dtype in signature]
    out = _built(key, signature).apply({name: t for (name, _, _), t in zip(signature, inputs)})
    mask = _get_mask(out)
    outputs = [out] if mask is None or not with_mask else [out, mask]
    return keras.Model(inputs, outputs if with_mask else out)


@functools.cache
def _subclassed(key: str, signature: tuple):
    keras = _keras()
    built = _built(key, signature)

    model_base: Any = keras.Model

    class Chain(model_base):
        def call(self, inputs):
            return built.apply(dict(zip([name for name, _, _ in signature], inputs)))

    return Chain()


def _read(out: Any, mask: Any, read: str) -> Any:
    if read == "mask":
        return _no_mask(mask)
    if read == "values":
        return _numpy(out)
    return _numpy(out), _no_mask(mask)


def _run(key: str, mode: str, read: str = "mask") -> Callable[[Inputs], Any]:
    """The candidate: the chain ``key`` run in ``mode``; returns what ``read`` names
    ("mask", "values" or "both": ``(values, mask)``)."""

    def call(inputs: Inputs):
        keras = _keras()
        signature = _signature(inputs)
        arrays = [inputs[name] for name, _, _ in signature]
        if mode == "functional":
            outs = _model(key, signature, True)(arrays)
            outs = outs if isinstance(outs, (list, tuple)) else [outs]  # one output: a tensor
            return _read(outs[0], outs[1] if len(outs) == 2 else None, read)
        if mode == "functional output":
            out = _model(key, signature, False)(arrays)
        elif mode == "subclassed":
            out = _subclassed(key, signature)([keras.ops.convert_to_tensor(a) for a in arrays])
        else:
            out = _built(key, signature).apply(
                {n: keras.ops.convert_to_tensor(a) for n, a in inputs.items()}
            )
        return _read(out, _get_mask(out), read)

    return call


# -- reference side ------------------------------------------------------------------------


def _mask(inputs: Inputs, name: str = "x") -> np.ndarray:
    """The mask ``Masking(0.0)`` makes (the reference's "create" rule)."""
    return ref.masking_values(inputs[name])[1]


def _ref_one_layer(key: str) -> Callable[[Inputs], Any]:
    _, kind, return_sequences = ONE_LAYER[key]
    kind = kind or KERAS_LAYER_KINDS[key.split("(")[0]]

    def call(inputs: Inputs):
        return _no_mask(ref.flow_mask(kind, _mask(inputs), return_sequences=return_sequences))

    return call


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _ref_lstm_last(inputs: Inputs, key: str) -> np.ndarray:
    """The last output of an LSTM holding the layer's weights, run on the valid steps only
    (a recurrent layer consumes its mask: padded steps are skipped), from ``(h, c)``
    (zeros when the inputs have none); computed in float64."""
    parts = _built(key, _signature(inputs)).parts
    layer: Any = parts.get("lstm", parts.get("layer"))
    kernel, recurrent, bias = (w.astype(np.float64) for w in layer.get_weights())
    x, mask = inputs["x"].astype(np.float64), _mask(inputs)
    b = x.shape[0]
    h = inputs["h"].astype(np.float64) if "h" in inputs else np.zeros((b, UNITS))
    c = inputs["c"].astype(np.float64) if "c" in inputs else np.zeros((b, UNITS))
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = np.split(z, 4, axis=-1)
        c_new = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h_new = _sigmoid(o) * np.tanh(c_new)
        keep = mask[:, t, None]
        h, c = np.where(keep, h_new, h), np.where(keep, c_new, c)
    return h.astype(F32)


def _ref_mha_add_pool(inputs: Inputs) -> np.ndarray:
    """The masked mean (reference ``masked_mean``) over time of ``x + MHA(x, x)`` under the
    mask the merge rule gives (``merge_masks([m, m])``, the query's mask on the attention
    output): the attention values themselves come from the (seeded) Keras layer."""
    import tensorflow as tf

    parts = _built("MHA -> Add -> GAP", _signature(inputs)).parts
    x = parts["masking"](tf.constant(inputs["x"]))
    s = _numpy(x) + _numpy(parts["mha"](x, x))
    m = ref.merge_masks([_mask(inputs), ref.flow_mask("attention", _mask(inputs))])
    with np.errstate(invalid="ignore"):
        return ref.masked_mean(s, m, axis=1).astype(F32)


# -- the cases -----------------------------------------------------------------------------


MODES = ("functional", "eager")


def _cases(
    operation: str,
    api: str,
    key: str,
    inputs,
    reference,
    domain: str,
    *,
    modes: tuple[str, ...] = MODES,
    read: str = "mask",
    diverges: dict[str, tuple[str, Inputs, str]] | None = None,
    tolerance: tuple[float, float] = EXACT,
    keras_elsewhere: dict[str, OnBackend] | None = None,
) -> list[Case]:
    """The chain ``key`` in each of ``modes``: agreement on ``domain``, except the modes
    named in ``diverges`` (mode -> (expect, example, explanation)); ``keras_elsewhere``:
    what every mode records on Keras's other backends (``Case.keras_elsewhere``)."""
    out = []
    for mode in modes:
        expect, example, explanation = (diverges or {}).get(mode, (None, None, ""))
        out.append(
            Case(
                operation=operation,
                api=f"{api} ({mode})",
                inputs=inputs,
                reference=reference,
                candidate=_run(key, mode, read),
                requires=REQUIRES,
                expect=expect,
                explanation=explanation,
                domain="" if expect else domain,
                example=example,
                rtol=tolerance[0],
                atol=tolerance[1],
                keras_elsewhere=keras_elsewhere,
            )
        )
    return out


def _one_layer_cases() -> list[Case]:
    identity_why = (
        "Lambda without mask= does not support masking and warns that it destroys the mask, "
        "but a function that returns its input object returns the tensor that still carries "
        "the mask, so the next eager call sees it; the destroy rule gives no mask (the "
        "functional model's symbolic output has none)."
    )
    cases = []
    for key, (_, kind, return_sequences) in ONE_LAYER.items():
        name = key if kind else key.split("(")[0]
        api = f"keras.layers.{key}" if not key.startswith("custom") else key
        rule = kind or KERAS_LAYER_KINDS[name]
        rule += " (return_sequences)" if return_sequences else ""
        diverges = None
        if key == "Lambda(identity)":
            example = dict(x=_seq([0.0]))
            diverges = {"eager": ("identity-lambda-keeps-the-mask", example, identity_why)}
            api = "keras.layers.Lambda(lambda x: x)"
        cases += _cases(
            "flow_mask",
            api,
            key,
            _sequences,
            _ref_one_layer(key),
            f"after Masking: the {rule} rule",
            diverges=diverges,
        )
    return cases


def _create_cases() -> list[Case]:
    return _cases(
        "masking_values",
        "keras.layers.Masking(0.0)",
        "Masking",
        _sequences,
        lambda i: ref.masking_values(i["x"]),
        "values and mask",
        read="both",
    ) + _cases(
        "mask_from_ids",
        "keras.layers.Embedding(mask_zero=True)",
        "Embedding",
        _ids,
        lambda i: ref.mask_from_ids(i["ids"]),
        "int32 ids, 0 = padding",
    )


def _attention_cases() -> list[Case]:
    inputs = functools.partial(_sequences, ("x", "y"), lens="free")
    ref_mask = lambda i: _no_mask(ref.flow_mask("attention", _mask(i)))  # noqa: E731
    return _cases(
        "flow_mask",
        "keras.layers.MultiHeadAttention(query, value)",
        "MultiHeadAttention",
        functools.partial(_sequences, ("x", "y"), lens="free", dims="free"),
        ref_mask,
        "query and value masked: the attention rule (the query's mask)",
    ) + _cases(
        "flow_mask",
        "keras.layers.Attention([query, value])",
        "Attention",
        inputs,
        ref_mask,
        "query and value masked: the attention rule (the query's mask)",
    )


def _merge_cases() -> list[Case]:
    both = functools.partial(_sequences, ("x", "y"))

    def masks(i: Inputs, second: bool) -> list:
        return [_mask(i), _mask(i, "y") if second else None]

    def ref_merge(second: bool):
        return lambda i: _no_mask(ref.merge_masks(masks(i, second)))

    def ref_values(op: str, second: bool):
        def call(i: Inputs):
            xs = [
                ref.masking_values(i["x"])[0],
                ref.masking_values(i["y"])[0] if second else i["y"],
            ]
            values, mask = ref.merge_values(op, xs, masks(i, second))
            return values, _no_mask(mask)

        return call

    cases = []
    for op in MERGES:
        for second, key, domain in (
            (True, op, "both inputs masked"),
            (False, f"{op}(second unmasked)", "second input unmasked"),
        ):
            if op in ("Add", "Multiply"):
                cases += _cases(
                    "merge_masks",
                    f"keras.layers.{op}",
                    key,
                    both,
                    ref_merge(second),
                    f"{domain}: merge_masks (OR, or no mask if one input has none)",
                )
            cases += _cases(
                "merge_values",
                f"keras.layers.{op}",
                key,
                both,
                ref_values(op.lower(), second),
                f"{domain}: values and mask",
                read="both",
            )
    return cases


def _concatenate_cases() -> list[Case]:
    def ref_concat(second: bool, axis: int):
        def call(i: Inputs):
            masks = [_mask(i), _mask(i, "y") if second else None]
            return _no_mask(ref.concatenate_masks(masks, [i["x"].shape, i["y"].shape], axis))

        return call

    features = functools.partial(_sequences, ("x", "y"), dims="free")
    time = functools.partial(_sequences, ("x", "y"), lens="free")
    return (
        _cases(
            "concatenate_masks",
            "keras.layers.Concatenate(axis=-1)",
            "Concatenate",
            features,
            ref_concat(True, -1),
            "both inputs masked, D may differ",
        )
        + _cases(
            "concatenate_masks",
            "keras.layers.Concatenate(axis=-1)",
            "Concatenate(second unmasked)",
            features,
            ref_concat(False, -1),
            "second input unmasked (counts as all-valid)",
        )
        + _cases(
            "concatenate_masks",
            "keras.layers.Concatenate(axis=1)",
            "Concatenate(axis=1)",
            time,
            ref_concat(True, 1),
            "both inputs masked, T may differ: masks concatenated",
        )
        + _cases(
            "concatenate_masks",
            "keras.layers.Concatenate(axis=1)",
            "Concatenate(axis=1, second unmasked)",
            time,
            ref_concat(False, 1),
            "second input unmasked (counts as all-valid)",
        )
    )


def _functional_vs_eager_cases() -> list[Case]:
    add_why = (
        "MultiHeadAttention clears the masks of the tensors it is called on, so at run time "
        "Add finds its skip input unmasked and (one input without a mask) attaches none; the "
        "functional model computed the mask from its graph before the call, and agrees."
    )
    pool_why = (
        "MultiHeadAttention clears its inputs' masks, so Add attaches no mask and "
        "GlobalAveragePooling1D averages over the padded steps too; the functional model "
        "passes the graph's mask to the pooling and agrees."
    )
    one_padded = dict(x=_seq([1.0, 0.0]))

    def mha_add(i):
        return _no_mask(ref.merge_masks([_mask(i), ref.flow_mask("attention", _mask(i))]))

    return _cases(
        "merge_masks",
        "keras.layers.MultiHeadAttention -> keras.layers.Add",
        "MHA -> Add",
        _sequences,
        mha_add,
        "Add()([x, MultiHeadAttention()(x, x)]) on a masked x: merge_masks",
        modes=("functional", "functional output", "eager"),
        diverges={
            mode: (f"mha-clears-the-skip-mask{suffix}", one_padded, add_why)
            for mode, suffix in (("eager", ""), ("functional output", "-at-run-time"))
        },
    ) + _cases(
        "masked_mean",
        "keras.layers.MultiHeadAttention -> Add -> GlobalAveragePooling1D",
        "MHA -> Add -> GAP",
        _sequences,
        _ref_mha_add_pool,
        "the pooled values: masked_mean under the merged mask (empty row: NaN)",
        modes=("functional", "eager", "subclassed"),
        read="values",
        tolerance=CLOSE,
        diverges={
            mode: ("pools-over-padding", one_padded, pool_why) for mode in ("eager", "subclassed")
        },
    )


def _recurrent_value_cases() -> list[Case]:
    state_why = (
        "with initial_state= the layer's call has two tensor arguments, so Keras does not "
        "fill its mask argument: the LSTM runs over the padded steps too (its output still "
        "carries the input mask); the reference skips them."
    )
    empty_why = (
        "a row with no valid step outputs 0 (the carried output starts at 0), not the "
        "initial state h that skipping every step leaves; the reference returns h."
    )
    with_state = functools.partial(_sequences, states=True)

    def nonempty(inputs: Inputs) -> bool:
        return bool(_mask(inputs).any(axis=1).all())

    empty_row = dict(x=_seq([0.0]), h=np.array([[0.5, 0.5]], F32), c=np.array([[0.5, 0.5]], F32))
    padded = dict(x=_seq([1.0, 0.0]), h=np.zeros((1, UNITS), F32), c=np.zeros((1, UNITS), F32))
    return (
        _cases(
            "flow_mask",
            "keras.layers.LSTM values",
            "LSTM",
            _sequences,
            lambda i: _ref_lstm_last(i, "LSTM"),
            "last output = the LSTM run on the valid steps only (fully padded rows: 0)",
            read="values",
            tolerance=CLOSE,
        )
        + _cases(
            "flow_mask",
            "keras.layers.LSTM(initial_state=) values",
            "LSTM(initial_state=)",
            with_state,
            lambda i: _ref_lstm_last(i, "LSTM(initial_state=)"),
            "",
            read="values",
            tolerance=CLOSE,
            diverges=dict.fromkeys(
                MODES, ("initial-state-drops-the-automatic-mask", padded, state_why)
            ),
        )
        + _cases(
            "flow_mask",
            "keras.layers.LSTM(initial_state=, mask=) values",
            "LSTM(initial_state=, mask=)",
            lambda: with_state().filter(nonempty),
            lambda i: _ref_lstm_last(i, "LSTM(initial_state=, mask=)"),
            "mask passed explicitly, every row has a valid step: the valid steps only",
            read="values",
            tolerance=CLOSE,
        )
        + _cases(
            "flow_mask",
            "keras.layers.LSTM(initial_state=, mask=) values",
            "LSTM(initial_state=, mask=)",
            with_state,
            lambda i: _ref_lstm_last(i, "LSTM(initial_state=, mask=)"),
            "",
            read="values",
            tolerance=CLOSE,
            diverges=dict.fromkeys(
                MODES, ("fully-padded-row-outputs-0-not-the-state", empty_row, empty_why)
            ),
            keras_elsewhere={
                "jax": OnBackend(
                    None,
                    "on JAX, Keras carries the initial state's h as the previous output, so "
                    "a row with no valid step outputs h, as the reference does.",
                )
            },
        )
    )


def cases() -> list[Case]:
    """Every Keras mask-flow case."""
    return (
        _create_cases()
        + _one_layer_cases()
        + _attention_cases()
        + _merge_cases()
        + _concatenate_cases()
        + _functional_vs_eager_cases()
        + _recurrent_value_cases()
    )
