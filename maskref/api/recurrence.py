"""Masked recurrence (Keras's rule) and recurrent weights between Keras and PyTorch.

The rule, for every backend (stated in full in :func:`rnn`): at a masked step
every state keeps its previous value and the output is the previous output
(before the first valid step: the initial ``h``, Keras's contract that the
first state is the previous output), or zeros with ``zero_output_for_mask=True``;
masked inputs are replaced by 0 with ``where`` before the step, so NaN/inf
there never reach an output, a state or a gradient. ``return_sequences=False``
gives the output of the last valid step (the initial ``h`` for a row with none,
zeros by default).
``go_backwards`` processes the steps last to first and returns the sequence in
processing order.

Weight layouts: Keras keeps ``kernel`` ``(in, gates * units)``,
``recurrent_kernel`` ``(units, gates * units)`` and one ``bias``; PyTorch keeps
``weight_ih`` ``(gates * units, in)``, ``weight_hh`` ``(gates * units, units)``
and two biases that it adds. LSTM gates are [i, f, c, o] in both; GRU gates are
[z, r, h] in Keras and [r, z, n] in PyTorch.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .checks import check_choice, check_data, check_flag, check_min_rank, check_numeric, check_rank
from .core import Backend, frontend
from .masks import as_mask
from .types import Array, ArrayLike

#: The built-in layers, their number of gate blocks and of states.
LAYERS = ("simple_rnn", "lstm", "gru")
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
STATES = {"simple_rnn": 1, "lstm": 2, "gru": 1}
#: ``bidirectional``'s merge modes (Keras's).
MERGE_MODES = ("concat", "sum", "ave", "mul", None)
_FLOATS = ("float16", "bfloat16", "float32", "float64")


def gru_gate_order(units: int) -> np.ndarray:
    """Column indices that swap the first two gate blocks: Keras's [z, r, h] read as
    PyTorch's [r, z, n], and back (the permutation is its own inverse).

    >>> gru_gate_order(2)
    array([2, 3, 0, 1, 4, 5])
    """
    u = int(units)
    return np.concatenate([np.arange(u, 2 * u), np.arange(u), np.arange(2 * u, 3 * u)])


def compute_dtype(dtype_name: str) -> str:
    """The dtype a layer computes in: float16 and bfloat16 in float32 (rounded once at the
    end), float32 and float64 as they are."""
    return "float32" if dtype_name in ("float16", "bfloat16") else dtype_name


def _dims_equal(a: object, b: object) -> bool:
    """Sizes agree (an unknown size, None while tracing, agrees with anything)."""
    return a is None or b is None or int(a) == int(b)  # type: ignore[call-overload]


def _shape_text(shape: Sequence[object]) -> str:
    return str(tuple(None if s is None else int(s) for s in shape))  # type: ignore[call-overload]


def check_step_result(
    result: object,
    count: int,
    shape_of: Callable[[object], tuple],
    batch: object,
    state_shapes: Sequence[tuple],
) -> tuple[object, list]:
    """What ``step`` returned, read as ``(output, new_states)`` (a single new state is
    wrapped in a list, as Keras does); ``TypeError``/``ValueError`` naming ``step`` when it
    is not that. Shared by every backend's loop, so the errors are the same everywhere."""
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        if isinstance(result, (tuple, list)):
            what = f"a {type(result).__name__} of length {len(result)}"
        else:  # named alike in every backend: no tensor class in the message
            what = "an array" if hasattr(result, "shape") else type(result).__name__
        raise TypeError(f"step must return (output, new_states), got {what}")
    output, new_states = result
    if output is None:
        raise TypeError("step must return (output, new_states); its output is None")
    new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
    if len(new_states) != count:
        raise ValueError(f"step returned {len(new_states)} new state(s) for {count} state(s)")
    out_shape = shape_of(output)
    if len(out_shape) < 1 or not _dims_equal(out_shape[0], batch):
        raise ValueError(
            f"step's output must have the batch size {batch} first, got shape "
            f"{_shape_text(out_shape)}"
        )
    for i, (new, old) in enumerate(zip(new_states, state_shapes)):
        shape = shape_of(new)
        if len(shape) != len(old) or not all(_dims_equal(a, b) for a, b in zip(shape, old)):
            raise ValueError(
                f"step's new state {i} has shape {_shape_text(shape)}, but the state has "
                f"shape {_shape_text(old)}"
            )
    return output, new_states


# --- argument checks shared by the front ends ---------------------------------------------


def _sequences(B: Backend, x: ArrayLike, *, rank: int | None = 3) -> tuple[Array, tuple]:
    x = B.a.asarray(x, "x")
    shape = B.a.shape_of(x)
    dtype = B.a.dtype_name(x)
    if rank is None:
        check_min_rank(shape, 2, "x")
        check_numeric(dtype, "x")
    else:
        check_rank(shape, rank, "x")
        if dtype not in _FLOATS:
            raise TypeError(
                f"x must hold floating-point numbers (float16, bfloat16, float32 or float64), "
                f"got dtype {dtype}"
            )
    return x, shape


