"""Padding speed, measured side by side in one run; prints ratios.

100,000 sequences of random lengths 1..200 (about 10 million int tokens):

* ``reference.pad_sequences`` against ``keras.utils.pad_sequences`` and
  ``torch.nn.utils.rnn.pad_sequence`` (batch-first), from Python lists and
  from NumPy arrays (torch from tensors);
* ``tf_impl`` / ``torch_impl`` padding from one flat values buffer plus
  lengths (``pad_flat``, and ``pad_sequences`` on a ``tf.RaggedTensor``),
  against one plain copy of the output tensor.

Run: ``python benchmarks/bench_padding.py [--sequences N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from collections.abc import Callable

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import reference as ref


def best(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` runs (after one warm-up run)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def row(name: str, seconds: float, base: float | None = None, base_name: str = "") -> None:
    ratio = f"   {base / seconds:5.2f}x faster than {base_name}" if base else ""
    print(f"  {name:<58} {seconds * 1e3:9.1f} ms{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 201, args.sequences)
    arrays = [rng.integers(1, 1000, n).astype(np.int32) for n in lengths]
    lists = [a.tolist() for a in arrays]
    flat = np.concatenate(arrays)
    r = args.repeat
    print(f"{args.sequences} sequences, {flat.size} tokens, max length {lengths.max()}")

    has_keras = importlib.util.find_spec("keras") is not None
    print("\nfrom Python lists (int32 output, pre-padding: the Keras defaults)")
    t_ref = best(lambda: ref.pad_sequences(lists), r)
    if has_keras:
        import keras

        t_keras = best(lambda: keras.utils.pad_sequences(lists), r)
        row("keras.utils.pad_sequences", t_keras)
        row("reference.pad_sequences", t_ref, t_keras, "keras")
    else:
        row("reference.pad_sequences", t_ref)

    print("\nfrom NumPy int32 arrays")
    t_ref = best(lambda: ref.pad_sequences(arrays), r)
    t_ref_post = best(lambda: ref.pad_sequences(arrays, padding="post"), r)
    if has_keras:
        t_keras = best(lambda: keras.utils.pad_sequences(arrays), r)
        row("keras.utils.pad_sequences", t_keras)
        row("reference.pad_sequences", t_ref, t_keras, "keras")
        row("reference.pad_sequences(padding='post')", t_ref_post, t_keras, "keras")
    t_flat = best(lambda: ref.pad_flat(flat, lengths), r)
    out = ref.pad_flat(flat, lengths)
    t_copy = best(out.copy, r)
    row("reference.pad_flat (flat buffer + lengths)", t_flat)
    row("one copy of the output (np.ndarray.copy)", t_copy)
    print(f"  -> reference.pad_flat = {t_flat / t_copy:.2f}x one copy")

    if importlib.util.find_spec("torch") is not None:
        import torch
        from torch.nn.utils.rnn import pad_sequence

        import torch_impl

        tensors = [torch.from_numpy(a) for a in arrays]
        values, lens = torch.from_numpy(flat), torch.from_numpy(lengths)
        print("\ntorch (from tensors / flat buffer + lengths)")
        t_torch = best(lambda: pad_sequence(tensors, batch_first=True), r)
        row("torch.nn.utils.rnn.pad_sequence(batch_first=True)", t_torch)
        row("reference.pad_sequences(arrays, padding='post')", t_ref_post, t_torch, "pad_sequence")
        t_impl = best(lambda: torch_impl.pad_sequences(tensors, padding="post"), r)
        row("torch_impl.pad_sequences(tensors, padding='post')", t_impl, t_torch, "pad_sequence")
        t_flat = best(lambda: torch_impl.pad_flat(values, lens, padding="post"), r)
        t_copy = best(torch_impl.pad_flat(values, lens).clone, r)
        row("torch_impl.pad_flat", t_flat)
        row("one copy of the output (Tensor.clone)", t_copy)
        print(f"  -> torch_impl.pad_flat = {t_flat / t_copy:.2f}x one copy")

    if importlib.util.find_spec("tensorflow") is not None:
        import tensorflow as tf

        import tf_impl

        values, lens = tf.constant(flat), tf.constant(lengths)
        ragged = tf.RaggedTensor.from_row_lengths(values, lens)
        print("\ntensorflow (flat buffer + lengths)")
        t_flat = best(lambda: tf_impl.pad_flat(values, lens, padding="post"), r)
        t_ragged = best(lambda: tf_impl.pad_sequences(ragged, padding="post"), r)
        t_to_tensor = best(ragged.to_tensor, r)
        dense = tf_impl.pad_flat(values, lens)
        t_copy = best(lambda: tf.identity(dense + 0), r)
        row("tf.RaggedTensor.to_tensor()", t_to_tensor)
        row("tf_impl.pad_flat", t_flat)
        row("tf_impl.pad_sequences(RaggedTensor)", t_ragged)
        row("one copy of the output (dense + 0)", t_copy)
        print(f"  -> tf_impl.pad_flat = {t_flat / t_copy:.2f}x one copy")


if __name__ == "__main__":
    main()
