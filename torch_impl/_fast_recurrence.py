"""The packed fast path of the built-in recurrent layers: PyTorch's own fused kernels.

Gate (:func:`usable`): a built-in cell PyTorch has (LSTM, GRU with
``reset_after=True``, tanh RNN), at least one row and one step. Any mask goes:

1. with ``go_backwards`` the steps are reversed first (processing order);
   masked steps are never read (packing skips them: NaN/inf there reach
   nothing, and their gradient is exactly 0);
2. unless the mask is post-padded already, each row's valid steps are moved
   to its front, in order (a stable sort of the mask: pre-padding and holes),
   by the same gather that packs them;
3. the rows are packed (``pack_padded_sequence``'s layout, lengths ``sum(mask)``,
   built directly by :class:`_Layout`; an empty row is packed with one step of
   zeros, whose result is discarded) and run by
   ``torch.lstm``/``torch.gru``/``torch.rnn_tanh`` (what ``nn.LSTM`` calls,
   cuDNN on a GPU, PyTorch's native kernel on the CPU: see
   :func:`_native_cpu_kernel`), both directions in one call for ``bidirectional``;
4. the outputs go back to their steps: a valid step's own output, at a masked
   step the last valid output before it (carried; the initial h before the
   first one) or 0 (``zero_output_for_mask``), and empty rows get their
   initial states back (``torch.where``).

Since every valid step sees exactly the steps before it in processing order,
this is the rule of :func:`maskref.api.recurrence.rnn`. The backward direction
of a packed bidirectional run starts at each row's last valid step: Keras's
``Bidirectional`` rule.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, cast

import torch

from maskref.api.recurrence import STATES, gru_gate_order

_OPS: dict[str, Callable[..., Any]] = {
    "lstm": torch.lstm,
    "gru": torch.gru,
    "simple_rnn": torch.rnn_tanh,
}


def usable(kind: str, x: torch.Tensor, reset_after: bool = True) -> bool:
    """Whether the packed path computes ``kind`` on ``x`` (``(B, T, D)``, compute dtype)."""
    return (
        (kind != "gru" or reset_after)
        and x.shape[0] > 0
        and x.shape[1] > 0
        and x.dtype in (torch.float32, torch.float64)
    )


def torch_parameters(
    kind: str, kernel: torch.Tensor, recurrent_kernel: torch.Tensor, bias: torch.Tensor | None
) -> list[torch.Tensor]:
    """Keras-layout weights as ``[weight_ih, weight_hh(, bias_ih, bias_hh)]`` (differentiable;
    views where no gate moves)."""
    if kind == "gru":
        order = torch.as_tensor(gru_gate_order(recurrent_kernel.shape[0]), device=kernel.device)
        kernel, recurrent_kernel = kernel[:, order], recurrent_kernel[:, order]
        if bias is not None:
            return [kernel.T, recurrent_kernel.T, bias[0, order], bias[1, order]]
    if bias is None:
        return [kernel.T, recurrent_kernel.T]
    return [kernel.T, recurrent_kernel.T, bias, torch.zeros_like(bias)]


@contextlib.contextmanager
def _native_cpu_kernel(x: torch.Tensor) -> Iterator[None]:
    """On the CPU, PyTorch's native RNN kernel for packed rows instead of oneDNN's, which
    builds primitives for the batch sizes of the packed steps: 40x slower on small
    batches of new shapes (3.5 ms against 0.08 ms a call here), no faster at 64 x 256 x
    128 (20 ms both), and 3-4x slower there when the machine is loaded. The switch
    (``torch.backends.mkldnn.enabled``, process-wide) is restored at once; it changes no
    result, and the backward pass follows the forward's kernel."""
    if x.device.type != "cpu":
        yield
        return
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False  # type: ignore[assignment]  # stubs: ContextProp
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before


def _post_padded(mask: torch.Tensor, lengths: torch.Tensor) -> bool:
    steps = torch.arange(mask.shape[1], device=mask.device)
    return bool(torch.equal(mask, steps < lengths[:, None]))