def _step_mask(B: Backend, mask: object, x: Array, shape: tuple) -> Array | None:
    if mask is None:
        return None
    mask = as_mask(B, mask, like=x)
    mshape = B.a.shape_of(mask)
    if len(mshape) != 2 or not all(_dims_equal(a, b) for a, b in zip(mshape, shape[:2])):
        raise ValueError(
            f"mask shape {_shape_text(mshape)} must be (batch, steps) = "
            f"{_shape_text(shape[:2])}, the first two axes of x shape {_shape_text(shape)}"
        )
    return mask


def _weight(B: Backend, value: object, name: str, like: object, rank: int) -> Array:
    arr = B.a.asarray(value, name, like)
    check_rank(B.a.shape_of(arr), rank, name)
    check_numeric(B.a.dtype_name(arr), name)
    return arr


def _layer_weights(
    B: Backend,
    kind: str,
    x: Array,
    features: object,
    kernel: object,
    recurrent_kernel: object,
    bias: object,
    reset_after: bool,
    prefix: str = "",
) -> tuple[Array, Array, Array | None, int]:
    """Keras-layout weights checked against each other and against ``features``."""
    n = GATES[kind]
    rk = _weight(B, recurrent_kernel, f"{prefix}recurrent_kernel", x, 2)
    units = B.a.shape_of(rk)[0]
    if units is None:
        raise ValueError(f"{prefix}recurrent_kernel must have a known shape")
    units = int(units)
    if not _dims_equal(B.a.shape_of(rk)[1], n * units):
        raise ValueError(
            f"{prefix}recurrent_kernel must have shape (units, {n} * units) for {kind}, got "
            f"{_shape_text(B.a.shape_of(rk))}"
        )
    k = _weight(B, kernel, f"{prefix}kernel", x, 2)
    kshape = B.a.shape_of(k)
    if not (_dims_equal(kshape[0], features) and _dims_equal(kshape[1], n * units)):
        raise ValueError(
            f"{prefix}kernel must have shape (features, {n} * units) = "
            f"{_shape_text((features, n * units))}, got {_shape_text(kshape)}"
        )
    if bias is None:
        return k, rk, None, units
    b = B.a.asarray(bias, f"{prefix}bias", x)
    check_numeric(B.a.dtype_name(b), f"{prefix}bias")
    expected: tuple = (2, n * units) if kind == "gru" and reset_after else (n * units,)
    bshape = B.a.shape_of(b)
    if len(bshape) != len(expected) or not all(_dims_equal(a, e) for a, e in zip(bshape, expected)):
        how = " (reset_after=True: input and recurrent biases)" if len(expected) == 2 else ""
        raise ValueError(
            f"{prefix}bias must have shape {_shape_text(expected)} for {kind}{how}, got "
            f"{_shape_text(bshape)}"
        )
    return k, rk, b, units


def _initial_state(
    B: Backend, initial_state: object, count: int | None, batch: object, units: int | None, x: Array
) -> list | None:
    """``initial_state`` as a list of arrays on ``x``'s device: ``count`` of them (any number
    when None), each ``(batch, units)`` (or ``(batch, ...)`` when ``units`` is None)."""
    if initial_state is None:
        return None
    if isinstance(initial_state, (list, tuple)):
        items = list(initial_state)
    elif (count is None or count == 1) and (
        B.a.is_tensor(initial_state) or isinstance(initial_state, np.ndarray)
    ):
        items = [initial_state]
    else:
        raise TypeError(
            f"initial_state must be a list of arrays (one per state), got "
            f"{type(initial_state).__name__}"
        )
    if count is not None and len(items) != count:
        raise ValueError(f"initial_state must hold {count} array(s), got {len(items)}")
    states = []
    for i, item in enumerate(items):
        name = f"initial_state[{i}]"
        arr = B.a.asarray(item, name, x)
        check_numeric(B.a.dtype_name(arr), name)
        shape = B.a.shape_of(arr)
        if units is not None:
            ok = len(shape) == 2 and _dims_equal(shape[0], batch) and _dims_equal(shape[1], units)
            want = _shape_text((batch, units))
        else:
            ok = len(shape) >= 1 and _dims_equal(shape[0], batch)
            want = f"({batch}, ...)"
        if not ok:
            raise ValueError(f"{name} must have shape {want}, got {_shape_text(shape)}")
        states.append(arr)
    return states


def _flags(**flags: object) -> dict[str, bool]:
    return {name: check_flag(value, name) for name, value in flags.items()}


def _result(output: object, states: list, return_state: bool) -> Any:
    return (output, *states) if return_state else output


