"""Padding speed (and the memory of one case), measured side by side in one run; prints ratios.

Sections (``--only`` picks some, comma-separated):

* ``lists``: ``reference.pad_sequences`` against ``keras.utils.pad_sequences``
  on Python lists of ints (int32, pre-padding: the Keras defaults), three
  shapes: 100,000 lists of lengths 1..200, 1,000 lists of 50,000..100,000 and
  1,000,000 lists of 1..20. Target: at least Keras's speed on each.
* ``odd``: 1,000,000 short lists whose last row holds one odd value (a 1.5,
  a 2**60; valid for the dtype or raising), against the all-integer batch.
  Target: within 1.5x (one odd value costs one chunk, not the batch).
* ``arrays``: the same from NumPy int32 arrays, and ``reference.pad_flat``
  against one copy of its output.
* ``torch``: ``torch_impl.pad_sequences`` against
  ``torch.nn.utils.rnn.pad_sequence`` (batch-first) on 100,000 tensors of
  1..200 and on 1,000 int64 tensors of 50,000..100,000 (the case that used to
  take an extra full-size ``torch.cat``): times side by side, and the peak
  memory each adds, measured in a fresh subprocess per function
  (``resource.getrusage``'s peak RSS minus the RSS after building the
  inputs). Target: no slower, no more memory than ``pad_sequence``.
* ``tf``: ``tf_impl.pad_flat`` / ``pad_sequences(RaggedTensor)`` against
  ``RaggedTensor.to_tensor`` and one copy of the output.

Every figure is the median of ``--repeat`` runs taken in alternation (see
``_timing.side_by_side``); the load average is printed with each section,
since a shared machine's load moves the absolute times (the ratios much less).

Run: ``python benchmarks/bench_padding.py [--repeat R] [--scale S] [--only lists,torch]``
(``--scale 0.1`` divides every batch size by 10, for a quick look).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import resource
import subprocess
import sys
from collections.abc import Callable

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _timing import side_by_side

import reference as ref

SECTIONS = ("lists", "odd", "arrays", "torch", "tf")


def load() -> str:
    return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def row(name: str, seconds: float, base: float | None = None, base_name: str = "") -> None:
    ratio = f"   {base / seconds:5.2f}x the speed of {base_name}" if base else ""
    print(f"  {name:<62} {seconds * 1e3:9.1f} ms{ratio}")


def int_lists(count: int, low: int, high: int, seed: int = 0) -> list[list[int]]:
    """``count`` lists of Python ints (1..199: small ints, so the lists cost 8 bytes a step)."""
    rng = np.random.default_rng(seed)
    return [rng.integers(1, 200, n).tolist() for n in rng.integers(low, high + 1, count)]


def scaled(n: int, scale: float) -> int:
    return max(1, int(n * scale))


def section_lists(repeat: int, scale: float) -> None:
    has_keras = importlib.util.find_spec("keras") is not None
    if has_keras:
        import keras
    shapes = [
        (f"{scaled(100_000, scale)} lists of 1..200", scaled(100_000, scale), 1, 200),
        (f"{scaled(1_000, scale)} lists of 50k..100k", scaled(1_000, scale), 50_000, 100_000),
        (f"{scaled(1_000_000, scale)} lists of 1..20", scaled(1_000_000, scale), 1, 20),
    ]
    print("\nfrom Python lists (int32, pre-padding: the Keras defaults)")
    for title, count, low, high in shapes:
        lists = int_lists(count, low, high)
        fns: dict[str, Callable[[], object]] = {
            "reference": lambda lists=lists: ref.pad_sequences(lists)
        }
        if has_keras:
            fns["keras"] = lambda lists=lists: keras.utils.pad_sequences(lists)
        t = side_by_side(fns, repeat)
        print(f" {title} ({sum(map(len, lists)):,} steps; {load()})")
        if has_keras:
            row("keras.utils.pad_sequences", t["keras"])
        row("reference.pad_sequences", t["reference"], t.get("keras"), "keras")


def section_odd(repeat: int, scale: float) -> None:
    lists = int_lists(scaled(1_000_000, scale), 1, 20)

    def ending(value: object) -> list[list]:
        return [*lists[:-1], [*lists[-1][:-1], value]]

    def pad(seqs: list, dtype: str) -> Callable[[], object]:
        def run() -> None:
            with contextlib.suppress(ValueError):  # the odd value does not fit: time to error
                ref.pad_sequences(seqs, dtype=dtype)

        return run

    with_float, with_big = ending(1.5), ending(2**60)
    fns = {
        "all ints, int32": pad(lists, "int32"),
        "last row holds 1.5, int32 (raises)": pad(with_float, "int32"),
        "last row holds 2**60, int32 (raises)": pad(with_big, "int32"),
        "all ints, int64": pad(lists, "int64"),
        "last row holds 2**60, int64": pad(with_big, "int64"),
        "last row holds 1.5, int64 (raises)": pad(with_float, "int64"),
        "all ints, float32": pad(lists, "float32"),
        "last row holds 1.5, float32": pad(with_float, "float32"),
    }
    t = side_by_side(fns, repeat)
    print(f"\none odd value in {len(lists):,} short lists ({load()})")
    for name, seconds in t.items():
        dtype = name.rsplit(", ", 1)[1].split(" ")[0]
        base = t[f"all ints, {dtype}"]
        note = "" if name.startswith("all") else f"   {seconds / base:5.2f}x the all-int time"
        print(f"  {name:<62} {seconds * 1e3:9.1f} ms{note}")


def section_arrays(repeat: int, scale: float) -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 201, scaled(100_000, scale))
    arrays = [rng.integers(1, 1000, n).astype(np.int32) for n in lengths]
    flat = np.concatenate(arrays)
    out = ref.pad_flat(flat, lengths)
    fns: dict[str, Callable[[], object]] = {
        "reference.pad_sequences": lambda: ref.pad_sequences(arrays),
        "reference.pad_sequences(padding='post')": lambda: ref.pad_sequences(
            arrays, padding="post"
        ),
        "reference.pad_flat (flat buffer + lengths)": lambda: ref.pad_flat(flat, lengths),
        "one copy of the output (np.ndarray.copy)": out.copy,
    }
    if importlib.util.find_spec("keras") is not None:
        import keras

        fns["keras.utils.pad_sequences"] = lambda: keras.utils.pad_sequences(arrays)
    t = side_by_side(fns, repeat)
    print(f"\nfrom NumPy int32 arrays: {len(arrays):,} of 1..200 ({load()})")
    keras_t = t.pop("keras.utils.pad_sequences", None)
    if keras_t:
        row("keras.utils.pad_sequences", keras_t)
    for name in ("reference.pad_sequences", "reference.pad_sequences(padding='post')"):
        row(name, t[name], keras_t, "keras")
    row(
        "reference.pad_flat (flat buffer + lengths)",
        t["reference.pad_flat (flat buffer + lengths)"],
    )
    row("one copy of the output (np.ndarray.copy)", t["one copy of the output (np.ndarray.copy)"])
    ratio = (
        t["reference.pad_flat (flat buffer + lengths)"]
        / t["one copy of the output (np.ndarray.copy)"]
    )
    print(f"  -> reference.pad_flat = {ratio:.2f}x one copy")


_MEMORY_CHILD = """
import os, resource, sys, time
import numpy as np, torch
from torch.nn.utils.rnn import pad_sequence
import torch_impl
torch.set_num_threads({threads})
rng = np.random.default_rng(0)
lengths = rng.integers(50_000, 100_001, {count})
tensors = [torch.from_numpy(rng.integers(1, 1000, n)) for n in lengths]
which = sys.argv[1]
if which == "pad_sequence":
    fn = lambda: pad_sequence(tensors, batch_first=True)
