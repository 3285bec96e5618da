"""The HTML report: its markup, and the page driven in a real (headless) Chromium.

The browser test runs cases of a few operations that need only NumPy (the reference's laws,
numpy.ma and a NumPy idiom, recorded divergences among them) plus one case whose module is
absent, so it runs the same on CI's NumPy-only leg as with every framework installed.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import require_chromium
from hypothesis import strategies as st

from maskref import report
from maskref.conformance import Case, Finding, all_cases, probe
from maskref.conformance.core import Raised
from maskref.keras_backends import Described
from maskref.report_html import format_html, framework_of, row_id

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _case(api: str = "demo.api", **fields) -> Case:
    defaults = dict(
        operation="masked_mean",
        api=api,
        inputs=lambda: st.just({}),
        reference=lambda i: 0,
        candidate=lambda i: 0,
    )
    return Case(**{**defaults, **fields})


ABSENT = _case(
    "absent.pad_sequences", operation="pad_sequences", requires=("maskref_no_such_module",)
)


@pytest.fixture(scope="module")
def findings() -> list[Finding]:
    operations = {"pad_sequences", "masked_mean", "masked_max", "masked_argmax", "apply_mask"}
    cases = [c for c in all_cases() if not c.requires and c.operation in operations]
    return [probe(c, 5) for c in report.select([*cases, ABSENT], None)]


def _cells(page: str, title: str) -> list[set[str]]:
    """The CSS classes of each grid cell whose tooltip starts with ``title``."""
    pattern = r'<td(?: class="([^"]*)")? title="' + re.escape(title)
    return [set(m.group(1).split()) if m.group(1) else set() for m in re.finditer(pattern, page)]


def test_the_page_draws_masked_nan_and_inf_cells_and_escapes_text():
    nan, inf = float("nan"), float("inf")
    case = _case(
        "<script>alert('x')</script> & co",
        expect="nan-leaks",
        explanation='a "quoted" <b>why</b>',
    )
    found = Finding(
        case,
        "diverges",
        inputs={
            "x": np.array([[1.5, nan], [3.0, 4.0]], np.float32),
            "mask": np.array([[True, False], [True, True]]),
            "sequences": [[1, 2, 3], []],
        },
        expected=np.array([[1.5, 0.0], [3.0, inf]], np.float32),
        got=np.array([[1.5, nan], [3.0, -inf]], np.float32),
        why="NaN pattern differs",
        examples=5,
    )
    page = format_html([found], 5)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in page
    assert "a &quot;quoted&quot; &lt;b&gt;why&lt;/b&gt;" in page
    # The input's NaN sits under a False of the mask: marked NaN and shaded.
    assert {"nan", "m"} <= _cells(page, "[0, 1] = NaN")[0]
    assert "m" in _cells(page, "[0, 1] = False")[0]  # the mask's own False cell
    assert "m" not in _cells(page, "[0, 0] = True")[0]
    # Outcomes: inf marked, and the cells where reference and API differ outlined.
    assert all("inf" in c and "d" in c for c in _cells(page, "[1, 1] = ") if "inf" in c)
    assert len(_cells(page, "[1, 1] = inf")) == 1 and len(_cells(page, "[1, 1] = -inf")) == 1
    assert all("d" not in c for c in _cells(page, "[0, 0] = 1.5"))
    assert "2 sequences, lengths 3, 0" in page


def test_the_page_needs_no_network_and_caps_large_values():
    huge = Finding(
        _case("big.api", kind="backend"),  # unrecorded, from a maskref backend: the run fails
        "diverges",
        inputs={"x": np.zeros((6, 40, 50)), "y": np.zeros((2, 2, 2, 2, 200)), "s": "text"},
        expected=(np.arange(1000), Raised(ValueError, "bad <input>")),
        got=Described("raises ValueError: from keras/torch"),
        why="one raises, the other returns",
        examples=5,
    )
    page = format_html([huge], 5)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "http://" not in page and "https://" not in page
    assert "@import" not in page and "url(" not in page
    assert "… 2 more slices" in page and "more rows" in page and "more columns" in page
    assert page.count("<td") < 1000  # 12,000 + 3,200 + 1,000 elements, drawn in part
    assert "array([[[[[0.0, 0.0" in page  # 5-D: as text
    assert "raises ValueError</b>: bad &lt;input&gt;" in page
    assert 'data-unexpected="true"' in page and "exits with status 1" in page


def test_every_case_has_a_framework_and_a_stable_row_id():
    cases = all_cases()
    ids = [row_id(c) for c in cases]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"case-[a-z0-9-]+", i) for i in ids)
    frameworks = {framework_of(c) for c in cases}
    assert frameworks <= {
        "reference",
        "numpy",
        "tensorflow",
        "keras",
        "torch",
        "jax",
        "flax",
        "transformers",
    }
    assert {"reference", "numpy"} <= frameworks


def test_the_page_in_a_browser(findings, tmp_path):
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    path = tmp_path / "report.html"
    path.write_text(format_html(findings, 5), encoding="utf-8")
    data = json.loads(report.as_json(findings, 5))
    records = data["cases"]
    diverging = [c for c in records if c["status"] == "diverges"]
    assert data["summary"]["diverges"] == len(diverging) > 0
    assert data["summary"]["unavailable"] == 1 and data["summary"]["agrees"] > 0

    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.as_uri())

            shown = page.locator(".case:visible")
            ids = page.eval_on_selector_all(".case", "rows => rows.map(r => r.dataset.caseId)")
            assert ids == [c["id"] for c in records]
            assert shown.count() == len(records)

            page.select_option("#filter-status", "diverges")
            assert shown.count() == len(diverging)
            assert (
                page.inner_text("#visible-count") == f"showing {len(diverging)} of {len(ids)} cases"
            )
            page.select_option("#filter-status", "unavailable")
            assert shown.count() == 1
            page.click("#reset")
            page.uncheck('input[name="kind"][value="invariant"]')
            assert shown.count() == sum(c["kind"] != "invariant" for c in records)
            page.click("#reset")

            term = "masked_max:numpy.ma"
            page.fill("#search", term.upper())  # the search ignores case
            expected = [c["id"] for c in records if term in c["id"]]
            assert len(expected) == 2
            assert (
                page.eval_on_selector_all(
                    ".case:not([hidden])", "rows => rows.map(r => r.dataset.caseId)"
                )
                == expected
            )

            page.fill("#search", "nan-under-the-mask-leaks")
            row = page.locator(".case:visible")
            assert row.count() == 1
            grids = row.locator(".detail table.grid")
            assert not grids.first.is_visible()
            row.locator("summary").click()
            assert grids.first.is_visible()
            assert grids.count() >= 4  # x, mask, the reference's and the API's outcome
            assert row.locator(".inputs td.nan.m").first.is_visible()  # NaN under the mask
            assert row.locator(".outcome.api td.nan.d").first.is_visible()  # it leaks
            page.screenshot(path=tmp_path / "report.png", full_page=True)
        finally:
            browser.close()
    png = (tmp_path / "report.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert not errors
    assert requests and all(url.startswith(("file://", "data:")) for url in requests), requests