# --- the generic loop ----------------------------------------------------------------------


@frontend
def rnn(
    B: Backend,
    step: Callable[[Array, list], tuple[Array, list]],
    x: ArrayLike,
    mask: ArrayLike | None,
    initial_state: Sequence[ArrayLike] | ArrayLike,
    *,
    go_backwards: bool = False,
    zero_output_for_mask: bool = False,
) -> tuple[Array, Array, list[Array]]:
    """The masked recurrence loop: ``(last_output, outputs, final_state)``, Keras's rule.

    ``step(x_t, states) -> (output, new_states)`` is called as a Keras cell's
    ``call``: ``x_t`` is one step ``(B, ...)`` of ``x`` ``(B, T, ...)``,
    ``states`` a list of arrays ``(B, ...)`` (``initial_state``; one array is
    read as a one-state list). ``mask`` is ``(B, T)`` boolean (True = valid) or
    None (every step valid). With ``s = initial_state``, ``prev = s[0]`` (Keras's
    contract: the first state is the previous output; zeros when there is no
    state of the output's shape) and the steps ``t`` taken in order (``T-1``
    down to 0 with ``go_backwards``)::

        out, new = step(where(m_t, x_t, 0), s)   # masked inputs never reach step
        prev     = where(m_t, out, prev)          # the last valid output so far
        y_t      = where(m_t, out, 0 if zero_output_for_mask else prev)
        s        = where(m_t, new, s)             # each state, element by row

    ``outputs`` stacks ``y_t`` on axis 1 in processing order (reversed with
    ``go_backwards``: not re-aligned, as in Keras); ``last_output = prev`` is
    the output of the last valid step processed (``initial_state[0]`` for a row
    with none, whatever ``zero_output_for_mask``); ``final_state`` is the list
    ``s``: the state after the last valid step, ``initial_state`` for a fully
    masked row. Keras's TensorFlow and PyTorch backends start ``prev`` at 0
    instead (so do cuDNN and PyTorch's packed sequences): the same results when
    the initial state is 0, the default; its JAX backend starts at ``s[0]``.
    So masked steps, wherever they are (pre, post, holes), are skipped: the
    final state equals a run over the valid steps alone. ``T = 0`` is allowed
    (``step`` is then called once on zeros, to learn its output's shape).
    NaN/inf at masked steps never reach an output, a state or a gradient.

    >>> def step(x_t, states):
    ...     h = states[0] + x_t
    ...     return h, [h]
    >>> x = np.array([[[1.0], [2.0], [4.0]]])
    >>> last, outputs, state = rnn(step, x, np.array([[True, False, True]]), [np.zeros((1, 1))])
    >>> outputs[..., 0], last, state
    (array([[1., 1., 5.]]), array([[5.]]), [array([[5.]])])
    """
    if not callable(step):
        raise TypeError(
            f"step must be a callable step(x_t, states) -> (output, new_states), got "
            f"{type(step).__name__}"
        )
    x, shape = _sequences(B, x, rank=None)
    mask = _step_mask(B, mask, x, shape)
    check_data(initial_state, "initial_state")
    states = _initial_state(B, initial_state, None, shape[0], None, x)
    flags = _flags(go_backwards=go_backwards, zero_output_for_mask=zero_output_for_mask)
    last, outputs, final = B.k.rnn(
        step, x, mask, states, flags["go_backwards"], flags["zero_output_for_mask"]
    )
    return last, outputs, list(final)


# --- the built-in layers -------------------------------------------------------------------


def _layer_call(
    B: Backend,
    kind: str,
    x: object,
    mask: object,
    kernel: object,
    recurrent_kernel: object,
    bias: object,
    initial_state: object,
    reset_after: bool = True,
) -> tuple[Array, Array | None, Array, Array, Array | None, list | None]:
    x, shape = _sequences(B, x)
    mask = _step_mask(B, mask, x, shape)
    k, rk, b, units = _layer_weights(
        B, kind, x, shape[2], kernel, recurrent_kernel, bias, reset_after
    )
    states = _initial_state(B, initial_state, STATES[kind], shape[0], units, x)
    return x, mask, k, rk, b, states


