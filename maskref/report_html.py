"""The behaviour report as one self-contained HTML page (``maskref report --format html``).

Everything the page needs is inline (CSS, script, data), so it can be attached to a CI run
or mailed and opened offline: it makes no request when viewed. Each divergence shows its
explanation, its smallest input and both outcomes drawn as small grids: the steps where the
input ``mask`` is False shaded, NaN and inf marked, and the cells where the reference and
the API differ outlined.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from . import __version__
from .conformance import Case, Finding, describe
from .conformance.core import Raised
from .keras_backends import Described

#: Caps that keep a page readable whatever a case draws: larger arrays are cut (and say so).
MAX_ROWS = 10
MAX_COLS = 12
MAX_SLICES = 4
MAX_ITEMS = 8
MAX_DEPTH = 3
#: Arrays of more dimensions than this are shown as text: their slices would not read well.
MAX_SLICED_NDIM = 4

#: The overview's columns: the reference's laws, maskref's backends, then frameworks.
COLUMNS = (
    "laws",
    "tf_impl",
    "torch_impl",
    "jax_impl",
    "numpy",
    "tensorflow",
    "keras",
    "torch",
    "jax",
    "flax",
    "transformers",
)
KIND_LABELS = {
    "invariant": "laws of the reference",
    "backend": "maskref backends",
    "native": "framework APIs",
}
KIND_SHORT = {"invariant": "law", "backend": "maskref backend", "native": "framework API"}
STATUS_LABELS = {
    "agrees": "agrees",
    "diverges": "diverges",
    "raises": "raises",
    "unavailable": "not installed",
}


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def framework_of(case: Case) -> str:
    """The framework a case measures: ``reference`` for the laws, else the library whose API
    (or maskref backend) it calls, read from the API's name and the modules it requires."""
    api = case.api.lower()
    if case.kind == "invariant":
        return "reference"
    if api.startswith(("hugging face", "transformers")):
        return "transformers"
    for backend, name in (("tf_impl", "tensorflow"), ("torch_impl", "torch"), ("jax_impl", "jax")):
        if case.kind == "backend" and backend in api:
            return name
    requires = set(case.requires)
    if "flax" in requires or api.startswith("flax"):
        return "flax"
    if "keras" in requires or api.startswith(("keras", "custom layer")):
        return "keras"
    for name in ("tensorflow", "torch", "jax"):
        if name in requires:
            return name
    return "numpy"


def column_of(case: Case) -> str:
    """The case's column in the overview: maskref's backends apart from the frameworks."""
    if case.kind == "invariant":
        return "laws"
    if case.kind == "backend":
        for backend in ("tf_impl", "torch_impl", "jax_impl"):
            if backend in case.api:
                return backend
    return framework_of(case)


def outcome_of(f: Finding) -> str:
    """agrees, diverges, raises (a divergence where the API raises) or unavailable."""
    if f.status == "diverges" and _raises(f.got):
        return "raises"
    return f.status


def _raises(value: Any) -> bool:
    # Another Keras backend's findings come back described: "raises ValueError: ...".
    return isinstance(value, Raised) or (
        isinstance(value, Described) and value.startswith("raises ")
    )


def row_id(case: Case) -> str:
    """An id that stays the same for a case from one report to the next."""
    slug = re.sub(r"[^a-z0-9]+", "-", case.case_id.lower()).strip("-")[:60]
    return f"case-{slug}-{hashlib.sha1(case.case_id.encode()).hexdigest()[:8]}"


# --- values drawn as grids ------------------------------------------------------------------


def _scalar(value: Any) -> tuple[str, str, str]:
    """(short text for a cell, CSS class, full text for its tooltip)."""
    if isinstance(value, (bool, np.bool_)):
        return ("T", "t", "True") if value else ("F", "f", "False")
    if isinstance(value, (int, np.integer)):
        text = str(int(value))
        return (text if len(text) <= 9 else f"{float(value):.3g}"), "", text
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "NaN", "nan", "NaN"
        if math.isinf(v):
            return ("∞" if v > 0 else "−∞"), "inf", repr(v)
        return f"{v:.4g}", "", repr(v)
    full = repr(value.item() if isinstance(value, np.generic) else value)
    return (full if len(full) <= 10 else full[:9] + "…"), "s", full


def _cell(value: Any, index: tuple[int, ...], masked: bool, differs: bool) -> str:
    text, cls, full = _scalar(value)
    classes = [c for c in (cls, "m" if masked else "", "d" if differs else "") if c]
    title = f"[{', '.join(map(str, index))}] = {full}" if index else full
    title += " (masked)" if masked else ""
    title += " (differs)" if differs else ""
    attr = f' class="{" ".join(classes)}"' if classes else ""
    return f'<td{attr} title="{_esc(title)}">{_esc(text)}</td>'


