"""reference.plot: each picture against a stored PNG, and what the pictures must show.

Image tests draw fixed small inputs with matplotlib's default style and its test font
settings, save them at a fixed dpi and compare with ``tests/baseline_images`` (RMS
tolerance ``TOL``). ``MASKREF_REGENERATE_IMAGES=1 pytest tests/test_plot.py`` rewrites
the baselines (look at them before committing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import require

require("matplotlib")

import matplotlib

matplotlib.use("Agg")  # as matplotlib's own image tests: no window, the same rasteriser
import matplotlib.colors
import matplotlib.style
from matplotlib.figure import Figure
from matplotlib.testing import set_font_settings_for_testing
from matplotlib.testing.compare import compare_images

import reference
from reference import plot
from reference.plot import plot_attention_mask, plot_batch, plot_flow, plot_layouts

BASELINE = Path(__file__).parent / "baseline_images"
REGENERATE = os.environ.get("MASKREF_REGENERATE_IMAGES") == "1"
TOL = 3.0
DPI = 72

NAN_BATCH = np.array([[0.5, 1.0, 2.0, 0.0], [3.0, np.nan, 0.0, 0.0], [-1.0, 4.0, np.inf, 7.5]])
NAN_MASK = np.array(
    [[True, True, True, False], [True, True, False, False], [True, True, True, True]]
)


@pytest.fixture(autouse=True)
def _style():
    """matplotlib's defaults and test font settings, restored afterwards."""
    with matplotlib.rc_context():
        matplotlib.style.use("default")
        set_font_settings_for_testing()
        yield


def _check_image(fig: Figure, name: str, tmp_path: Path) -> None:
    actual = tmp_path / f"{name}.png"
    fig.savefig(actual, dpi=DPI, metadata={"Software": None})
    expected = BASELINE / f"{name}.png"
    if REGENERATE:
        BASELINE.mkdir(exist_ok=True)
        shutil.copyfile(actual, expected)
    if not expected.exists():
        pytest.fail(f"no baseline {expected}: run with MASKREF_REGENERATE_IMAGES=1 to write it")
    assert compare_images(str(expected), str(actual), tol=TOL) is None


def _records() -> list[SimpleNamespace]:
    """What tf_impl.explain_masks reports for Embedding -> LSTM -> Conv1D -> pooling."""

    def summary(valid: int) -> SimpleNamespace:
        return SimpleNamespace(shape=(2, 4), valid=valid)

    def layer(name, cls, kind, mask_in, mask_out, flag=None):
        return SimpleNamespace(
            name=name,
            class_name=cls,
            kind=kind,
            mask_in=mask_in,
            mask_out=mask_out,
            flag=flag,
            explicit=False,
        )

    return [
        layer("embed", "Embedding", "create", None, summary(5)),
        layer("lstm", "LSTM", "keep", summary(5), summary(5)),
        layer("conv", "Conv1D", "destroy", summary(5), None, "destroyed"),
        layer("pool", "GlobalAveragePooling1D", "consume", None, None),
    ]


# --- images ------------------------------------------------------------------------------------


def test_plot_batch_image(tmp_path):
    _check_image(plot_batch(NAN_BATCH, NAN_MASK), "plot_batch", tmp_path)


def test_plot_attention_mask_image(tmp_path):
    mask = reference.sequence_mask([3, 2], 4)
    fig = plot_attention_mask(reference.attention_mask(mask, mask, causal=True))
    _check_image(fig, "plot_attention_mask", tmp_path)


def test_plot_attention_mask_labels_image(tmp_path):
    tokens = ["the", "cat", "sat", "<pad>"]
    valid = reference.sequence_mask([3], 4)
    fig = plot_attention_mask(
        reference.attention_mask(valid, valid)[0],
        query_labels=tokens,
        key_labels=tokens,
        title="padding",
    )
    _check_image(fig, "plot_attention_mask_labels", tmp_path)


def test_plot_layouts_image(tmp_path):
    _check_image(plot_layouts([[1], [2, 3, 4], [5, 6]]), "plot_layouts", tmp_path)


def test_plot_flow_image(tmp_path):
    _check_image(plot_flow(_records()), "plot_flow", tmp_path)


# --- what the pictures show --------------------------------------------------------------------


def _cells(fig: Figure) -> dict[str, object]:
    return {p.get_gid(): p for p in fig.axes[0].patches if p.get_gid()}


