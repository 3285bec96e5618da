"""Masked attention against the fused kernel called directly, measured side by side in one run.

``query``, ``key`` and ``value`` of shape (8, 8, 1024, 64) float32 on the CPU
with a (B, 1, 1, S) key-padding mask of random lengths (two rows short). For
each configuration, ``torch_impl.scaled_dot_product_attention`` against
``torch.nn.functional.scaled_dot_product_attention`` called directly with the
equivalent boolean mask (built once, outside the timing): the ratio is the
price of maskref's rules (validation, ``torch.where`` on the padding, the
empty-row fill). Configurations: the padding mask; padding and ``causal``
(the direct call gets ``padding & tril``); no mask. Also forward + backward,
and the reference (NumPy) and ``tf_impl`` (eager and XLA) on the same
inputs, against the same direct call. The functions of one table are called
in turn, so that they see the same machine load; median of ``--repeat`` runs
after warm-up runs; torch's default number of threads unless ``--threads``
(one thread is steadier on a shared machine).

Target: torch_impl within 1.3x of the direct call (with and without
``causal``). This is a benchmark, not a test: it prints figures and never
fails.

Run: ``python benchmarks/bench_attention.py [--repeat R] [--threads N]
[--only torch|reference|tf]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from collections.abc import Callable

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _timing import side_by_side

import reference as ref

SHAPE = (8, 8, 1024, 64)
TARGET = 1.3
TARGETS: list[tuple[str, float, float]] = []  # (what, ratio, limit)


def pair(label: str, ours: float, base_label: str, base: float, target: bool = False) -> None:
    ratio = ours / base
    print(
        f"  {label:<44} {ours * 1e3:9.1f} ms   {base_label:<34} {base * 1e3:9.1f} ms"
        f"   ratio {ratio:5.2f}x"
    )
    if target:
        TARGETS.append((f"{label} / {base_label}", ratio, TARGET))


def make_inputs(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    b, s = SHAPE[0], SHAPE[2]
    q, k, v = (rng.normal(size=SHAPE).astype(np.float32) for _ in range(3))
    lengths = rng.integers(1, s + 1, b)
    lengths[:2] = (3, 17)  # some rows short
    padding = (np.arange(s) < lengths[:, None])[:, None, None, :]
    return q, k, v, padding


def direct_call(xs: tuple[np.ndarray, ...]) -> tuple[Callable[[], object], ...]:
    """The torch calls every table is measured against: (padding, padding + causal)."""
    import torch
    import torch.nn.functional as F

    q, k, v, padding = (torch.from_numpy(a) for a in xs)
    causal = padding & torch.ones(SHAPE[2], SHAPE[2], dtype=torch.bool).tril()

    def plain() -> object:
        with torch.no_grad():
            return F.scaled_dot_product_attention(q, k, v, attn_mask=padding)

    def plain_causal() -> object:
        with torch.no_grad():
            return F.scaled_dot_product_attention(q, k, v, attn_mask=causal)

    return plain, plain_causal


def bench_torch(xs: tuple[np.ndarray, ...], repeat: int) -> None:
    import torch
    import torch.nn.functional as F

    import torch_impl

    q, k, v, padding = (torch.from_numpy(a) for a in xs)
    causal = padding & torch.ones(SHAPE[2], SHAPE[2], dtype=torch.bool).tril()
    sdpa = torch_impl.scaled_dot_product_attention
    print(f"\ntorch {torch.__version__} ({torch.get_num_threads()} threads), no grad")
    with torch.no_grad():
        t = side_by_side(
            {
                "ours": lambda: sdpa(q, k, v, padding),
                "direct": lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=padding),
            },
            repeat,
        )
        pair(
            "torch_impl, padding mask",
            t["ours"],
            "F.sdpa(attn_mask=padding)",
            t["direct"],
            target=True,
        )
        t = side_by_side(
            {
                "ours": lambda: sdpa(q, k, v, padding, causal=True),
                "direct": lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=causal),
            },
            repeat,
        )
        pair(
            "torch_impl, padding mask, causal=True",
            t["ours"],
            "F.sdpa(attn_mask=padding & tril)",
            t["direct"],
            target=True,
        )
        t = side_by_side(
            {
                "ours": lambda: sdpa(q, k, v),
                "direct": lambda: F.scaled_dot_product_attention(q, k, v),
            },
            repeat,
        )
        pair("torch_impl, no mask", t["ours"], "F.sdpa()", t["direct"])
        t = side_by_side(
            {
                "ours": lambda: sdpa(q, k, v, padding, empty="mean"),
                "direct": lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=padding),
            },
            repeat,
        )
        pair(
            "torch_impl, padding mask, empty='mean'",
            t["ours"],
            "F.sdpa(attn_mask=padding)",
            t["direct"],
        )

    print("  forward + backward (query, key and value require grad):")
    qg, kg, vg = (a.clone().requires_grad_(True) for a in (q, k, v))
    t = side_by_side(
        {
            "ours": lambda: sdpa(qg, kg, vg, padding).sum().backward(),
            "direct": lambda: (
                F.scaled_dot_product_attention(qg, kg, vg, attn_mask=padding).sum().backward()
            ),
        },
        max(3, repeat // 2),
    )
    pair("torch_impl fwd+bwd, padding mask", t["ours"], "F.sdpa fwd+bwd", t["direct"])


def bench_reference(xs: tuple[np.ndarray, ...], repeat: int) -> None:
    if importlib.util.find_spec("torch") is None:
        print("\nreference: torch is not installed, nothing to compare with; skipped")
        return
    plain, plain_causal = direct_call(xs)
    q, k, v, padding = xs
    print("\nreference (NumPy) vs the torch kernel called directly")
    repeat = max(1, repeat // 4)
    t = side_by_side(
        {
            "ours": lambda: ref.scaled_dot_product_attention(q, k, v, padding),
            "direct": plain,
        },
        repeat,
        warmup=1,
    )
    pair("reference, padding mask", t["ours"], "F.sdpa(attn_mask=padding)", t["direct"])
    t = side_by_side(
        {
            "ours": lambda: ref.scaled_dot_product_attention(q, k, v, padding, causal=True),
            "direct": plain_causal,
        },
        repeat,
        warmup=1,
    )
    pair(
        "reference, padding mask, causal=True",
        t["ours"],
        "F.sdpa(attn_mask=padding & tril)",
        t["direct"],
    )


def tf_attention() -> Callable | None:
    """tf_impl's scaled_dot_product_attention, or None (with the reason printed)."""
    if importlib.util.find_spec("tensorflow") is None:
        print("\ntensorflow: not installed, skipped")
        return None
    try:
        import tf_impl
    except Exception as err:  # tf_impl mid-edit or broken: the other sections still run
        print(f"\ntensorflow: tf_impl cannot be imported ({type(err).__name__}: {err}), skipped")
        return None
    fn = getattr(tf_impl, "scaled_dot_product_attention", None)
    if fn is None:
        print("\ntensorflow: tf_impl has no scaled_dot_product_attention yet, skipped")
    return fn