def _table(
    a: np.ndarray,
    shade: np.ndarray | None,
    diff: np.ndarray | None,
    prefix: tuple[int, ...] = (),
) -> str:
    """A 0-, 1- or 2-D array as a table (a 0-D one is one cell, a 1-D one a row)."""
    grid = a.reshape((1,) * (2 - a.ndim) + a.shape)
    rows, cols = grid.shape
    out = []
    for i in range(min(rows, MAX_ROWS)):
        cells = []
        for j in range(min(cols, MAX_COLS)):
            index = prefix + ((i, j) if a.ndim == 2 else (j,) if a.ndim == 1 else ())
            at = index[len(prefix) :]
            masked = bool(shade[at]) if shade is not None else False
            differs = bool(diff[at]) if diff is not None else False
            cells.append(_cell(grid[i, j], index, masked, differs))
        if cols > MAX_COLS:
            cells.append(f'<td class="more" title="{cols - MAX_COLS} more columns">…</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    if rows > MAX_ROWS:
        span = min(cols, MAX_COLS) + (cols > MAX_COLS)
        out.append(f'<tr><td class="more" colspan="{span}">… {rows - MAX_ROWS} more rows</td></tr>')
    return '<table class="grid">' + "".join(out) + "</table>"


def _meta(a: np.ndarray) -> str:
    shape = "×".join(map(str, a.shape)) if a.shape else "scalar"
    return f'<span class="meta">{_esc(a.dtype)} {_esc(shape)}</span>'


def _array(a: np.ndarray, shade: np.ndarray | None, diff: np.ndarray | None) -> str:
    if a.size == 0:
        return f'<div class="arr">{_meta(a)}<span class="empty">empty</span></div>'
    if a.ndim <= 2:
        return f'<div class="arr">{_meta(a)}{_table(a, shade, diff)}</div>'
    if a.ndim > MAX_SLICED_NDIM:
        return f'<div class="arr">{_meta(a)}<pre class="text">{_esc(describe(a, 600))}</pre></div>'
    # 3-D and more: the last two axes drawn, one grid per index of the leading ones.
    lead = a.shape[:-2]
    slices = []
    for index in itertools.islice(np.ndindex(*lead), MAX_SLICES):
        label = "[" + ", ".join([*map(str, index), ":", ":"]) + "]"
        body = _table(
            a[index],
            shade[index] if shade is not None else None,
            diff[index] if diff is not None else None,
            index,
        )
        # One slice (leading axes of length 1) needs no label: the shape above says it.
        head = f'<span class="ix">{_esc(label)}</span>' if math.prod(lead) > 1 else ""
        slices.append(f'<div class="slice">{head}{body}</div>')
    rest = math.prod(lead) - MAX_SLICES
    if rest > 0:
        slices.append(f'<div class="slice more">… {rest} more slices</div>')
    return f'<div class="arr">{_meta(a)}<div class="slices">{"".join(slices)}</div></div>'


def _shade_for(a: np.ndarray, mask: np.ndarray | None) -> np.ndarray | None:
    """The cells of ``a`` under a False of the input mask, when ``a`` is laid out like it
    (its leading axes are the mask's: (B, T) for a mask of (B, T), (B, T, D) too)."""
    if mask is None or mask.ndim == 0 or a.ndim < mask.ndim or a.shape[: mask.ndim] != mask.shape:
        return None
    hidden = ~mask.reshape(mask.shape + (1,) * (a.ndim - mask.ndim))
    return np.broadcast_to(hidden, a.shape)


def _is_namedtuple(value: Any) -> bool:
    return isinstance(value, tuple) and hasattr(value, "_fields")


def _is_ragged(value: Any) -> bool:
    """A list of sequences of scalars (the inputs of pad_sequences and its kin; a tuple is a
    structure of parts, such as a PackedSequence's fields, and is drawn part by part)."""
    if not isinstance(value, list) or not value:
        return False
    return all(
        (isinstance(s, np.ndarray) and s.ndim == 1)
        or (isinstance(s, (list, tuple)) and all(np.isscalar(x) for x in s))
        for s in value
    )


def _ragged(value: list[Any]) -> str:
    rows = []
    for i, seq in enumerate(value[:MAX_ROWS]):
        items = list(seq)
        cells = [_cell(x, (i, j), False, False) for j, x in enumerate(items[:MAX_COLS])]
        if len(items) > MAX_COLS:
            cells.append(f'<td class="more">… {len(items) - MAX_COLS} more</td>')
        if not items:
            cells.append('<td class="none" title="an empty sequence">∅</td>')
        rows.append(f'<tr><th class="ix">{i}</th>{"".join(cells)}</tr>')
    if len(value) > MAX_ROWS:
        rows.append(f'<tr><td class="more" colspan="2">… {len(value) - MAX_ROWS} more</td></tr>')
    lengths = ", ".join(str(len(s)) for s in value[:20]) + (", …" if len(value) > 20 else "")
    noun = "sequence" if len(value) == 1 else "sequences"
    meta = f'<span class="meta">{len(value)} {noun}, lengths {_esc(lengths)}</span>'
    return f'<div class="arr">{meta}<table class="grid ragged">{"".join(rows)}</table></div>'


def _raised(r: Raised) -> str:
    message = r.message if len(r.message) <= 600 else r.message[:599] + "…"
    return (
        f'<div class="raised"><b>raises {_esc(r.error.__name__)}</b>'
        f"{': ' if message else ''}{_esc(message)}</div>"
    )


def _described(value: Described) -> str:
    """An outcome as a child process (another Keras backend) described it."""
    head, sep, message = value.partition(": ")
    if head.startswith("raises ") and " " not in head[7:]:
        return f'<div class="raised"><b>{_esc(head)}</b>{sep}{_esc(message)}</div>'
    return f'<pre class="text described">{_esc(value)}</pre>'


def _text(value: Any) -> str:
    if isinstance(value, Described):
        return _described(value)
    if isinstance(value, float) and math.isnan(value):
        return '<code class="scalar nan">nan</code>'
    if isinstance(value, float) and math.isinf(value):
        return f'<code class="scalar inf">{_esc(repr(value))}</code>'
    return f'<code class="scalar">{_esc(describe(value, 300))}</code>'


def _labelled(parts: Iterable[tuple[str, str]], more: int = 0) -> str:
    body = "".join(
        f"<figure><figcaption><code>{_esc(label)}</code></figcaption>{inner}</figure>"
        for label, inner in parts
    )
    if more > 0:
        body += f'<figure class="more">… {more} more</figure>'
    return f'<div class="parts">{body}</div>'


def _labels(value: list[Any] | tuple[Any, ...]) -> list[str]:
    if _is_namedtuple(value):
        return list(value._fields)  # type: ignore[union-attr]
    return [f"[{i}]" for i in range(len(value))]


def render(value: Any, mask: np.ndarray | None = None, depth: int = 0) -> str:
    """Any input or outcome as HTML: arrays as grids, the rest as text."""
    return render_pair(value, None, mask, None, depth)[0]


def _differs(case: Case | None, e: np.ndarray, g: np.ndarray) -> np.ndarray | None:
    """The cells where two outcomes of one shape differ (NaN equals NaN; within the case's
    tolerance for floats); None when they cannot be compared cell by cell."""
    if e.shape != g.shape or e.dtype.kind not in "biuf" or g.dtype.kind not in "biuf":
        return None
    ef, gf = e.astype(np.float64), g.astype(np.float64)
    rtol, atol = 0.0, 0.0
    if case is not None:
        rtol, atol = (case.tolerances or {}).get(e.dtype.name, (case.rtol, case.atol))
    with np.errstate(invalid="ignore"):
        same = (ef == gf) | (np.isnan(ef) & np.isnan(gf))
        same |= np.isclose(ef, gf, rtol=rtol, atol=atol)
    return ~same


def render_pair(
    expected: Any,
    got: Any,
    mask: np.ndarray | None,
    case: Case | None,
    depth: int = 0,
) -> tuple[str, str]:
    """Two outcomes drawn side by side, the cells where they differ outlined in both.

    ``got`` None with ``case`` None draws ``expected`` alone (the input's values).
    """
    pair = case is not None

    def alone(value: Any, level: int = depth) -> str:
        return render_pair(value, None, mask, None, level)[0]

    if depth > MAX_DEPTH:
        return _text(expected), _text(got) if pair else ""
    if isinstance(expected, np.generic):  # a NumPy scalar: drawn as a 0-D array (its dtype)
        expected = np.asarray(expected)
    if isinstance(got, np.generic):
        got = np.asarray(got)
    if isinstance(expected, np.ndarray):
        diff = _differs(case, expected, got) if pair and isinstance(got, np.ndarray) else None
        left = _array(expected, _shade_for(expected, mask), diff)
        right = (
            _array(got, _shade_for(got, mask), diff)
            if isinstance(got, np.ndarray)
            else alone(got)
            if pair
            else ""
        )
        return left, right
    if isinstance(expected, Raised):
        return _raised(expected), alone(got) if pair else ""
    if _is_ragged(expected):
        return _ragged(expected), alone(got) if pair else ""
    if isinstance(expected, dict):
        keys = list(expected)[:MAX_ITEMS]
        parts = [(str(k), alone(expected[k], depth + 1)) for k in keys]
        return _labelled(parts, len(expected) - len(keys)), alone(got) if pair else ""
    if isinstance(expected, (list, tuple)) and expected:
        n = min(len(expected), MAX_ITEMS)
        labels = _labels(expected)[:n]
        # Parts drawn pairwise when both sides have the same structure, so differences show.
        same = pair and isinstance(got, (list, tuple)) and len(got) == len(expected)
        if same:
            drawn = [render_pair(e, g, mask, case, depth + 1) for e, g in zip(expected, got)]
            left = _labelled(zip(labels, (d[0] for d in drawn[:n])), len(expected) - n)
            right = _labelled(zip(labels, (d[1] for d in drawn[:n])), len(expected) - n)
            return left, right
        drawn_e = [alone(v, depth + 1) for v in expected[:n]]
        left = _labelled(zip(labels, drawn_e), len(expected) - n)
        return left, alone(got) if pair else ""
    if pair and not _is_plain(got):
        return _text(expected), alone(got)
    return _text(expected), _text(got) if pair else ""


def _is_plain(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, bytes))


