"""maskref's recurrence in ``tf_impl`` and ``torch_impl``, against ``reference.recurrence``.

One case per operation and backend, on drawn inputs: ``x`` ``(B <= 4, T <= 5,
D <= 3)`` float32/float64 (float16 sometimes) in [-2, 2] with NaN/inf planted
at masked steps; masks post-padded, pre-padded or with holes (fully masked
rows, length-1 rows and all-valid rows among them), or None; weights of 1-3
units in [-1, 1]; initial states, ``go_backwards``, ``zero_output_for_mask``,
``return_sequences``, ``return_state`` and ``reset_after`` drawn. About one
input in ten is invalid (a mask of the wrong shape or dtype, weights of the
wrong shape, an int for a flag, a Keras ``reset_after=False`` GRU bias given to
the converters), so the error classes are compared too. ``rnn`` runs two
custom steps written with the backend's own ``tanh``: one state whose output
is the state, and two states whose output is neither.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
from hypothesis import strategies as st

from maskref.api.recurrence import GATES, STATES
from reference import strategies as rs

from .core import Case, Inputs, to_numpy
from .operations import BACKENDS, FLOAT_TOLERANCES, rarely, tensors_to_native

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
LAYER_OPS = ("simple_rnn", "lstm", "gru")
CONVERTERS = tuple(
    f"{kind}_weights_{direction}"
    for kind in LAYER_OPS
    for direction in ("keras_to_torch", "torch_to_keras")
)


def _uniform(draw, shape: tuple[int, ...], dtype: np.dtype, scale: float = 1.0) -> np.ndarray:
    """Values in ``[-scale, scale]`` from a drawn seed (cheap to draw; the shapes, masks and
    flags are what hypothesis shrinks)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    return rng.uniform(-scale, scale, shape).astype(dtype)


