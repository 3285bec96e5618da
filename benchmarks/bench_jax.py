"""jax_impl against plain JAX, measured side by side in one run (medians).

* masked sum / mean / max over axis 1 of a (64, 512, 256) float32 tensor with a
  (64, 512) mask of random lengths, under ``jax.jit``, against the unmasked
  ``jnp`` reduction of the same tensor (target: within 1.3x);
* masked attention under ``jit`` on (8, 1024, 8, 64) (B, T, heads, E) with a key
  padding mask, against ``jax.nn.dot_product_attention`` with the equivalent
  boolean mask (target: within 1.3x);
* ``jax_impl.pad_sequences`` from Python lists (100k lists of lengths 1..200)
  against ``reference.pad_sequences`` (target: no slower).

This is a benchmark, not a test: it prints figures and never fails.
Run: ``python benchmarks/bench_jax.py [--repeat R]``.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import _timing as timing
import jax
import jax.numpy as jnp
import numpy as np

import jax_impl as J
import reference as R


def _report(title: str, times: dict[str, float], base: str, limit: float) -> None:
    print(f"\n{title}")
    for name, t in times.items():
        ratio = t / times[base]
        mark = "" if name == base else f"  ({ratio:.2f}x; target <= {limit}x)"
        print(f"  {name:<44} {t * 1e3:9.2f} ms{mark}")


def reductions(repeat: int) -> None:
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(64, 512, 256)).astype(np.float32))
    lengths = rng.integers(1, 513, size=64)
    mask = jnp.asarray(np.arange(512)[None, :] < lengths[:, None])
    for name, plain in (("sum", jnp.sum), ("mean", jnp.mean), ("max", jnp.max)):
        ours = getattr(J, f"masked_{name}")
        masked = jax.jit(lambda x, m, f=ours: f(x, m, axis=1))
        unmasked = jax.jit(lambda x, f=plain: f(x, axis=1))
        times = timing.side_by_side(
            {
                f"jnp.{name}(x, axis=1)": lambda f=unmasked: f(x).block_until_ready(),
                f"jax_impl.masked_{name} (jit)": lambda f=masked: f(x, mask).block_until_ready(),
            },
            repeat,
        )
        _report(f"masked {name}, (64, 512, 256) float32", times, f"jnp.{name}(x, axis=1)", 1.3)


def attention(repeat: int) -> None:
    rng = np.random.default_rng(1)
    b, t, h, e = 8, 1024, 8, 64
    q, k, v = (jnp.asarray(rng.normal(size=(b, t, h, e)).astype(np.float32)) for _ in range(3))
    lengths = rng.integers(t // 2, t + 1, size=b)
    keys = jnp.asarray(np.arange(t)[None, :] < lengths[:, None])
    native = jax.jit(
        lambda q, k, v, m: jax.nn.dot_product_attention(q, k, v, mask=m[:, None, None, :])
    )

    def ours(q, k, v, m):  # maskref's layout is (..., L, E): heads before steps
        qt, kt, vt = (jnp.swapaxes(a, 1, 2) for a in (q, k, v))
        return jnp.swapaxes(J.scaled_dot_product_attention(qt, kt, vt, m[:, None, None, :]), 1, 2)

    masked = jax.jit(ours)
    times = timing.side_by_side(
        {
            "jax.nn.dot_product_attention (jit)": lambda: native(q, k, v, keys).block_until_ready(),
            "jax_impl.scaled_dot_product_attention (jit)": lambda: masked(
                q, k, v, keys
            ).block_until_ready(),
        },
        repeat,
    )
    _report(f"attention, {(b, t, h, e)} float32, key padding", times, next(iter(times)), 1.3)


def padding(repeat: int) -> None:
    rng = np.random.default_rng(2)
    lists = [list(range(int(n))) for n in rng.integers(1, 201, size=100_000)]
    times = timing.side_by_side(
        {
            "reference.pad_sequences": lambda: R.pad_sequences(lists),
            "jax_impl.pad_sequences": lambda: J.pad_sequences(lists).block_until_ready(),
        },
        repeat,
    )
    _report("pad_sequences from 100k lists of 1..200", times, "reference.pad_sequences", 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"jax {jax.__version__}, devices {jax.devices()}, load {os.getloadavg()[0]:.2f}")
    reductions(args.repeat)
    attention(args.repeat)
    padding(max(3, args.repeat // 2))


if __name__ == "__main__":
    main()
