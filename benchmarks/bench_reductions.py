"""Masked reductions against the unmasked ones, measured side by side in one run.

A (64, 512, 256) float32 tensor reduced over axis 1 with a (64, 512) mask of
random lengths: maskref's masked sum / mean / max against the framework's
unmasked reduction of the same tensor (the ratio is the price of the mask),
and against ``torch.masked.mean``; TensorFlow eagerly and under
``tf.function(jit_compile=True)``; the reference against unmasked NumPy.

Run: ``python benchmarks/bench_reductions.py [--repeat R]``.
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

SHAPE = (64, 512, 256)


def best(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def pair(label: str, masked: float, plain: float, plain_name: str) -> None:
    print(f"  {label:<44} {masked * 1e3:8.2f} ms   {plain_name:<26} {plain * 1e3:8.2f} ms"
          f"   ratio {masked / plain:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--padding", choices=("zeros", "nan"), default="zeros",
                        help="what the padded slots hold (the results never depend on it)")
    args = parser.parse_args()
    r = args.repeat
    rng = np.random.default_rng(0)
    x = rng.normal(size=SHAPE).astype(np.float32)
    lengths = rng.integers(1, SHAPE[1] + 1, SHAPE[0])
    mask = np.arange(SHAPE[1]) < lengths[:, None]
    x[~mask] = 0.0 if args.padding == "zeros" else np.nan
    print(f"x {SHAPE} float32, mask {mask.shape}, {mask.mean():.0%} valid, "
          f"padding holds {args.padding}")

    print("\nreference (NumPy)")
    clean = np.nan_to_num(x)
    for name, plain in (("sum", np.sum), ("mean", np.mean), ("max", np.max)):
        masked = best(lambda n=name: getattr(ref, f"masked_{n}")(x, mask, axis=1), r)
        pair(f"reference.masked_{name}", masked, best(lambda p=plain: p(clean, axis=1), r),
             f"np.{name}")

    if importlib.util.find_spec("torch") is not None:
        import torch

        import torch_impl

        xt, mt = torch.from_numpy(x), torch.from_numpy(mask)
        ct = torch.from_numpy(clean)
        print(f"\ntorch ({torch.get_num_threads()} threads)")
        plain = {"sum": lambda: ct.sum(1), "mean": lambda: ct.mean(1), "max": lambda: ct.amax(1)}
        for name, fn in plain.items():
            masked = best(lambda n=name: getattr(torch_impl, f"masked_{n}")(xt, mt, axis=1), r)
            pair(f"torch_impl.masked_{name}", masked, best(fn, r), f"x.{name}(1)")
        full = mt[..., None].expand(SHAPE)
        t_tm = best(lambda: torch.masked.mean(xt, dim=1, mask=full), r)
        t_mean = best(lambda: torch_impl.masked_mean(xt, mt, axis=1), r)
        print(f"  torch.masked.mean {t_tm * 1e3:8.2f} ms -> torch_impl.masked_mean is "
              f"{t_tm / t_mean:.1f}x faster")

    if importlib.util.find_spec("tensorflow") is not None:
        import tensorflow as tf

        import tf_impl

        xf, mf, cf = tf.constant(x), tf.constant(mask), tf.constant(clean)
        plain = {"sum": tf.reduce_sum, "mean": tf.reduce_mean, "max": tf.reduce_max}
        print("\ntensorflow, eager")
        for name, fn in plain.items():
            masked = best(lambda n=name: getattr(tf_impl, f"masked_{n}")(xf, mf, axis=1), r)
            pair(f"tf_impl.masked_{name}", masked, best(lambda f=fn: f(cf, axis=1), r),
                 f"tf.reduce_{name}")
        print("tensorflow, tf.function(jit_compile=True)")
        traces = []
        for name, fn in plain.items():
            masked_fn = tf.function(
                lambda a, b, n=name: (traces.append(n), getattr(tf_impl, f"masked_{n}")(
                    a, b, axis=1))[1], jit_compile=True)
            plain_fn = tf.function(lambda a, f=fn: f(a, axis=1), jit_compile=True)
            masked = best(lambda f=masked_fn: f(xf, mf).numpy(), r)
            pair(f"tf_impl.masked_{name} (XLA)", masked, best(lambda f=plain_fn: f(cf).numpy(),
                                                              r), f"tf.reduce_{name} (XLA)")
        before = len(traces)
        other = tf.constant(np.arange(SHAPE[1]) < rng.integers(0, SHAPE[1], SHAPE[0])[:, None])
        masked_fn(xf, other)
        print(f"  retraces when only the lengths change: {len(traces) - before}")


if __name__ == "__main__":
    main()
