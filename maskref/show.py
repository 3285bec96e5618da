"""Masks as text: padded batches, attention masks and sequence layouts for a terminal.

Pure NumPy (the layouts call :mod:`reference`, which is NumPy too). Masks are
boolean with ``True`` = valid, as everywhere in maskref. The ``maskref show``
command prints these renderings; :mod:`reference.plot` draws the same
pictures with matplotlib and takes its layouts from :func:`compute_layouts`,
so the text and the pictures show one set of numbers.

>>> print(render_batch([[1, 2, 3], [0, 4, 5]], [[True, True, True], [False, True, True]]))
    t=0 t=1 t=2  mask
b=0   1   2   3  ███
b=1 ░░0   4   5  ·██
░ masked step (mask False)   mask: █ valid · masked
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from maskref.api.checks import (
    check_data,
    check_int,
    check_mask_dtype,
    check_mask_shape,
    check_numeric,
)

#: The characters of a rendering: a masked cell's fill, a valid and a masked mask entry.
SHADE, VALID, MASKED = "░", "█", "·"


def format_value(value: object) -> str:
    """One array element as short text: ints as they are, floats with 3 significant digits,
    bools as T/F, and ``nan``, ``inf``, ``-inf`` spelled out (shared with :mod:`reference.plot`).

    >>> [format_value(v) for v in np.array([1.5, np.nan, -np.inf, 1234.5])]
    ['1.5', 'nan', '-inf', '1.23e+03']
    """
    if isinstance(value, (bool, np.bool_)):
        return "T" if value else "F"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    number = float(value)  # type: ignore[arg-type]
    if np.isnan(number):
        return "nan"
    if np.isinf(number):
        return "inf" if number > 0 else "-inf"
    return f"{number:.3g}"


# --- validation shared with reference.plot -----------------------------------------------------


def batch_values(x: object, mask: object = None) -> tuple[np.ndarray, np.ndarray | None, str]:
    """``x`` (B, T) or (B, T, F) as the (B, T) values to show, the (B, T) mask (or None),
    and a note saying which feature is shown for 3-D data ("" for 2-D).

    ``mask`` must be boolean with a shape that is a leading prefix of ``x``'s: (B,), (B, T)
    or (B, T, F); a 3-D mask is shown at the same feature as ``x``.
    """
    check_data(x, "x")
    arr = np.asarray(x)
    check_numeric(arr.dtype.name, "x")
    if arr.ndim not in (2, 3):
        raise ValueError(f"x must be (B, T) or (B, T, F), got shape {arr.shape}")
    note = ""
    if arr.ndim == 3:
        if arr.shape[2] == 0:
            raise ValueError(f"x has no feature to show, got shape {arr.shape}")
        note = f"x[..., 0], feature 0 of {arr.shape[2]}"
        values = arr[..., 0]
    else:
        values = arr
    if mask is None:
        return values, None, note
    m = np.asarray(mask)
    check_mask_dtype(m.dtype.name, "mask")
    check_mask_shape(m.shape, arr.shape, "mask", "x")
    if m.ndim == 3:
        m = m[..., 0]
    elif m.ndim == 1:  # a whole sequence is valid or not
        m = np.broadcast_to(m[:, None], values.shape)
    return values, np.asarray(m, dtype=bool), note


def attention_panels(mask: object) -> list[tuple[str, np.ndarray]]:
    """A (L, S), (B, L, S) or (B, H, L, S) boolean mask as labelled (L, S) panels."""
    check_data(mask, "mask")
    m = np.asarray(mask)
    check_mask_dtype(m.dtype.name, "mask")
    if m.ndim == 2:
        return [("", m)]
    if m.ndim == 3:
        return [(f"b={b}", m[b]) for b in range(m.shape[0])]
    if m.ndim == 4:
        return [(f"b={b}, h={h}", m[b, h]) for b in range(m.shape[0]) for h in range(m.shape[1])]
    raise ValueError(f"mask must be (L, S), (B, L, S) or (B, H, L, S), got shape {m.shape}")


# --- layouts -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Layouts:
    """One list of sequences in every layout, each computed by :mod:`reference`."""

    lengths: np.ndarray  #: (B,) steps kept per sequence (after maxlen truncation)
    pre: np.ndarray  #: (B, T) pad_sequences(padding="pre"), Keras's default
    pre_mask: np.ndarray  #: (B, T) sequence_mask(lengths, T, padding="pre")
    post: np.ndarray  #: (B, T) pad_sequences(padding="post"), PyTorch's pad_sequence
    post_mask: np.ndarray  #: (B, T) sequence_mask(lengths, T)
    values: np.ndarray  #: (N,) ragged_from_padded(post, post_mask): every valid step in order
    row_splits: np.ndarray  #: (B + 1,) where each sequence starts in ``values``
    data: np.ndarray  #: (N,) pack_sequences(post, lengths).data, time-major
    batch_sizes: np.ndarray  #: (T',) sequences that have step t
    sorted_indices: np.ndarray  #: (B,) the packed order of the sequences (longest first)
    data_rows: np.ndarray  #: (N,) which sequence each element of ``data`` comes from
    data_steps: np.ndarray  #: (N,) which step each element of ``data`` is
    cu_seqlens: np.ndarray  #: (B + 1,) unpad(post, post_mask): varlen offsets
    max_seqlen: int  #: the longest sequence (unpad's 4th result)
    segment_ids: np.ndarray  #: (N,) segment_ids_from_lengths([lengths], N)[0]: sequence b -> b+1

    @property
    def maxlen(self) -> int:
        return int(self.pre.shape[1])


def _sequence_list(sequences: object) -> list[np.ndarray]:
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__iter__"):
        raise TypeError(f"sequences must be a list of sequences, got {type(sequences).__name__}")
    arrays = [np.asarray(s) for s in sequences]  # type: ignore[attr-defined]
    if not arrays:
        raise ValueError("sequences must hold at least one sequence, got none")
    for i, a in enumerate(arrays):
        if a.ndim != 1:
            raise ValueError(f"sequences[{i}] must be 1-D (a list of numbers), got shape {a.shape}")
        if a.size:
            check_numeric(a.dtype.name, f"sequences[{i}]")
    return arrays


def compute_layouts(sequences: object, *, maxlen: int | None = None, value: Any = 0) -> Layouts:
    """The layouts of ``sequences`` (a list of 1-D number lists): pre- and post-padded
    (``reference.pad_sequences`` with ``maxlen``, ``value`` and Keras's default
    ``truncating="pre"``), ragged, packed and varlen, the last three built from the
    post-padded batch, so every layout holds the same (possibly truncated) steps.
    The dtype is the sequences' and ``value``'s common one.

    >>> lay = compute_layouts([[1, 2, 3], [4, 5], [6]])
    >>> lay.row_splits, lay.data, lay.batch_sizes, lay.segment_ids
    (array([0, 3, 5, 6]), array([1, 4, 6, 2, 5, 3]), array([3, 2, 1]), array([1, 1, 1, 2, 2, 3]))
    """
    import reference  # NumPy alone; imported here so that reference can import this module

    arrays = _sequence_list(sequences)
    dtypes = [a.dtype for a in arrays if a.size] or [np.dtype("int64")]
    dtype = np.result_type(*dtypes, value).name
    pre = reference.pad_sequences(arrays, maxlen, dtype=dtype, padding="pre", value=value)
    post = reference.pad_sequences(arrays, maxlen, dtype=dtype, padding="post", value=value)
    steps = int(pre.shape[1])
    lengths = np.minimum([a.size for a in arrays], steps).astype(np.int64)
    pre_mask = reference.sequence_mask(lengths, steps, padding="pre")
    post_mask = reference.sequence_mask(lengths, steps, padding="post")
    values, row_splits = reference.ragged_from_padded(post, post_mask)
    packed = reference.pack_sequences(post, lengths)
    # data holds step 0 of the first batch_sizes[0] sorted rows, then step 1, ...
    rows = [packed.sorted_indices[: int(n)] for n in packed.batch_sizes]
    data_rows = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)
    data_steps = np.repeat(np.arange(len(rows)), [len(r) for r in rows])
    _, _, cu_seqlens, max_seqlen = reference.unpad(post, post_mask)
    total = int(lengths.sum())
    segment_ids = reference.segment_ids_from_lengths([lengths.tolist()], total)[0]
    return Layouts(
        lengths=lengths,
        pre=pre,
        pre_mask=pre_mask,
        post=post,
        post_mask=post_mask,
        values=values,
        row_splits=np.asarray(row_splits),
        data=packed.data,
        batch_sizes=np.asarray(packed.batch_sizes),
        sorted_indices=np.asarray(packed.sorted_indices),
        data_rows=data_rows,
        data_steps=data_steps,
        cu_seqlens=np.asarray(cu_seqlens),
        max_seqlen=int(max_seqlen),
        segment_ids=np.asarray(segment_ids),
    )


# --- rendering ---------------------------------------------------------------------------------


def _keep_columns(count: int, fits: Callable[[list[int | None]], bool]) -> list[int | None]:
    """All column indices, or the first and last ones around a None (an ellipsis) when the
    whole row does not fit."""
    every: list[int | None] = list(range(count))
    if fits(every):
        return every
    for shown in range(count - 1, 0, -1):
        head = (shown + 1) // 2
        cols: list[int | None] = [*range(head), None, *range(count - (shown - head), count)]
        if fits(cols):
            return cols
    return [None]


def render_batch(x: object, mask: object = None, *, width: int | None = None) -> str:
    """A padded batch as text: one line per sequence, one column per step.

    ``x`` is (B, T) or (B, T, F) (a 3-D batch shows each step's first feature,
    ``x[..., 0]``, and says so). With a boolean ``mask`` (True = valid; shape (B,),
    (B, T) or x's shape) a masked cell's value is left-filled with ``░`` and
    the mask follows each line as ``█`` (valid) / ``·`` (masked). ``width``
    caps the line length: middle steps give way to a ``…`` column.

    >>> print(render_batch([[1.5, np.nan]], [[True, False]]))
         t=0  t=1  mask
    b=0  1.5 ░nan  █·
    ░ masked step (mask False)   mask: █ valid · masked
    >>> print(render_batch(np.arange(12).reshape(1, 12), width=26))
         t=0  t=1 … t=10 t=11
    b=0    0    1 …   10   11
    """
    values, m, note = batch_values(x, mask)
    if width is not None:
        width = check_int(width, "width", minimum=1)
    batch, steps = values.shape
    text = [[format_value(v) for v in row] for row in values]
    heads = [f"t={t}" for t in range(steps)]
    # With a mask, one fill character at least: a masked value never looks like a valid one.
    fill = 0 if m is None else 1
    cell = max([len(s) for s in heads] + [len(s) + fill for row in text for s in row], default=0)
    label = max([len(f"b={b}") for b in range(batch)] + [len("b=0")])

    def cells(strings: list[str], shades: list[bool], cols: list[int | None]) -> str:
        return "".join(
            " …" if c is None else " " + strings[c].rjust(cell, SHADE if shades[c] else " ")
            for c in cols
        )

    def marks(row: np.ndarray, cols: list[int | None]) -> str:
        return "".join("…" if c is None else VALID if row[c] else MASKED for c in cols)

    def lines(cols: list[int | None]) -> list[str]:
        tail = "  mask" if m is not None else ""
        out = [" " * label + cells(heads, [False] * steps, cols) + tail]
        for b in range(batch):
            shaded = [False] * steps if m is None else [not v for v in m[b]]
            line = f"b={b}".ljust(label) + cells(text[b], shaded, cols)
            out.append(line + ("  " + marks(m[b], cols) if m is not None else ""))
        return out

    def fits(cols: list[int | None]) -> bool:
        return width is None or max(len(line) for line in lines(cols)) <= width

    out = lines(_keep_columns(steps, fits))
    if note:
        out.insert(0, f"(cells show {note})")
    if m is not None:
        out.append(f"{SHADE} masked step (mask False)   mask: {VALID} valid {MASKED} masked")
    return "\n".join(line.rstrip() for line in out)


def _mask_grid(mask: np.ndarray, corner: str, rows: str = "") -> list[str]:
    """A 2-D boolean mask as ``█``/``·`` with row and column numbers; rows without a True
    entry are marked (``rows`` names what such a row has none of)."""
    height, width = mask.shape
    col = max(len(str(width - 1)), 1)
    label = max(len(corner), len(str(max(height - 1, 0))))
    out = [corner.rjust(label) + " " + " ".join(str(j).rjust(col) for j in range(width))]
    for i in range(height):
        line = str(i).rjust(label) + " " + " ".join((VALID if v else MASKED) * col for v in mask[i])
        if rows and not mask[i].any():
            line += f"  (no {rows})"
        out.append(line)
    return out


def render_attention_mask(mask: object) -> str:
    """A boolean attention mask as text: queries as rows, keys as columns, ``█`` where the
    query may attend to the key (True) and ``·`` where it may not. A (B, L, S) or
    (B, H, L, S) mask gives one block per row (and head). Query rows that may attend to
    no key at all (a softmax over nothing) are marked ``(no key)``.

    >>> print(render_attention_mask(np.tri(3, dtype=bool)))
    q\\k 0 1 2
      0 █ · ·
      1 █ █ ·
      2 █ █ █
    █ may attend (True)   · masked (False)
    """
    out: list[str] = []
    for name, panel in attention_panels(mask):
        if name:
            out += ([""] if out else []) + [f"{name}:"]
        out += _mask_grid(panel, "q\\k", rows="key")
    out.append(f"{VALID} may attend (True)   {MASKED} masked (False)")
    return "\n".join(out)


def _joined(values: np.ndarray, splits: np.ndarray) -> str:
    """``values`` as ``[1 2 3 | 4 5 | 6]``, a bar at each inner split."""
    parts = [
        " ".join(format_value(v) for v in values[int(a) : int(b)])
        for a, b in itertools.pairwise(splits)
    ]
    return "[" + " | ".join(parts) + "]"


def _ints(values: np.ndarray) -> str:
    return "[" + ", ".join(str(int(v)) for v in values) + "]"


def render_layouts(sequences: object, *, maxlen: int | None = None, value: Any = 0) -> str:
    """The same sequences in each layout as text: pre-padded (Keras), post-padded
    (PyTorch ``pad_sequence``), ragged (values + row_splits), packed (PyTorch
    ``PackedSequence``: time-major data + batch_sizes) and varlen (values +
    cu_seqlens, segment ids), each computed by :func:`compute_layouts`.

    >>> print(render_layouts([[1, 2], [3]]).splitlines()[-4])
      values      = [1 2 | 3]
    """
    lay = compute_layouts(sequences, maxlen=maxlen, value=value)
    step_splits = np.concatenate([[0], np.cumsum(lay.batch_sizes)])
    identity = np.array_equal(lay.sorted_indices, np.arange(lay.lengths.size))
    sorted_note = "" if identity else "   (rows longest first)"
    lines = [
        f"lengths {_ints(lay.lengths)}, T = {lay.maxlen}",
        "",
        "pre-padded (Keras pad_sequences, padding='pre'):",
        render_batch(lay.pre, lay.pre_mask).rsplit("\n", 1)[0],
        "",
        "post-padded (PyTorch pad_sequence, padding='post'):",
        render_batch(lay.post, lay.post_mask).rsplit("\n", 1)[0],
        "",
        "ragged (values + row_splits):",
        f"  values     = {_joined(lay.values, lay.row_splits)}",
        f"  row_splits = {_ints(lay.row_splits)}",
        "",
        "packed (PyTorch PackedSequence: time-major data + batch_sizes):",
        f"  data           = {_joined(lay.data, step_splits)}   (step 0 | step 1 | ...)",
        f"  batch_sizes    = {_ints(lay.batch_sizes)}",
        f"  sorted_indices = {_ints(lay.sorted_indices)}{sorted_note}",
        "",
        "varlen (FlashAttention: concatenated values + cu_seqlens):",
        f"  values      = {_joined(lay.values, lay.cu_seqlens)}",
        f"  cu_seqlens  = {_ints(lay.cu_seqlens)}   max_seqlen = {lay.max_seqlen}",
        f"  segment_ids = {_joined(lay.segment_ids, lay.cu_seqlens)}",
        f"{SHADE} padding (mask False)   mask: {VALID} valid {MASKED} padding",
    ]
    return "\n".join(lines)


# --- the `maskref show` command ----------------------------------------------------------------


def _json_sequences(text: str) -> list[list[Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not JSON ({error.msg}): {text!r}") from None
    ok = isinstance(data, list) and all(
        isinstance(s, list)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in s)
        for s in data
    )
    if not ok or not data:
        raise argparse.ArgumentTypeError(
            f"expected a JSON list of lists of numbers such as [[1,2,3],[4,5]], got {text!r}"
        )
    return data


def _count(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {value}")
    return value


def _lengths(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",")]
    if not parts or not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated lengths >= 0 such as 3,2, got {text!r}"
        )
    return [int(p) for p in parts]


def add_show_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``maskref show`` (``cli.py`` creates the subparser)."""
    p.add_argument(
        "sequences",
        nargs="?",
        type=_json_sequences,
        metavar="SEQUENCES",
        help='a JSON list of sequences, e.g. "[[1,2,3],[4,5],[6]]": padded with '
        "reference.pad_sequences and printed with its mask",
    )
    p.add_argument("--padding", choices=("pre", "post"), default="pre", help="default: pre")
    p.add_argument(
        "--maxlen", type=lambda t: _count(t, 0), metavar="N", help="pad or truncate to N steps"
    )
    p.add_argument(
        "--layouts",
        action="store_true",
        help="print SEQUENCES in every layout: pre, post, ragged, packed, varlen",
    )
    p.add_argument(
        "--causal",
        type=lambda t: _count(t, 1),
        metavar="N",
        help="print the (N, N) causal attention mask (with --lengths: T = N, and causal)",
    )
    p.add_argument(
        "--lengths",
        type=_lengths,
        metavar="L1,L2,...",
        help="print sequence_mask(lengths) and the padding attention mask of each sequence",
    )
    p.add_argument(
        "--width",
        type=lambda t: _count(t, 1),
        metavar="COLUMNS",
        help="cap a batch's line length (middle steps become …)",
    )
    p.set_defaults(show_error=p.error)


def run_show(args: argparse.Namespace) -> int:
    """``maskref show``: bad input goes to argparse's error (message, exit status 2)."""
    error: Callable[[str], Any] = args.show_error
    masks = args.causal is not None or args.lengths is not None
    if args.sequences is None and not masks:
        error("give SEQUENCES (a JSON list), --causal N or --lengths L1,L2,...")
    if args.sequences is not None and masks:
        error("SEQUENCES cannot be combined with --causal or --lengths")
    if args.layouts and args.sequences is None:
        error("--layouts needs SEQUENCES")
    try:
        print(_show_text(args))
    except (ValueError, TypeError) as problem:
        error(str(problem))
    return 0


def _show_text(args: argparse.Namespace) -> str:
    import reference

    if args.sequences is not None:
        if args.layouts:
            return render_layouts(args.sequences, maxlen=args.maxlen)
        lay = compute_layouts(args.sequences, maxlen=args.maxlen)
        x, m = (lay.pre, lay.pre_mask) if args.padding == "pre" else (lay.post, lay.post_mask)
        head = f"pad_sequences(padding={args.padding!r}): x {x.shape}, lengths {_ints(lay.lengths)}"
        return head + "\n" + render_batch(x, m, width=args.width)
    if args.lengths is None:
        mask = reference.causal_mask(args.causal)
        return f"causal_mask({args.causal}): {mask.shape}\n" + render_attention_mask(mask)
    steps = max(args.lengths) if args.causal is None else args.causal
    if max(args.lengths) > steps:
        raise ValueError(f"--lengths {max(args.lengths)} is longer than --causal {steps}")
    seq = reference.sequence_mask(np.asarray(args.lengths, np.int64), steps)
    causal = args.causal is not None
    attn = reference.attention_mask(seq, seq, causal=causal)
    call = "attention_mask(m, m" + (", causal=True)" if causal else ")")
    return "\n".join(
        [
            f"m = sequence_mask({_ints(np.asarray(args.lengths))}, {steps}): {seq.shape}",
            *_mask_grid(seq, "b\\t"),
            "",
            f"{call}: {attn.shape}, queries as rows, keys as columns",
            render_attention_mask(attn),
        ]
    )
