"""Masks as pictures: padded batches, attention masks, sequence layouts and Keras mask flow.

Optional: needs matplotlib (``pip install -c constraints.txt "maskref[plot]"``);
``import reference`` never loads it, ``import reference.plot`` does. Every
function returns a :class:`matplotlib.figure.Figure` built with the object API
(no pyplot, so no window opens and any backend works); save it with
``fig.savefig("batch.png", dpi=150)`` or show it in a notebook. Masks are
boolean, ``True`` = valid, as everywhere in maskref.

>>> fig = plot_batch([[1, 2, 3], [4, 5, 0]], [[True, True, True], [True, True, False]])
>>> fig.axes[0].get_title()
'padded batch (B=2, T=3)'
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

try:
    import matplotlib  # noqa: F401  (the optional extra; checked first for a clear message)
    from matplotlib.axes import Axes
    from matplotlib.colors import ListedColormap, to_rgb
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyBboxPatch, Patch, Rectangle
    from matplotlib.ticker import MaxNLocator
except ImportError as error:  # pragma: no cover - the test extra installs matplotlib
    raise ImportError(
        "reference.plot draws with matplotlib, which is not installed: "
        'pip install -c constraints.txt "maskref[plot]"'
    ) from error

from maskref.api.checks import check_data
from maskref.show import Layouts, attention_panels, batch_values, compute_layouts, format_value

__all__ = ["plot_attention_mask", "plot_batch", "plot_flow", "plot_layouts"]

#: Inches per cell of a grid.
CELL = 0.42
#: Colours shared by every picture: a valid step, padding (masked), NaN and ±inf.
VALID = "#cfe2f3"
PADDING = "#ececec"
NAN = "#f4a3a3"
INF = "#ffd27f"
EDGE = "#8c8c8c"  # also the colour of the padding hatch (matplotlib hatches in the edge colour)
HATCH = "///"
TEXT = "#1b1b1b"
DIM = "#707070"
ATTEND = "#3b75af"
EMPTY_ROW = "#c62828"
#: Grids with more cells than this are drawn without their values (unreadable anyway).
MAX_ANNOTATED = 600
#: At most this many panels of a batched attention mask (rows x heads).
MAX_ROWS, MAX_HEADS = 4, 4


def _root(ax: Axes) -> Figure:
    """The figure that holds ``ax`` (the top one when ``ax`` sits in a subfigure)."""
    fig: Any = ax.figure
    return fig.figure  # a SubFigure's figure is the top Figure; a Figure's is itself


def _check_ax(ax: object) -> None:
    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")


def _light(color: str, amount: float = 0.55) -> tuple[float, float, float]:
    """``color`` mixed with white (``amount`` of white), for cell faces that keep text legible."""
    r, g, b = to_rgb(color)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def _sequence_color(b: int) -> tuple[float, float, float]:
    return _light(f"C{b % 10}", 0.6)


def _cell(
    ax: Axes,
    x: float,
    y: float,
    text: str,
    face: Any,
    *,
    hatch: str | None = None,
    gid: str | None = None,
    color: str = TEXT,
    fontsize: float = 9,
    bold: bool = False,
) -> Rectangle:
    """One unit cell at (x, y) (y grows downwards) with its text centred."""
    rect = Rectangle((x, y), 1, 1, facecolor=face, edgecolor=EDGE, linewidth=0.8, hatch=hatch)
    if gid:
        rect.set_gid(gid)
    ax.add_patch(rect)
    if text:
        ax.text(
            x + 0.5,
            y + 0.5,
            text,
            ha="center",
            va="center",
            color=color,
            fontsize=fontsize,
            fontweight="bold" if bold else "normal",
            # A padding cell's value sits on a small white label so the hatch stays readable.
            bbox=dict(boxstyle="square,pad=0.08", fc="white", ec="none") if hatch else None,
        )
    return rect


def _fontsize(texts: Sequence[str]) -> float:
    longest = max((len(t) for t in texts), default=0)
    return 9.0 if longest <= 4 else 7.5 if longest <= 6 else 6.0


def _new_axes(width: float, height: float) -> Axes:
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig.add_subplot()


# --- plot_batch --------------------------------------------------------------------------------


def plot_batch(
    x: object,
    mask: object = None,
    *,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Draw a padded batch as a grid: one row per sequence, one column per step.

    Each cell shows its value. With a boolean ``mask`` (True = valid; shape
    (B,), (B, T) or x's own shape, a leading prefix of x's shape) valid cells
    are light blue and masked (padding) cells grey and hatched, still showing
    the value they hold; the number of valid steps is written right of each
    row. NaN cells are red and ``±inf`` cells amber whether masked or not (a
    masked NaN is still hatched), so a NaN hiding in the padding shows. The
    legend names only what the picture holds. ``x`` is (B, T) or (B, T, F);
    for 3-D data the cells show each step's first feature, ``x[..., 0]``
    (and ``mask[..., 0]`` for a full-shape mask), as the axis label says.
    Without ``mask`` the cells are white. Grids of more than 600 cells are drawn
    without values.

    ``ax``: draw into this Axes (its figure is returned); by default a new
    figure sized to the batch. Cells are Rectangle patches with gid
    ``"cell-b-t"``.

    >>> import numpy as np
    >>> x = np.array([[1.0, 2.0, np.nan], [3.0, 0.0, 0.0]])
    >>> fig = plot_batch(x, x != 0, title="post-padded")
    >>> [p.get_hatch() for p in fig.axes[0].patches if p.get_gid() == "cell-1-2"]
    ['///']
    """
    _check_ax(ax)
    values, m, note = batch_values(x, mask)
    batch, steps = values.shape
    if ax is None:
        ax = _new_axes(max(steps * CELL + 1.9, 3.6), batch * CELL + 1.5)
    fig = _root(ax)
    texts = [[format_value(v) for v in row] for row in values]
    annotate = batch * steps <= MAX_ANNOTATED
    size = _fontsize([t for row in texts for t in row])
    floats = values.dtype.kind == "f"
    seen: set[str] = set()
    for b in range(batch):
        for t in range(steps):
            valid = m is None or bool(m[b, t])
            v = values[b, t]
            if floats and np.isnan(v):
                face, kind = NAN, "nan"
            elif floats and np.isinf(v):
                face, kind = INF, "inf"
            else:
                face, kind = ("white" if m is None else VALID) if valid else PADDING, "value"
            seen.add(kind)
            _cell(
                ax,
                t,
                b,
                texts[b][t] if annotate else "",
                face,
                hatch=None if valid else HATCH,
                gid=f"cell-{b}-{t}",
                color=TEXT if valid else DIM,
                fontsize=size,
                bold=kind != "value",
            )
        if m is not None:
            ax.text(steps + 0.2, b + 0.5, f"{int(m[b].sum())} valid", va="center", fontsize=8)
    _grid_axes(ax, batch, steps)
    ax.set_xlabel("step t" + (f"   (cells show {note})" if note else ""), fontsize=9)
    ax.set_ylabel("sequence b", fontsize=9)
    ax.set_title(title if title is not None else f"padded batch (B={batch}, T={steps})")
    handles = []
    if m is not None:
        handles += [
            Patch(facecolor=VALID, edgecolor=EDGE, label="valid (mask True)"),
            Patch(facecolor=PADDING, edgecolor=EDGE, hatch=HATCH, label="padding (mask False)"),
        ]
    if "nan" in seen:
        handles.append(Patch(facecolor=NAN, edgecolor=EDGE, label="NaN"))
    if "inf" in seen:
        handles.append(Patch(facecolor=INF, edgecolor=EDGE, label="±inf"))
    if handles:
        ax.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.04),
            ncols=min(len(handles), 2),
            frameon=False,
            fontsize=8,
            handlelength=1.6,
            handleheight=1.2,
        )
    return fig