def test_masked_cells_are_shaded_and_valid_ones_not():
    cells = _cells(plot_batch(NAN_BATCH, NAN_MASK))
    for b in range(3):
        for t in range(4):
            cell = cells[f"cell-{b}-{t}"]
            assert (cell.get_hatch() == plot.HATCH) == (not NAN_MASK[b, t]), (b, t)
            if np.isfinite(NAN_BATCH[b, t]):
                face = plot.VALID if NAN_MASK[b, t] else plot.PADDING
                assert cell.get_facecolor() == pytest.approx(matplotlib.colors.to_rgba(face))


def test_nan_and_inf_are_marked():
    fig = plot_batch(NAN_BATCH, NAN_MASK)
    cells = _cells(fig)
    nan = matplotlib.colors.to_rgba(plot.NAN)
    inf = matplotlib.colors.to_rgba(plot.INF)
    assert cells["cell-1-1"].get_facecolor() == pytest.approx(nan)
    assert cells["cell-2-2"].get_facecolor() == pytest.approx(inf)
    faces = [c.get_facecolor() for c in cells.values()]
    assert faces.count(pytest.approx(nan)) == 1 and faces.count(pytest.approx(inf)) == 1
    texts = {t.get_text(): t for t in fig.axes[0].texts}
    assert texts["nan"].get_fontweight() == "bold"
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["valid (mask True)", "padding (mask False)", "NaN", "±inf"]


def test_masked_nan_is_still_hatched():
    x = np.array([[1.0, np.nan]])
    cells = _cells(plot_batch(x, np.array([[True, False]])))
    assert cells["cell-0-1"].get_hatch() == plot.HATCH
    assert cells["cell-0-1"].get_facecolor() == pytest.approx(matplotlib.colors.to_rgba(plot.NAN))


def test_without_a_mask_nothing_is_shaded_and_no_legend():
    fig = plot_batch([[1, 2], [3, 4]])
    assert all(c.get_hatch() is None for c in _cells(fig).values())
    assert fig.axes[0].get_legend() is None


def test_3d_batch_shows_the_first_feature_and_says_so():
    x = np.arange(12).reshape(2, 3, 2)
    fig = plot_batch(x, np.array([True, False]))  # a (B,) mask: whole sequences
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert [str(v) for v in x[0, :, 0]] == texts[:3]
    assert "x[..., 0]" in fig.axes[0].get_xlabel()
    assert _cells(fig)["cell-1-0"].get_hatch() == plot.HATCH


def test_passed_axes_are_used_and_their_figure_returned():
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_batch(NAN_BATCH, NAN_MASK, ax=ax, title="mine") is fig
    assert ax.get_title() == "mine" and len(ax.patches) == 12
    assert plot_attention_mask(reference.causal_mask(3), ax=ax) is fig
    sub = Figure().subfigures(1, 2)[1]
    assert plot_batch([[1]], ax=sub.add_subplot()) is sub.figure


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: plot_batch(np.zeros(3)), ValueError, "x must be"),
        (lambda: plot_batch(np.zeros((2, 3)), np.ones((2, 4), bool)), ValueError, "mask shape"),
        (lambda: plot_batch(np.zeros((2, 3)), np.ones((3,), bool)), ValueError, "mask shape"),
        (lambda: plot_batch(np.zeros((2, 3)), np.ones((2, 3), int)), TypeError, "mask must be"),
        (lambda: plot_batch(np.array([["a"]])), TypeError, "x must hold numbers"),
        (lambda: plot_batch(None), TypeError, "x must be"),
        (lambda: plot_batch(np.zeros((1, 1)), ax="left"), TypeError, "ax must be"),
        (lambda: plot_attention_mask(np.ones(3, bool)), ValueError, r"mask must be \(L, S\)"),
        (lambda: plot_attention_mask(np.ones((2, 2))), TypeError, "mask must be a boolean"),
        (
            lambda: plot_attention_mask(np.ones((2, 2), bool), query_labels=["a"]),
            ValueError,
            "query_labels has 1 labels",
        ),
        (
            lambda: plot_attention_mask(np.ones((2, 2, 2), bool), ax=Figure().add_subplot()),
            ValueError,
            "ax takes one",
        ),
        (lambda: plot_layouts([]), ValueError, "at least one sequence"),
        (lambda: plot_layouts([[1, 2], [[1]]]), ValueError, r"sequences\[1\] must be 1-D"),
        (lambda: plot_layouts("abc"), TypeError, "sequences must be a list"),
        (lambda: plot_flow([]), ValueError, "no layer"),
        (lambda: plot_flow(_records(), inputs=[1]), ValueError, "inputs"),
        (lambda: plot_flow(object(), [1]), TypeError, "model must be"),
        (lambda: plot_flow(SimpleNamespace(layers=[])), ValueError, "inputs"),
    ],
)
def test_bad_inputs_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_attention_rows_without_a_key_are_marked():
    mask = reference.sequence_mask([2], 3)
    fig = plot_attention_mask(reference.attention_mask(mask, mask)[0])
    marks = [t for t in fig.axes[0].texts if t.get_text() == "∅"]
    assert [round(t.get_position()[1]) for t in marks] == [2]
    image = fig.axes[0].images[0].get_array()
    assert image.tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 0]]