else:
    dtype = torch.int64 if which == "int64" else torch.int32
    fn = lambda: torch_impl.pad_sequences(tensors, dtype=dtype, padding="post")
def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))
base = status("VmRSS:")
try:  # reset the peak (VmHWM) to the current size: what came before does not count
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    peak = lambda: status("VmHWM:")
except OSError:
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start = time.perf_counter()
out = fn()
seconds = time.perf_counter() - start
print(seconds, peak() - base, out.element_size() * out.numel())
"""


def peak_memory(which: str, count: int, runs: int) -> tuple[float, float, int]:
    """(median seconds of one cold call, median peak bytes added, output bytes) in fresh
    subprocesses, one per run."""
    import torch

    code = _MEMORY_CHILD.format(threads=torch.get_num_threads(), count=count)
    results = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", code, which], capture_output=True, text=True, check=True
        )
        seconds, added, out_bytes = done.stdout.split()
        results.append((float(seconds), float(added), int(out_bytes)))
    results.sort()
    mid = results[len(results) // 2]
    added = sorted(r[1] for r in results)[len(results) // 2]
    return mid[0], added, mid[2]


def section_torch(repeat: int, scale: float) -> None:
    if importlib.util.find_spec("torch") is None:
        print("\ntorch: not installed, skipped")
        return
    import torch
    from torch.nn.utils.rnn import pad_sequence

    import torch_impl

    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 201, scaled(100_000, scale))
    arrays = [rng.integers(1, 1000, n).astype(np.int32) for n in lengths]
    tensors = [torch.from_numpy(a) for a in arrays]
    flat = np.concatenate(arrays)
    values, lens = torch.from_numpy(flat), torch.from_numpy(lengths)
    out = torch_impl.pad_flat(values, lens)
    t = side_by_side(
        {
            "pad_sequence": lambda: pad_sequence(tensors, batch_first=True),
            "impl": lambda: torch_impl.pad_sequences(tensors, padding="post"),
            "flat": lambda: torch_impl.pad_flat(values, lens, padding="post"),
            "copy": out.clone,
        },
        repeat,
    )
    print(f"\ntorch: {len(tensors):,} int32 tensors of 1..200 ({load()})")
    row("torch.nn.utils.rnn.pad_sequence(batch_first=True)", t["pad_sequence"])
    row(
        "torch_impl.pad_sequences(tensors, padding='post')",
        t["impl"],
        t["pad_sequence"],
        "pad_sequence",
    )
    row("torch_impl.pad_flat (flat buffer + lengths)", t["flat"])
    row("one copy of the output (Tensor.clone)", t["copy"])
    print(f"  -> torch_impl.pad_flat = {t['flat'] / t['copy']:.2f}x one copy")
    section_torch_long(repeat, scale)


def section_torch_long(repeat: int, scale: float) -> None:
    import torch
    from torch.nn.utils.rnn import pad_sequence

    import torch_impl

    rng = np.random.default_rng(1)

    count = scaled(1_000, scale)
    long_rows = [
        torch.from_numpy(rng.integers(1, 1000, n)) for n in rng.integers(50_000, 100_001, count)
    ]
    t = side_by_side(
        {
            "pad_sequence": lambda: pad_sequence(long_rows, batch_first=True),
            "int64": lambda: torch_impl.pad_sequences(long_rows, dtype=torch.int64, padding="post"),
            "int32": lambda: torch_impl.pad_sequences(long_rows, padding="post"),
        },
        repeat,
    )
    steps = sum(r.numel() for r in long_rows)
    print(f"\ntorch: {count:,} int64 tensors of 50k..100k ({steps:,} steps; {load()})")
    row("torch.nn.utils.rnn.pad_sequence(batch_first=True) (int64)", t["pad_sequence"])
    row("torch_impl.pad_sequences(dtype=int64)", t["int64"], t["pad_sequence"], "pad_sequence")
    row(
        "torch_impl.pad_sequences() (int32, checked)", t["int32"], t["pad_sequence"], "pad_sequence"
    )
    runs = max(3, repeat // 2)
    print(f"  peak memory added by one call, in a fresh process (median of {runs}; {load()})")
    base = None
    for which, name in (
        ("pad_sequence", "pad_sequence (int64)"),
        ("int64", "torch_impl.pad_sequences(dtype=int64)"),
        ("int32", "torch_impl.pad_sequences() (int32)"),
    ):
        seconds, added, out_bytes = peak_memory(which, count, runs)
        base = base or added
        print(
            f"  {name:<44} {added / 2**20:8.0f} MiB (output {out_bytes / 2**20:6.0f} MiB)"
            f"  {added / base:4.2f}x pad_sequence's   cold call {seconds:.2f} s"
        )


def section_tf(repeat: int, scale: float) -> None:
    if importlib.util.find_spec("tensorflow") is None:
        print("\ntensorflow: not installed, skipped")
        return
    import tensorflow as tf

    import tf_impl

    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 201, scaled(100_000, scale))
    flat = rng.integers(1, 1000, int(lengths.sum())).astype(np.int32)
    values, lens = tf.constant(flat), tf.constant(lengths)
    ragged = tf.RaggedTensor.from_row_lengths(values, lens)
    dense = tf_impl.pad_flat(values, lens)
    t = side_by_side(
        {
            "to_tensor": ragged.to_tensor,
            "flat": lambda: tf_impl.pad_flat(values, lens, padding="post"),
            "ragged": lambda: tf_impl.pad_sequences(ragged, padding="post"),
            "copy": lambda: tf.identity(dense + 0),
        },
        repeat,
    )
    print(f"\ntensorflow: flat buffer + lengths, {lengths.size:,} rows of 1..200 ({load()})")
    row("tf.RaggedTensor.to_tensor()", t["to_tensor"])
    row("tf_impl.pad_flat", t["flat"], t["to_tensor"], "to_tensor")
    row("tf_impl.pad_sequences(RaggedTensor)", t["ragged"], t["to_tensor"], "to_tensor")
    row("one copy of the output (dense + 0)", t["copy"])
    print(f"  -> tf_impl.pad_flat = {t['flat'] / t['copy']:.2f}x one copy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--only", default=",".join(SECTIONS))
    args = parser.parse_args()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    print(f"padding benchmark: median of {args.repeat} runs each, side by side ({load()})")
    for name in chosen:
        globals()[f"section_{name}"](args.repeat, args.scale)
    print(f"\n({load()}; peak RSS of this process {_peak_mib():.0f} MiB)")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
