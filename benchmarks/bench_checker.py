"""The time of a full padding-invariance check on a ~1M-parameter model, batch 16 x 128.

Models: a PyTorch ``nn.TransformerEncoder`` over an embedding (4 layers, width
128, about 0.93M parameters; mask as ``src_key_padding_mask``), and a Keras
``Embedding(mask_zero=True) -> LSTM -> Dense`` classifier (about 1.0M
parameters; implicit mask). Ids with random lengths 1..128 (one row full).
All six checks with gradients and shrinking, both padding sides. Prints the
wall-clock and CPU seconds, the number of model runs and each check's status.

Target: under 10 s per model on a 2-core machine. This is a benchmark, not a
test: it prints figures and never fails.

Run: ``python benchmarks/bench_checker.py [--only torch|keras] [--threads N]``
(torch's default number of threads unless ``--threads``; one thread is steadier
on a shared machine).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
import warnings

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from maskref.testing import check_padding_invariance


def batch(vocab: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 129, 16)
    lengths[0] = 128
    mask = np.arange(128)[None, :] < lengths[:, None]
    ids = rng.integers(1, vocab, (16, 128))
    ids[~mask] = 0
    return ids, mask


def torch_model():
    import torch
    from torch import nn

    torch.manual_seed(0)

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(1000, 128)
            layer = nn.TransformerEncoderLayer(128, 4, 512, dropout=0.0, batch_first=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                self.enc = nn.TransformerEncoder(layer, 4)
            self.out = nn.Linear(128, 8)

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return self.out(self.enc(self.emb(ids), src_key_padding_mask=~mask))

    model = Encoder()
    return model, batch(1000), {"mask_arg": "mask"}


def keras_model():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(5000, 128, mask_zero=True),
            keras.layers.LSTM(256),
            keras.layers.Dense(8),
        ]
    )
    return model, batch(5000), {}


def count(model) -> int:
    if hasattr(model, "count_params"):
        return int(model.count_params())
    return sum(p.numel() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("torch", "keras"))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    builders = {"torch": (torch_model, "torch"), "keras": (keras_model, "keras")}
    for name, (build, module) in builders.items():
        if args.only not in (None, name) or importlib.util.find_spec(module) is None:
            continue
        if name == "torch" and args.threads:
            import torch

            torch.set_num_threads(args.threads)
        model, data, options = build()
        check_padding_invariance(model, data, checks=["one_by_one"], shrink=False, **options)
        wall, cpu = time.perf_counter(), time.process_time()
        report = check_padding_invariance(model, data, **options)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"{name}: {count(model):,} parameters, batch {data[0].shape}: "
            f"{wall:.1f} s wall, {cpu:.1f} s CPU, {report.runs} model runs"
        )
        print("   " + ", ".join(f"{k} {v}" for k, v in report.statuses.items()))


if __name__ == "__main__":
    main()