@frontend
def simple_rnn(
    B: Backend,
    x: ArrayLike,
    mask: ArrayLike | None,
    kernel: ArrayLike,
    recurrent_kernel: ArrayLike,
    bias: ArrayLike | None,
    *,
    initial_state: Sequence[ArrayLike] | None = None,
    return_sequences: bool = False,
    return_state: bool = False,
    go_backwards: bool = False,
    zero_output_for_mask: bool = False,
) -> Array | tuple[Array, ...]:
    """``keras.layers.SimpleRNN`` (tanh) with Keras's weights, masked as in :func:`rnn`.

    Cell: ``h = tanh(x_t @ kernel + bias + h @ recurrent_kernel)``, output ``h``.
    ``x`` ``(B, T, features)`` float; ``mask`` ``(B, T)`` bool or None;
    ``kernel`` ``(features, units)``, ``recurrent_kernel`` ``(units, units)``,
    ``bias`` ``(units,)`` or None (``use_bias=False``); ``initial_state``
    ``[h0]`` (zeros by default). Returns, as the Keras layer does, the output
    (``(B, T, units)`` with ``return_sequences``, else the last valid output
    ``(B, units)``), then with ``return_state`` the final state. Weights and
    states are cast to ``x``'s dtype (float16/bfloat16 compute in float32).

    >>> x = np.array([[[1.0], [1.0], [9.0]]])
    >>> kernel, recurrent = np.array([[0.5]]), np.array([[0.5]])
    >>> simple_rnn(x, np.array([[True, True, False]]), kernel, recurrent, None,
    ...            return_sequences=True).round(4)[..., 0]
    array([[0.4621, 0.6237, 0.6237]])
    """
    flags = dict(
        return_sequences=return_sequences,
        return_state=return_state,
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask,
    )
    return _run_layer(
        B, "simple_rnn", x, mask, kernel, recurrent_kernel, bias, initial_state, flags
    )


@frontend
def lstm(
    B: Backend,
    x: ArrayLike,
    mask: ArrayLike | None,
    kernel: ArrayLike,
    recurrent_kernel: ArrayLike,
    bias: ArrayLike | None,
    *,
    initial_state: Sequence[ArrayLike] | None = None,
    return_sequences: bool = False,
    return_state: bool = False,
    go_backwards: bool = False,
    zero_output_for_mask: bool = False,
) -> Array | tuple[Array, ...]:
    """``keras.layers.LSTM`` (tanh, sigmoid) with Keras's weights, masked as in :func:`rnn`.

    Cell, gates [i, f, c, o] in blocks of ``units`` columns:
    ``z = x_t @ kernel + bias + h @ recurrent_kernel``; ``c = sigmoid(z_f) * c +
    sigmoid(z_i) * tanh(z_c)``; ``h = sigmoid(z_o) * tanh(c)``; output ``h``,
    states ``[h, c]``. ``kernel`` ``(features, 4 * units)``,
    ``recurrent_kernel`` ``(units, 4 * units)``, ``bias`` ``(4 * units,)`` or
    None; ``initial_state`` ``[h0, c0]``. Returns the output (sequence with
    ``return_sequences``, else the last valid output), then ``h, c`` with
    ``return_state``. ``zero_output_for_mask=True`` gives zeros at masked
    outputs (what PyTorch's packed sequences and cuDNN give).

    >>> x = np.array([[[1.0], [9.0]]])
    >>> kernel, recurrent = np.full((1, 4), 0.5), np.zeros((1, 4))
    >>> out, h, c = lstm(x, np.array([[True, False]]), kernel, recurrent, np.zeros(4),
    ...                  return_sequences=True, zero_output_for_mask=True, return_state=True)
    >>> out.round(4)[..., 0], h.round(4), c.round(4)
    (array([[0.1743, 0.    ]]), array([[0.1743]]), array([[0.2876]]))
    """
    flags = dict(
        return_sequences=return_sequences,
        return_state=return_state,
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask,
    )
    return _run_layer(B, "lstm", x, mask, kernel, recurrent_kernel, bias, initial_state, flags)


@frontend
def gru(
    B: Backend,
    x: ArrayLike,
    mask: ArrayLike | None,
    kernel: ArrayLike,
    recurrent_kernel: ArrayLike,
    bias: ArrayLike | None,
    *,
    initial_state: Sequence[ArrayLike] | None = None,
    return_sequences: bool = False,
    return_state: bool = False,
    go_backwards: bool = False,
    zero_output_for_mask: bool = False,
    reset_after: bool = True,
) -> Array | tuple[Array, ...]:
    """``keras.layers.GRU`` (tanh, sigmoid) with Keras's weights, masked as in :func:`rnn`.

    Gates [z, r, h] in blocks of ``units`` columns; ``x_* = x_t @ kernel + b_in``,
    ``h_* = h @ recurrent_kernel + b_rec``. ``reset_after=True`` (Keras's default,
    PyTorch's rule): ``bias`` is ``(2, 3 * units)`` = [b_in; b_rec], ``z =
    sigmoid(x_z + h_z)``, ``r = sigmoid(x_r + h_r)``, ``hh = tanh(x_h + r * h_h)``.
    ``reset_after=False``: ``bias`` ``(3 * units,)`` (input only) and ``hh =
    tanh(x_h + (r * h) @ recurrent_kernel[:, 2u:])``. Then ``h = z * h + (1 - z) *
    hh``; output ``h``, states ``[h]``. ``bias=None`` for ``use_bias=False``.

    >>> x = np.array([[[1.0], [9.0]]])
    >>> kernel, recurrent = np.full((1, 3), 0.5), np.zeros((1, 3))
    >>> gru(x, np.array([[True, False]]), kernel, recurrent, np.zeros((2, 3))).round(4)
    array([[0.1745]])
    """
    flags = dict(
        return_sequences=return_sequences,
        return_state=return_state,
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask,
        reset_after=reset_after,
    )
    return _run_layer(B, "gru", x, mask, kernel, recurrent_kernel, bias, initial_state, flags)


