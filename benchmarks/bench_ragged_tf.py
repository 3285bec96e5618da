"""tf_impl.ragged against TensorFlow's own conversions, measured side by side in one run.

4,096 sequences of random lengths 1..512 with 256 float32 features: a
(4096, 512, 256) post-padded batch (2 GiB) and its (4096, 512) mask. The
target (from the issue): ``tf_impl.ragged_from_padded(x, mask)`` at least as
fast as ``tf.RaggedTensor.from_tensor(x, lengths=...)``. Also measured: the
same conversion for a mask with holes and an all-valid mask, inside
``tf.function``, as a ``tf.RaggedTensor`` (``to_ragged_tensor``), the way
back (``padded_from_ragged`` / ``from_ragged_tensor`` against
``RaggedTensor.to_tensor``), ``unpad``/``repad`` and ``reverse_sequences``
against ``tf.reverse_sequence``.

Each pair is timed in alternation (so both see the same machine load) after
a warm-up call; the figure is the median of ``--repeat`` runs. This is a
benchmark, not a test: it prints figures and never fails.

Run: ``python benchmarks/bench_ragged_tf.py [--repeat R] [--batch B]``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf
from _timing import side_by_side

import tf_impl as tr

MAX_LEN, FEATURES = 512, 256
TARGETS: list[tuple[str, float, float]] = []  # (what, ratio, at most)


def pair(
    label: str,
    ours: Callable[[], object],
    theirs_label: str,
    theirs: Callable[[], object],
    repeat: int,
    target: float | None = None,
) -> None:
    t = side_by_side({"ours": ours, "theirs": theirs}, repeat)
    ratio = t["ours"] / t["theirs"]
    print(
        f"  {label:<44} {t['ours'] * 1e3:8.1f} ms   {theirs_label:<44} "
        f"{t['theirs'] * 1e3:8.1f} ms   ratio {ratio:5.2f}x"
    )
    if target is not None:
        TARGETS.append((f"{label} / {theirs_label}", ratio, target))


def make_batch(batch: int, rng: np.random.Generator) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    lengths = rng.integers(1, MAX_LEN + 1, batch)
    x = rng.standard_normal((batch, MAX_LEN, FEATURES), dtype=np.float32)
    mask = np.arange(MAX_LEN) < lengths[:, None]
    return tf.constant(x), tf.constant(mask), tf.constant(lengths, tf.int64)


def bench_back(x: tf.Tensor, mask: tf.Tensor, repeat: int) -> None:
    print("ragged -> padded")
    values, splits = tr.ragged_from_padded(x, mask)
    rt = tf.RaggedTensor.from_row_splits(values, splits, validate=False)
    pair(
        "tf_impl.padded_from_ragged(values, splits)",
        lambda: tr.padded_from_ragged(values, splits),
        "rt.to_tensor()",
        rt.to_tensor,
        repeat,
    )
    pair(
        "tf_impl.from_ragged_tensor(rt)",
        lambda: tr.from_ragged_tensor(rt),
        "rt.to_tensor()",
        rt.to_tensor,
        repeat,
    )


def bench_unpad_and_reverse(x: tf.Tensor, mask: tf.Tensor, lengths: tf.Tensor, repeat: int) -> None:
    print("unpad / repad, reverse")
    batch = x.shape[0]
    values, indices, _, _ = tr.unpad(x, mask)
    pair(
        "tf_impl.repad(values, indices, B, T)",
        lambda: tr.repad(values, indices, batch, MAX_LEN),
        "tf.scatter_nd (no checks)",
        lambda: tf.scatter_nd(indices[:, None], values, [batch * MAX_LEN, FEATURES]),
        repeat,
    )
    pair(
        "tf_impl.reverse_sequences(x, lengths)",
        lambda: tr.reverse_sequences(x, lengths),
        "tf.reverse_sequence(x, lengths, 1, 0)",
        lambda: tf.reverse_sequence(x, lengths, seq_axis=1, batch_axis=0),
        repeat,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--batch", type=int, default=4096)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x, mask, lengths = make_batch(args.batch, rng)
    repeat = args.repeat
    valid = float(tf.reduce_mean(tf.cast(mask, tf.float32)))
    print(
        f"tensorflow {tf.__version__}; x {tuple(x.shape)} float32 "
        f"({x.shape.num_elements() * 4 / 2**30:.1f} GiB), lengths 1..{MAX_LEN}, "
        f"{valid:.0%} valid; median of {repeat}, pairs timed in alternation"
    )

    print("\npadded -> ragged, eager (the target)")
    pair(
        "tf_impl.ragged_from_padded(x, mask)",
        lambda: tr.ragged_from_padded(x, mask),
        "tf.RaggedTensor.from_tensor(x, lengths=)",
        lambda: tf.RaggedTensor.from_tensor(x, lengths=lengths),
        repeat,
        target=1.0,
    )
    pair(
        "tf_impl.to_ragged_tensor(x, mask)",
        lambda: tr.to_ragged_tensor(x, mask),
        "tf.RaggedTensor.from_tensor(x, lengths=)",
        lambda: tf.RaggedTensor.from_tensor(x, lengths=lengths),
        repeat,
        target=1.0,
    )
    pair(
        "tf_impl.unpad(x, mask)",
        lambda: tr.unpad(x, mask),
        "tf.RaggedTensor.from_tensor(x, lengths=)",
        lambda: tf.RaggedTensor.from_tensor(x, lengths=lengths),
        repeat,
    )

    print("other masks (same x)")
    holes = tf.constant(rng.random(mask.shape) < valid)  # as many valid steps, scattered
    pair(
        "ragged_from_padded, mask with holes",
        lambda: tr.ragged_from_padded(x, holes),
        "tf.boolean_mask(x, holes)",
        lambda: tf.boolean_mask(x, holes),
        repeat,
    )
    full = tf.ones_like(mask)
    every = tf.fill([args.batch], tf.constant(MAX_LEN, tf.int64))
    pair(
        "ragged_from_padded, all-valid mask",
        lambda: tr.ragged_from_padded(x, full),
        "from_tensor(x, lengths=T)",
        lambda: tf.RaggedTensor.from_tensor(x, lengths=every),
        repeat,
    )

    print("padded -> ragged, tf.function")
    ours_fn = tf.function(lambda a, m: tr.ragged_from_padded(a, m))
    theirs_fn = tf.function(lambda a, n: tf.RaggedTensor.from_tensor(a, lengths=n))
    pair(
        "tf.function(ragged_from_padded)",
        lambda: ours_fn(x, mask),
        "tf.function(from_tensor(x, lengths=))",
        lambda: theirs_fn(x, lengths),
        repeat,
    )

    bench_back(x, mask, repeat)
    bench_unpad_and_reverse(x, mask, lengths, repeat)
    print("\ntargets")
    for what, ratio, limit in TARGETS:
        verdict = "met" if ratio <= limit else f"NOT met ({(ratio - 1) * 100:.1f}% slower)"
        print(f"  {what:<86} {ratio:5.2f}x  (target <= {limit}x)  {verdict}")


if __name__ == "__main__":
    main()
