"""Masked cross-entropy against the frameworks' own losses, measured side by side in one run.

A padded batch of ``--batch`` x ``--steps`` targets over ``--classes``
classes (default 64 x 512 x 32768: float32 logits of 4 GiB) with random
lengths (about half the steps valid; ``--valid 1`` for no padding):

* torch: ``torch_impl.masked_cross_entropy(logits, targets, mask)`` against
  ``F.cross_entropy(logits.view(-1, C), targets_with_minus_100, ignore_index=-100)``
  (the ignored targets built once, outside the timing), forward (no grad)
  and forward + backward;
* TensorFlow (eager): ``tf_impl.masked_cross_entropy`` against
  ``keras.losses.SparseCategoricalCrossentropy(from_logits=True)`` called on
  the same logits carrying the Keras mask (``tf_impl.set_mask``), forward and
  forward + backward (``tf.GradientTape``).

Targets: torch within 1.1x, TensorFlow within 1.2x. The functions of one
table are called in turn (same machine load), median of ``--repeat`` runs
after a warm-up run. Before allocating, the run checks the memory it needs
(logits, saved log-probabilities and gradients: about 4x the logits) against
``MemAvailable`` and lowers ``--classes`` (by powers of 2) if it would not
fit, saying so. The load average is printed with the figures. This is a
benchmark, not a test: it prints figures and never fails.

Run: ``python benchmarks/bench_losses.py [--batch B] [--steps T] [--classes C]
[--repeat R] [--threads N] [--valid F] [--only torch|tf]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _timing import side_by_side

TARGETS = {"torch": 1.1, "tf": 1.2}
RESULTS: list[tuple[str, float, float]] = []


def available_bytes() -> int:
    """``MemAvailable`` from /proc/meminfo (the physical memory elsewhere)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def fit_classes(batch: int, steps: int, classes: int, copies: float = 4.5) -> int:
    """The largest power-of-2 fraction of ``classes`` whose run fits in 80% of memory."""
    budget = 0.8 * available_bytes()
    while classes > 1024 and batch * steps * classes * 4 * copies > budget:
        classes //= 2
    return classes


def batch_data(batch: int, steps: int, classes: int, valid: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((batch, steps, classes), dtype=np.float32)
    targets = rng.integers(0, classes, (batch, steps))
    if valid >= 1:
        lengths = np.full(batch, steps)
    else:
        lengths = rng.integers(1, int(2 * valid * steps) + 1, batch).clip(1, steps)
    mask = np.arange(steps) < lengths[:, None]
    return logits, targets, mask


def report(label: str, ours: float, base_label: str, base: float, target: str) -> None:
    ratio = ours / base
    RESULTS.append((label, ratio, TARGETS[target]))
    print(
        f"  {label:<28} {ours * 1e3:9.1f} ms   {base_label:<34} {base * 1e3:9.1f} ms"
        f"   ratio {ratio:5.2f}x (target {TARGETS[target]}x)"
    )


def bench_torch(logits_np, targets_np, mask_np, repeat: int) -> None:
    import torch
    import torch.nn.functional as F

    import torch_impl

    c = logits_np.shape[-1]
    logits = torch.from_numpy(logits_np)
    targets = torch.from_numpy(targets_np)
    mask = torch.from_numpy(mask_np)
    ignored = torch.where(mask, targets, -100).reshape(-1)
    base = F.cross_entropy(logits.view(-1, c), ignored, ignore_index=-100)
    ours = torch_impl.masked_cross_entropy(logits, targets, mask)
    print(f"  same value: {float(ours):.7f} vs {float(base):.7f}")
    with torch.no_grad():
        times = side_by_side(
            {
                "ours": lambda: torch_impl.masked_cross_entropy(logits, targets, mask),
                "base": lambda: F.cross_entropy(logits.view(-1, c), ignored, ignore_index=-100),
            },
            repeat,
        )
    report("torch_impl forward", times["ours"], "F.cross_entropy forward", times["base"], "torch")
    leaf = logits.requires_grad_(True)  # no copy: the grads are the only new memory

    def ours_step():
        leaf.grad = None
        torch_impl.masked_cross_entropy(leaf, targets, mask).backward()

    def base_step():
        leaf.grad = None
        F.cross_entropy(leaf.view(-1, c), ignored, ignore_index=-100).backward()

    times = side_by_side({"ours": ours_step, "base": base_step}, repeat)
    report(
        "torch_impl forward+backward",
        times["ours"],
        "F.cross_entropy forward+backward",
        times["base"],
        "torch",
    )


def bench_tf(logits_np, targets_np, mask_np, repeat: int) -> None:
    import keras
    import tensorflow as tf

    import tf_impl

    logits = tf.constant(logits_np)
    targets = tf.constant(targets_np)
    mask = tf.constant(mask_np)
    scce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def keras_loss(x):
        return scce(targets, tf_impl.set_mask(x, mask))

    print(
        f"  same value: {float(tf_impl.masked_cross_entropy(logits, targets, mask)):.7f} vs "
        f"{float(keras_loss(logits)):.7f}"
    )
    times = side_by_side(
        {
            "ours": lambda: tf_impl.masked_cross_entropy(logits, targets, mask),
            "base": lambda: keras_loss(logits),
        },
        repeat,
    )
    report("tf_impl forward", times["ours"], "keras SCCE forward", times["base"], "tf")

    def step(fn):
        def run():
            with tf.GradientTape() as tape:
                tape.watch(logits)
                value = fn()
            return tape.gradient(value, logits)

        return run

    times = side_by_side(
        {
            "ours": step(lambda: tf_impl.masked_cross_entropy(logits, targets, mask)),
            "base": step(lambda: keras_loss(logits)),
        },
        repeat,
    )
    report(
        "tf_impl forward+backward",
        times["ours"],
        "keras SCCE forward+backward",
        times["base"],
        "tf",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=512)
    parser.add_argument("--classes", type=int, default=32768)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--valid", type=float, default=0.5, help="mean fraction of valid steps")
    parser.add_argument("--only", choices=["torch", "tf"], default=None)
    parser.add_argument(
        "--no-fit",
        action="store_true",
        help="measure the shape asked even where the estimate says it may not fit "
        "(the estimate is 4.5x the logits against 80%% of the available memory; torch's "
        "peak measured 4.35x)",
    )
    args = parser.parse_args()
    classes = args.classes if args.no_fit else fit_classes(args.batch, args.steps, args.classes)
    if classes != args.classes:
        print(
            f"note: {args.batch}x{args.steps}x{args.classes} float32 logits "
            f"({args.batch * args.steps * args.classes * 4 / 2**30:.1f} GiB, about 4.5x that "
            f"with log-probabilities and gradients) do not fit in "
            f"{available_bytes() / 2**30:.1f} GiB available: measuring {classes} classes"
        )
    logits, targets, mask = batch_data(args.batch, args.steps, classes, args.valid)
    print(
        f"logits ({args.batch}, {args.steps}, {classes}) float32 "
        f"({logits.nbytes / 2**30:.2f} GiB), {mask.mean():.0%} of the steps valid; "
        f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs"
    )
    if args.only in (None, "torch") and importlib.util.find_spec("torch"):
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
        bench_torch(logits, targets, mask, args.repeat)
    if args.only in (None, "tf") and importlib.util.find_spec("tensorflow"):
        import tensorflow as tf

        print(f"tensorflow {tf.__version__} (eager)")
        bench_tf(logits, targets, mask, args.repeat)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    for label, ratio, limit in RESULTS:
        print(f"  {'meets' if ratio <= limit else 'MISSES'} {limit}x: {label} ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