def _run_layer(
    B: Backend, kind: str, x: object, mask: object, kernel: object, recurrent_kernel: object,
    bias: object, initial_state: object, flags: Mapping[str, object],
) -> Array | tuple[Array, ...]:  # fmt: skip
    """The body every layer front end shares: flags and weights checked, the kernel run,
    the result shaped as the Keras layer returns it."""
    f = _flags(**flags)
    extra = (f["reset_after"],) if kind == "gru" else ()
    x, mask, k, rk, b, states = _layer_call(
        B, kind, x, mask, kernel, recurrent_kernel, bias, initial_state, *extra
    )
    output, final = B.kernel("recurrence", kind)(
        x, mask, k, rk, b, states, f["return_sequences"], f["go_backwards"],
        f["zero_output_for_mask"], *extra,
    )  # fmt: skip
    return _result(output, final, f["return_state"])


def layer_name(layer: object) -> str:
    """``"simple_rnn"``, ``"lstm"`` or ``"gru"`` for one of those public functions (of any
    backend) or their names; ``ValueError`` otherwise."""
    name = layer if isinstance(layer, str) else getattr(layer, "__name__", None)
    front = getattr(layer, "frontend", None)
    if name in LAYERS and (isinstance(layer, str) or front is None or front.__name__ == name):
        return name  # type: ignore[return-value]
    raise ValueError(
        f"layer must be simple_rnn, lstm or gru (the function or its name), got {layer!r}"
    )


_BIDIRECTIONAL_OPTIONS = ("initial_state", "return_state")


@frontend
def bidirectional(
    B: Backend,
    layer: Callable[..., Any] | str,
    x: ArrayLike,
    mask: ArrayLike | None,
    forward_weights: Sequence[ArrayLike | None],
    backward_weights: Sequence[ArrayLike | None],
    *,
    merge_mode: str | None = "concat",
    return_sequences: bool = False,
    **options: Any,
) -> Array | tuple[Array, ...]:
    """``keras.layers.Bidirectional(layer)``: a forward and a backward copy, merged.

    ``layer`` is :func:`simple_rnn`, :func:`lstm` or :func:`gru` (or its
    name); each weights argument is its ``(kernel, recurrent_kernel, bias)``.
    Keras's rules: the forward copy runs as ``layer(x, mask, *forward_weights)``,
    the backward one with ``go_backwards=True`` and its sequence flipped back
    to the input's time order; both get ``zero_output_for_mask =
    return_sequences`` (so padded steps are 0 in both halves of a sequence, and
    the backward copy starts at each row's last valid step, as a packed
    bidirectional ``nn.LSTM``). ``merge_mode``: ``"concat"`` (features
    ``[forward, backward]``), ``"sum"``, ``"ave"`` (``(y + y_rev) / 2``),
    ``"mul"`` or None (the pair ``(y, y_rev)``). ``options``:
    ``initial_state`` (the forward states, then the backward ones),
    ``return_state`` (the result is followed by the forward, then the backward
    final states), ``reset_after`` (``gru`` only). ``go_backwards`` and
    ``zero_output_for_mask`` are set by the rule above, so passing them is a
    ``ValueError``.

    >>> x = np.array([[[1.0], [2.0], [0.0]]])
    >>> w = (np.array([[1.0]]), np.zeros((1, 1)), None)
    >>> bidirectional(simple_rnn, x, np.array([[True, True, False]]), w, w,
    ...               return_sequences=True).round(4)
    array([[[0.7616, 0.7616],
            [0.964 , 0.964 ],
            [0.    , 0.    ]]])
    """
    kind = layer_name(layer)
    if merge_mode is not None:
        check_choice("merge_mode", merge_mode, ("concat", "sum", "ave", "mul"))
    for name in ("go_backwards", "zero_output_for_mask"):
        if name in options:
            raise ValueError(
                f"{name} cannot be passed to bidirectional: the backward copy has "
                f"go_backwards=True and both copies zero_output_for_mask=return_sequences "
                f"(keras.layers.Bidirectional's rule)"
            )
    allowed = _BIDIRECTIONAL_OPTIONS + (("reset_after",) if kind == "gru" else ())
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(
            f"bidirectional({kind}) got unexpected option(s) {', '.join(unknown)}; "
            f"it takes {', '.join(allowed)}"
        )
    f = _flags(
        return_sequences=return_sequences,
        return_state=options.get("return_state", False),
        reset_after=options.get("reset_after", True),
    )
    x, shape = _sequences(B, x)
    mask = _step_mask(B, mask, x, shape)
    weights = []
    for direction, given in (("forward", forward_weights), ("backward", backward_weights)):
        if not (isinstance(given, (tuple, list)) and len(given) == 3):
            raise TypeError(
                f"{direction}_weights must be a (kernel, recurrent_kernel, bias) tuple, got "
                f"{type(given).__name__}"
            )
        k, rk, b, units = _layer_weights(
            B,
            kind,
            x,
            shape[2],
            *typing.cast("tuple[object, object, object]", given),
            f["reset_after"],
            prefix=f"{direction}_weights: ",
        )
        weights.append((k, rk, b, units))
    if weights[0][3] != weights[1][3]:
        raise ValueError(
            f"forward_weights and backward_weights must have the same number of units, got "
            f"{weights[0][3]} and {weights[1][3]}"
        )
    n = STATES[kind]
    states = _initial_state(B, options.get("initial_state"), 2 * n, shape[0], weights[0][3], x)
    output, final = B.k.bidirectional(
        kind, x, mask, weights[0][:3], weights[1][:3], merge_mode, f["return_sequences"],
        states, f["reset_after"],
    )  # fmt: skip
    if f["return_state"]:
        head = tuple(output) if merge_mode is None else (output,)
        return (*head, *final)
    return tuple(output) if merge_mode is None else output