@st.composite
def sequences(draw, *, half: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """``(x, mask)``: x ``(B, T, D)`` in [-2, 2] with NaN/inf at masked steps; mask None
    sometimes."""
    floats = st.sampled_from(FLOATS)
    dtype = draw(rarely(floats, st.just(np.dtype(np.float16))) if half else floats)
    b, t, d = draw(st.integers(0, 4)), draw(st.integers(0, 5)), draw(st.integers(1, 3))
    x = _uniform(draw, (b, t, d), dtype, 2.0)
    if draw(st.integers(0, 7)) == 0:
        return x, None
    mask = draw(rs.masks((b, t)))
    if x.size:
        x[~mask] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return x, mask


def _weight(draw, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    return _uniform(draw, shape, dtype)


@st.composite
def keras_weights(
    draw, kind: str, features: int, units: int, dtype: np.dtype, reset_after: bool = True
) -> tuple:
    n = GATES[kind]
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    kernel = rng.uniform(-1, 1, (features, n * units)).astype(dtype)
    recurrent = rng.uniform(-1, 1, (units, n * units)).astype(dtype)
    shape = (2, n * units) if kind == "gru" and reset_after else (n * units,)
    bias = rng.uniform(-1, 1, shape).astype(dtype)
    return kernel, recurrent, bias if draw(rarely(st.just(True), st.just(False))) else None


def _damaged(draw, inputs: Inputs, x: np.ndarray) -> Inputs:
    """Sometimes one bad argument (the classes of the errors are compared)."""
    damage = draw(st.integers(0, 11))
    if damage == 11:
        inputs["mask"] = np.ones((x.shape[0], x.shape[1] + 1), bool)
    elif damage == 10 and inputs.get("mask") is not None:
        inputs["mask"] = inputs["mask"].astype(np.int64)
    elif damage == 9:
        inputs[draw(st.sampled_from(["go_backwards", "zero_output_for_mask"]))] = 1
    elif damage == 8 and "kernel" in inputs:
        inputs["kernel"] = inputs["kernel"][:, :-1]
    return inputs


def layer_inputs(kind: str):
    @st.composite
    def draw_inputs(draw) -> Inputs:
        x, mask = draw(sequences())
        units = draw(st.integers(1, 3))
        reset_after = draw(st.booleans()) if kind == "gru" else True
        wdtype = draw(rarely(st.just(x.dtype), st.sampled_from(FLOATS)))
        kernel, recurrent, bias = draw(keras_weights(kind, x.shape[2], units, wdtype, reset_after))
        inputs: Inputs = dict(x=x, mask=mask, kernel=kernel, recurrent_kernel=recurrent, bias=bias)
        if draw(st.booleans()):
            inputs["initial_state"] = [
                _weight(draw, (x.shape[0], units), x.dtype) for _ in range(STATES[kind])
            ]
        for flag in ("return_sequences", "return_state", "go_backwards", "zero_output_for_mask"):
            if draw(st.booleans()):
                inputs[flag] = draw(st.booleans())
        if kind == "gru":
            inputs["reset_after"] = reset_after
        return _damaged(draw, inputs, x)

    return draw_inputs


@st.composite
def bidirectional_inputs(draw) -> Inputs:
    kind = draw(st.sampled_from(LAYER_OPS))
    x, mask = draw(sequences())
    units = draw(st.integers(1, 3))
    reset_after = draw(st.booleans()) if kind == "gru" else True
    weights = [draw(keras_weights(kind, x.shape[2], units, x.dtype, reset_after)) for _ in "fb"]
    inputs: Inputs = dict(
        layer=kind,
        x=x,
        mask=mask,
        forward_weights=weights[0],
        backward_weights=weights[1],
        merge_mode=draw(
            rarely(st.sampled_from(["concat", "sum", "ave", "mul", None]), st.just("max"))
        ),
        return_sequences=draw(st.booleans()),
    )
    if draw(st.booleans()):
        inputs["initial_state"] = [
            _weight(draw, (x.shape[0], units), x.dtype) for _ in range(2 * STATES[kind])
        ]
    if draw(st.booleans()):
        inputs["return_state"] = draw(st.booleans())
    if kind == "gru":
        inputs["reset_after"] = reset_after
    if draw(st.integers(0, 11)) == 11:
        inputs[draw(st.sampled_from(["go_backwards", "zero_output_for_mask", "unroll"]))] = True
    return _damaged(draw, inputs, x)


# -- rnn: custom steps written with each backend's tanh --------------------------------------


def _tanh(array: Any) -> Any:
    module = type(array).__module__
    if module.startswith("torch"):
        import torch

        return torch.tanh(array)
    if module.startswith(("jax", "jaxlib")):
        import jax.numpy as jnp

        return jnp.tanh(array)
    if module.startswith("tensorflow"):
        import tensorflow as tf

        return tf.tanh(array)
    return np.tanh(array)


def make_step(name: str, w: Any, u: Any):
    """``"one_state"``: ``h = tanh(x_t @ w + h @ u)``, output ``h``. ``"two_states"``:
    ``a = tanh(x_t @ w + s0 @ u)``, states ``[a, s1 + a]``, output ``2 * a - s1``."""

    def one_state(x_t, states):
        h = _tanh(x_t @ w + states[0] @ u)
        return h, [h]

    def two_states(x_t, states):
        a = _tanh(x_t @ w + states[0] @ u)
        return 2 * a - states[1], [a, states[1] + a]

    return {"one_state": one_state, "two_states": two_states}[name]


@st.composite
def rnn_inputs(draw) -> Inputs:
    x, mask = draw(sequences(half=False))
    units = draw(st.integers(1, 3))
    step = draw(st.sampled_from(["one_state", "two_states"]))
    count = 1 if step == "one_state" else 2
    inputs: Inputs = dict(
        step=step,
        w=_weight(draw, (x.shape[2], units), x.dtype),
        u=_weight(draw, (units, units), x.dtype),
        x=x,
        mask=mask,
        initial_state=[_weight(draw, (x.shape[0], units), x.dtype) for _ in range(count)],
    )
    for flag in ("go_backwards", "zero_output_for_mask"):
        if draw(st.booleans()):
            inputs[flag] = draw(st.booleans())
    if draw(st.integers(0, 11)) == 11:
        inputs["initial_state"] = inputs["initial_state"][:-1] or None
    return _damaged(draw, inputs, x)


@st.composite
def converter_inputs(draw, name: str) -> Inputs:
    kind = name.split("_weights_")[0]
    n = GATES[kind]
    dtype = draw(st.sampled_from(FLOATS))
    features, units = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    if name.endswith("keras_to_torch"):
        kernel, recurrent, bias = draw(keras_weights(kind, features, units, dtype))
        if kind == "gru" and bias is not None and draw(st.integers(0, 5)) == 0:
            bias = bias[0]  # Keras's reset_after=False: no PyTorch equivalent
        inputs = dict(kernel=kernel, recurrent_kernel=recurrent, bias=bias)
    else:
        with_bias = draw(st.booleans())
        inputs = dict(
            weight_ih=_weight(draw, (n * units, features), dtype),
            weight_hh=_weight(draw, (n * units, units), dtype),
            bias_ih=_weight(draw, (n * units,), dtype) if with_bias else None,
            bias_hh=_weight(draw, (n * units,), dtype) if with_bias else None,
        )
    damage = draw(st.integers(0, 9))
    first = next(iter(inputs))
    if damage == 9:
        inputs[first] = inputs[first][..., :-1] if inputs[first].size else None
    elif damage == 8:
        inputs[first] = inputs[first].astype(np.float64 if dtype == np.float32 else np.float32)
    return inputs


# -- the cases --------------------------------------------------------------------------------

TENSORS = ("x", "mask", "kernel", "recurrent_kernel", "bias", "initial_state", "w", "u")
WEIGHTS = ("forward_weights", "backward_weights")


def _call(backend: str, name: str):
    def call(inputs: Inputs) -> Any:
        if backend == "jax_impl":
            import jax

            with jax.enable_x64(True):  # dtypes compare exactly (as operations.py runs JAX)
                return to_numpy(_native(backend, name, inputs))
        return _native(backend, name, inputs)

    return call


def _native(backend: str, name: str, inputs: Inputs) -> Any:
    """``name`` of ``backend`` on the inputs, every array as the backend's own tensor."""
    module = importlib.import_module(backend)
    args = dict(inputs)
    if backend != "reference":
        for key, value in args.items():
            if key in TENSORS + WEIGHTS + CONVERTER_ARGS:
                args[key] = tensors_to_native(backend, value)
    return _dispatch(module, name, args)


def _dispatch(module: Any, name: str, args: dict) -> Any:
    if name == "rnn":
        step = make_step(args.pop("step"), args.pop("w"), args.pop("u"))
        return module.rnn(step, **args)
    if name == "bidirectional":
        layer = getattr(module, args.pop("layer"))
        return module.bidirectional(layer, **args)
    return getattr(module, name)(**args)


CONVERTER_ARGS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def operations() -> list[tuple[str, Any]]:
    from functools import partial

    return [
        ("rnn", rnn_inputs),
        *((kind, layer_inputs(kind)) for kind in LAYER_OPS),
        ("bidirectional", bidirectional_inputs),
        *((name, partial(converter_inputs, name)) for name in CONVERTERS),
    ]


def cases() -> list[Case]:
    """One agreement case per recurrence operation and backend."""
    return [
        Case(
            operation=name,
            api=f"{backend}.{name}",
            inputs=inputs,
            reference=_call("reference", name),
            candidate=_call(backend, name),
            requires=requires,
            kind="backend",
            same_error_class=True,
            tolerances=FLOAT_TOLERANCES,
        )
        for name, inputs in operations()
        for backend, requires in BACKENDS.items()
    ]
