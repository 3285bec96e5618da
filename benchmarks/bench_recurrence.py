"""Masked LSTMs against the frameworks' own, measured side by side in one run.

Batch 64 x 256 steps x 128 features -> 128 units, float32, on the CPU; row
lengths drawn in [1, 256] (two rows full). Masks: post-padded, pre-padded (the
same lengths) and with holes (each step valid with probability 0.8).

* PyTorch: ``torch_impl.MaskedLSTM(x, mask)`` (no grad) against ``nn.LSTM`` on
  the packed batch (the ``PackedSequence`` built once, outside the timing: the
  strictest baseline), the same with oneDNN off (the CPU kernel MaskedLSTM
  runs packed rows on; see torch_impl._fast_recurrence), and
  ``nn.LSTM`` on the padded batch (no mask).
  Targets: post-padded within 1.2x of the packed ``nn.LSTM``; pre-padded and
  holes within 2x (holes against ``nn.LSTM`` on a packed batch of the same
  lengths: the holes leave 80% of the steps, post-padding about half). Also
  forward + backward, for information.
* TensorFlow: ``tf_impl.lstm`` against ``keras.layers.LSTM`` with the same mask
  and weights, both inside a ``tf.function`` (how a model runs in ``fit``) and
  both eager. Target: within 1.3x (in the ``tf.function``).

The functions of one table are called in turn, so that they see the same load;
median of ``--repeat`` runs after a warm-up run. The one-minute load average is
printed with the figures (the machine is shared). A benchmark, not a test: it
prints figures and never fails.

Run: ``python benchmarks/bench_recurrence.py [--repeat R] [--only torch|tf]
[--threads N]``.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _timing import side_by_side

B, T, F, U = 64, 256, 128, 128
TARGETS: list[tuple[str, float, float]] = []  # (what, ratio, limit)


def pair(label: str, ours: float, base_label: str, base: float, limit: float | None = None) -> None:
    ratio = ours / base
    print(
        f"  {label:<40} {ours * 1e3:9.1f} ms   {base_label:<34} {base * 1e3:9.1f} ms"
        f"   ratio {ratio:5.2f}x"
    )
    if limit is not None:
        TARGETS.append((f"{label} / {base_label}", ratio, limit))


def make_inputs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    lengths = rng.integers(1, T + 1, B)
    lengths[:2] = T
    steps = np.arange(T)
    return dict(
        x=rng.normal(size=(B, T, F)).astype(np.float32),
        lengths=lengths,
        post=steps < lengths[:, None],
        pre=steps >= T - lengths[:, None],
        holes=rng.random((B, T)) < 0.8,
    )


def load() -> str:
    return f"load average {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} CPUs"


def _native(fn):
    """``fn()`` with PyTorch's native CPU kernels (oneDNN off), as MaskedLSTM runs packed rows."""
    import torch

    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        return fn()
    finally:
        torch.backends.mkldnn.enabled = before


