"""Masked recurrence kernels in NumPy (the rules and checks: :mod:`maskref.api.recurrence`).

One loop, :func:`rnn`, states the rule step by step; the layers are cells run
under it. Results have ``x``'s dtype; float16 is computed in float32 and
rounded once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np

from maskref.api.recurrence import STATES, check_step_result, compute_dtype, gru_gate_order

Arr = np.ndarray
States = list[np.ndarray]


def _shape(a: object) -> tuple:
    return tuple(np.shape(cast(Any, a)))


def _rows(m: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A ``(B,)`` mask shaped to broadcast against ``like`` ``(B, ...)``."""
    return m.reshape(m.shape + (1,) * (like.ndim - 1))


def _start(states: list[np.ndarray], out: np.ndarray) -> np.ndarray:
    """The previous output before the first step: the first state (Keras's contract: it is
    the previous output), or zeros when there is none of the output's shape."""
    if states and np.shape(states[0]) == out.shape:
        return np.asarray(states[0]).astype(out.dtype)
    return np.zeros_like(out)


def _loop(
    step: Callable,
    x: np.ndarray,
    mask: np.ndarray | None,
    states: list[np.ndarray],
    go_backwards: bool,
    zero_output_for_mask: bool,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    batch, steps = x.shape[:2]
    keep = np.ones((batch, steps), bool) if mask is None else mask
    zero = np.zeros((), x.dtype)
    shapes = [_shape(s) for s in states]
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    prev, outputs = None, []
    for t in order:
        m = keep[:, t]
        x_t = np.where(_rows(m, x[:, t]), x[:, t], zero)
        out, new = check_step_result(step(x_t, list(states)), len(states), _shape, batch, shapes)
        out = np.asarray(out)
        if prev is None:
            prev = _start(states, out)
        mo = _rows(m, out)
        prev = np.where(mo, out, prev)
        outputs.append(np.where(mo, out, np.zeros_like(out)) if zero_output_for_mask else prev)
        states = [np.where(_rows(m, s), np.asarray(n), s) for n, s in zip(new, states)]
    if prev is None:  # no step: learn the output's shape from one call on zeros
        probe = np.zeros((batch,) + x.shape[2:], x.dtype)
        out, _ = check_step_result(step(probe, list(states)), len(states), _shape, batch, shapes)
        prev = _start(states, np.asarray(out))
        return prev, np.zeros((batch, 0) + prev.shape[1:], prev.dtype), list(states)
    return prev, np.stack(outputs, axis=1), list(states)


def rnn(
    step: Callable,
    x: np.ndarray,
    mask: np.ndarray | None,
    initial_state: list[np.ndarray],
    go_backwards: bool,
    zero_output_for_mask: bool,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """A Python loop over the steps, as the rule is written."""
    return _loop(step, x, mask, list(initial_state), go_backwards, zero_output_for_mask)


# --- cells ---------------------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(np.zeros((), z.dtype), -z))


def _cell(
    kind: str,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None,
    reset_after: bool,
) -> Callable:
    """The Keras cell ``kind`` as a ``step(x_t, states)`` (Keras's weight layout)."""
    units = recurrent_kernel.shape[0]
    b_in, b_rec = bias, None
    if kind == "gru" and reset_after and bias is not None:
        b_in, b_rec = bias[0], bias[1]

    def project(x_t: np.ndarray) -> np.ndarray:
        z = x_t @ kernel
        return z if b_in is None else z + b_in

    def simple_rnn(x_t: np.ndarray, states: list) -> tuple:
        h = np.tanh(project(x_t) + states[0] @ recurrent_kernel)
        return h, [h]

    def lstm(x_t: np.ndarray, states: list) -> tuple:
        h, c = states
        z = project(x_t) + h @ recurrent_kernel
        i, f, g, o = (z[:, k * units : (k + 1) * units] for k in range(4))
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        return h, [h, c]

    def gru(x_t: np.ndarray, states: list) -> tuple:
        h = states[0]
        xz, xr, xh = (project(x_t)[:, k * units : (k + 1) * units] for k in range(3))
        if reset_after:
            inner = h @ recurrent_kernel
            if b_rec is not None:
                inner = inner + b_rec
            hz, hr, hh = (inner[:, k * units : (k + 1) * units] for k in range(3))
            z, r = _sigmoid(xz + hz), _sigmoid(xr + hr)
            candidate = np.tanh(xh + r * hh)
        else:
            inner = h @ recurrent_kernel[:, : 2 * units]
            z, r = _sigmoid(xz + inner[:, :units]), _sigmoid(xr + inner[:, units:])
            candidate = np.tanh(xh + (r * h) @ recurrent_kernel[:, 2 * units :])
        h = z * h + (1 - z) * candidate
        return h, [h]

    return {"simple_rnn": simple_rnn, "lstm": lstm, "gru": gru}[kind]


def _layer(
    kind: str,
    x: np.ndarray,
    mask: np.ndarray | None,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None,
    initial_state: list[np.ndarray] | None,
    go_backwards: bool,
    zero_output_for_mask: bool,
    reset_after: bool = True,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """``(last_output, outputs, states)`` in ``x``'s dtype."""
    dtype = np.dtype(compute_dtype(x.dtype.name))
    units = recurrent_kernel.shape[0]
    if initial_state is None:
        initial_state = [np.zeros((x.shape[0], units), dtype) for _ in range(STATES[kind])]
    step = _cell(
        kind,
        kernel.astype(dtype),
        recurrent_kernel.astype(dtype),
        None if bias is None else bias.astype(dtype),
        reset_after,
    )
    states = [s.astype(dtype) for s in initial_state]
    last, outputs, final = _loop(
        step, x.astype(dtype), mask, states, go_backwards, zero_output_for_mask
    )
    back = x.dtype
    return last.astype(back), outputs.astype(back), [s.astype(back) for s in final]


def simple_rnn(
    x: Arr, mask: Arr | None, kernel: Arr, recurrent_kernel: Arr, bias: Arr | None,
    initial_state: States | None, return_sequences: bool, go_backwards: bool,
    zero_output_for_mask: bool,
) -> tuple[Arr, States]:  # fmt: skip
    last, outputs, states = _layer(
        "simple_rnn", x, mask, kernel, recurrent_kernel, bias, initial_state, go_backwards,
        zero_output_for_mask,
    )  # fmt: skip
    return (outputs if return_sequences else last), states


def lstm(
    x: Arr, mask: Arr | None, kernel: Arr, recurrent_kernel: Arr, bias: Arr | None,
    initial_state: States | None, return_sequences: bool, go_backwards: bool,
    zero_output_for_mask: bool,
) -> tuple[Arr, States]:  # fmt: skip
    last, outputs, states = _layer(
        "lstm", x, mask, kernel, recurrent_kernel, bias, initial_state, go_backwards,
        zero_output_for_mask,
    )  # fmt: skip
    return (outputs if return_sequences else last), states


def gru(
    x: Arr, mask: Arr | None, kernel: Arr, recurrent_kernel: Arr, bias: Arr | None,
    initial_state: States | None, return_sequences: bool, go_backwards: bool,
    zero_output_for_mask: bool, reset_after: bool,
) -> tuple[Arr, States]:  # fmt: skip
    last, outputs, states = _layer(
        "gru", x, mask, kernel, recurrent_kernel, bias, initial_state, go_backwards,
        zero_output_for_mask, reset_after,
    )  # fmt: skip
    return (outputs if return_sequences else last), states


def merge(merge_mode: str | None, y: np.ndarray, y_rev: np.ndarray) -> object:
    """Keras's ``Bidirectional`` merge of the two directions."""
    if merge_mode == "concat":
        return np.concatenate([y, y_rev], axis=-1)
    if merge_mode == "sum":
        return y + y_rev
    if merge_mode == "ave":
        return (y + y_rev) / 2
    if merge_mode == "mul":
        return y * y_rev
    return (y, y_rev)


def bidirectional(
    kind: str, x: Arr, mask: Arr | None, forward_weights: tuple, backward_weights: tuple,
    merge_mode: str | None, return_sequences: bool, initial_state: States | None,
    reset_after: bool,
) -> tuple[object, States]:  # fmt: skip
    n = STATES[kind]
    halves = (None, None) if initial_state is None else (initial_state[:n], initial_state[n:])
    runs = []
    for weights, states, backwards in zip(
        (forward_weights, backward_weights), halves, (False, True)
    ):
        last, outputs, final = _layer(
            kind,
            x,
            mask,
            *cast("tuple[Arr, Arr, Arr | None]", weights),
            states,
            backwards,
            return_sequences,
            reset_after,
        )
        runs.append((outputs if return_sequences else last, final))
    (y, forward), (y_rev, backward) = runs
    if return_sequences:
        y_rev = y_rev[:, ::-1]
    return merge(merge_mode, y, y_rev), forward + backward


# --- weights -------------------------------------------------------------------------------


def _to_torch(
    kernel: Arr, recurrent_kernel: Arr, bias: Arr | None, order: Arr | None = None
) -> tuple[Arr, Arr, Arr | None, Arr | None]:
    if order is not None:
        kernel, recurrent_kernel = kernel[:, order], recurrent_kernel[:, order]
    w_ih, w_hh = kernel.T.copy(), recurrent_kernel.T.copy()
    if bias is None:
        return w_ih, w_hh, None, None
    if order is not None:
        return w_ih, w_hh, bias[0, order].copy(), bias[1, order].copy()
    return w_ih, w_hh, bias.copy(), np.full_like(bias, -0.0)


def _to_keras(
    weight_ih: Arr, weight_hh: Arr, bias_ih: Arr | None, bias_hh: Arr | None,
    order: Arr | None = None,
) -> tuple[Arr, Arr, Arr | None]:  # fmt: skip
    kernel, recurrent_kernel = weight_ih.T.copy(), weight_hh.T.copy()
    if order is not None:
        kernel, recurrent_kernel = kernel[:, order], recurrent_kernel[:, order]
    if bias_ih is None or bias_hh is None:
        return kernel, recurrent_kernel, None
    if order is not None:
        return kernel, recurrent_kernel, np.stack([bias_ih[order], bias_hh[order]])
    return kernel, recurrent_kernel, np.where(bias_hh == 0, bias_ih, bias_ih + bias_hh)


def lstm_weights_keras_to_torch(kernel: Arr, recurrent_kernel: Arr, bias: Arr | None) -> tuple:
    return _to_torch(kernel, recurrent_kernel, bias)


def lstm_weights_torch_to_keras(
    weight_ih: Arr, weight_hh: Arr, bias_ih: Arr | None, bias_hh: Arr | None
) -> tuple:
    return _to_keras(weight_ih, weight_hh, bias_ih, bias_hh)


def simple_rnn_weights_keras_to_torch(
    kernel: Arr, recurrent_kernel: Arr, bias: Arr | None
) -> tuple:
    return _to_torch(kernel, recurrent_kernel, bias)


def simple_rnn_weights_torch_to_keras(
    weight_ih: Arr, weight_hh: Arr, bias_ih: Arr | None, bias_hh: Arr | None
) -> tuple:
    return _to_keras(weight_ih, weight_hh, bias_ih, bias_hh)


def gru_weights_keras_to_torch(kernel: Arr, recurrent_kernel: Arr, bias: Arr | None) -> tuple:
    return _to_torch(kernel, recurrent_kernel, bias, gru_gate_order(recurrent_kernel.shape[0]))


def gru_weights_torch_to_keras(
    weight_ih: Arr, weight_hh: Arr, bias_ih: Arr | None, bias_hh: Arr | None
) -> tuple:
    order = gru_gate_order(weight_hh.shape[1])
    return _to_keras(weight_ih, weight_hh, bias_ih, bias_hh, order)