# --- weights between Keras and PyTorch -----------------------------------------------------


def _same_dtype(B: Backend, arrays: dict[str, Array]) -> None:
    names = [(n, B.a.dtype_name(a)) for n, a in arrays.items() if a is not None]
    first, dtype = names[0]
    for name, other in names[1:]:
        if other != dtype:
            raise TypeError(
                f"{name} has dtype {other} but {first} has dtype {dtype}; convert the weights "
                f"to one dtype first"
            )


def _keras_weights(
    B: Backend, kind: str, kernel: object, recurrent_kernel: object, bias: object
) -> tuple[Array, Array, Array | None]:
    n = GATES[kind]
    rk = _weight(B, recurrent_kernel, "recurrent_kernel", None, 2)
    units = B.a.shape_of(rk)[0]
    if not _dims_equal(B.a.shape_of(rk)[1], n * units if units is not None else None):
        raise ValueError(
            f"recurrent_kernel must have shape (units, {n} * units) for {kind}, got "
            f"{_shape_text(B.a.shape_of(rk))}"
        )
    k = _weight(B, kernel, "kernel", rk, 2)
    if not _dims_equal(B.a.shape_of(k)[1], B.a.shape_of(rk)[1]):
        raise ValueError(
            f"kernel must have shape (features, {n} * units) with units = "
            f"{units} (recurrent_kernel's), got {_shape_text(B.a.shape_of(k))}"
        )
    b = None
    if bias is not None:
        b = B.a.asarray(bias, "bias", rk)
        check_numeric(B.a.dtype_name(b), "bias")
        bshape = B.a.shape_of(b)
        if kind == "gru" and len(bshape) == 1:
            raise ValueError(
                "bias of shape (3 * units,) is a Keras GRU with reset_after=False, which has no "
                "PyTorch equivalent: nn.GRU applies the reset gate after the recurrent matmul "
                "(Keras's reset_after=True, bias of shape (2, 3 * units)); keras-team/keras#15915"
            )
        expected: tuple = (2, n * units) if kind == "gru" else (n * units,)
        if len(bshape) != len(expected) or not all(
            _dims_equal(a, e) for a, e in zip(bshape, expected)
        ):
            raise ValueError(
                f"bias must have shape {_shape_text(expected)} for {kind}, got "
                f"{_shape_text(bshape)}"
            )
    _same_dtype(B, {"kernel": k, "recurrent_kernel": rk, "bias": b})
    return k, rk, b