def bench_tf(xs: tuple[np.ndarray, ...], repeat: int) -> None:
    sdpa = tf_attention()
    if sdpa is None:
        return
    if importlib.util.find_spec("torch") is None:
        print("\ntensorflow: torch is not installed, nothing to compare with; skipped")
        return
    import tensorflow as tf

    plain, plain_causal = direct_call(xs)
    q, k, v, padding = (tf.constant(a) for a in xs)
    print(f"\ntensorflow {tf.__version__} (tf_impl) vs the torch kernel called directly")
    for label, compiled in (("eager", None), ("XLA", True)):
        fn = sdpa if compiled is None else tf.function(sdpa, jit_compile=True)

        def run(causal: bool, fn=fn) -> object:
            return fn(q, k, v, padding, causal=causal).numpy()

        t = side_by_side({"ours": lambda r=run: r(False), "direct": plain}, repeat)
        pair(
            f"tf_impl ({label}), padding mask", t["ours"], "F.sdpa(attn_mask=padding)", t["direct"]
        )
        t = side_by_side({"ours": lambda r=run: r(True), "direct": plain_causal}, repeat)
        pair(
            f"tf_impl ({label}), padding mask, causal=True",
            t["ours"],
            "F.sdpa(attn_mask=padding & tril)",
            t["direct"],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch's intra-op threads (default: torch's own choice)",
    )
    parser.add_argument("--only", choices=("torch", "reference", "tf"), default=None)
    args = parser.parse_args()
    if args.threads is not None and importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    xs = make_inputs(rng)
    padding = xs[3]
    print(
        f"query, key, value {SHAPE} float32, key-padding mask {padding.shape}, "
        f"{padding.mean():.0%} of the keys valid (shortest row {padding.sum(-1).min()}); "
        f"median of {args.repeat}, each table's calls in alternation"
    )
    if args.only in (None, "torch"):
        if importlib.util.find_spec("torch") is None:
            print("\ntorch: not installed, skipped")
        else:
            bench_torch(xs, args.repeat)
    if args.only in (None, "reference"):
        bench_reference(xs, args.repeat)
    if args.only in (None, "tf"):
        bench_tf(xs, args.repeat)
    if TARGETS:
        print("\ntargets")
        for what, value, limit in TARGETS:
            print(
                f"  {what:<76} {value:5.2f}x  (target <= {limit}x)  "
                f"{'met' if value <= limit else 'NOT met'}"
            )


if __name__ == "__main__":
    main()
