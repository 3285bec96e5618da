"""The documentation: the site builds with ``--strict``, every example of README.md and
docs/*.md runs as shown (in every backend it claims), and what the pages generate from
the code (rules, divergences, counts, figures) is what the code says.

The conventions the pages follow are in docs/writing-docs.md.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import importlib.util
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FRAMEWORK, require

from maskref import docs
from maskref.api.exports import SHARED

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
#: The capability pages written with the rule/functions/divergences/figure directives.
CAPABILITY_PAGES = ("padding.md", "masks.md", "flow.md", "reductions.md", "attention.md")
CAPABILITY_PAGES += ("layouts.md",)
#: A build slower than this is a regression worth a look (measured: see the report).
BUILD_SECONDS = 120

_IMPORT_MR = re.compile(r"^([ \t]*)import reference as mr\b", re.M)
_OTHER_REFERENCE_IMPORT = re.compile(r"^[ \t]*(?:import reference\b|from reference\b)", re.M)


# ---------------------------------------------------------------------------------------
# (b), (c): every example runs as shown, in every backend it claims
# ---------------------------------------------------------------------------------------


def _page_params() -> list:
    params = []
    for path in PAGES:
        name = path.relative_to(ROOT).as_posix()
        try:
            claimed = docs.page_snippets(path).claimed_backends()
        except docs.DirectiveError:
            claimed = ()  # the reference run reports the error
        for backend in ("reference", *(b for b in claimed if b != "reference")):
            params.append(pytest.param(path, backend, id=f"{name}-{backend}"))
    return params


def _x64(backend: str) -> contextlib.AbstractContextManager:
    if backend != "jax_impl":
        return contextlib.nullcontext()
    import jax

    # The examples state the reference's int64/float64 results, as the backend fixture does.
    return jax.enable_x64(True)


def _in_backend(snippet: docs.Snippet, backend: str) -> str:
    """The block's code with ``import reference as mr`` made ``import <backend> as mr``."""
    code = _IMPORT_MR.sub(rf"\1import {backend} as mr", snippet.code)
    if _OTHER_REFERENCE_IMPORT.search(code):
        pytest.fail(
            f"line {snippet.line}: a block claimed for {backend} imports reference other "
            "than as `mr`, so the claim would not be tested"
        )
    return code


def _run(snippet: docs.Snippet, code: str, namespace: dict, path: Path) -> None:
    name = f"{path.relative_to(ROOT)}:{snippet.line}"
    if snippet.lang == "python":
        if re.search(r"^\s*>>> ", code, re.M):
            pytest.fail(f"{name}: a python block with >>> prompts: write it as pycon")
        # Leading newlines make tracebacks point at the page's own line numbers.
        exec(compile("\n" * (snippet.line - 1) + code, str(path), "exec"), namespace)
        return
    parser = doctest.DocTestParser()
    test = doctest.DocTest(
        parser.get_examples(code, name), {}, name, str(path), snippet.line - 1, code
    )
    if not test.examples:
        pytest.fail(f"{name}: a pycon block without a >>> prompt")
    test.globs = namespace  # DocTest copies its globs; the page shares one namespace
    runner = doctest.DocTestRunner(
        optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False
    )
    report = io.StringIO()
    result = runner.run(test, out=report.write, clear_globs=False)
    if result.failed:
        pytest.fail(f"{name}: the output differs from the page\n{report.getvalue()}")