def _torch_weights(
    B: Backend,
    kind: str,
    weight_ih: object,
    weight_hh: object,
    bias_ih: object,
    bias_hh: object,
) -> tuple[Array, Array, Array | None, Array | None]:
    n = GATES[kind]
    whh = _weight(B, weight_hh, "weight_hh", None, 2)
    rows, units = B.a.shape_of(whh)
    if not _dims_equal(rows, n * units if units is not None else None):
        raise ValueError(
            f"weight_hh must have shape ({n} * hidden_size, hidden_size) for {kind}, got "
            f"{_shape_text((rows, units))}"
        )
    wih = _weight(B, weight_ih, "weight_ih", whh, 2)
    if not _dims_equal(B.a.shape_of(wih)[0], rows):
        raise ValueError(
            f"weight_ih must have shape ({n} * hidden_size, input_size) with hidden_size = "
            f"{units} (weight_hh's), got {_shape_text(B.a.shape_of(wih))}"
        )
    if (bias_ih is None) != (bias_hh is None):
        raise ValueError("bias_ih and bias_hh must both be given, or both be None (bias=False)")
    biases: list[Array | None] = []
    for name, value in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if value is None:
            biases.append(None)
            continue
        b = B.a.asarray(value, name, whh)
        check_numeric(B.a.dtype_name(b), name)
        if len(B.a.shape_of(b)) != 1 or not _dims_equal(B.a.shape_of(b)[0], rows):
            raise ValueError(
                f"{name} must have shape ({n} * hidden_size,) = {_shape_text((rows,))}, got "
                f"{_shape_text(B.a.shape_of(b))}"
            )
        biases.append(b)
    _same_dtype(B, {"weight_ih": wih, "weight_hh": whh, "bias_ih": biases[0], "bias_hh": biases[1]})
    return wih, whh, biases[0], biases[1]


_TO_TORCH_RULE = """
    Rule: ``weight_ih = kernel.T``, ``weight_hh = recurrent_kernel.T``, ``bias_ih =
    bias`` and ``bias_hh = -0.0`` everywhere (negative zero: adding it changes no
    bit, so Keras -> PyTorch -> Keras is bit-identical); ``bias=None`` gives
    ``(weight_ih, weight_hh, None, None)`` (``bias=False``). Plain arrays of the
    backend; nothing is rounded.
"""
_TO_KERAS_RULE = """
    Rule: ``kernel = weight_ih.T``, ``recurrent_kernel = weight_hh.T``, ``bias =
    bias_ih + bias_hh`` (PyTorch adds its two biases; only their sum is
    recoverable), taken as ``bias_ih`` itself where ``bias_hh`` is 0, so that a
    round trip keeps every bit even where a framework flushes subnormal sums to
    zero (TensorFlow, XLA); None when both biases are None.
"""


@frontend
def lstm_weights_keras_to_torch(
    B: Backend, kernel: ArrayLike, recurrent_kernel: ArrayLike, bias: ArrayLike | None
) -> tuple[Array, Array, Array | None, Array | None]:
    """A Keras ``LSTM``'s weights as ``nn.LSTM``'s ``(weight_ih, weight_hh, bias_ih, bias_hh)``.

    Both order the gates [i, f, c/g, o], so no block moves.
    {rule}
    >>> w_ih, w_hh, b_ih, b_hh = lstm_weights_keras_to_torch(
    ...     np.ones((3, 8)), np.ones((2, 8)), np.arange(8.0))
    >>> w_ih.shape, w_hh.shape, b_ih[:2], b_hh[:2]
    ((8, 3), (8, 2), array([0., 1.]), array([-0., -0.]))
    """
    k, rk, b = _keras_weights(B, "lstm", kernel, recurrent_kernel, bias)
    return B.k.lstm_weights_keras_to_torch(k, rk, b)


@frontend
def lstm_weights_torch_to_keras(
    B: Backend,
    weight_ih: ArrayLike,
    weight_hh: ArrayLike,
    bias_ih: ArrayLike | None,
    bias_hh: ArrayLike | None,
) -> tuple[Array, Array, Array | None]:
    """``nn.LSTM``'s ``(weight_ih, weight_hh, bias_ih, bias_hh)`` as a Keras ``LSTM``'s
    ``(kernel, recurrent_kernel, bias)``.
    {rule}
    >>> kernel, recurrent, bias = lstm_weights_torch_to_keras(
    ...     np.ones((8, 3)), np.ones((8, 2)), np.ones(8), np.full(8, 0.5))
    >>> kernel.shape, recurrent.shape, bias[:2]
    ((3, 8), (2, 8), array([1.5, 1.5]))
    """
    wih, whh, bih, bhh = _torch_weights(B, "lstm", weight_ih, weight_hh, bias_ih, bias_hh)
    return B.k.lstm_weights_torch_to_keras(wih, whh, bih, bhh)


@frontend
def gru_weights_keras_to_torch(
    B: Backend, kernel: ArrayLike, recurrent_kernel: ArrayLike, bias: ArrayLike | None
) -> tuple[Array, Array, Array | None, Array | None]:
    """A Keras ``GRU``'s weights (``reset_after=True``) as ``nn.GRU``'s ``(weight_ih,
    weight_hh, bias_ih, bias_hh)``.

    Rule: the gate blocks move from Keras's [z, r, h] to PyTorch's [r, z, n]
    (:func:`gru_gate_order`, ``p``): ``weight_ih = kernel[:, p].T``,
    ``weight_hh = recurrent_kernel[:, p].T``, ``bias_ih = bias[0, p]``,
    ``bias_hh = bias[1, p]``; ``bias=None`` (``use_bias=False``) gives None
    biases and is read as ``reset_after=True``. A bias of shape ``(3 *
    units,)`` is Keras's ``reset_after=False``, which PyTorch cannot express:
    ``ValueError`` (keras-team/keras#15915).

    >>> w_ih, w_hh, b_ih, b_hh = gru_weights_keras_to_torch(
    ...     np.ones((3, 6)), np.ones((2, 6)), np.arange(12.0).reshape(2, 6))
    >>> w_ih.shape, b_ih, b_hh
    ((6, 3), array([2., 3., 0., 1., 4., 5.]), array([ 8.,  9.,  6.,  7., 10., 11.]))
    """
    k, rk, b = _keras_weights(B, "gru", kernel, recurrent_kernel, bias)
    return B.k.gru_weights_keras_to_torch(k, rk, b)