def run(
    kind: str,
    x: torch.Tensor,
    mask: torch.Tensor | None,
    parameters: list[list[torch.Tensor]],
    initial_state: list[torch.Tensor] | None,
    go_backwards: bool,
    zero_output_for_mask: bool,
    return_sequences: bool,
) -> tuple[torch.Tensor | None, list[torch.Tensor], list[list[torch.Tensor]]]:
    """``(outputs or None, last outputs per direction, final states per direction)``.

    ``x`` ``(B, T, D)`` in the compute dtype; ``parameters`` one list per direction
    (two: bidirectional, the second one reading the valid steps last to first);
    ``initial_state`` the states of every direction in turn, or None (zeros).
    Outputs are ``(B, T, directions * H)``, the backward half in input time order.
    """
    batch, steps = x.shape[:2]
    directions = len(parameters)
    units = parameters[0][1].shape[1]
    if go_backwards:
        x = x.flip(1)
        mask = None if mask is None else mask.flip(1)
    empty, order, rank = None, None, None
    if mask is None:
        lengths = torch.full((batch,), steps, dtype=torch.int64, device=x.device)
    else:
        lengths = mask.sum(dim=1)
        if not _post_padded(mask, lengths):
            order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
            rank = mask.cumsum(dim=1) - 1  # a step's place among the valid ones
        if bool((lengths == 0).any()):  # packed with one step, of zeros
            empty = lengths == 0
            lengths = lengths.clamp(min=1)
            x = torch.where(empty[:, None, None], torch.zeros((), dtype=x.dtype), x)
    layout = _Layout(lengths, order, steps)
    count = STATES[kind]
    if initial_state is None:
        zeros = x.new_zeros(directions, batch, units)
        hx = [zeros] * count
    else:
        hx = [
            torch.stack([initial_state[d * count + i] for d in range(directions)])
            for i in range(count)
        ]
    hx_sorted = [h.index_select(1, layout.sorted_indices) for h in hx]
    flat = [p for direction in parameters for p in direction]
    data = x.reshape(batch * steps, x.shape[2]).index_select(0, layout.source)
    with _native_cpu_kernel(x):
        result = _OPS[kind](
            data,
            layout.batch_sizes,
            tuple(hx_sorted) if kind == "lstm" else hx_sorted[0],
            flat,
            len(parameters[0]) == 4,
            1,
            0.0,
            False,
            directions == 2,
        )
    finals = [f.index_select(1, layout.unsorted_indices) for f in result[1:]]
    # h_n is each row's last output: the last valid one
    lasts = [finals[0][d] for d in range(directions)]
    if empty is not None:  # no valid step: the initial state's output (h0)
        lasts = [torch.where(empty[:, None], hx[0][d], last) for d, last in enumerate(lasts)]
    outputs = None
    if return_sequences:
        out, zero = result[0], torch.zeros((), dtype=x.dtype, device=x.device)
        board = out.new_zeros(batch * steps, out.shape[1])  # filled in place (no copy)
        if rank is None or zero_output_for_mask or directions == 2:
            # each valid step's output at its own step; 0 at masked steps
            outputs = board.index_copy_(0, layout.source, out).view(batch, steps, -1)
            if empty is not None:  # the one packed step of an empty row
                # empty rows come from a mask
                outputs = torch.where(cast(torch.Tensor, mask)[:, :, None], outputs, zero)
            if mask is not None and not zero_output_for_mask and directions == 1:
                outputs = torch.where(mask[:, :, None], outputs, lasts[0][:, None, :])
        else:  # carried: the output at each step's rank among the valid ones, h0 before
            outputs = board.index_copy_(0, layout.packed, out).view(batch, steps, -1)
            outputs = outputs.gather(1, rank.clamp(min=0)[:, :, None].expand(outputs.shape))
            outputs = torch.where((rank >= 0)[:, :, None], outputs, hx[0][0][:, None, :])
    states = [[f[d] for f in finals] for d in range(directions)]
    if empty is not None:
        for d in range(directions):
            for i in range(count):
                states[d][i] = torch.where(empty[:, None], hx[i][d], states[d][i])
    return outputs, lasts, states


class _Layout:
    """Where packed rows come from: ``pack_padded_sequence``'s layout (rows by decreasing
    length, time-major), built directly, so that one ``index_select`` packs ``x`` (moving
    the valid steps of pre-padded rows and rows with holes to the front on the way) and
    one ``index_copy`` puts the outputs back: no sorted copy of the batch, no padded copy
    to reorder.

    ``source``: for each packed element, its row-major index ``row * T + t`` in ``x``
    (``t`` the element's own step); ``packed``: the same with ``t`` its place among the
    row's valid steps; ``batch_sizes`` (on the CPU), ``sorted_indices`` and
    ``unsorted_indices`` as in a ``PackedSequence``.
    """

    def __init__(self, lengths: torch.Tensor, order: torch.Tensor | None, steps: int) -> None:
        batch = lengths.shape[0]
        sorted_lengths, self.sorted_indices = torch.sort(lengths, descending=True, stable=True)
        self.unsorted_indices = torch.empty_like(self.sorted_indices)
        self.unsorted_indices[self.sorted_indices] = torch.arange(batch, device=lengths.device)
        longest = int(sorted_lengths[0])
        valid = torch.arange(longest, device=lengths.device)[:, None] < sorted_lengths[None, :]
        t, j = valid.nonzero(as_tuple=True)  # time-major, as packed
        rows = self.sorted_indices[j]
        self.batch_sizes = valid.sum(dim=1).cpu()
        self.packed = rows * steps + t
        self.source = self.packed if order is None else rows * steps + order[rows, t]