def bench_torch(data: dict[str, np.ndarray], repeat: int) -> None:
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence

    import torch_impl

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(F, U, batch_first=True)
    masked = torch_impl.MaskedLSTM(F, U, zero_output_for_mask=True)
    masked.load_state_dict(lstm.state_dict())
    x = torch.from_numpy(data["x"])
    packed = pack_padded_sequence(
        x, torch.from_numpy(data["lengths"]), batch_first=True, enforce_sorted=False
    )
    masks = {name: torch.from_numpy(data[name]) for name in ("post", "pre", "holes")}
    packed_holes = pack_padded_sequence(  # the valid steps of the rows with holes, packed
        x, masks["holes"].sum(1), batch_first=True, enforce_sorted=False
    )
    print(f"\ntorch {torch.__version__} ({torch.get_num_threads()} threads), no grad; {load()}")
    with torch.no_grad():
        t = side_by_side(
            {
                "post": lambda: masked(x, masks["post"]),
                "pre": lambda: masked(x, masks["pre"]),
                "holes": lambda: masked(x, masks["holes"]),
                "packed": lambda: lstm(packed),
                "packed_holes": lambda: lstm(packed_holes),
                "packed_native": lambda: _native(lambda: lstm(packed)),
                "padded": lambda: lstm(x),
            },
            repeat,
        )
    base = "nn.LSTM(packed batch)"
    pair("MaskedLSTM, post-padded mask", t["post"], base, t["packed"], 1.2)
    pair("MaskedLSTM, pre-padded mask", t["pre"], base, t["packed"], 2.0)
    pair("MaskedLSTM, mask with holes", t["holes"], f"{base}, same lengths", t["packed_holes"], 2.0)
    pair(
        "MaskedLSTM, post-padded mask", t["post"], "nn.LSTM(packed), oneDNN off", t["packed_native"]
    )
    pair("MaskedLSTM, post-padded mask", t["post"], "nn.LSTM(padded batch, no mask)", t["padded"])
    print(f"  forward + backward; {load()}")
    xg = x.clone().requires_grad_(True)
    lengths = torch.from_numpy(data["lengths"])

    def packed_backward() -> None:  # packed inside: a new graph each time
        seq = pack_padded_sequence(xg, lengths, batch_first=True, enforce_sorted=False)
        lstm(seq)[0].data.sum().backward()

    t = side_by_side(
        {
            "post": lambda: masked(xg, masks["post"])[0].sum().backward(),
            "pre": lambda: masked(xg, masks["pre"])[0].sum().backward(),
            "packed": packed_backward,
        },
        max(3, repeat // 2),
    )
    base = "pack + nn.LSTM fwd+bwd"
    pair("MaskedLSTM fwd+bwd, post-padded", t["post"], base, t["packed"])
    pair("MaskedLSTM fwd+bwd, pre-padded", t["pre"], base, t["packed"])


def bench_tf(data: dict[str, np.ndarray], repeat: int) -> None:
    import keras
    import tensorflow as tf

    import tf_impl

    keras.utils.set_random_seed(0)
    layer = keras.layers.LSTM(U, return_sequences=True)
    layer.build((None, None, F))
    weights = [w.value for w in layer.weights]  # the same variables for both
    x = tf.constant(data["x"])
    print(f"\ntensorflow {tf.__version__}, keras {keras.__version__}; {load()}")
    for name in ("post", "pre"):
        mask = tf.constant(data[name])
        ours = tf.function(lambda x, m: tf_impl.lstm(x, m, *weights, return_sequences=True))
        theirs = tf.function(lambda x, m: layer(x, mask=m))
        t = side_by_side(
            {
                "ours": lambda ours=ours, mask=mask: ours(x, mask),
                "keras": lambda theirs=theirs, mask=mask: theirs(x, mask),
            },
            repeat,
        )
        pair(
            f"tf_impl.lstm, {name} mask, tf.function",
            t["ours"],
            "keras.layers.LSTM, tf.function",
            t["keras"],
            1.3,
        )
    mask = tf.constant(data["post"])
    t = side_by_side(
        {
            "ours": lambda: tf_impl.lstm(x, mask, *weights, return_sequences=True),
            "keras": lambda: layer(x, mask=mask),
        },
        max(2, repeat // 3),
    )
    pair("tf_impl.lstm, post mask, eager", t["ours"], "keras.layers.LSTM, eager", t["keras"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", choices=["torch", "tf"])
    parser.add_argument("--threads", type=int, help="torch threads (one is steadier when shared)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    data = make_inputs(np.random.default_rng(0))
    print(f"batch {B} x {T} steps x {F} features -> {U} units, float32")
    if args.only in (None, "torch"):
        bench_torch(data, args.repeat)
    if args.only in (None, "tf"):
        bench_tf(data, args.repeat)
    print("\ntargets:")
    for what, ratio, limit in TARGETS:
        verdict = "met" if ratio <= limit else "MISSED"
        print(f"  {verdict:<6} {ratio:5.2f}x <= {limit}x   {what}")


if __name__ == "__main__":
    main()
