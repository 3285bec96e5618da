"""torch_impl.ragged against the code a user would write, measured side by side in one run.

4,096 sequences of random lengths 1..512 with 256 float32 features, padded
to ``x (4096, 512, 256)`` (2 GiB) with a ``(4096, 512)`` mask. Each pair is
timed in alternation (so both see the same machine load) after a warm-up;
the figure is the median of ``--repeat`` runs, under ``torch.no_grad()``.

Targets (from the issue): ``torch_impl.unpad`` at least as fast as
``x[mask]``; ``torch_impl.repad`` at least as fast as
``out = zeros(...); out[mask] = values``; ``torch_impl.pack_sequences`` at
least as fast as ``pack_padded_sequence(x, lengths, batch_first=True,
enforce_sorted=False)``. A ratio is ours / theirs: at most 1.0 meets a
target. Also shown, without targets: the unpacking and nested-tensor
conversions, and a mask with scattered holes. This is a benchmark, not a
test: it prints figures and never fails.

Run: ``python benchmarks/bench_ragged_torch.py [--repeat R] [--batch B]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from _timing import side_by_side
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import torch_impl as ragged

STEPS, FEATURES = 512, 256
TARGETS: list[tuple[str, float]] = []  # (what, ours / theirs), target <= 1.0


def pair(
    label: str,
    ours: Callable[[], object],
    other_label: str,
    theirs: Callable[[], object],
    repeat: int,
    target: bool = False,
) -> None:
    t = side_by_side({"ours": ours, "theirs": theirs}, repeat)
    ratio = t["ours"] / t["theirs"]
    print(
        f"  {label:<38} {t['ours'] * 1e3:9.1f} ms   {other_label:<44} "
        f"{t['theirs'] * 1e3:9.1f} ms   ratio {ratio:5.2f}x"
    )
    if target:
        TARGETS.append((f"{label} / {other_label}", ratio))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--batch", type=int, default=4096)
    args = parser.parse_args()
    batch, repeat = args.batch, args.repeat

    gen = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, STEPS + 1, (batch,), generator=gen)
    x = torch.randn(batch, STEPS, FEATURES, generator=gen)
    mask = torch.arange(STEPS) < lengths[:, None]
    print(
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), no grad; x "
        f"{tuple(x.shape)} float32 ({x.numel() * 4 / 2**30:.1f} GiB), lengths 1..{STEPS}, "
        f"{mask.float().mean():.0%} valid; median of {repeat}, pairs in alternation"
    )

    with torch.no_grad():
        values, indices, _, _ = ragged.unpad(x, mask)
        assert torch.equal(values, x[mask])  # same results before timing them

        def user_repad() -> torch.Tensor:
            out = torch.zeros(batch, STEPS, FEATURES)
            out[mask] = values
            return out

        assert torch.equal(ragged.repad(values, indices, batch, STEPS), user_repad())
        packed = ragged.pack_sequences(x, lengths)
        theirs = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        assert torch.equal(packed.batch_sizes, theirs.batch_sizes)  # rows of equal length may
        assert torch.equal(
            ragged.unpack_sequences(packed)[0],  # be in another order: compare
            pad_packed_sequence(theirs, batch_first=True)[0],
        )  # them unpacked

        print("\ntargets")
        pair(
            "torch_impl.unpad(x, mask)",
            lambda: ragged.unpad(x, mask),
            "x[mask]",
            lambda: x[mask],
            repeat,
            target=True,
        )
        pair(
            "torch_impl.repad(values, indices, B, T)",
            lambda: ragged.repad(values, indices, batch, STEPS),
            "zeros(B, T, D); out[mask] = values",
            user_repad,
            repeat,
            target=True,
        )
        pair(
            "torch_impl.pack_sequences(x, lengths)",
            lambda: ragged.pack_sequences(x, lengths),
            "pack_padded_sequence(enforce_sorted=False)",
            lambda: pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False),
            repeat,
            target=True,
        )

        print("\nwithout targets")
        pair(
            "torch_impl.to_packed_sequence",
            lambda: ragged.to_packed_sequence(x, lengths),
            "pack_padded_sequence(enforce_sorted=False)",
            lambda: pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False),
            repeat,
        )
        pair(
            "torch_impl.from_packed_sequence",
            lambda: ragged.from_packed_sequence(theirs),
            "pad_packed_sequence(batch_first=True)",
            lambda: pad_packed_sequence(theirs, batch_first=True),
            repeat,
        )
        pair(
            "torch_impl.unpack_sequences",
            lambda: ragged.unpack_sequences(packed),
            "pad_packed_sequence(batch_first=True)",
            lambda: pad_packed_sequence(theirs, batch_first=True),
            repeat,
        )
        pair(
            "torch_impl.ragged_from_padded",
            lambda: ragged.ragged_from_padded(x, mask),
            "x[mask]",
            lambda: x[mask],
            repeat,
        )
        nested = ragged.to_nested(x, mask)
        pair(
            "torch_impl.from_nested",
            lambda: ragged.from_nested(nested),
            "torch.nested.to_padded_tensor(nt, 0.0)",
            lambda: torch.nested.to_padded_tensor(nested, 0.0),
            repeat,
        )
        holes = torch.rand(batch, STEPS, generator=gen) < 0.5
        pair(
            "torch_impl.unpad, scattered holes",
            lambda: ragged.unpad(x, holes),
            "x[holes]",
            lambda: x[holes],
            repeat,
        )

    print("\ntargets (ours / theirs, at most 1.0)")
    for what, ratio in TARGETS:
        print(f"  {what:<82} {ratio:5.2f}x  {'met' if ratio <= 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
