"""An example for ``maskref check``: an LSTM classifier over padded feature sequences.

    maskref check examples/check_lstm.py               # packed: every check passes (exit 0)
    maskref check examples/check_lstm.py:make_unpacked # padding reaches h_n: exit status 1
    maskref check examples/check_lstm.py --format json

``make_model()`` returns ``(model, batch, options)``: the model, an example batch
``(x, mask)`` (post-padded float features and a bool mask, True = valid) and keyword
arguments of ``maskref.testing.check_padding_invariance``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class Classifier(nn.Module):
    """Class scores from the LSTM's last state; ``forward(x, mask)``, mask True = valid."""

    def __init__(self, features: int = 8, hidden: int = 16, classes: int = 3, packed: bool = True):
        super().__init__()
        self.packed = packed
        self.lstm = nn.LSTM(features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.packed:
            # packing needs a length >= 1: an empty row runs one step, zeroed below
            lengths = mask.sum(-1).clamp(min=1).cpu()
            seq = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            _, (h, _) = self.lstm(seq)
        else:
            _, (h, _) = self.lstm(x)  # h_n is the state after the padded steps too
        scores = self.head(h[-1])
        return torch.where(mask.any(-1, keepdim=True), scores, torch.zeros((), dtype=scores.dtype))


def _batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    lengths = np.array([12, 5, 9, 1, 7, 12, 3, 10])
    mask = np.arange(12)[None, :] < lengths[:, None]
    x = rng.standard_normal((8, 12, 8)).astype(np.float32)
    x[~mask] = 0.0
    return x, mask


def make_model():
    torch.manual_seed(0)
    # pack_padded_sequence reads the valid steps first: right padding only
    return Classifier(), _batch(), {"mask_arg": "mask", "padding_sides": ("post",)}


def make_unpacked():
    torch.manual_seed(0)
    return Classifier(packed=False), _batch(), {"mask_arg": "mask", "padding_sides": ("post",)}
