"""Laws of the ragged, packed and unpadded layouts, checked on the reference alone."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import reference as ref
from reference import strategies as rs

from .core import Case, Inputs
from .operations_ragged import batch_with_lengths


def _law(operation: str, name: str, inputs, left, right, explanation: str) -> Case:
    return Case(
        operation=operation,
        api=f"law: {name}",
        inputs=inputs,
        reference=left,
        candidate=right,
        kind="invariant",
        same_error_class=True,
        explanation=explanation,
    )


def _padded() -> st.SearchStrategy[Inputs]:
    return st.builds(
        lambda b, p: dict(x=b[0], mask=b[1], padding=p), rs.padded_batches(), rs.padding_sides
    )


def _through_ragged(i: Inputs):
    values, splits = ref.ragged_from_padded(i["x"], i["mask"])
    x, mask = ref.padded_from_ragged(
        values, splits, maxlen=i["mask"].shape[1], padding=i["padding"]
    )
    return ref.ragged_from_padded(x, mask)


def _with_lengths() -> st.SearchStrategy[Inputs]:
    return batch_with_lengths().map(lambda b: dict(x=b[0], lengths=b[1]))


def _zeroed(i: Inputs) -> tuple[np.ndarray, np.ndarray]:
    keep = ref.sequence_mask(i["lengths"], i["x"].shape[1])
    return ref.apply_mask(i["x"], keep), i["lengths"]


def _through_packing(i: Inputs):
    packed = ref.pack_sequences(i["x"], i["lengths"])
    return ref.unpack_sequences(packed, total_length=i["x"].shape[1])


def _through_unpad(i: Inputs) -> np.ndarray:
    values, indices, _, _ = ref.unpad(i["x"], i["mask"])
    return ref.repad(values, indices, *i["mask"].shape)


def _reversed_twice(i: Inputs) -> np.ndarray:
    once = ref.reverse_sequences(i["x"], i["lengths"], padding=i["padding"])
    return ref.reverse_sequences(once, i["lengths"], padding=i["padding"])


def _sides(i: Inputs) -> tuple[np.ndarray, np.ndarray]:
    steps = i["x"].shape[1]
    return tuple(
        ref.ragged_from_padded(
            ref.positions_from_mask(ref.sequence_mask(i["lengths"], steps, padding=p)),
            ref.sequence_mask(i["lengths"], steps, padding=p),
        )[0]
        for p in ("pre", "post")
    )


def _last_is_first_reversed(i: Inputs):
    keep = ref.sequence_mask(i["lengths"], i["x"].shape[1])
    flipped = ref.reverse_sequences(i["x"], i["lengths"])
    return ref.first_valid(flipped, keep)


def cases() -> list[Case]:
    """Every law of ``reference.ragged``."""
    with_padding = st.builds(lambda i, p: dict(i, padding=p), _with_lengths(), rs.padding_sides)
    return [
        _law(
            "padded_from_ragged",
            "padded -> ragged -> padded keeps every valid step",
            _padded,
            lambda i: ref.ragged_from_padded(i["x"], i["mask"]),
            _through_ragged,
            "the valid steps survive the round trip in order, pre or post padding, holes compacted",
        ),
        _law(
            "unpack_sequences",
            "unpack(pack(x, lengths)) == x with padding zeroed",
            _with_lengths,
            _zeroed,
            _through_packing,
            "packing drops only the padding, zero-length rows included",
        ),
        _law(
            "repad",
            "repad(unpad(x, mask)) == x with masked steps zeroed",
            lambda: rs.padded_batches(plant=False).map(lambda b: dict(x=b[0], mask=b[1])),
            lambda i: ref.apply_mask(i["x"], i["mask"]),
            _through_unpad,
            "the varlen layout loses nothing but the padding",
        ),
        _law(
            "reverse_sequences",
            "reversing twice is the identity",
            lambda: with_padding,
            lambda i: i["x"],
            _reversed_twice,
            "only the valid steps move, and back",
        ),
        _law(
            "positions_from_mask",
            "left and right padding give the same positions",
            _with_lengths,
            lambda i: _sides(i)[1],
            lambda i: _sides(i)[0],
            "a token's position does not depend on the side its row was padded on",
        ),
        _law(
            "last_valid",
            "last_valid(x) == first_valid(reverse_sequences(x))",
            _with_lengths,
            lambda i: ref.last_valid(i["x"], ref.sequence_mask(i["lengths"], i["x"].shape[1])),
            _last_is_first_reversed,
            "reversing the valid prefix swaps first and last",
        ),
    ]