def _grid_axes(ax: Axes, rows: int, cols: int) -> None:
    """Axes for a grid of unit cells: (0, 0) top left, steps labelled on top, no frame."""
    # A little room around the cells so their outer edges are not clipped.
    ax.set_xlim(-0.03, max(cols, 1) + 0.03)
    ax.set_ylim(max(rows, 1) + 0.03, -0.03)
    ax.set_aspect("equal")
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    for axis, n in ((ax.xaxis, cols), (ax.yaxis, rows)):
        if n <= 30:
            axis.set_ticks([i + 0.5 for i in range(n)], [str(i) for i in range(n)])
        else:
            axis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(length=0, labelsize=8)
    for spine in ax.spines.values():
        spine.set_visible(False)


# --- plot_attention_mask -----------------------------------------------------------------------


def _labels(labels: object, count: int, name: str, what: str) -> list[str] | None:
    if labels is None:
        return None
    if isinstance(labels, str) or not hasattr(labels, "__len__"):
        raise TypeError(f"{name} must be a sequence of labels, got {type(labels).__name__}")
    out = [str(label) for label in labels]  # type: ignore[attr-defined]
    if len(out) != count:
        raise ValueError(f"{name} has {len(out)} labels for {count} {what}")
    return out


def plot_attention_mask(
    mask: object,
    *,
    title: str | None = None,
    ax: Axes | None = None,
    query_labels: Sequence[object] | None = None,
    key_labels: Sequence[object] | None = None,
) -> Figure:
    """Draw a boolean attention mask: queries as rows, keys as columns, blue where the
    query may attend to the key (True), light grey where it may not.

    ``mask`` is (L, S), (B, L, S) or (B, H, L, S). A batched mask gets one
    panel per row (and head), titled ``b=0`` or ``b=0, h=1`` (at most 4 rows and
    4 heads, 8 rows of a 3-D mask; the title says when some are left out). A
    query row with no True entry (its softmax has nothing to attend to) is
    marked with a red ∅ right of the row. ``query_labels`` / ``key_labels``
    (L and S labels, e.g. tokens) replace the step numbers on the axes.
    ``ax`` takes one panel: a 2-D mask or a batched mask with one panel.

    >>> import reference
    >>> fig = plot_attention_mask(reference.causal_mask(4), key_labels=["the", "cat", "sat", "on"])
    >>> fig.axes[0].get_xlabel(), fig.axes[0].images[0].get_array().shape
    ('key', (4, 4))
    """
    _check_ax(ax)
    panels = attention_panels(mask)
    shape = np.shape(np.asarray(mask))
    length, keys = panels[0][1].shape if panels else shape[-2:]
    queries = _labels(query_labels, length, "query_labels", "queries (L)")
    key_names = _labels(key_labels, keys, "key_labels", "keys (S)")
    shown, note = _shown_panels(panels, shape)
    if ax is not None and len(panels) != 1:
        raise ValueError(
            f"ax takes one (L, S) panel, but mask {shape} has {len(panels)}; pass ax=None for "
            "a figure with a panel per row and head, or one slice such as mask[0]"
        )
    if not shown:
        raise ValueError(f"mask {shape} has no (L, S) panel to draw")
    side = min(max(0.3 * max(length, keys, 1), 1.4), 4.0)
    panel_w = side * max(keys, 1) / max(length, keys, 1) + 0.9
    panel_h = side * max(length, 1) / max(length, keys, 1) + 0.9
    if ax is None:
        cols = shape[1] if len(shape) == 4 else min(len(shown), 4)
        cols = min(cols, MAX_HEADS) if len(shape) == 4 else cols
        rows = math.ceil(len(shown) / cols)
        fig = Figure(
            figsize=(max(cols * panel_w + 0.4, 3.4), rows * panel_h + 1.1), layout="constrained"
        )
        axes = list(fig.subplots(rows, cols, squeeze=False).ravel())
        for extra in axes[len(shown) :]:
            extra.set_visible(False)
    else:
        fig, axes = _root(ax), [ax]
    empty_rows = False
    for (name, panel), a in zip(shown, axes):
        empty_rows |= _attention_panel(a, panel, queries, key_names)
        if name:
            a.set_title(name, fontsize=9)
    heading = title if title is not None else f"attention mask {shape}" + note
    if len(shown) == 1 and not shown[0][0]:
        axes[0].set_title(heading)
    else:
        fig.suptitle(heading)
    handles: list[Any] = [
        Patch(facecolor=ATTEND, edgecolor=ATTEND, label="may attend (True)"),
        Patch(facecolor=PADDING, edgecolor=EDGE, label="masked (False)"),
    ]
    if empty_rows:
        handles.append(
            Line2D([], [], ls="", marker="$∅$", color=EMPTY_ROW, label="query sees no key")
        )
    fig.legend(
        handles=handles,
        loc="outside lower center" if ax is None else "lower center",
        ncols=len(handles) if len(handles) < 3 or len(shown) > 1 or keys > 6 else 2,
        frameon=False,
        fontsize=8,
    )
    return fig