def _input_mask(inputs: Any) -> np.ndarray | None:
    """The input named ``mask`` when it is a bool array (True = valid, maskref's convention)."""
    mask = inputs.get("mask") if isinstance(inputs, dict) else None
    if isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.ndim >= 1:
        return mask
    return None


# --- the page -------------------------------------------------------------------------------


def _note(f: Finding, word: str) -> str:
    """The short text after the status: what was recorded, or what was found instead."""
    if "BACKENDS DIFFER" in word:
        return word
    if f.status == "unavailable":
        return f.why
    if f.status == "agrees":
        return f"recorded divergence {f.case.expect} is gone" if f.case.expect else ""
    if f.case.expect:
        return f.case.expect
    return f"not recorded: {f.why}"


def _detail(f: Finding) -> str:
    """The body of an expanded row: the explanation, then the smallest input and outcomes."""
    out = []
    if f.case.explanation:
        out.append(f'<p class="why"><b>Why.</b> {_esc(f.case.explanation)}</p>')
    if f.case.domain:
        out.append(f'<p class="domain"><b>Inputs drawn:</b> {_esc(f.case.domain)}</p>')
    if f.status == "unavailable":
        out.append(f'<p class="na">{_esc(f.why)}: this case did not run.</p>')
        return "".join(out)
    if f.status == "agrees":
        out.append(
            f'<p class="ok">Agrees with the reference on up to {f.examples} drawn inputs.</p>'
        )
        return "".join(out)
    shown = (
        "on the case's pinned example"
        if f.examples == 1
        else f"the smallest of up to {f.examples} drawn inputs"
    )
    out.append(f'<p class="differs"><b>Differs:</b> {_esc(f.why)} <span>({shown})</span></p>')
    if f.inputs is None:
        return "".join(out)
    try:
        mask = _input_mask(f.inputs)
        inputs = (
            _labelled([(str(k), render(v, mask)) for k, v in f.inputs.items()])
            if isinstance(f.inputs, dict)
            else _text(f.inputs)  # described by the process that ran another Keras backend
        )
        reference, api = render_pair(f.expected, f.got, mask, f.case)
    except Exception as err:  # a value no grid can draw must not cost the whole report
        out.append(
            f'<pre class="text">could not draw ({_esc(err)}):\ninput: {_esc(describe(f.inputs))}'
            f"\nreference: {_esc(describe(f.expected))}\napi: {_esc(describe(f.got))}</pre>"
        )
        return "".join(out)
    out.append(
        '<div class="io">'
        f'<section class="inputs"><h4>Smallest input</h4>{inputs}</section>'
        '<div class="outcomes">'
        f'<section class="outcome ref"><h4>Reference gives</h4>{reference}</section>'
        f'<section class="outcome api"><h4><code>{_esc(f.case.api)}</code> gives</h4>'
        f"{api}</section></div></div>"
    )
    return "".join(out)