def run_page(path: Path, backend: str) -> None:
    """Run a page's blocks in order in one namespace; claimed blocks again in ``backend``."""
    page = docs.page_snippets(path)
    for module in page.requires:
        require(module)
    if backend != "reference":
        require(FRAMEWORK[backend])
    whole_page = backend in page.backends and backend != "reference"
    if whole_page and not any(_IMPORT_MR.search(s.code) for s in page.runnable):
        pytest.fail(f"{path.name} claims {backend} but never imports reference as mr")
    namespace: dict = {"__name__": "__docs__"}
    with _x64(backend if whole_page else "reference"):
        for snippet in page.runnable:
            if snippet.skip:
                continue
            missing = [m for m in snippet.requires if importlib.util.find_spec(m) is None]
            if missing:  # later blocks may need this one: the page stops here
                require(missing[0])
            if whole_page:
                _run(snippet, _in_backend(snippet, backend), namespace, path)
                continue
            _run(snippet, snippet.code, namespace, path)
            if backend != "reference" and backend in snippet.backends:
                if "mr." not in snippet.code:
                    pytest.fail(f"line {snippet.line}: claims {backend} but never calls mr.")
                copy = {**namespace, "mr": importlib.import_module(backend)}
                with _x64(backend):
                    _run(snippet, _in_backend(snippet, backend), copy, path)


@pytest.mark.parametrize(("path", "backend"), _page_params())
def test_examples_run_as_shown(path, backend, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    if importlib.util.find_spec("matplotlib") is not None:
        import matplotlib

        matplotlib.use("Agg")
    try:
        run_page(path, backend)
    finally:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")


# ---------------------------------------------------------------------------------------
# (a): the site builds, with every warning an error
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    for module in ("mkdocs", "material", "matplotlib"):
        require(module)
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}{done.stderr}"
    assert elapsed < BUILD_SECONDS, f"the build took {elapsed:.0f} s"
    print(f"mkdocs build --strict: {elapsed:.1f} s")
    return out


def test_site_builds_strict(site):
    assert (site / "index.html").is_file()
    assert (site / "search" / "search_index.json").is_file()


def test_site_needs_no_network(site):
    """No Google fonts, no CDN: every script and stylesheet is served by the site itself."""
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        external = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', text)
        assert not external, f"{page.relative_to(site)} loads {external}"


def test_site_has_every_api_entry_and_figure(site):
    for module, names in SHARED.items():
        text = (site / "api" / module / "index.html").read_text(encoding="utf-8")
        for name in names:
            assert f'id="{name}"' in text, f"api/{module} has no entry {name}"
    for page in CAPABILITY_PAGES:
        text = (site / page.removesuffix(".md") / "index.html").read_text(encoding="utf-8")
        figures = re.findall(r'<img[^>]+src="([^"]*figures/[0-9a-f]+\.png)"', text)
        assert figures, f"{page} shows no generated figure"
        for src in figures:
            png = (site / page.removesuffix(".md") / src).resolve()
            assert png.read_bytes().startswith(b"\x89PNG"), src


# ---------------------------------------------------------------------------------------
# The pages say what the registry and the front ends say
# ---------------------------------------------------------------------------------------


def _page_directives(page: str) -> list[tuple[str, str]]:
    return list(docs.directives((ROOT / "docs" / page).read_text(encoding="utf-8")))


@pytest.mark.parametrize("page", CAPABILITY_PAGES)
def test_capability_page_states_every_rule_and_divergence(page):
    """Each function of the page's modules has its rule section, its row in a functions
    table, and the divergences of its operation; the page draws a figure."""
    found = _page_directives(page)
    modules = [m for m, p in docs.MODULE_PAGES.items() if p == page]
    names = [n for m in modules for n in SHARED[m]]
    rules = {args for name, args in found if name == "rule"}
    tables = set()
    for name, args in found:
        if name == "functions":
            tables.update(docs.Site()._names(args.split()))
    shown = {op for name, args in found if name == "divergences" for op in args.split()}
    operations = {c.operation for c in docs.cases()}
    assert set(names) <= rules, f"no rule section: {sorted(set(names) - rules)}"
    assert set(names) <= tables, f"not in a functions table: {sorted(set(names) - tables)}"
    missing = sorted(n for n in names if n in operations and n not in shown)
    assert not missing, f"{page} does not show the divergences of {missing}"
    assert any(name == "figure" for name, _ in found), f"{page} draws no figure"