def test_batched_attention_mask_gets_a_panel_per_row_and_head():
    fig = plot_attention_mask(np.ones((2, 3, 4, 5), bool))
    panels = [a for a in fig.axes if a.get_visible() and a.images]
    assert [a.get_title() for a in panels] == [f"b={b}, h={h}" for b in range(2) for h in range(3)]


def test_layouts_are_the_references():
    seqs = [[1], [2, 3, 4], [5, 6]]
    cells = _cells(plot_layouts(seqs))
    post = reference.pad_sequences(seqs, padding="post")
    packed = reference.pack_sequences(post, [1, 3, 2])
    data = sorted((k for k in cells if k.startswith("packed.data-")), key=lambda k: int(k[12:]))
    assert len(data) == packed.data.size == 6
    # each packed cell has the colour of its sequence (sorted order: 1, 2, 0, then 1, 2, then 1)
    rows = [1, 2, 0, 1, 2, 1]
    for key, b in zip(data, rows):
        assert cells[key].get_facecolor()[:3] == pytest.approx(plot._sequence_color(b))
    hatched = {k for k, c in cells.items() if c.get_hatch()}
    assert hatched == {"pre-padded-0-0", "pre-padded-0-1", "pre-padded-2-0"} | {
        "post-padded-0-1",
        "post-padded-0-2",
        "post-padded-2-2",
    }
    assert sum(k.startswith("varlen.segment_ids-") for k in cells) == 6


def test_flow_boxes_say_what_each_layer_does():
    fig = plot_flow(_records())
    boxes = [p.get_gid() for p in fig.axes[0].patches if (p.get_gid() or "").startswith("layer")]
    assert boxes == ["layer-0-creates", "layer-1-passes", "layer-2-drops", "layer-3-none"]
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "receives a mask and DESTROYS it (no masking support)" in texts
    assert "would consume a mask, but receives none" in texts
    assert "out: (2, 4), 5/8 valid" in texts


def test_flow_of_a_keras_model_runs_explain_masks():
    require("tensorflow")
    import keras

    from tf_impl import explain_masks

    model = keras.Sequential(
        [
            keras.Input((4,), dtype="int32"),
            keras.layers.Embedding(10, 3, mask_zero=True, name="embed"),
            keras.layers.Dense(3, name="dense"),
            keras.layers.GlobalAveragePooling1D(name="pool"),
        ]
    )
    x = np.array([[1, 2, 3, 0], [4, 5, 0, 0]], dtype="int32")
    fig = plot_flow(model, x)
    boxes = [p.get_gid() for p in fig.axes[0].patches if (p.get_gid() or "").startswith("layer")]
    assert boxes == ["layer-0-creates", "layer-1-passes", "layer-2-consumes"]
    same = plot_flow(explain_masks(model, x))
    assert [t.get_text() for t in fig.axes[0].texts] == [t.get_text() for t in same.axes[0].texts]


def test_importing_reference_does_not_import_matplotlib():
    code = "import sys, reference; sys.exit('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_missing_matplotlib_says_how_to_install_it():
    code = "import sys; sys.modules['matplotlib'] = None; import reference.plot"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    assert "ImportError: reference.plot draws with matplotlib" in result.stderr
    assert 'pip install -c constraints.txt "maskref[plot]"' in result.stderr
