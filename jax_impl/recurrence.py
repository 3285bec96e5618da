"""Masked recurrence kernels in JAX (rules and checks: :mod:`maskref.api.recurrence`).

The loop is one ``lax.scan`` over the steps, so it traces under ``jit`` and
differentiates; at a masked step ``x_t`` is replaced with ``where`` before the
cell runs and states and outputs are selected with ``where`` (never a
multiplication), so NaN/inf there reach no output, state or gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from maskref.api.recurrence import STATES, check_step_result, compute_dtype, gru_gate_order

Arr = Any
States = list[Any]


def _shape(a: object) -> tuple:
    return tuple(np.shape(a))


def _rows(m: Any, like: Any) -> Any:
    return m.reshape(m.shape + (1,) * (like.ndim - 1))


def _loop(step: Callable, x: Arr, mask: Arr | None, states: States, go_backwards: bool,
          zero_output_for_mask: bool) -> tuple[Arr, Arr, States]:  # fmt: skip
    batch, steps = x.shape[:2]
    keep = jnp.ones((batch, steps), bool) if mask is None else mask
    shapes = [_shape(s) for s in states]
    probe = jnp.zeros((batch,) + x.shape[2:], x.dtype)
    out_spec = jax.eval_shape(
        lambda p, s: check_step_result(step(p, list(s)), len(s), _shape, batch, shapes)[0],
        probe,
        states,
    )
    # Before the first valid step the previous output is the first state (Keras's contract),
    # or zeros when the output has another shape.
    if states and tuple(states[0].shape) == tuple(out_spec.shape):
        prev0 = jnp.asarray(states[0]).astype(out_spec.dtype)
    else:
        prev0 = jnp.zeros(out_spec.shape, out_spec.dtype)
    xs, ms = jnp.swapaxes(x, 0, 1), jnp.swapaxes(keep, 0, 1)

    def body(carry: tuple, inputs: tuple) -> tuple:
        prev, states = carry
        x_t, m = inputs
        x_t = jnp.where(_rows(m, x_t), x_t, 0)
        out, new = check_step_result(step(x_t, list(states)), len(states), _shape, batch, shapes)
        mo = _rows(m, out)
        prev = jnp.where(mo, out, prev)
        emitted = jnp.where(mo, out, 0) if zero_output_for_mask else prev
        states = [jnp.where(_rows(m, s), n, s) for n, s in zip(new, states)]
        return (prev, states), emitted

    if go_backwards:  # processing order: the outputs come back reversed, as in Keras
        xs, ms = xs[::-1], ms[::-1]
    (last, final), outputs = jax.lax.scan(body, (prev0, list(states)), (xs, ms))
    return last, jnp.swapaxes(outputs, 0, 1), list(final)


def rnn(step: Callable, x: Arr, mask: Arr | None, initial_state: States, go_backwards: bool,
        zero_output_for_mask: bool) -> tuple[Arr, Arr, States]:  # fmt: skip
    """One ``lax.scan``: ``step`` must be traceable by JAX (written with ``jnp``)."""
    return _loop(step, x, mask, list(initial_state), go_backwards, zero_output_for_mask)


def _cell(kind: str, kernel: Arr, recurrent_kernel: Arr, bias: Arr | None,
          reset_after: bool) -> Callable:  # fmt: skip
    units = recurrent_kernel.shape[0]
    b_in, b_rec = bias, None
    if kind == "gru" and reset_after and bias is not None:
        b_in, b_rec = bias[0], bias[1]

    def project(x_t: Arr) -> Arr:
        z = x_t @ kernel
        return z if b_in is None else z + b_in

    def gates(z: Arr, n: int) -> list[Arr]:
        return [z[:, k * units : (k + 1) * units] for k in range(n)]

    def simple_rnn(x_t: Arr, states: list) -> tuple:
        h = jnp.tanh(project(x_t) + states[0] @ recurrent_kernel)
        return h, [h]

    def lstm(x_t: Arr, states: list) -> tuple:
        h, c = states
        i, f, g, o = gates(project(x_t) + h @ recurrent_kernel, 4)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return h, [h, c]

    def gru(x_t: Arr, states: list) -> tuple:
        h = states[0]
        xz, xr, xh = gates(project(x_t), 3)
        if reset_after:
            inner = h @ recurrent_kernel
            if b_rec is not None:
                inner = inner + b_rec
            hz, hr, hh = gates(inner, 3)
            z, r = jax.nn.sigmoid(xz + hz), jax.nn.sigmoid(xr + hr)
            candidate = jnp.tanh(xh + r * hh)
        else:
            inner = h @ recurrent_kernel[:, : 2 * units]
            z, r = jax.nn.sigmoid(xz + inner[:, :units]), jax.nn.sigmoid(xr + inner[:, units:])
            candidate = jnp.tanh(xh + (r * h) @ recurrent_kernel[:, 2 * units :])
        h = z * h + (1 - z) * candidate
        return h, [h]

    return {"simple_rnn": simple_rnn, "lstm": lstm, "gru": gru}[kind]


def _layer(kind: str, x: Arr, mask: Arr | None, kernel: Arr, recurrent_kernel: Arr,
           bias: Arr | None, initial_state: States | None, go_backwards: bool,
           zero_output_for_mask: bool, reset_after: bool = True) -> tuple:  # fmt: skip
    dtype = jnp.dtype(compute_dtype(x.dtype.name))
    units = recurrent_kernel.shape[0]
    if initial_state is None:
        initial_state = [jnp.zeros((x.shape[0], units), dtype) for _ in range(STATES[kind])]
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


def simple_rnn(x, mask, kernel, recurrent_kernel, bias, initial_state, return_sequences,
               go_backwards, zero_output_for_mask) -> tuple:  # fmt: skip
    last, outputs, states = _layer("simple_rnn", x, mask, kernel, recurrent_kernel, bias,
                                   initial_state, go_backwards, zero_output_for_mask)  # fmt: skip
    return (outputs if return_sequences else last), states


def lstm(x, mask, kernel, recurrent_kernel, bias, initial_state, return_sequences,
         go_backwards, zero_output_for_mask) -> tuple:  # fmt: skip
    last, outputs, states = _layer("lstm", x, mask, kernel, recurrent_kernel, bias,
                                   initial_state, go_backwards, zero_output_for_mask)  # fmt: skip
    return (outputs if return_sequences else last), states


def gru(x, mask, kernel, recurrent_kernel, bias, initial_state, return_sequences,
        go_backwards, zero_output_for_mask, reset_after) -> tuple:  # fmt: skip
    last, outputs, states = _layer("gru", x, mask, kernel, recurrent_kernel, bias,
                                   initial_state, go_backwards, zero_output_for_mask,
                                   reset_after)  # fmt: skip
    return (outputs if return_sequences else last), states


def _merge(merge_mode: str | None, y: Arr, y_rev: Arr) -> object:
    if merge_mode == "concat":
        return jnp.concatenate([y, y_rev], axis=-1)
    if merge_mode == "sum":
        return y + y_rev
    if merge_mode == "ave":
        return (y + y_rev) / 2
    if merge_mode == "mul":
        return y * y_rev
    return (y, y_rev)


def bidirectional(kind, x, mask, forward_weights, backward_weights, merge_mode,
                  return_sequences, initial_state, reset_after) -> tuple:  # fmt: skip
    n = STATES[kind]
    halves = (None, None) if initial_state is None else (initial_state[:n], initial_state[n:])
    runs = []
    for weights, states, backwards in zip(
        (forward_weights, backward_weights), halves, (False, True)
    ):
        last, outputs, final = _layer(
            kind, x, mask, *weights, states, backwards, return_sequences, reset_after
        )
        runs.append((outputs if return_sequences else last, final))
    (y, forward), (y_rev, backward) = runs
    if return_sequences:
        y_rev = y_rev[:, ::-1]
    return _merge(merge_mode, y, y_rev), forward + backward


def _to_torch(kernel, recurrent_kernel, bias, order=None) -> tuple:
    if order is not None:
        kernel, recurrent_kernel = kernel[:, order], recurrent_kernel[:, order]
    w_ih, w_hh = kernel.T, recurrent_kernel.T
    if bias is None:
        return w_ih, w_hh, None, None
    if order is not None:
        return w_ih, w_hh, bias[0, order], bias[1, order]
    return w_ih, w_hh, bias, jnp.full_like(bias, -0.0)


def _to_keras(weight_ih, weight_hh, bias_ih, bias_hh, order=None) -> tuple:
    kernel, recurrent_kernel = weight_ih.T, weight_hh.T
    if order is not None:
        kernel, recurrent_kernel = kernel[:, order], recurrent_kernel[:, order]
    if bias_ih is None or bias_hh is None:
        return kernel, recurrent_kernel, None
    if order is not None:
        return kernel, recurrent_kernel, jnp.stack([bias_ih[order], bias_hh[order]])
    # bias_hh == 0 keeps bias_ih bit for bit (-0.0 and subnormals included)
    return kernel, recurrent_kernel, jnp.where(bias_hh == 0, bias_ih, bias_ih + bias_hh)


def lstm_weights_keras_to_torch(kernel, recurrent_kernel, bias) -> tuple:
    return _to_torch(kernel, recurrent_kernel, bias)


def lstm_weights_torch_to_keras(weight_ih, weight_hh, bias_ih, bias_hh) -> tuple:
    return _to_keras(weight_ih, weight_hh, bias_ih, bias_hh)


def simple_rnn_weights_keras_to_torch(kernel, recurrent_kernel, bias) -> tuple:
    return _to_torch(kernel, recurrent_kernel, bias)


def simple_rnn_weights_torch_to_keras(weight_ih, weight_hh, bias_ih, bias_hh) -> tuple:
    return _to_keras(weight_ih, weight_hh, bias_ih, bias_hh)


def gru_weights_keras_to_torch(kernel, recurrent_kernel, bias) -> tuple:
    return _to_torch(kernel, recurrent_kernel, bias, gru_gate_order(recurrent_kernel.shape[0]))


def gru_weights_torch_to_keras(weight_ih, weight_hh, bias_ih, bias_hh) -> tuple:
    return _to_keras(weight_ih, weight_hh, bias_ih, bias_hh, gru_gate_order(weight_hh.shape[1]))
