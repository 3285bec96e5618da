"""The bad-input matrix: every public function x every kind of bad argument.

For each function a valid base call is attacked one argument at a time with
what a careless or hurried caller passes: None, a wrong type, a bool for an
int, a float for an int, a string, a negative number, a uint64 at or above
2**63, a size beyond memory, a wrong rank. Every backend must raise the
expected class, with the same message as the reference, and the message must
name the argument. NumPy scalar types (``np.int64(2)``, ``np.True_``) must be
accepted where the Python type is.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import installed_backends

import reference

F32 = np.float32
X = np.arange(6, dtype=F32).reshape(2, 3)
M = np.array([[True, True, False], [True, False, False]])
LEN = np.array([2, 1])
Q = np.ones((2, 3, 4), F32)  # (B, L, E)
ATT = np.ones((2, 3, 3), bool)
PACKED = reference.pack_sequences(X, LEN)
HUGE = 2**40  # a size whose result cannot fit in memory
U64 = np.uint64(2**63)


@dataclass(frozen=True)
class Attack:
    label: str
    value: object
    error: type[Exception] | None  # None: must be accepted


NONE = Attack("None", None, TypeError)
DATA = [NONE]
MASK = [
    NONE,
    Attack("int 0/1 mask", M.astype(np.int64), TypeError),
    Attack("mask of another shape", np.ones((3, 2), bool), ValueError),
]
LENGTHS = [
    NONE,
    Attack("float lengths", np.array([2.0, 1.5]), TypeError),
    Attack("bool lengths", np.array([True, False]), TypeError),
    Attack("negative length", np.array([2, -1]), ValueError),
    Attack("uint64 >= 2**63", np.array([2, 2**63], np.uint64), ValueError),
    Attack("string", "ab", TypeError),
]
RANK1 = [Attack("lengths of rank 2", np.array([[2, 1]]), ValueError)]


def sizes(*, optional: bool = False, beyond_memory: bool = True, minimum: int = 0) -> list:
    """Attacks on an integer argument that sets a size."""
    out = [
        Attack("bool for int", True, TypeError),
        Attack("float for int", 1.5, TypeError),
        Attack("string", "2", TypeError),
        Attack("NumPy int", np.int64(2), None),
        Attack("uint64 >= 2**63", U64, ValueError),
    ]
    if minimum >= 0:
        out.append(Attack("negative", -1, ValueError))
    if beyond_memory:
        out.append(Attack("beyond memory", HUGE, ValueError))
    if not optional:
        out.append(NONE)
    return out


FLAG = [
    Attack("int for bool", 1, TypeError),
    Attack("string for bool", "no", TypeError),
    NONE,
    Attack("NumPy bool", np.True_, None),
]
AXIS = [
    Attack("bool axis", True, TypeError),
    Attack("float axis", 1.0, TypeError),
    Attack("string axis", "1", TypeError),
    Attack("axis out of range", 5, ValueError),
    Attack("NumPy int axis", np.int64(1), None),
]


#: Attacks on a string argument with a fixed set of choices (``padding``, ``align``, ...).
SIDE = [Attack("unknown choice", "sideways", ValueError), Attack("int", 1, ValueError)]
REDUCE = {"x": DATA, "mask": MASK, "axis": AXIS, "keepdims": FLAG}

# recurrence: a step every backend runs (operators only), weights of 2 units for 2 features
XS = np.ones((2, 3, 2), F32)


def _step(x_t, states):
    h = x_t + states[0]
    return h, [h]


def _keras_weights(gates: int, bias_shape: tuple) -> dict:
    return dict(
        kernel=np.full((2, 2 * gates), 0.1, F32),
        recurrent_kernel=np.full((2, 2 * gates), 0.1, F32),
        bias=np.zeros(bias_shape, F32),
    )


def _torch_weights(gates: int) -> dict:
    return dict(
        weight_ih=np.full((2 * gates, 2), 0.1, F32),
        weight_hh=np.full((2 * gates, 2), 0.1, F32),
        bias_ih=np.zeros(2 * gates, F32),
        bias_hh=np.zeros(2 * gates, F32),
    )


RNN_WEIGHTS = {
    "simple_rnn": _keras_weights(1, (2,)),
    "lstm": _keras_weights(4, (8,)),
    "gru": _keras_weights(3, (2, 6)),
}
TORCH_WEIGHTS = {
    "simple_rnn": _torch_weights(1),
    "lstm": _torch_weights(4),
    "gru": _torch_weights(3),
}
LSTM_W = tuple(RNN_WEIGHTS["lstm"].values())
_LAYER_FLAGS = ("return_sequences", "return_state", "go_backwards", "zero_output_for_mask")
RNN_FLAGS = {
    "simple_rnn": _LAYER_FLAGS,
    "lstm": _LAYER_FLAGS,
    "gru": (*_LAYER_FLAGS, "reset_after"),
}

#: function -> (base keyword arguments, {argument: attacks}).
MATRIX: dict[str, tuple[dict, dict[str, list]]] = {
    "pad_sequences": (
        dict(sequences=[[1, 2], [3]]),
        {
            "sequences": [NONE, Attack("a string row", [[1, "5"]], ValueError)],
            "maxlen": sizes(optional=True),
            "padding": SIDE,
            "truncating": SIDE,
            "dtype": [Attack("unknown dtype", "int33", TypeError)],
        },
    ),
    "pad_flat": (
        dict(values=np.arange(3), lengths=LEN),
        {
            "values": DATA,
            "lengths": LENGTHS + RANK1,
            "maxlen": sizes(optional=True),
            "padding": SIDE,
            "truncating": SIDE,
        },
    ),
    "unpad_sequences": (
        dict(padded=X, lengths=LEN),
        {"padded": DATA, "lengths": LENGTHS + RANK1, "padding": SIDE},
    ),
    "sequence_mask": (
        dict(lengths=LEN),
        {"lengths": LENGTHS, "maxlen": sizes(optional=True), "padding": SIDE},
    ),
    "lengths_from_mask": (dict(mask=M), {"mask": MASK[:2]}),
    "mask_from_value": (dict(x=X[..., None]), {"x": DATA}),
    "mask_from_ids": (
        dict(ids=LEN),
        {"ids": DATA + [Attack("float ids", X, TypeError)], "pad_id": sizes()[:3]},
    ),
    "expand_mask": (dict(mask=M, x=X), {"mask": MASK, "x": DATA}),
    "apply_mask": (dict(x=X, mask=M), {"x": DATA, "mask": MASK}),
    **{
        name: (dict(x=X, mask=M), REDUCE)
        for name in (
            "masked_sum",
            "masked_mean",
            "masked_max",
            "masked_min",
            "masked_prod",
            "masked_logsumexp",
            "masked_count",
            "masked_any",
            "masked_all",
            "masked_argmax",
            "masked_argmin",
        )
    },
    **{
        name: (dict(x=X, mask=M), {**REDUCE, "ddof": sizes(beyond_memory=False)[:4] + [NONE]})
        for name in ("masked_var", "masked_std")
    },
    **{
        name: (
            dict(x=X, mask=M),
            {"x": DATA, "mask": MASK, "axis": AXIS[:4] + [Attack("tuple axis", (0, 1), TypeError)]},
        )
        for name in ("masked_cumsum", "masked_softmax", "masked_log_softmax")
    },
    "convert_mask": (
        dict(mask=M, source="keep", target="drop"),
        {"mask": [NONE], "source": SIDE, "target": SIDE},
    ),
    "mask_convention": (
        dict(name="keras"),
        {"name": [NONE, Attack("unknown", "nope", ValueError)]},
    ),
    "causal_mask": (
        dict(query_len=3),
        {
            "query_len": sizes(),
            "key_len": sizes(optional=True),
            # a window wider than int64 is the same band as 2**63 - 1: accepted, clamped
            "window": [a for a in sizes(optional=True, beyond_memory=False) if a.value is not U64],
            "align": SIDE,
        },
    ),
    "attention_mask": (
        dict(query_mask=M, key_mask=M),
        {"query_mask": MASK[1:2], "key_mask": MASK[1:2], "causal": FLAG, "align": SIDE},
    ),
    "segment_mask": (dict(query_segment_ids=LEN[None]), {"query_segment_ids": DATA}),
    "segment_ids_from_lengths": (
        dict(lengths_per_row=[[1, 1]], seqlen=4),
        {
            "lengths_per_row": [
                NONE,
                Attack("negative", [[2, -1]], ValueError),
                Attack("sum beyond int64", [[2**62, 2**62]], ValueError),
            ],
            "seqlen": sizes(),
        },
    ),
    "scaled_dot_product_attention": (
        dict(query=Q, key=Q, value=Q, mask=ATT),
        {
            "query": DATA,
            "key": DATA,
            "value": DATA,
            "mask": MASK[1:],
            "causal": FLAG,
            "empty": SIDE,
            "align": SIDE,
        },
    ),
    "attention_weights": (
        dict(query=Q, key=Q, mask=ATT),
        {"query": DATA, "key": DATA, "causal": FLAG, "empty": SIDE},
    ),
    "row_splits_from_lengths": (dict(lengths=LEN), {"lengths": LENGTHS + RANK1}),
    "lengths_from_row_splits": (
        dict(row_splits=np.array([0, 2, 3])),
        {"row_splits": [NONE, Attack("decreasing", np.array([0, 2, 1]), ValueError)]},
    ),
    "ragged_from_padded": (dict(x=X, mask=M), {"x": DATA, "mask": MASK}),
    "padded_from_ragged": (
        dict(values=np.arange(3), row_splits=np.array([0, 2, 3])),
        {"values": DATA, "row_splits": [NONE], "maxlen": sizes(optional=True), "padding": SIDE},
    ),
    "pack_sequences": (
        dict(x=X, lengths=LEN),
        {"x": DATA, "lengths": LENGTHS + RANK1, "enforce_sorted": FLAG},
    ),
    "unpad": (dict(x=X, mask=M), {"x": DATA, "mask": MASK}),
    "unpack_sequences": (
        dict(packed=PACKED),
        {
            "packed": [NONE, Attack("a tuple of 2", (1, 2), ValueError)],
            "total_length": sizes(optional=True),
        },
    ),
    "repad": (
        dict(values=np.arange(3), indices=np.array([0, 1, 3]), batch=2, seqlen=3),
        {"values": DATA, "indices": DATA, "batch": sizes(), "seqlen": sizes()},
    ),
    "reverse_sequences": (
        dict(x=X, lengths=LEN),
        {"x": DATA, "lengths": LENGTHS + RANK1, "padding": SIDE},
    ),
    "positions_from_mask": (
        dict(mask=M),
        {"mask": MASK[:2], "start": sizes(beyond_memory=False, minimum=-1)},
    ),
    "first_valid": (dict(x=X, mask=M), {"x": DATA, "mask": MASK}),
    "last_valid": (dict(x=X, mask=M), {"x": DATA, "mask": MASK}),
    "flow_mask": (dict(kind="propagate", mask=M), {"kind": SIDE, "return_sequences": FLAG}),
    "masking_values": (dict(x=X[..., None]), {"x": DATA}),
    "merge_masks": (dict(masks=[M, M]), {"masks": [NONE]}),
    "merge_masks_strict": (dict(masks=[M, M]), {"masks": [NONE]}),
    "concatenate_masks": (
        dict(masks=[M, M], shapes=[(2, 3, 1), (2, 3, 1)]),
        {"masks": [NONE], "axis": AXIS[:3]},
    ),
    "merge_values": (
        dict(op="add", xs=[X, X], masks=[M, M]),
        {"op": SIDE, "xs": [NONE], "masks": [NONE]},
    ),
    # losses
    "masked_loss": (
        dict(per_step=X, mask=M),
        {
            "per_step": DATA + [Attack("int per_step", LEN[None], TypeError)],
            "mask": MASK,
            "sample_weight": [
                Attack("weight of another shape", np.ones(3), ValueError),
                Attack("string", "ab", TypeError),
            ],
            "reduction": SIDE,
            "empty": SIDE,
        },
    ),
    "masked_cross_entropy": (
        dict(logits=Q[..., :2], targets=np.zeros((2, 3), np.int64), mask=M),
        {
            "logits": DATA + [Attack("int logits", np.ones((2, 3, 2), np.int64), TypeError)],
            "targets": [
                NONE,
                Attack("float targets", X, TypeError),
                Attack("counted target out of range", np.full((2, 3), 2), ValueError),
            ],
            "mask": MASK[1:],
            "ignore_index": sizes(optional=True, beyond_memory=False, minimum=-1)[:5],
            "class_weight": [Attack("weight of another shape", np.ones(3), ValueError)],
            "label_smoothing": [
                NONE,
                Attack("bool", True, TypeError),
                Attack("string", "0.1", TypeError),
                Attack("above 1", 1.5, ValueError),
            ],
            "from_logits": FLAG,
            "shift": FLAG,
            "reduction": SIDE,
            "empty": SIDE,
        },
    ),
    "masked_accuracy": (
        dict(logits=Q[..., :2], targets=np.zeros((2, 3), np.int64), mask=M),
        {
            "logits": DATA,
            "targets": [NONE, Attack("float targets", X, TypeError)],
            "mask": MASK,
        },
    ),
    "accumulated_loss": (
        dict(micro_batches=[(Q[..., :2], np.zeros((2, 3), np.int64), M)]),
        {
            "micro_batches": [
                NONE,
                Attack("empty list", [], ValueError),
                Attack("not a triple", [(Q, M)], TypeError),
            ],
            "reduction": SIDE + [Attack("none: no scalar", "none", ValueError)],
            "label_smoothing": [Attack("above 1", 1.5, ValueError)],
        },
    ),
    # recurrence
    "rnn": (
        dict(step=_step, x=XS, mask=M, initial_state=[np.zeros((2, 2), F32)]),
        {
            "step": [NONE, Attack("not callable", "tanh", TypeError)],
            "x": DATA,
            "mask": MASK[1:],
            "initial_state": [NONE, Attack("wrong batch", [np.zeros((3, 2), F32)], ValueError)],
            "go_backwards": FLAG,
            "zero_output_for_mask": FLAG[:1],
        },
    ),
    **{
        name: (
            dict(x=XS, mask=M, **RNN_WEIGHTS[name]),
            {
                "x": DATA + [Attack("int x", np.ones((2, 3, 2), np.int64), TypeError)],
                "mask": MASK[1:],
                "kernel": [NONE, Attack("wrong shape", np.ones((3, 1), F32), ValueError)],
                "recurrent_kernel": [NONE, Attack("wrong shape", np.ones((2, 3)), ValueError)],
                "bias": [Attack("wrong shape", np.zeros(1, F32), ValueError)],
                "initial_state": [
                    Attack("a string", "zeros", TypeError),
                    Attack(
                        "wrong shape",
                        [np.zeros((2, 5), F32)] * (2 if name == "lstm" else 1),
                        ValueError,
                    ),
                ],
                **{
                    flag: FLAG if flag == "return_sequences" else FLAG[:1]
                    for flag in RNN_FLAGS[name]
                },
            },
        )
        for name in ("simple_rnn", "lstm", "gru")
    },
    "bidirectional": (
        dict(layer="lstm", x=XS, mask=M, forward_weights=LSTM_W, backward_weights=LSTM_W),
        {
            "layer": [Attack("unknown layer", "transformer", ValueError)],
            "x": DATA,
            "mask": MASK[1:],
            "forward_weights": [NONE, Attack("two arrays", LSTM_W[:2], TypeError)],
            "backward_weights": [NONE],
            "merge_mode": SIDE,
            "return_sequences": FLAG,
            "return_state": FLAG[:1],
            "go_backwards": [Attack("set by the rule", True, ValueError)],
        },
    ),
    **{
        f"{kind}_weights_keras_to_torch": (
            RNN_WEIGHTS[kind],
            {
                "kernel": [NONE, Attack("wrong shape", np.ones((2, 1), F32), ValueError)],
                "recurrent_kernel": [NONE, Attack("rank 1", np.ones(4, F32), ValueError)],
                "bias": [
                    Attack("wrong shape", np.zeros(1, F32), ValueError),
                    Attack("float64 bias", RNN_WEIGHTS[kind]["bias"].astype(np.float64), TypeError),
                ]
                + (
                    [Attack("reset_after=False", np.zeros(6, F32), ValueError)]
                    if kind == "gru"
                    else []
                ),
            },
        )
        for kind in ("simple_rnn", "lstm", "gru")
    },
    **{
        f"{kind}_weights_torch_to_keras": (
            TORCH_WEIGHTS[kind],
            {
                "weight_ih": [NONE, Attack("wrong shape", np.ones((1, 2), F32), ValueError)],
                "weight_hh": [NONE, Attack("rank 1", np.ones(4, F32), ValueError)],
                "bias_ih": [
                    Attack("only bias_hh", None, ValueError),
                    Attack("wrong shape", np.zeros(1, F32), ValueError),
                ],
                "bias_hh": [Attack("only bias_ih", None, ValueError)],
            },
        )
        for kind in ("simple_rnn", "lstm", "gru")
    },
}

ROWS = [
    pytest.param(fn, arg, attack, id=f"{fn}-{arg}-{attack.label}")
    for fn, (_, attacks) in MATRIX.items()
    for arg, listed in attacks.items()
    for attack in listed
]


def _outcome(backend: str, fn: str, kwargs: dict) -> BaseException | None:
    module = importlib.import_module(backend)
    # JAX in x64 mode: its 32-bit default narrows int64 data first (tests/test_jax_impl.py).
    context = importlib.import_module("jax").enable_x64(True) if backend == "jax_impl" else None
    try:
        with context or contextlib.nullcontext():
            getattr(module, fn)(**kwargs)
    except Exception as err:  # every failure is compared
        return err
    return None


def test_every_public_function_is_in_the_matrix():
    import reference

    functions = {
        n
        for n in reference.__all__
        if callable(getattr(reference, n)) and not isinstance(getattr(reference, n), type)
    }
    assert functions == set(MATRIX)


@pytest.mark.parametrize(("fn", "arg", "attack"), ROWS)
def test_bad_argument(fn: str, arg: str, attack: Attack):
    base, _ = MATRIX[fn]
    backends = installed_backends()
    for backend in backends:
        assert _outcome(backend, fn, base) is None, f"{backend}.{fn} refuses the base call"
    kwargs = {**base, arg: attack.value}
    outcomes = {b: _outcome(b, fn, kwargs) for b in backends}
    expected = outcomes["reference"]
    for backend, got in outcomes.items():
        if attack.error is None:
            assert got is None, f"{backend}.{fn}({arg}={attack.label}) raised {got!r}"
            continue
        assert isinstance(got, attack.error) and type(got) in (TypeError, ValueError), (
            f"{backend}.{fn}({arg}={attack.label}): expected {attack.error.__name__}, got {got!r}"
        )
        assert re.search(rf"\b{arg}\b", str(got)), f"{backend}.{fn}: {got} names no {arg!r}"
        assert str(got) == str(expected), f"{backend}.{fn}: {got} != reference {expected}"
