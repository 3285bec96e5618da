"""Masked reductions against the unmasked ones, measured side by side in one run.

A (64, 512, 256) float32 tensor reduced over axis 1 with a (64, 512) mask of
random lengths (the pooling shape). For each backend, maskref's masked sum /
mean / max against the framework's unmasked reduction of the same tensor
(the ratio is the price of the mask), timed in alternation so that both see
the same machine load; best of ``--repeat`` runs. Also: torch_impl against
``torch.masked.mean``, the paths the fast ones fall back to (NaN under the
mask, scattered holes), forward + backward (torch and TensorFlow eagerly),
TensorFlow under ``tf.function(jit_compile=True)`` with a count of retraces
when only the lengths change, and the reference against unmasked NumPy.

Targets: torch_impl masked sum/mean/max within ~1.5x the unmasked reduction
and at least 5x faster than ``torch.masked.mean``; the reference within 3x
NumPy. This is a benchmark, not a test: it prints figures and never fails.

Run: ``python benchmarks/bench_reductions.py [--repeat R] [--only torch]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from collections.abc import Callable

import _timing as timing
import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import reference as ref

SHAPE = (64, 512, 256)
NAMES = ("sum", "mean", "max")
TORCH_PLAIN = {"sum": "sum", "mean": "mean", "max": "amax"}
TARGETS: list[tuple[str, float, float, str]] = []  # (what, value, limit, "<=" or ">=")


def side_by_side(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best time of each function, the functions called in turn ``repeat`` times."""
    return timing.side_by_side(fns, repeat, summary=min)


def pair(
    label: str, masked: float, plain_label: str, plain: float, limit: float | None = None
) -> None:
    ratio = masked / plain
    print(
        f"  {label:<40} {masked * 1e3:8.3f} ms   {plain_label:<28} {plain * 1e3:8.3f} ms"
        f"   ratio {ratio:5.2f}x"
    )
    if limit is not None:
        TARGETS.append((f"{label} / {plain_label}", ratio, limit, "<="))


def make_inputs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=SHAPE).astype(np.float32)
    lengths = rng.integers(1, SHAPE[1] + 1, SHAPE[0])
    mask = np.arange(SHAPE[1]) < lengths[:, None]
    return x, mask


def bench_reference(x: np.ndarray, mask: np.ndarray, repeat: int) -> None:
    print("\nreference (NumPy) vs unmasked NumPy")
    plain = {"sum": np.sum, "mean": np.mean, "max": np.max}
    for name in NAMES:
        t = side_by_side(
            {
                "masked": lambda n=name: getattr(ref, f"masked_{n}")(x, mask, axis=1),
                "plain": lambda n=name: plain[n](x, axis=1),
            },
            repeat,
        )
        pair(f"reference.masked_{name}", t["masked"], f"np.{name}", t["plain"], limit=3.0)