def _unexpected(f: Finding, word: str) -> bool:
    """Not what the registry records, or not what Keras does on the report's own backend."""
    return not f.as_expected or "BACKENDS DIFFER" in word


def _row(f: Finding, word: str, rid: str) -> str:
    case = f.case
    outcome = outcome_of(f)
    framework = framework_of(case)
    unexpected = _unexpected(f, word)
    note = _note(f, word)
    search = " ".join(
        [case.case_id, case.operation, framework, case.kind, word, case.explanation, f.why]
    ).lower()
    attrs = {
        "id": rid,
        "class": "case" + (" unexpected" if unexpected else ""),
        "data-status": f.status,
        "data-outcome": outcome,
        "data-framework": framework,
        "data-kind": case.kind,
        "data-operation": case.operation,
        "data-unexpected": "true" if unexpected else "false",
        "data-case-id": case.case_id,
        "data-search": search,
    }
    flag = '<span class="flag">unexpected</span>' if unexpected else ""
    domain = f'<span class="domain">{_esc(case.domain)}</span>' if case.domain else ""
    line = (
        f'<span class="badge {_esc(outcome)}">{_esc(STATUS_LABELS.get(outcome, outcome))}</span>'
        f'<span class="api"><code>{_esc(case.api)}</code>{domain}</span>'
        f'<span class="fw">{_esc(framework)}</span>'
        f'<span class="kind">{_esc(KIND_SHORT.get(case.kind, case.kind))}</span>'
        f'<span class="note">{flag}{_esc(note)}</span>'
    )
    open_attr = " ".join(f'{k}="{_esc(v)}"' for k, v in attrs.items())
    if f.status == "agrees" and f.as_expected and not case.explanation:
        return f'<div {open_attr}><div class="line plain">{line}</div></div>'
    return (
        f'<div {open_attr}><details><summary class="line">{line}</summary>'
        f'<div class="detail">{_detail(f)}</div></details></div>'
    )