def test_readme_regions_are_current():
    """README's generated regions (the registry's numbers) match the registry."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "<!-- /maskref:counts -->" in text
    assert docs.rewrite_regions(text) == text, "run: python -m maskref.docs readme"


def test_readme_picture_exists_and_says_how_it_was_made():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/images/report.png" in text
    assert (ROOT / "docs" / "images" / "report.png").read_bytes().startswith(b"\x89PNG")
    assert "python -m maskref.docs images" in text


# ---------------------------------------------------------------------------------------
# (d): the directives, unit by unit
# ---------------------------------------------------------------------------------------


def test_directives_inside_code_blocks_are_left_alone():
    text = "<!-- maskref:counts -->\n```markdown\n<!-- maskref:counts -->\n```\n"
    assert list(docs.directives(text)) == [("counts", "")]
    expanded = docs.Site().expand(text, "index.md")
    assert expanded.count("<!-- maskref:counts -->") == 1
    assert expanded.startswith("**")


def test_counts_come_from_the_registry():
    from maskref.conformance import all_cases

    every = all_cases()
    n = docs.counts()
    assert n["cases"] == len(every)
    assert n["agree"] == sum(c.expect is None for c in every)
    assert n["diverge"] == sum(c.expect is not None for c in every)
    assert n["agree"] + n["diverge"] == n["cases"] > 0
    text = docs.counts_markdown()
    assert f"**{n['cases']}** conformance cases" in text
    assert f"**{n['diverge']}**" in text


def test_divergences_table_has_every_recorded_divergence():
    from maskref.conformance import all_cases, describe

    text = docs.Site().expand("<!-- maskref:divergences pad_sequences -->", "padding.md")
    recorded = [c for c in all_cases() if c.operation == "pad_sequences" and c.expect]
    rows = []  # (api, row): each API's divergences are a table under its name
    api = None
    for line in text.splitlines():
        if line.startswith("*`"):
            api = line.strip("*`")
        elif line.startswith("| <code>"):
            rows.append((api, line))
    assert len(rows) == len(recorded) > 0
    for case in recorded:
        row = next(r for a, r in rows if a == case.api and f"<code>{case.expect}</code>" in r)
        assert docs._prose_cell(case.explanation) in row
        assert docs._code_cell(describe(case.example)) in row
    assert "`tf_impl`" in text  # maskref's backends are listed among the agreements


def test_rule_is_the_front_ends_docstring():
    from maskref.api.core import FRONTENDS

    text = docs.Site({"sequence_mask": "masks.md"}).expand(
        "<!-- maskref:rule sequence_mask -->", "masks.md"
    )
    assert text.startswith("### `sequence_mask` {#sequence_mask}")
    assert 'sequence_mask(lengths, maxlen=None, padding="post")' in text.replace("'", '"')
    first = docs.first_paragraph(FRONTENDS["sequence_mask"].__doc__)
    assert docs._inline(first, lambda name: None) in " ".join(text.split())
    assert "```pycon\n>>> sequence_mask([1, 3, 0])" in text  # its examples, as pycon
    assert "(api/masks.md#sequence_mask)" in text


def test_functions_table_links_rules_and_api():
    site = docs.Site({"masked_sum": "reductions.md"})
    text = site.expand("<!-- maskref:functions masked_sum masked_mean -->", "reductions.md")
    assert "[`masked_sum`](#masked_sum)" in text
    assert "[`masked_mean`](api/reductions.md#masked_mean)" in text  # no rule section yet
    assert "[API](api/reductions.md#masked_sum)" in text


def test_api_page_has_notes_of_every_backend():
    text = docs.Site().expand("<!-- maskref:api reductions -->", "api/reductions.md")
    assert "## `masked_sum` {#masked_sum}" in text
    assert '??? note "torch_impl notes"' in text
    extras = docs.Site().expand("<!-- maskref:api torch_impl -->", "api/torch_impl.md")
    assert "### `MaskedSequential` {#MaskedSequential}" in extras


def test_bad_directives_fail_the_build():
    site = docs.Site()
    for text in (
        "<!-- maskref:nonsense -->",
        "<!-- maskref:divergences no_such_operation -->",
        "<!-- maskref:rule no_such_function -->",
        "<!-- maskref:figure print('hi') -->",
        "<!-- maskref:api no_such_module -->",
    ):
        with pytest.raises(docs.DirectiveError):
            site.expand(text, "index.md")


def test_docstring_markdown():
    doc = """Summary with ``code`` and :func:`masked_sum`.

    Steps::

        a = 1

    Title
    -----
    >>> 1 + 1
    2
    """
    text = docs.docstring_markdown(doc, lambda name: f"#{name}")
    assert "Summary with `code` and [`masked_sum`](#masked_sum)." in text
    assert "Steps:\n\n```text\na = 1\n```" in text
    assert "**Title**" in text
    assert "```pycon\n>>> 1 + 1\n2\n```" in text


def test_figure_directive_draws_a_png():
    require("matplotlib")
    expr = 'plot_batch([[1, 2, 0]], mr.sequence_mask([2], 3), title="one row")'
    png = docs.render_figure(expr)
    assert png.startswith(b"\x89PNG")
    text = docs.Site().expand(f"<!-- maskref:figure {expr} -->", "api/masks.md")
    assert f"![one row](../{docs.figure_path(expr)})" in text
    assert docs.figure_path(expr) == docs.figure_path(expr.replace(", ", ",  "))


def test_keras_stack_follows_the_reference_flow_rules():
    import numpy as np

    import reference

    mask = np.array([[True, False]])
    layers = docs.keras_stack(mask, "Embedding", "Dense", "GlobalMaxPooling1D")
    assert [r.kind for r in layers] == ["create", "propagate", "destroy"]
    assert layers[1].mask_out == docs._MaskSummary((1, 2), 1)
    assert layers[2].mask_out is None and layers[2].flag == "destroyed"
    assert reference.flow_mask("destroy", mask) is None


def test_snippet_markers():
    text = """# Page