def _shown_panels(
    panels: list[tuple[str, np.ndarray]], shape: tuple[int, ...]
) -> tuple[list[tuple[str, np.ndarray]], str]:
    """The panels drawn (the first rows and heads of a big batch) and a note if some are not."""
    if len(shape) == 4:
        rows, heads = shape[0], shape[1]
        keep = [p for i, p in enumerate(panels) if i // heads < MAX_ROWS and i % heads < MAX_HEADS]
        if rows > MAX_ROWS or heads > MAX_HEADS:
            return keep, (
                f"\n(rows 0-{min(rows, MAX_ROWS) - 1} of {rows}, "
                f"heads 0-{min(heads, MAX_HEADS) - 1} of {heads})"
            )
        return keep, ""
    if len(shape) == 3 and len(panels) > 2 * MAX_ROWS:
        return panels[: 2 * MAX_ROWS], f"\n(rows 0-{2 * MAX_ROWS - 1} of {len(panels)})"
    return panels, ""


def _attention_panel(
    ax: Axes, panel: np.ndarray, queries: list[str] | None, keys: list[str] | None
) -> bool:
    """One (L, S) mask in ``ax``; True if a query row has no key."""
    length, width = panel.shape
    cmap = ListedColormap([PADDING, ATTEND])
    ax.imshow(panel.astype(np.int8), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks(np.arange(-0.5, width, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, length, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.2)
    ax.tick_params(which="both", length=0, labelsize=8)
    for axis, n, labels in ((ax.xaxis, width, keys), (ax.yaxis, length, queries)):
        if labels is not None or n <= 24:
            axis.set_ticks(range(n), labels if labels is not None else [str(i) for i in range(n)])
        else:
            axis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("key", fontsize=9)
    ax.set_ylabel("query", fontsize=9)
    for spine in ax.spines.values():
        spine.set_visible(False)
    empty = [i for i in range(length) if not panel[i].any()]
    for i in empty:
        ax.text(width - 0.3, i, "∅", color=EMPTY_ROW, va="center", fontsize=10, clip_on=False)
    return bool(empty)


# --- plot_layouts ------------------------------------------------------------------------------

#: Units left of the cells for row and array labels.
_MARGIN = 2.8


def plot_layouts(
    sequences: Sequence[Sequence[Any]], *, maxlen: int | None = None, value: Any = 0
) -> Figure:
    """Draw one list of sequences in each layout maskref converts between.

    From top to bottom: pre-padded (``pad_sequences``'s default, Keras) and
    post-padded (PyTorch's ``pad_sequence``) side by side, padding grey and
    hatched; ragged (the valid steps in order, ``values``, and ``row_splits``
    marking where each sequence starts); packed (PyTorch's ``PackedSequence``:
    ``data`` time-major, step 0 of every sequence, then step 1, ..., grouped by
    step, with ``batch_sizes`` under each group and the sorted order when it is
    not the identity); varlen (FlashAttention style: the same ``values``,
    ``segment_ids`` and ``cu_seqlens`` offsets). Each sequence has its own
    colour everywhere, so a step can be followed from layout to layout.

    Every array comes from the reference (:func:`maskref.show.compute_layouts`:
    ``pad_sequences``, ``sequence_mask``, ``ragged_from_padded``,
    ``pack_sequences``, ``unpad``, ``segment_ids_from_lengths``). ``maxlen``
    pads or truncates to that many steps (``truncating="pre"``, Keras's
    default: the last steps are kept) and every layout shows the kept steps;
    ``value`` is the padding value.

    >>> fig = plot_layouts([[1, 2, 3], [4, 5], [6]])
    >>> [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith("packed")]
    ['packed']
    """
    lay = compute_layouts(sequences, maxlen=maxlen, value=value)
    batch, steps = lay.pre.shape
    total = int(lay.values.size)
    column = max(steps, 4.2)  # a grid's title needs about 4 cells
    gap = 1.2
    width = max(2 * column + gap, total, 6.5)
    fig = Figure(figsize=((width + _MARGIN + 0.3) * CELL, 1.0))
    fig.set_layout_engine("none")  # cells are placed by hand, whatever rcParams ask for
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    size = _fontsize([format_value(v) for v in lay.pre.ravel()])
    y = 0.3
    y = _padded_block(ax, lay, y, column + gap, size)
    y = _ragged_block(ax, lay, y, size)
    y = _packed_block(ax, lay, y, size)
    y = _varlen_block(ax, lay, y, size)
    handles = [
        Patch(facecolor=_sequence_color(b), edgecolor=EDGE, label=f"sequence {b}")
        for b in range(batch)
    ] + [Patch(facecolor=PADDING, edgecolor=EDGE, hatch=HATCH, label="padding (mask False)")]
    per_row = max(1, int((width + _MARGIN) * CELL / 1.25))
    legend_rows = math.ceil(len(handles) / per_row)
    y += 0.3
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 1 - y / (y + 0.7 * legend_rows + 0.3)),
        ncols=min(per_row, len(handles)),
        frameon=False,
        fontsize=8,
        handlelength=1.4,
        handleheight=1.1,
        columnspacing=1.0,
    )
    height = y + 0.7 * legend_rows + 0.3
    fig.set_size_inches((width + _MARGIN + 0.3) * CELL, height * CELL)
    ax.set_xlim(-_MARGIN, width + 0.3)
    ax.set_ylim(height, 0)
    ax.set_axis_off()
    return fig


def _heading(ax: Axes, y: float, name: str, note: str, x: float = -_MARGIN + 0.1) -> None:
    """A block's bold name and, from the cells' left edge on, what it is."""
    ax.text(x, y, name, fontsize=9.5, fontweight="bold", va="baseline")
    ax.text(0, y, note, fontsize=8, color=DIM, va="baseline")


def _label(ax: Axes, y: float, text: str) -> None:
    """An array's name left of its row of cells (row centre ``y``)."""
    ax.text(-0.25, y, text, ha="right", va="center", fontsize=8, family="monospace")


def _strip(
    ax: Axes, y: float, values: np.ndarray, rows: np.ndarray, size: float, name: str, block: str
) -> None:
    """One row of cells, each in the colour of the sequence it belongs to (gid
    ``block.name-i``)."""
    _label(ax, y + 0.5, name)
    for i, (v, b) in enumerate(zip(values, rows)):
        face = _sequence_color(int(b))
        _cell(ax, i, y, format_value(v), face, gid=f"{block}.{name}-{i}", fontsize=size)


def _offsets(ax: Axes, y: float, offsets: np.ndarray, name: str) -> float:
    """Offsets (row_splits, cu_seqlens) as ticks on the cell boundaries just above ``y``."""
    _label(ax, y + 0.45, name)
    for k in offsets:
        ax.plot([k, k], [y - 0.15, y + 0.1], color=TEXT, linewidth=1.2)
        ax.text(k, y + 0.45, str(int(k)), ha="center", va="center", fontsize=8)
    return y + 0.9


def _padded_block(ax: Axes, lay: Layouts, y: float, shift: float, size: float) -> float:
    batch, steps = lay.pre.shape
    titles = (
        ("pre-padded", "pad_sequences (Keras)", lay.pre, lay.pre_mask),
        ("post-padded", "pad_sequence (PyTorch)", lay.post, lay.post_mask),
    )
    for k, (name, note, x, m) in enumerate(titles):
        left = k * shift
        ax.text(left, y + 0.6, name, fontsize=9.5, fontweight="bold", va="baseline")
        ax.text(left, y + 1.2, note, fontsize=8, color=DIM, va="baseline")
        for t in range(steps):
            ax.text(left + t + 0.5, y + 1.85, f"t={t}", ha="center", fontsize=7, color=DIM)
        for b in range(batch):
            for t in range(steps):
                valid = bool(m[b, t])
                _cell(
                    ax,
                    left + t,
                    y + 2.0 + b,
                    format_value(x[b, t]),
                    _sequence_color(b) if valid else PADDING,
                    hatch=None if valid else HATCH,
                    gid=f"{name}-{b}-{t}",
                    color=TEXT if valid else DIM,
                    fontsize=size,
                )
    for b in range(batch):
        _label(ax, y + 2.5 + b, f"b={b}")
    return y + 2.0 + batch + 0.4


def _ragged_block(ax: Axes, lay: Layouts, y: float, size: float) -> float:
    _heading(ax, y + 0.6, "ragged", "values + row_splits (tf.RaggedTensor)")
    rows = np.repeat(np.arange(lay.lengths.size), lay.lengths)
    _strip(ax, y + 0.9, lay.values, rows, size, "values", "ragged")
    return _offsets(ax, y + 2.05, lay.row_splits, "row_splits")


def _packed_block(ax: Axes, lay: Layouts, y: float, size: float) -> float:
    note = "time-major data + batch_sizes (PackedSequence)"
    _heading(ax, y + 0.6, "packed", note)
    top = y + 1.3
    _strip(ax, top, lay.data, lay.data_rows, size, "data", "packed")
    start = 0
    for t, n in enumerate(lay.batch_sizes):
        end = start + int(n)
        ax.text((start + end) / 2, top - 0.12, f"t={t}", ha="center", fontsize=7, color=DIM)
        ax.plot([start + 0.1, end - 0.1], [top + 1.2, top + 1.2], color=TEXT, linewidth=1.2)
        ax.text((start + end) / 2, top + 1.6, str(int(n)), ha="center", va="center", fontsize=8)
        start = end
    _label(ax, top + 1.6, "batch_sizes")
    bottom = top + 1.9
    if not np.array_equal(lay.sorted_indices, np.arange(lay.lengths.size)):
        order = ", ".join(str(int(i)) for i in lay.sorted_indices)
        _label(ax, bottom + 0.45, "sorted_indices")
        ax.text(0, bottom + 0.45, f"[{order}]  (longest first)", va="center", fontsize=8)
        bottom += 1.0
    return bottom


def _varlen_block(ax: Axes, lay: Layouts, y: float, size: float) -> float:
    note = f"values + cu_seqlens, max_seqlen = {lay.max_seqlen} (FlashAttention)"
    _heading(ax, y + 0.6, "varlen", note)
    rows = np.repeat(np.arange(lay.lengths.size), lay.lengths)
    _strip(ax, y + 0.9, lay.values, rows, size, "values", "varlen")
    _strip(ax, y + 1.9, lay.segment_ids, rows, 8, "segment_ids", "varlen")
    return _offsets(ax, y + 3.05, lay.cu_seqlens, "cu_seqlens")


# --- plot_flow ---------------------------------------------------------------------------------

_FIELDS = ("name", "class_name", "kind", "mask_in", "mask_out", "flag")
#: role: (edge colour, legend text)
_ROLES = {
    "creates": ("#2e7d32", "creates a mask"),
    "passes": ("#1f5fa8", "receives and passes on a mask"),
    "consumes": ("#6a3d9a", "consumes the mask"),
    "drops": ("#c62828", "mask dropped or destroyed"),
    "none": ("#9e9e9e", "no mask"),
}


def _is_explanation(obj: object) -> bool:
    return isinstance(obj, (list, tuple)) and all(all(hasattr(r, f) for f in _FIELDS) for r in obj)


def _has_mask(summary: object) -> bool:
    if isinstance(summary, (list, tuple)):
        return any(_has_mask(s) for s in summary)
    return summary is not None


def _mask_text(summary: object) -> str:
    """A mask summary of explain_masks (shape and valid count) as short text."""
    if summary is None:
        return "none"
    if isinstance(summary, (list, tuple)):
        return "[" + ", ".join(_mask_text(s) for s in summary) + "]"
    shape, valid = getattr(summary, "shape", None), getattr(summary, "valid", None)
    if shape is not None and valid is not None:
        return f"{tuple(shape)}, {valid}/{math.prod(shape)} valid"
    return str(summary)


def _role(record: Any) -> tuple[str, str]:
    """The record's role and a sentence saying what the layer does with the mask."""
    received, produced = _has_mask(record.mask_in), _has_mask(record.mask_out)
    if record.flag == "destroyed":
        return "drops", "receives a mask and DESTROYS it (no masking support)"
    if record.flag:
        return "drops", f"receives a mask and {str(record.flag).upper()} it (none comes out)"
    if received and produced:
        if record.kind == "merge":
            return "passes", "receives masks and merges them"
        verb = "transforms it" if record.kind == "transform" else "passes it on"
        return "passes", f"receives a mask and {verb}"
    if received:
        return "consumes", "receives and consumes the mask (none passed on)"
    if produced:
        return "creates", "produces a mask"
    if record.kind == "consume":  # e.g. a pooling layer that now averages the padding too
        return "none", "would consume a mask, but receives none"
    return "none", "no mask in or out"


def plot_flow(model: Any, inputs: object = None) -> Figure:
    """Draw a Keras model's mask flow: one box per layer, top to bottom in the order Keras
    ran them, saying whether the layer receives, produces, consumes or drops a mask.

    ``model`` is what :func:`tf_impl.explain_masks` returns (a list of records
    with ``name``, ``class_name``, ``kind``, ``mask_in``, ``mask_out`` and
    ``flag``; any list of such objects works) or a Keras model, which is then
    run on ``inputs`` by ``tf_impl.explain_masks`` (TensorFlow is imported
    only then). Each box shows the layer's name, class and kind, what it does
    with the mask (the box colour: green creates, blue passes on, purple
    consumes, red dropped or destroyed, grey no mask) and the mask it received
    and returned (shape and valid entries; a list for merges; ``mask=`` when
    the mask came as an argument). Arrows are blue where a mask leaves the
    layer. For a functional model with branches the arrows show the order the
    layers ran, not the graph's edges.

    >>> from tf_impl import explain_masks  # doctest: +SKIP
    >>> fig = plot_flow(explain_masks(model, inputs))  # doctest: +SKIP
    >>> fig = plot_flow(model, inputs)  # the same picture  # doctest: +SKIP
    """
    if _is_explanation(model):
        if inputs is not None:
            raise ValueError("inputs: give inputs with a Keras model, not with an explanation")
        records = list(model)
    else:
        check_data(model, "model")
        if not hasattr(model, "layers"):
            raise TypeError(
                "model must be a Keras model or what tf_impl.explain_masks returns, got "
                f"{type(model).__name__}"
            )
        if inputs is None:
            raise ValueError(
                "inputs: plot_flow(model, inputs) runs the model on them; or pass "
                "tf_impl.explain_masks(model, inputs)"
            )
        try:  # lazily: the reference never imports a framework at module level
            explain = importlib.import_module("tf_impl").explain_masks
        except ImportError as error:
            raise ImportError(
                "plot_flow(model, inputs) runs tf_impl.explain_masks, which needs TensorFlow: "
                'pip install -c constraints.txt "maskref[tf,plot]"'
            ) from error
        records = list(explain(model, inputs))
    if not records:
        raise ValueError("model: the explanation has no layer to draw")
    return _draw_flow(records)


def _draw_flow(records: list[Any]) -> Figure:
    box_w, box_h, gap, unit = 12.0, 3.1, 1.0, 0.4
    height = len(records) * (box_h + gap) + 1.6
    fig = Figure(figsize=((box_w + 1.0) * unit, height * unit))
    fig.set_layout_engine("none")  # boxes are placed by hand, whatever rcParams ask for
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(-0.5, box_w + 0.5)
    ax.set_ylim(height, 0)
    ax.set_axis_off()
    flagged = sum(1 for r in records if r.flag)
    ax.text(
        box_w / 2,
        0.55,
        f"mask flow: {len(records)} layers" + (f", {flagged} flagged" if flagged else ""),
        ha="center",
        va="center",
        fontsize=11,
    )
    roles: list[str] = []
    y = 1.2
    for i, record in enumerate(records):
        role, sentence = _role(record)
        roles.append(role)
        edge = _ROLES[role][0]
        box = FancyBboxPatch(
            (0, y),
            box_w,
            box_h,
            boxstyle="round,pad=0,rounding_size=0.3",
            facecolor=_light(edge, 0.9),
            edgecolor=edge,
            linewidth=1.8 if role == "drops" else 1.2,
        )
        box.set_gid(f"layer-{i}-{role}")
        ax.add_patch(box)
        ax.text(0.4, y + 0.7, str(record.name), fontsize=9.5, fontweight="bold", va="center")
        ax.text(
            box_w - 0.4,
            y + 0.7,
            f"{record.class_name} · {record.kind}",
            fontsize=8,
            color=DIM,
            ha="right",
            va="center",
        )
        ax.text(
            0.4,
            y + 1.45,
            sentence,
            fontsize=8.5,
            color=edge,
            fontweight="bold" if role == "drops" else "normal",
            va="center",
        )
        given = " (mask=)" if getattr(record, "explicit", False) else ""
        ax.text(0.4, y + 2.1, f"in:  {_mask_text(record.mask_in)}{given}", fontsize=8, va="center")
        ax.text(0.4, y + 2.65, f"out: {_mask_text(record.mask_out)}", fontsize=8, va="center")
        if i + 1 < len(records):
            color = _ROLES["passes"][0] if _has_mask(record.mask_out) else _ROLES["none"][0]
            ax.annotate(
                "",
                xy=(box_w / 2, y + box_h + gap - 0.05),
                xytext=(box_w / 2, y + box_h + 0.05),
                arrowprops=dict(arrowstyle="-|>", color=color, linewidth=1.5),
            )
        y += box_h + gap
    handles = [
        Patch(facecolor=_light(_ROLES[r][0], 0.9), edgecolor=_ROLES[r][0], label=_ROLES[r][1])
        for r in _ROLES
        if r in roles
    ]
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 1 - (y - 0.6) / height),
        ncols=2,
        frameon=False,
        fontsize=8,
    )
    return fig