def _overview(findings: list[Finding]) -> str:
    """The matrix of operation × column: how many cases agree, diverge, surprise, or did
    not run; each cell links to the operation's rows."""
    present = [c for c in COLUMNS if any(column_of(f.case) == c for f in findings)]
    present += sorted({column_of(f.case) for f in findings} - set(present))
    cells: dict[tuple[str, str], list[Finding]] = {}
    operations: list[str] = []
    for f in findings:
        if f.case.operation not in operations:
            operations.append(f.case.operation)
        cells.setdefault((f.case.operation, column_of(f.case)), []).append(f)
    head = "".join(f"<th>{_esc(c)}</th>" for c in present)
    rows = []
    for op in operations:
        tds = []
        for col in present:
            group = cells.get((op, col), [])
            if not group:
                tds.append('<td class="nil"></td>')
                continue
            counts = {
                "ok": sum(f.status == "agrees" and f.as_expected for f in group),
                "div": sum(f.status == "diverges" and f.as_expected for f in group),
                "bad": sum(not f.as_expected for f in group),
                "na": sum(f.status == "unavailable" for f in group),
            }
            marks = {"ok": "✓", "div": "≠", "bad": "!", "na": "–"}
            chips = "".join(
                f'<span class="c {k}">{marks[k]}{n}</span>' for k, n in counts.items() if n
            )
            title = "\n".join(
                f"{STATUS_LABELS.get(outcome_of(f), f.status)}"
                f"{'' if f.as_expected else ' (unexpected)'}: {f.case.api}"
                + (f" [{f.case.expect}]" if f.case.expect else "")
                for f in group
            )
            tds.append(f'<td title="{_esc(title)}"><a href="#op-{_esc(op)}">{chips}</a></td>')
        rows.append(
            f'<tr data-operation="{_esc(op)}"><th><a href="#op-{_esc(op)}">{_esc(op)}</a></th>'
            + "".join(tds)
            + "</tr>"
        )
    return (
        '<table class="matrix"><thead><tr><th>operation</th>'
        + head
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _chips(name: str, values: list[str], labels: dict[str, str] | None = None) -> str:
    return "".join(
        f'<label class="chip"><input type="checkbox" name="{name}" value="{_esc(v)}" checked>'
        f"{_esc((labels or {}).get(v, v))}</label>"
        for v in values
    )


def format_html(findings: list[Finding], examples: int) -> str:
    """The report as one HTML page (inline CSS and script; no request when viewed)."""
    from . import report  # here, not at the top: report registers this module's format

    counts = report.summary_counts(findings)
    raises = sum(outcome_of(f) == "raises" for f in findings)
    words = [report.status_word(f) for f in findings]
    unexpected = sum(_unexpected(f, w) for f, w in zip(findings, words))
    order = ("reference", "numpy", *COLUMNS[5:])
    present = {framework_of(f.case) for f in findings}
    frameworks = [fw for fw in order if fw in present] + sorted(present - set(order))
    kinds = [k for k in KIND_LABELS if any(f.case.kind == k for f in findings)]
    kinds += sorted({f.case.kind for f in findings} - set(kinds))

    versions = "".join(
        f'<span class="ver">{_esc(k)} <b>{_esc(v)}</b></span>'
        for k, v in {"maskref": __version__, **report.versions()}.items()
    )
    extras = report.missing_extras(findings)
    hint = (
        '<p class="hint">More cases with <code>pip install -c constraints.txt '
        f"'maskref[{_esc(','.join(extras))}]'</code></p>"
        if extras
        else ""
    )
    failed = report.failed(findings)
    banner = (
        f'<p class="fail">{len(failed)} of maskref\'s own backends or laws diverge from the '
        "reference: <code>maskref report</code> exits with status 1.</p>"
        if failed
        else ""
    )
    cards = [
        ("", "cases", counts["cases"], ""),
        ("agrees", "agree", counts["agrees"], ""),
        (
            "diverges",
            "diverge",
            counts["diverges"],
            f"{counts['recorded_divergences']} recorded",
        ),
        ("raises", "the API raises", raises, "of the divergences"),
        ("unexpected", "unexpected", unexpected, "not what the registry records"),
        ("unavailable", "not installed", counts["unavailable"], ""),
    ]
    summary = "".join(
        f'<button class="card {key or "all"}{" hot" if key == "unexpected" and n else ""}" '
        f'data-filter="{key}" id="count-{key or "cases"}">'
        f'<span class="n">{n}</span><span class="l">{_esc(label)}</span>'
        f'<span class="s">{_esc(sub)}</span></button>'
        for key, label, n, sub in cards
    )

    sections = []
    operation_rows: dict[str, list[str]] = {}
    used: set[str] = set()
    for i, (f, word) in enumerate(zip(findings, words)):
        rid = row_id(f.case)
        rid = rid if rid not in used else f"{rid}-{i}"  # the same case twice: ids stay unique
        used.add(rid)
        operation_rows.setdefault(f.case.operation, []).append(_row(f, word, rid))
    for op, rows in operation_rows.items():
        sections.append(
            f'<section class="op" id="op-{_esc(op)}" data-operation="{_esc(op)}">'
            f'<h3>{_esc(op)} <span class="count">{len(rows)}</span></h3>{"".join(rows)}</section>'
        )

    status_options = "".join(
        f'<option value="{k}">{_esc(v)}</option>'
        for k, v in (
            ("", "every status"),
            ("agrees", "agrees"),
            ("diverges", "diverges"),
            ("raises", "diverges: the API raises"),
            ("unexpected", "unexpected"),
            ("unavailable", "not installed"),
        )
    )
    return _PAGE.format(
        css=_CSS,
        js=_JS,
        examples=examples,
        n=len(findings),
        versions=versions,
        hint=hint,
        banner=banner,
        summary=summary,
        summary_line=_esc(report.summary_line(findings)),
        overview=_overview(findings),
        status_options=status_options,
        frameworks=_chips("framework", frameworks),
        kinds=_chips("kind", kinds, KIND_LABELS),
        sections="".join(sections),
    )


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="maskref report">
<link rel="icon" href="data:,">
<title>maskref behaviour report</title>
<style>{css}</style>
</head>
<body>
<header>
  <h1>maskref behaviour report</h1>
  <p class="sub">{n} cases, up to {examples} drawn inputs each. Each API is compared with
  maskref's reference; a divergence shows the smallest input found.</p>
  <div class="versions">{versions}</div>
  {hint}
</header>
<main>
{banner}
<div class="summary" id="summary">{summary}</div>
<p class="summary-line" id="summary-line">{summary_line}</p>
<details class="overview" open>
  <summary>Overview: operation × framework</summary>
  <p class="legend"><span class="c ok">✓ agrees</span><span class="c div">≠ recorded
  divergence</span><span class="c bad">! unexpected</span><span class="c na">– not
  installed</span> Click an operation to see its cases.</p>
  <div class="matrix-wrap">{overview}</div>
</details>
<div class="toolbar" id="toolbar">
  <input type="search" id="search" placeholder="Search APIs, operations, explanations… (/)"
    aria-label="search">
  <select id="filter-status" aria-label="status">{status_options}</select>
  <div class="chips" id="filter-framework">{frameworks}</div>
  <div class="chips" id="filter-kind">{kinds}</div>
  <span class="tools">
    <button type="button" id="expand">expand shown</button>
    <button type="button" id="collapse">collapse</button>
    <button type="button" id="reset">reset</button>
  </span>
  <span id="visible-count" class="visible-count"></span>
</div>
<p class="legend grids">In the drawn grids:
  <span class="sw m">masked</span> where the input <code>mask</code> is False,
  <span class="sw nan">NaN</span>, <span class="sw inf">∞</span>,
  <span class="sw d">1.5</span> where the reference and the API differ.
  Hover a cell for its index and exact value.</p>
<div id="cases">{sections}</div>
<p id="nothing" class="nothing" hidden>No case matches these filters.</p>
</main>
<script>{js}</script>
</body>
</html>
"""

_CSS = """
:root { --bg:#fbfbfc; --fg:#1d2330; --muted:#667085; --line:#e3e6ec; --card:#fff;
  --ok:#1a7f37; --ok-bg:#e6f4ea; --div:#9a6700; --div-bg:#fff4d6; --bad:#c62828;
  --bad-bg:#fdecea; --na:#6b7280; --na-bg:#eef0f3; --raise:#b4461b; --raise-bg:#fde9df;
  --nan:#7b1fa2; --nan-bg:#f3e5f5; --inf:#0b57d0; --inf-bg:#e3ecfd; --grid:#c9ced8;
  --stripe:rgba(40,50,70,.16); --accent:#3656d8; }
@media (prefers-color-scheme: dark) { :root { --bg:#14171d; --fg:#e4e7ee; --muted:#98a2b3;
  --line:#2a2f3a; --card:#1b1f27; --ok:#5fd07f; --ok-bg:#173222; --div:#e9b949;
  --div-bg:#3a2f12; --bad:#ff7a70; --bad-bg:#3d1c1c; --na:#a0a7b4; --na-bg:#262a33;
  --raise:#ff9b6b; --raise-bg:#3c2418; --nan:#d69cf0; --nan-bg:#34203d; --inf:#8fb3ff;
  --inf-bg:#1c2a45; --grid:#3a4150; --stripe:rgba(200,210,230,.16); --accent:#8ea5ff; } }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
  font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
code, pre, .grid, .c, .badge, .ver b { font-family: ui-monospace, "SF Mono", Menlo, Consolas,
  "DejaVu Sans Mono", monospace; }
code { font-size: 12.5px; }
header { padding: 20px 28px 12px; border-bottom: 1px solid var(--line); background: var(--card); }
h1 { margin: 0 0 4px; font-size: 22px; }
.sub { margin: 0 0 10px; color: var(--muted); }
.versions { display:flex; flex-wrap:wrap; gap:6px; }
.ver { background:var(--na-bg); border-radius: 10px; padding: 1px 9px; font-size: 12px; }
.hint { margin: 8px 0 0; color: var(--muted); font-size: 13px; }
main { padding: 16px 28px 60px; max-width: 1500px; }
.fail { background: var(--bad-bg); color: var(--bad); border: 1px solid var(--bad);
  padding: 8px 12px; border-radius: 6px; font-weight: 600; }
.summary { display:flex; flex-wrap:wrap; gap:10px; }
.card { display:flex; flex-direction:column; align-items:flex-start; min-width:120px;
  padding:8px 14px; border:1px solid var(--line); border-radius:8px; background:var(--card);
  color:var(--fg); cursor:pointer; font:inherit; text-align:left; }
.card:hover, .card.active { border-color: var(--accent); box-shadow: 0 0 0 1px var(--accent); }
.card .n { font-size: 24px; font-weight: 700; line-height: 1.1; }
.card .l { font-size: 13px; } .card .s { font-size: 11px; color: var(--muted); min-height: 1em; }
.card.agrees .n { color: var(--ok); } .card.diverges .n { color: var(--div); }
.card.raises .n { color: var(--raise); } .card.unavailable .n { color: var(--na); }
.card.hot .n { color: var(--bad); } .card.hot { border-color: var(--bad); }
.summary-line { color: var(--muted); margin: 8px 0 14px; }
details.overview { background: var(--card); border:1px solid var(--line); border-radius:8px;
  padding: 8px 14px; margin-bottom: 16px; }
details.overview > summary { cursor:pointer; font-weight:600; }
.matrix-wrap { overflow:auto; max-height: 420px; }
.matrix { border-collapse: collapse; font-size: 12.5px; }
.matrix th, .matrix td { border-bottom: 1px solid var(--line); padding: 2px 8px;
  text-align:left; white-space: nowrap; }
.matrix thead th { position: sticky; top: 0; background: var(--card); z-index: 1;
  color: var(--muted); font-weight: 600; }
.matrix tbody th { font-weight: 500; } .matrix a { color: inherit; text-decoration: none; }
.matrix tbody tr:hover { background: var(--na-bg); }
.c { display:inline-block; border-radius: 4px; padding: 0 5px; margin-right: 3px;
  font-size: 12px; }
.c.ok { color: var(--ok); background: var(--ok-bg); }
.c.div { color: var(--div); background: var(--div-bg); }
.c.bad { color: var(--bad); background: var(--bad-bg); font-weight: 700; }
.c.na { color: var(--na); background: var(--na-bg); }
.legend { color: var(--muted); font-size: 12.5px; }
.toolbar { position: sticky; top: 0; z-index: 5; display:flex; flex-wrap:wrap; gap:8px 12px;
  align-items:center; padding: 10px 0; background: var(--bg); border-bottom:1px solid var(--line); }
#search { flex: 1 1 260px; min-width: 200px; padding: 6px 10px; border:1px solid var(--grid);
  border-radius: 6px; background: var(--card); color: var(--fg); font: inherit; }
select, .tools button { padding: 5px 8px; border:1px solid var(--grid); border-radius:6px;
  background: var(--card); color: var(--fg); font: inherit; cursor: pointer; }
.chips { display:flex; flex-wrap:wrap; gap:4px; }
.chip { display:inline-flex; align-items:center; gap:3px; padding: 2px 8px 2px 4px;
  border:1px solid var(--line); border-radius: 12px; font-size: 12.5px; cursor: pointer;
  background: var(--card); user-select: none; }
.chip:has(input:not(:checked)) { opacity: .45; text-decoration: line-through; }
.visible-count { color: var(--muted); font-size: 12.5px; margin-left: auto; }
.sw { display:inline-block; padding: 0 5px; border:1px solid var(--grid);
  font-family: ui-monospace, monospace; font-size: 12px; }
section.op { margin-top: 14px; }
section.op, .case { scroll-margin-top: 130px; }  /* clear of the sticky toolbar */
section.op h3 { margin: 0 0 4px; font-size: 15px; padding-top: 4px; }
section.op h3 .count { color: var(--muted); font-weight: 400; font-size: 12px; }
.case { border:1px solid var(--line); border-left: 4px solid var(--line); border-radius: 6px;
  background: var(--card); margin: 3px 0; }
.case[data-status="agrees"] { border-left-color: var(--ok); }
.case[data-status="diverges"] { border-left-color: var(--div); }
.case[data-outcome="raises"] { border-left-color: var(--raise); }
.case[data-status="unavailable"] { border-left-color: var(--na); }
.case.unexpected { border-color: var(--bad); border-left-color: var(--bad);
  box-shadow: 0 0 0 1px var(--bad-bg); }
.line { position: relative; display:grid; gap: 10px; align-items: baseline;
  grid-template-columns: 112px minmax(240px, 3fr) 84px 112px minmax(160px, 2fr);
  padding: 5px 10px 5px 24px; }
summary.line { cursor: pointer; list-style: none; }
summary.line::-webkit-details-marker { display:none; }
summary.line::before { content: "▸"; position: absolute; left: 8px; top: 5px;
  color: var(--muted); }
details[open] > summary.line::before { content: "▾"; }
summary.line:hover { background: var(--na-bg); }
.badge { justify-self: start; border-radius: 10px; padding: 0 8px; font-size: 12px;
  font-weight: 600; white-space: nowrap; }
.badge.agrees { color: var(--ok); background: var(--ok-bg); }
.badge.diverges { color: var(--div); background: var(--div-bg); }
.badge.raises { color: var(--raise); background: var(--raise-bg); }
.badge.unavailable { color: var(--na); background: var(--na-bg); }
.api { overflow-wrap: anywhere; }
.api .domain { display:block; color: var(--muted); font-size: 12px; }
.fw, .kind { color: var(--muted); font-size: 12.5px; }
.note { font-size: 12.5px; overflow-wrap: anywhere; font-family: ui-monospace, monospace; }
.flag { color: #fff; background: var(--bad); border-radius: 4px; padding: 0 5px;
  margin-right: 6px; font-family: system-ui, sans-serif; font-size: 11px; font-weight: 700; }
.detail { padding: 4px 16px 14px; border-top: 1px dashed var(--line); }
.detail p { margin: 8px 0; max-width: 110ch; }
.detail .differs span, .detail .domain { color: var(--muted); }
.io { display:flex; flex-wrap: wrap; gap: 14px 28px; align-items: flex-start; }
.io h4 { margin: 4px 0 6px; font-size: 12px; text-transform: uppercase; letter-spacing: .04em;
  color: var(--muted); }
.io h4 code { text-transform: none; letter-spacing: 0; }
.outcomes { display:flex; flex-wrap: wrap; gap: 14px 28px; }
.outcome { padding-left: 14px; border-left: 3px solid var(--line); }
.outcome.ref { border-left-color: var(--ok); } .outcome.api { border-left-color: var(--div); }
.parts { display:flex; flex-wrap: wrap; gap: 10px 18px; align-items: flex-start; }
figure { margin: 0; }
figcaption { font-size: 12px; margin-bottom: 2px; }
.meta { display:block; color: var(--muted); font-size: 11px; margin-bottom: 2px;
  font-family: ui-monospace, monospace; }
.slices { display:flex; flex-wrap: wrap; gap: 6px 12px; }
.slice .ix, .grid th.ix { color: var(--muted); font-size: 11px; font-weight: 400; }
.slice .ix { display:block; }
table.grid { border-collapse: collapse; font-size: 12.5px; }
.grid td { border: 1px solid var(--grid); padding: 1px 6px; min-width: 2.2em; height: 1.7em;
  text-align: right; }
.grid th.ix { padding: 0 5px 0 0; text-align: right; }
.grid td.t { color: var(--ok); font-weight: 600; text-align: center; }
.grid td.f { color: var(--muted); text-align: center; }
.grid td.s { text-align: left; }
.m, .sw.m { background-image: repeating-linear-gradient(135deg, var(--stripe) 0 3px,
  transparent 3px 7px); color: var(--muted); }
.nan, .sw.nan { background-color: var(--nan-bg); color: var(--nan) !important; font-weight: 700; }
.inf, .sw.inf { background-color: var(--inf-bg); color: var(--inf) !important; font-weight: 700; }
.grid td.d, .sw.d { box-shadow: inset 0 0 0 2px var(--bad); }
.grid td.more, .grid td.none { color: var(--muted); border-style: dashed; text-align: center; }
.empty { display:inline-block; color: var(--muted); border: 1px dashed var(--grid);
  padding: 2px 10px; font-size: 12px; }
.raised { color: var(--raise); background: var(--raise-bg); border-radius: 6px;
  padding: 6px 10px; max-width: 70ch; font-family: ui-monospace, monospace; font-size: 12.5px;
  white-space: pre-wrap; overflow-wrap: anywhere; }
.scalar { background: var(--na-bg); border-radius: 4px; padding: 1px 6px; }
pre.text { white-space: pre-wrap; overflow-wrap: anywhere; max-width: 100ch; font-size: 12px;
  margin: 0; }
.nothing { color: var(--muted); padding: 20px 0; }
[hidden] { display: none !important; }
@media (max-width: 900px) { .line { grid-template-columns: 112px 1fr; }
  .toolbar { position: static; } section.op, .case { scroll-margin-top: 0; }
  .fw, .kind { display: none; } .note { grid-column: 2; } main { padding: 12px; } }
"""

_JS = """
(() => {
  const $ = (s) => document.querySelector(s);
  const rows = Array.from(document.querySelectorAll('.case'));
  const sections = Array.from(document.querySelectorAll('section.op'));
  const search = $('#search'), status = $('#filter-status'), count = $('#visible-count');
  const checked = (name) => new Set(Array.from(
    document.querySelectorAll('input[name="' + name + '"]:checked'), (i) => i.value));
  function matches(d, st) {
    if (!st) return true;
    if (st === 'unexpected') return d.unexpected === 'true';
    if (st === 'raises') return d.outcome === 'raises';
    return d.status === st;
  }
  function apply() {
    const terms = search.value.trim().toLowerCase().split(/\\s+/).filter(Boolean);
    const fw = checked('framework'), kinds = checked('kind'), st = status.value;
    let shown = 0;
    for (const r of rows) {
      const d = r.dataset;
      const ok = fw.has(d.framework) && kinds.has(d.kind) && matches(d, st)
        && terms.every((t) => d.search.includes(t));
      r.hidden = !ok;
      if (ok) shown++;
    }
    for (const s of sections) s.hidden = !s.querySelector('.case:not([hidden])');
    count.textContent = 'showing ' + shown + ' of ' + rows.length + ' cases';
    count.dataset.shown = shown;
    $('#nothing').hidden = shown > 0;
    for (const c of document.querySelectorAll('.card'))
      c.classList.toggle('active', c.dataset.filter === st && st !== '');
  }
  search.addEventListener('input', apply);
  status.addEventListener('change', apply);
  for (const i of document.querySelectorAll('.chips input')) i.addEventListener('change', apply);
  for (const c of document.querySelectorAll('.card')) c.addEventListener('click', () => {
    status.value = status.value === c.dataset.filter ? '' : c.dataset.filter;
    apply();
    $('#toolbar').scrollIntoView({behavior: 'smooth'});
  });
  const visibleDetails = () => rows.filter((r) => !r.hidden).map((r) => r.querySelector('details'))
    .filter(Boolean);
  $('#expand').addEventListener('click', () => visibleDetails().forEach((d) => d.open = true));
  $('#collapse').addEventListener('click', () => visibleDetails().forEach((d) => d.open = false));
  $('#reset').addEventListener('click', () => {
    search.value = ''; status.value = '';
    for (const i of document.querySelectorAll('.chips input')) i.checked = true;
    apply();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === '/' && document.activeElement !== search) { e.preventDefault(); search.focus(); }
  });
  function openHash() {
    const el = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (!el) return;
    if (el.hidden || el.closest('[hidden]')) {  // a link to what the filters hide: show all
      $('#reset').click();
      el.scrollIntoView();
    }
    const d = el.querySelector('details');
    if (d && el.classList.contains('case')) d.open = true;
  }
  window.addEventListener('hashchange', openHash);
  apply();
  openHash();
})();
"""