def bench_torch(x: np.ndarray, mask: np.ndarray, rng: np.random.Generator, repeat: int) -> None:
    import torch

    import torch_impl

    xt, mt = torch.from_numpy(x), torch.from_numpy(mask)
    plain = {"sum": lambda t: t.sum(1), "mean": lambda t: t.mean(1), "max": lambda t: t.amax(1)}
    print(f"\ntorch {torch.__version__} ({torch.get_num_threads()} threads), no grad")
    with torch.no_grad():
        for name in NAMES:
            t = side_by_side(
                {
                    "masked": lambda n=name: getattr(torch_impl, f"masked_{n}")(xt, mt, axis=1),
                    "plain": lambda n=name: plain[n](xt),
                },
                repeat,
            )
            pair(
                f"torch_impl.masked_{name}",
                t["masked"],
                f"x.{TORCH_PLAIN[name]}(1)",
                t["plain"],
                limit=1.5,
            )
        full = mt[..., None].expand(SHAPE)
        t = side_by_side(
            {
                "ours": lambda: torch_impl.masked_mean(xt, mt, axis=1),
                "torch.masked": lambda: torch.masked.mean(xt, dim=1, mask=full),
            },
            max(3, repeat // 4),
        )
        speedup = t["torch.masked"] / t["ours"]
        print(
            f"  torch.masked.mean(x, dim=1, mask)         {t['torch.masked'] * 1e3:8.3f} ms"
            f"   -> torch_impl.masked_mean is {speedup:.1f}x faster"
        )
        TARGETS.append(("torch.masked.mean / torch_impl.masked_mean", speedup, 5.0, ">="))

        print("  fall-back paths (not the targets):")
        poisoned = xt.masked_fill(~mt[..., None], float("nan"))
        for name in ("sum", "mean"):
            t = side_by_side(
                {
                    "masked": lambda n=name: getattr(torch_impl, f"masked_{n}")(
                        poisoned, mt, axis=1
                    ),
                    "plain": lambda n=name: plain[n](xt),
                },
                repeat,
            )
            pair(f"masked_{name}, NaN under the mask", t["masked"], f"x.{name}(1)", t["plain"])
        holes = torch.from_numpy(rng.random(SHAPE[:2]) < 0.5)
        t = side_by_side(
            {
                "masked": lambda: torch_impl.masked_max(xt, holes, axis=1),
                "plain": lambda: xt.amax(1),
            },
            repeat,
        )
        pair("masked_max, scattered holes", t["masked"], "x.amax(1)", t["plain"])

    print("  forward + backward (x.requires_grad):")
    xg = xt.clone().requires_grad_(True)
    for name in ("mean", "max"):
        t = side_by_side(
            {
                "masked": lambda n=name: (
                    getattr(torch_impl, f"masked_{n}")(xg, mt, axis=1).sum().backward()
                ),
                "plain": lambda n=name: plain[n](xg).sum().backward(),
            },
            max(3, repeat // 2),
        )
        pair(f"masked_{name} fwd+bwd", t["masked"], f"x.{TORCH_PLAIN[name]}(1) fwd+bwd", t["plain"])


def tf_backend() -> object | None:
    """tf_impl, or None (with the reason printed) when it or its reductions are missing."""
    if importlib.util.find_spec("tensorflow") is None:
        print("\ntensorflow: not installed, skipped")
        return None
    try:
        import tf_impl
    except Exception as err:  # tf_impl mid-edit or broken: the other sections still run
        print(f"\ntensorflow: tf_impl cannot be imported ({type(err).__name__}: {err}), skipped")
        return None
    if not all(hasattr(tf_impl, f"masked_{n}") for n in NAMES):
        print("\ntensorflow: tf_impl has no masked reductions yet, skipped")
        return None
    return tf_impl


def bench_tf(x: np.ndarray, mask: np.ndarray, rng: np.random.Generator, repeat: int) -> None:
    tf_impl = tf_backend()
    if tf_impl is None:
        return
    import tensorflow as tf

    xf, mf = tf.constant(x), tf.constant(mask)
    plain = {"sum": tf.reduce_sum, "mean": tf.reduce_mean, "max": tf.reduce_max}
    print(f"\ntensorflow {tf.__version__}, eager")
    for name in NAMES:
        t = side_by_side(
            {
                "masked": lambda n=name: getattr(tf_impl, f"masked_{n}")(xf, mf, axis=1).numpy(),
                "plain": lambda n=name: plain[n](xf, axis=1).numpy(),
            },
            repeat,
        )
        pair(f"tf_impl.masked_{name}", t["masked"], f"tf.reduce_{name}", t["plain"])

    print("  forward + backward (GradientTape):")
    xv = tf.Variable(x)
    for name in ("mean", "max"):

        def fwd_bwd(reduce) -> None:
            with tf.GradientTape() as tape:
                y = reduce(xv)
            tape.gradient(y, xv).numpy()

        t = side_by_side(
            {
                "masked": lambda n=name: fwd_bwd(
                    lambda a, n=n: getattr(tf_impl, f"masked_{n}")(a, mf, axis=1)
                ),
                "plain": lambda n=name: fwd_bwd(lambda a, n=n: plain[n](a, axis=1)),
            },
            max(3, repeat // 2),
        )
        pair(f"masked_{name} fwd+bwd", t["masked"], f"tf.reduce_{name} fwd+bwd", t["plain"])

    print("tensorflow, tf.function(jit_compile=True)")
    traces: dict[str, int] = dict.fromkeys(NAMES, 0)
    compiled = {}
    for name in NAMES:

        def masked(a, b, n=name):  # no input_signature: a retrace would show in `traces`
            traces[n] += 1
            return getattr(tf_impl, f"masked_{n}")(a, b, axis=1)

        compiled[name] = tf.function(masked, jit_compile=True)
        unmasked = tf.function(lambda a, n=name: plain[n](a, axis=1), jit_compile=True)
        t = side_by_side(
            {
                "masked": lambda n=name: compiled[n](xf, mf).numpy(),
                "plain": lambda f=unmasked: f(xf).numpy(),
            },
            repeat,
        )
        pair(f"tf_impl.masked_{name} (XLA)", t["masked"], f"tf.reduce_{name} (XLA)", t["plain"])
    before = dict(traces)
    for _ in range(3):  # new lengths, same shapes and dtypes
        other = np.arange(SHAPE[1]) < rng.integers(0, SHAPE[1] + 1, SHAPE[0])[:, None]
        for name in NAMES:
            compiled[name](xf, tf.constant(other)).numpy()
    retraces = {n: traces[n] - before[n] for n in NAMES}
    print(
        f"  traces per function: {traces}; retraces when only the lengths change: "
        f"{retraces} ({'none' if not any(retraces.values()) else 'RETRACES'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--only", choices=("reference", "torch", "tf"), default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x, mask = make_inputs(rng)
    print(
        f"x {SHAPE} float32 reduced over axis 1, mask {mask.shape} of random lengths, "
        f"{mask.mean():.0%} valid; best of {args.repeat}, masked and unmasked in alternation"
    )
    if args.only in (None, "reference"):
        bench_reference(x, mask, args.repeat)
    if args.only in (None, "torch"):
        if importlib.util.find_spec("torch") is None:
            print("\ntorch: not installed, skipped")
        else:
            bench_torch(x, mask, rng, args.repeat)
    if args.only in (None, "tf"):
        bench_tf(x, mask, rng, args.repeat)
    if TARGETS:
        print("\ntargets")
        for what, value, limit, sense in TARGETS:
            met = value <= limit if sense == "<=" else value >= limit
            print(
                f"  {what:<62} {value:6.2f}x  (target {sense} {limit}x)  "
                f"{'met' if met else 'NOT met'}"
            )


if __name__ == "__main__":
    main()