@frontend
def gru_weights_torch_to_keras(
    B: Backend,
    weight_ih: ArrayLike,
    weight_hh: ArrayLike,
    bias_ih: ArrayLike | None,
    bias_hh: ArrayLike | None,
) -> tuple[Array, Array, Array | None]:
    """``nn.GRU``'s ``(weight_ih, weight_hh, bias_ih, bias_hh)`` as a Keras ``GRU``'s
    ``(kernel, recurrent_kernel, bias)`` with ``reset_after=True``.

    Rule: the gate blocks move from [r, z, n] to [z, r, h] (the same swap, ``p``):
    ``kernel = weight_ih.T[:, p]``, ``recurrent_kernel = weight_hh.T[:, p]``,
    ``bias = stack([bias_ih[p], bias_hh[p]])`` (shape ``(2, 3 * units)``), None
    when both biases are None. Exact: Keras -> PyTorch -> Keras and back are
    bit-identical.

    >>> kernel, recurrent, bias = gru_weights_torch_to_keras(
    ...     np.ones((6, 3)), np.ones((6, 2)), np.arange(6.0), np.zeros(6))
    >>> kernel.shape, bias
    ((3, 6), array([[2., 3., 0., 1., 4., 5.],
           [0., 0., 0., 0., 0., 0.]]))
    """
    wih, whh, bih, bhh = _torch_weights(B, "gru", weight_ih, weight_hh, bias_ih, bias_hh)
    return B.k.gru_weights_torch_to_keras(wih, whh, bih, bhh)


@frontend
def simple_rnn_weights_keras_to_torch(
    B: Backend, kernel: ArrayLike, recurrent_kernel: ArrayLike, bias: ArrayLike | None
) -> tuple[Array, Array, Array | None, Array | None]:
    """A Keras ``SimpleRNN``'s weights as ``nn.RNN``'s (tanh) ``(weight_ih, weight_hh,
    bias_ih, bias_hh)``.
    {rule}
    >>> w_ih, w_hh, b_ih, b_hh = simple_rnn_weights_keras_to_torch(
    ...     np.ones((3, 2)), np.eye(2), np.ones(2))
    >>> w_ih.shape, w_hh, b_hh
    ((2, 3), array([[1., 0.],
           [0., 1.]]), array([-0., -0.]))
    """
    k, rk, b = _keras_weights(B, "simple_rnn", kernel, recurrent_kernel, bias)
    return B.k.simple_rnn_weights_keras_to_torch(k, rk, b)


@frontend
def simple_rnn_weights_torch_to_keras(
    B: Backend,
    weight_ih: ArrayLike,
    weight_hh: ArrayLike,
    bias_ih: ArrayLike | None,
    bias_hh: ArrayLike | None,
) -> tuple[Array, Array, Array | None]:
    """``nn.RNN``'s (tanh) ``(weight_ih, weight_hh, bias_ih, bias_hh)`` as a Keras
    ``SimpleRNN``'s ``(kernel, recurrent_kernel, bias)``.
    {rule}
    >>> kernel, recurrent, bias = simple_rnn_weights_torch_to_keras(
    ...     np.ones((2, 3)), np.eye(2), None, None)
    >>> kernel.shape, bias is None
    ((3, 2), True)
    """
    wih, whh, bih, bhh = _torch_weights(B, "simple_rnn", weight_ih, weight_hh, bias_ih, bias_hh)
    return B.k.simple_rnn_weights_torch_to_keras(wih, whh, bih, bhh)


for _fn, _rule in (
    (lstm_weights_keras_to_torch, _TO_TORCH_RULE),
    (simple_rnn_weights_keras_to_torch, _TO_TORCH_RULE),
    (lstm_weights_torch_to_keras, _TO_KERAS_RULE),
    (simple_rnn_weights_torch_to_keras, _TO_KERAS_RULE),
):
    # the rule is a paragraph of its own, between the summary and the example
    _fn.__doc__ = _fn.__doc__.replace("{rule}", "\n    " + _rule.strip() + "\n")  # type: ignore[union-attr]