<!-- requires: keras -->

Prose.

<!-- snippet: skip because it draws to a window -->
```python
x = 1
```

<!-- backends: reference torch_impl -->

```pycon
>>> mr.sequence_mask([1])
```
"""
    page = docs.page_snippets("page.md", text)
    assert page.requires == ("keras",)
    first, second = page.snippets
    assert first.skip == "it draws to a window" and first.line == 9
    assert second.backends == ("reference", "torch_impl") and second.lang == "pycon"
    assert page.claimed_backends() == ("reference", "torch_impl")
    for bad in (
        "<!-- snippet: skip -->\n```python\nx\n```\n",
        "<!-- backends: numpy -->\n```python\nx\n```\n",
        "<!-- snippet: skip because why -->\n\nprose\n\n```python\nx\n```\n",
    ):
        with pytest.raises(docs.DirectiveError):
            docs.page_snippets("bad.md", bad)


# ---------------------------------------------------------------------------------------
# `maskref docs`
# ---------------------------------------------------------------------------------------


def test_docs_command_runs_mkdocs_on_the_checkout(monkeypatch, tmp_path):
    from maskref.cli import main

    calls = []

    class Done:
        returncode = 0

    def fake_run(command, cwd, env):
        calls.append((command, cwd))
        return Done()

    require("mkdocs")
    monkeypatch.setattr(docs.subprocess, "run", fake_run)
    assert main(["docs", "--build", "-o", str(tmp_path)]) == 0
    command, cwd = calls[-1]
    assert command[1:5] == ["-m", "mkdocs", "build", "--strict"]
    assert command[command.index("-d") + 1] == str(tmp_path.resolve())
    assert Path(cwd) == ROOT
    assert main(["docs", "--serve"]) == 0
    assert calls[-1][0][3] == "serve"


def test_docs_command_outside_a_checkout(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(docs, "ROOT", tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="checkout"):
        docs.find_config()
    from maskref.cli import main

    assert main(["docs", "--build"]) == 2
    assert "needs a checkout" in capsys.readouterr().err
