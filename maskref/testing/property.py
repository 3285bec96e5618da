"""The hypothesis-driven mode: one test in a user's suite, the smallest failing batch
when it fails.

>>> def test_my_model_ignores_padding():                      # doctest: +SKIP
...     padding_invariance_test(model, (x, mask), mask_arg="attention_mask",
...                             mask_convention="transformers")

Batches are drawn like the example batch (same dtype and features, at most as many
rows and steps, ids below the vocabulary size, lengths from ``min_length``), each
checked with :func:`check_padding_invariance` (without its own shrinking); hypothesis
shrinks a failure to the smallest batch and reports it with the check's text report.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .adapters import implicit_mask_source, vocabulary_size
from .batches import make_batch, parse_batch
from .checks import check_padding_invariance


def batches_like(
    batch: Any,
    *,
    min_batch: int = 1,
    max_batch: int | None = None,
    min_length: int = 0,
    max_length: int | None = None,
    vocab_size: int | None = None,
    pad_value: Any = None,
    avoid: Any = None,
) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """Post-padded ``(x, mask)`` batches shaped like ``batch``: 1..``max_batch`` rows (default:
    the example's), 1..``max_length`` steps, lengths ``min_length``..T, ids in
    ``[0, vocab_size)``, floats in [-2, 2]; no valid step equals ``avoid`` (the value an
    implicit mask masks)."""
    x, mask = parse_batch(batch)
    example = make_batch(x, mask, pad_value)
    max_batch = max_batch if max_batch is not None else x.shape[0]
    max_length = max_length if max_length is not None else max(1, x.shape[1])
    if not 1 <= min_batch <= max_batch:
        raise ValueError(f"min_batch/max_batch: need 1 <= {min_batch} <= {max_batch}")
    if not 0 <= min_length <= max_length:
        raise ValueError(f"min_length/max_length: need 0 <= {min_length} <= {max_length}")
    feature = tuple(x.shape[2:])
    if example.is_ids:
        high = vocab_size if vocab_size is not None else max(2, int(x.max(initial=0)) + 1)
        low = 0
        elements: st.SearchStrategy = st.integers(low, high - 1)
        if avoid is not None:
            elements = elements.filter(lambda v: v != avoid)
    else:
        if x.dtype.itemsize == 2:
            elements = st.floats(-2, 2, width=16, allow_subnormal=False)
        else:
            elements = st.floats(-2, 2, width=32, allow_subnormal=False)

    @st.composite
    def draw(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
        b = draw(st.integers(min_batch, max_batch))
        t = draw(st.integers(max(1, min_length), max_length))
        lengths = draw(st.lists(st.integers(min_length, t), min_size=b, max_size=b))
        values = draw(hnp.arrays(x.dtype, (b, t, *feature), elements=elements))
        m = np.arange(t)[None, :] < np.asarray(lengths)[:, None]
        if avoid is not None and feature:
            flat = values.reshape(b, t, -1)
            same = (flat == avoid).all(axis=-1)
            flat[..., 0] = np.where(same, np.asarray(avoid, dtype=x.dtype) + 1, flat[..., 0])
            values = flat.reshape(values.shape)
        values[~m] = example.pad_value
        return values, m

    return draw()


def padding_invariance_test(
    model: Any,
    batch: Any,
    *,
    max_examples: int = 10,
    min_batch: int = 1,
    max_batch: int | None = None,
    min_length: int = 0,
    max_length: int | None = None,
    hypothesis_settings: settings | None = None,
    **check_kwargs: Any,
) -> None:
    """Check ``model`` on hypothesis-drawn batches like ``batch``; ``AssertionError`` with the
    smallest failing batch (hypothesis's falsifying example) and the check's report.

    ``check_kwargs`` go to :func:`check_padding_invariance` (``mask_arg``,
    ``mask_convention``, ``checks``, ...). ``min_length=1`` when the model cannot take a
    row with no valid step (e.g. ``pack_padded_sequence``).
    """
    x, mask = parse_batch(batch)
    avoid = check_kwargs.get("pad_value")
    explicit = check_kwargs.get("mask_arg") is not None or check_kwargs.get("call") is not None
    if not explicit and check_kwargs.get("implicit_mask") is not False:
        found = implicit_mask_source(model)
        if found is not None:
            avoid = found[0] if avoid is None else avoid
        elif not check_kwargs.get("implicit_mask"):
            avoid = None
    vocab = check_kwargs.get("vocab_size")
    if vocab is None and x.dtype.kind in "iu":
        vocab = vocabulary_size(model)
    strategy = batches_like(
        (x, mask),
        min_batch=min_batch,
        max_batch=max_batch,
        min_length=min_length,
        max_length=max_length,
        vocab_size=vocab,
        pad_value=avoid,
        avoid=avoid,
    )
    base = hypothesis_settings if hypothesis_settings is not None else settings()
    chosen = settings(
        base,
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    kwargs = {"shrink": False, "progress": False, **check_kwargs}

    @chosen
    @given(strategy)
    def padding_is_ignored(drawn: tuple[np.ndarray, np.ndarray]) -> None:
        report = check_padding_invariance(model, drawn, **kwargs)
        if not report.passed:
            raise AssertionError("padding leaks into the outputs\n" + report.to_text())

    padding_is_ignored()
