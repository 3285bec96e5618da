"""The documentation site's generated content: an MkDocs hook module, and its commands.

``mkdocs.yml`` loads this file as a hook. The pages in ``docs/`` are Markdown with
*directives* written as HTML comments, so the raw files stay valid Markdown and
everything that comes from the code is generated at build time, never typed:

``<!-- maskref:rule NAME -->``
    a section (``### NAME``, anchor ``#NAME``) with the front end's signature and rule.
``<!-- maskref:functions MODULE|NAME ... -->``
    a table of functions: one-line rule, link to the rule section, link to the API entry.
``<!-- maskref:divergences OPERATION ... -->``
    from the conformance registry: what agrees, and a table of the recorded
    divergences (API, name, explanation, pinned smallest input).
``<!-- maskref:counts -->``
    how many cases the registry holds, how many assert agreement, how many divergences.
``<!-- maskref:figure EXPR -->``
    a PNG drawn at build time by ``EXPR``, a call of a :mod:`reference.plot` function
    (``np`` and ``mr`` = :mod:`reference` are in scope), with ``EXPR`` as its caption.
``<!-- maskref:api MODULE -->``
    an API reference page: a shared module (``padding``, ...) or a backend's extras
    (``tf_impl``, ``torch_impl``), from the docstrings.
``<!-- maskref:index -->``, ``<!-- maskref:conventions -->``, ``<!-- maskref:tolerances -->``,
``<!-- maskref:backends -->``
    every function with its page; the table of mask conventions; float tolerances; each
    backend package's docstring.

A directive can also be a region, ``<!-- maskref:counts -->...<!-- /maskref:counts -->``:
the build replaces the region, and ``python -m maskref.docs readme`` rewrites the text
between the markers in README.md (the test suite checks that it is current).

The same module parses the pages' code blocks for the test that runs them
(:func:`page_snippets`) and makes README's picture (``python -m maskref.docs images``).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import html
import importlib
import importlib.util
import inspect
import io
import os
import posixpath
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

#: The checkout (or the installed tree) that holds maskref, reference and the backends.
ROOT = Path(__file__).resolve().parents[1]
if __name__ not in ("maskref.docs", "__main__") and str(ROOT) not in sys.path:
    # Loaded by MkDocs as a hook: the pages document this checkout, not an installed copy.
    sys.path.insert(0, str(ROOT))

from maskref.api.exports import EXTRAS, SHARED  # noqa: E402

BACKENDS = ("reference", "tf_impl", "torch_impl", "jax_impl")
FRAMEWORK = {"tf_impl": "tensorflow", "torch_impl": "torch", "jax_impl": "jax"}

#: The capability page that states each API module's rules.
MODULE_PAGES = {
    "padding": "padding.md",
    "masks": "masks.md",
    "reductions": "reductions.md",
    "conventions": "attention.md",
    "attention": "attention.md",
    "ragged": "layouts.md",
    "flow": "flow.md",
    "recurrence": "recurrence.md",
    "losses": "losses.md",
}

#: What ``<!-- maskref:figure ... -->`` may call (reference.plot's public functions).
PLOT_FUNCTIONS = ("plot_batch", "plot_attention_mask", "plot_layouts", "plot_flow")

FIGURE_DIR = "figures"


class DirectiveError(ValueError):
    """A directive that cannot be expanded (unknown name, operation, function...)."""


# ---------------------------------------------------------------------------------------
# Markdown structure: fences, directives, snippets
# ---------------------------------------------------------------------------------------

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,}|~{3,})\s*(?P<info>[^`\n]*)$")
_DIRECTIVE = re.compile(
    r"<!--\s*maskref:(?P<name>[a-z][a-z-]*)(?P<args>.*?)-->"
    r"(?:(?P<body>.*?)<!--\s*/maskref:(?P=name)\s*-->)?",
    re.S,
)
_COMMENT = re.compile(r"^\s*<!--\s*(?P<key>snippet|backends|requires)\s*:(?P<value>.*?)-->\s*$")


def split_fences(text: str) -> Iterator[tuple[bool, str]]:
    """``text`` in order as ``(inside_a_fence, chunk)`` pieces (fences include their lines)."""
    lines = text.splitlines(keepends=True)
    chunk: list[str] = []
    fence: str | None = None
    for line in lines:
        match = _FENCE.match(line.rstrip("\n"))
        if fence is None and match:
            if chunk:
                yield False, "".join(chunk)
            chunk, fence = [line], match["ticks"]
        elif fence is not None and line.strip() == fence:  # a fence closes with its own ticks
            chunk.append(line)
            yield True, "".join(chunk)
            chunk, fence = [], None
        else:
            chunk.append(line)
    if chunk:
        yield fence is not None, "".join(chunk)


# A code span ends at the first run of as many backticks, within its paragraph.
_CODE_SPAN = re.compile(r"(?<!`)(?P<ticks>`+)(?!`)(?:(?!\n[ \t]*\n).)*?(?<!`)(?P=ticks)(?!`)", re.S)


def _prose(text: str) -> Iterator[tuple[bool, str]]:
    """``text`` as ``(is_code, piece)``: code fences and inline code spans are code."""
    for fenced, chunk in split_fences(text):
        if fenced:
            yield True, chunk
            continue
        start = 0
        for m in _CODE_SPAN.finditer(chunk):
            yield False, chunk[start : m.start()]
            yield True, m[0]
            start = m.end()
        yield False, chunk[start:]


def directives(text: str) -> Iterator[tuple[str, str]]:
    """Every directive ``(name, args)`` of a page, outside code (fences and code spans)."""
    for code, piece in _prose(text):
        if not code:
            for m in _DIRECTIVE.finditer(piece):
                yield m["name"], m["args"].strip()


@dataclass(frozen=True)
class Snippet:
    """One fenced code block of a page, with the markers written right above it."""

    lang: str
    code: str
    line: int  # the page's line of the block's first code line (1-based)
    skip: str | None = None  # the reason given by <!-- snippet: skip because ... -->
    backends: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class PageSnippets:
    """A page's code blocks and its page-wide markers."""

    path: Path
    snippets: tuple[Snippet, ...]
    backends: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()

    @property
    def runnable(self) -> tuple[Snippet, ...]:
        return tuple(s for s in self.snippets if s.lang in ("python", "pycon"))

    def claimed_backends(self) -> tuple[str, ...]:
        """Every backend that the page or one of its blocks says its examples run in."""
        names = set(self.backends)
        for s in self.snippets:
            names.update(s.backends)
        return tuple(b for b in BACKENDS if b in names)


def _marker(key: str, value: str, where: str) -> tuple[str, Any]:
    value = value.strip()
    if key == "snippet":
        m = re.fullmatch(r"skip because (\S.*)", value, re.S)
        if not m:
            raise DirectiveError(f"{where}: write <!-- snippet: skip because REASON -->")
        return key, m[1].strip()
    names = tuple(value.split())
    if not names:
        raise DirectiveError(f"{where}: <!-- {key}: --> names nothing")
    if key == "backends":
        unknown = [n for n in names if n not in BACKENDS]
        if unknown:
            raise DirectiveError(
                f"{where}: unknown backend(s) {', '.join(unknown)}; choose from "
                + ", ".join(BACKENDS)
            )
    return key, names


def page_snippets(path: Path | str, text: str | None = None) -> PageSnippets:
    """Parse the code blocks of a Markdown page and their markers.

    A marker comment (``snippet``, ``backends``, ``requires``) directly above a fence
    (blank lines and other markers may come between) belongs to that block; one that is
    not directly above a fence applies to the whole page.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8") if text is None else text
    snippets: list[Snippet] = []
    page: dict[str, Any] = {}
    pending: dict[str, Any] = {}
    line_no = 1
    for fenced, chunk in split_fences(text):
        lines = chunk.splitlines()
        if not fenced:
            for offset, line in enumerate(lines):
                m = _COMMENT.match(line)
                if m:
                    key, value = _marker(m["key"], m["value"], f"{path}:{line_no + offset}")
                    pending[key] = value
                elif line.strip():  # prose between a marker and a fence: a page marker
                    for key, value in pending.items():
                        if key == "snippet":
                            raise DirectiveError(
                                f"{path}:{line_no + offset}: a snippet marker must be "
                                "directly above the block it skips"
                            )
                        page[key] = value
                    pending = {}
        else:
            opening = _FENCE.match(lines[0])
            assert opening is not None
            indent = len(opening["indent"])
            # A fence indented (in a list or an admonition) has its lines indented as much.
            body = [ln[min(indent, len(ln) - len(ln.lstrip())) :] for ln in lines[1:-1]]
            snippets.append(
                Snippet(
                    lang=(opening["info"].split() or [""])[0],
                    code="\n".join(body) + "\n",
                    line=line_no + 1,
                    skip=pending.get("snippet"),
                    backends=pending.get("backends", ()),
                    requires=pending.get("requires", ()),
                )
            )
            pending = {}
        line_no += len(lines)
    for key, value in pending.items():  # markers at the end of the page
        if key == "snippet":
            raise DirectiveError(f"{path}: a snippet marker at the end of the page skips nothing")
        page[key] = value
    result = PageSnippets(path, tuple(snippets), page.get("backends", ()), page.get("requires", ()))
    if result.backends and any(s.backends for s in result.snippets):
        raise DirectiveError(f"{path}: backends are claimed for the page and for a block")
    return result


# ---------------------------------------------------------------------------------------
# Docstrings (reStructuredText-flavoured) as Markdown
# ---------------------------------------------------------------------------------------

_ROLE = re.compile(r":(?:func|class|mod|meth|data|attr|exc|obj):`(?P<tilde>~?)(?P<target>[^`]+)`")
_LITERAL = re.compile(r"``(?P<code>.+?)``")
_UNDERLINE = re.compile(r"^(-{3,}|={3,})$")


def _code(text: str) -> str:
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _inline(text: str, link: Callable[[str], str | None]) -> str:
    """reST inline markup as Markdown: literals, cross-references (linked where known)."""
    text = text.replace("\\ ", "")

    def role(m: re.Match[str]) -> str:
        target = m["target"].strip()
        shown = target.rsplit(".", 1)[-1] if m["tilde"] else target
        url = link(target.rsplit(".", 1)[-1])
        return f"[{_code(shown)}]({url})" if url else _code(shown)

    parts = re.split(r"(``.+?``)", text)  # roles are never inside literals
    out = []
    for part in parts:
        if part.startswith("``") and part.endswith("``") and len(part) > 4:
            out.append(_code(part[2:-2]))
        else:
            out.append(_ROLE.sub(role, part))
    return "".join(out)


def docstring_markdown(doc: str, link: Callable[[str], str | None] = lambda name: None) -> str:
    """A docstring as Markdown: paragraphs and lists kept, examples (``>>>``) as ``pycon``
    blocks, ``::`` literal blocks as ``text`` blocks, underlined titles as bold lines."""
    lines = inspect.cleandoc(doc).splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith(">>>"):
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            out += ["```pycon", *inspect.cleandoc("\n".join(block)).splitlines(), "```"]
            continue
        if i + 1 < len(lines) and line.strip() and _UNDERLINE.match(lines[i + 1].strip()):
            out.append(f"**{_inline(line.strip(), link)}**")
            i += 2
            continue
        if line.rstrip().endswith("::"):
            head = line.rstrip()[:-2].rstrip()
            if head:
                out.append(_inline(head + ":", link))
            i += 1
            while i < len(lines) and not lines[i].strip():
                i += 1
            block = []
            while i < len(lines) and (not lines[i].strip() or lines[i][:1].isspace()):
                block.append(lines[i])
                i += 1
            out += ["", "```text", *inspect.cleandoc("\n".join(block)).splitlines(), "```", ""]
            continue
        out.append(_inline(line, link))
        i += 1
    return "\n".join(out).strip() + "\n"


def first_paragraph(doc: str) -> str:
    """The docstring's summary: its first paragraph, on one line."""
    para = inspect.cleandoc(doc).split("\n\n", 1)[0]
    return " ".join(para.split())


# ---------------------------------------------------------------------------------------
# The API: front ends, shared classes, backend notes and extras (read without importing
# any framework, so the site is the same whatever is installed)
# ---------------------------------------------------------------------------------------


@cache
def frontends() -> dict[str, Callable[..., Any]]:
    from maskref.api.core import FRONTENDS

    for module in SHARED:
        importlib.import_module(f"maskref.api.{module}")
    return FRONTENDS


def module_of(name: str) -> str:
    for module, names in SHARED.items():
        if name in names:
            return module
    raise DirectiveError(f"{name!r} is not a public function of maskref (maskref.api.exports)")


def public_object(name: str) -> Any:
    """The front end of ``name`` (a function), or the reference's class of that name."""
    module_of(name)
    fronts = frontends()
    if name in fronts:
        return fronts[name]
    import reference

    return getattr(reference, name)


class _Written(str):
    """An annotation shown as its source text (``repr`` without quotes)."""

    def __new__(cls, annotation: Any) -> Any:
        if annotation is inspect.Parameter.empty:
            return annotation
        text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
        return super().__new__(cls, text)

    def __repr__(self) -> str:
        return str(self)


def signature(name: str, *, annotations: bool = False) -> str:
    """``name(...)`` as users call it (without the front end's backend argument)."""
    obj = public_object(name)
    sig = inspect.signature(obj)
    params = [p for p in sig.parameters.values() if p.name != "B"]
    if annotations:  # postponed annotations are strings: shown as written, unquoted
        params = [p.replace(annotation=_Written(p.annotation)) for p in params]
        ret = inspect.Signature.empty if inspect.isclass(obj) else _Written(sig.return_annotation)
    else:
        params = [p.replace(annotation=inspect.Parameter.empty) for p in params]
        ret = inspect.Signature.empty
    text = name + str(sig.replace(parameters=params, return_annotation=ret))
    if len(text) <= 88:
        return text
    # One parameter a line, as a formatter would write the definition.
    shown = [str(p) for p in params]
    kinds = [p.kind for p in params]
    if inspect.Parameter.KEYWORD_ONLY in kinds and inspect.Parameter.VAR_POSITIONAL not in kinds:
        shown.insert(kinds.index(inspect.Parameter.KEYWORD_ONLY), "*")
    if inspect.Parameter.POSITIONAL_ONLY in kinds:
        last = max(i for i, k in enumerate(kinds) if k is inspect.Parameter.POSITIONAL_ONLY)
        shown.insert(last + 1, "/")
    tail = text[text.rindex(")") :]
    return name + "(\n" + "".join(f"    {p},\n" for p in shown) + tail


def doc_of(name: str) -> str:
    return inspect.getdoc(public_object(name)) or ""


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def source_definition(package: str, module: str, name: str) -> ast.AST | None:
    """The ``def``/``class`` of ``name`` in ``package/module.py``, following relative imports
    (``from ._fast import name``): read from source, so no framework is imported."""
    path = ROOT / package / f"{module}.py"
    if not path.exists():
        return None
    tree = _tree(path)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            return node
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return source_definition(package, node.module, alias.name)
    return None


def backend_notes(package: str, name: str) -> str:
    """The docstring of ``package``'s kernel for ``name`` (what ``help()`` shows as notes)."""
    node = source_definition(package, module_of(name), name)
    doc = ast.get_docstring(node) if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else None
    return doc or ""


def _ast_init(node: ast.ClassDef, package: str, module: str) -> ast.FunctionDef | None:
    """The ``__init__`` a class defines or inherits from a base in the same module."""
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            return item
    for base in node.bases:
        found = source_definition(package, module, ast.unparse(base))
        if isinstance(found, ast.ClassDef):
            init = _ast_init(found, package, module)
            if init is not None:
                return init
    return None


def _ast_signature(node: ast.FunctionDef | ast.ClassDef, package: str, module: str) -> str:
    if isinstance(node, ast.ClassDef):
        init = _ast_init(node, package, module)
        if init is None:
            bases = ", ".join(ast.unparse(b) for b in node.bases)
            return f"class {node.name}({bases})"
        return _wrap(node.name, re.sub(r"^self(, )?", "", ast.unparse(init.args)), "")
    ret = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    return _wrap(node.name, ast.unparse(node.args), ret)


def _wrap(name: str, params: str, tail: str) -> str:
    """``name(params)tail``, one parameter a line when it is too long for one line."""
    if len(name) + len(params) + len(tail) + 2 <= 88:
        return f"{name}({params}){tail}"
    parts, depth, start = [], 0, 0
    for i, char in enumerate(params):  # split at the commas outside brackets
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            parts.append(params[start:i].strip())
            start = i + 1
    parts.append(params[start:].strip())
    return name + "(\n" + "".join(f"    {p},\n" for p in parts) + ")" + tail


# ---------------------------------------------------------------------------------------
# The conformance registry
# ---------------------------------------------------------------------------------------


@cache
def cases() -> tuple[Any, ...]:
    from maskref.conformance import all_cases

    return tuple(all_cases())


def counts() -> dict[str, int]:
    """Cases in the registry: all, asserted agreements, recorded divergences, by kind."""
    every = cases()
    out = {
        "cases": len(every),
        "agree": sum(1 for c in every if c.expect is None),
        "diverge": sum(1 for c in every if c.expect is not None),
        "operations": len({c.operation for c in every}),
        "apis": len({c.api for c in every if c.kind == "native"}),
    }
    for kind in ("backend", "native", "invariant"):
        out[kind] = sum(1 for c in every if c.kind == kind)
    return out


def counts_markdown() -> str:
    n = counts()
    return (
        f"**{n['cases']}** conformance cases over {n['operations']} operations: "
        f"**{n['agree']}** assert agreement with the reference and **{n['diverge']}** "
        f"record a divergence ({n['backend']} cases check maskref's own backends, "
        f"{n['invariant']} the reference's laws and {n['native']} the frameworks' own APIs, "
        f"{n['apis']} distinct ones)"
    )


def _cell(text: str) -> str:
    """Plain text for a table cell: no Markdown or HTML in it is interpreted."""
    text = html.escape(re.sub(r"\s+", " ", str(text)))
    return re.sub(r"([\\`*_\[\]#])", r"\\\1", text).replace("|", "&#124;")


def _prose_cell(text: str) -> str:
    """Prose for a table cell: its `code spans` kept as code, the rest plain text."""
    pieces = re.split(r"(`[^`]+`)", " ".join(str(text).split()))  # whitespace: one space
    return "".join(
        f"<code>{html.escape(p[1:-1])}</code>".replace("|", "&#124;")
        if p.startswith("`")
        else _cell(p)
        for p in pieces
        if p
    )


def _code_cell(text: str) -> str:
    return f"<code>{html.escape(' '.join(str(text).split()))}</code>".replace("|", "&#124;")


def divergences_markdown(operations: Iterable[str]) -> str:
    """Per operation: what is asserted to agree, and a table of the recorded divergences."""
    from maskref.conformance import describe

    every = cases()
    out: list[str] = []
    for op in operations:
        group = [c for c in every if c.operation == op]
        if not group:
            raise DirectiveError(f"no conformance case has operation {op!r}")
        agree = [c for c in group if c.expect is None]
        diverge = [c for c in group if c.expect is not None]
        out.append(
            f"**`{op}`**: {len(group)} cases, {len(agree)} asserted to agree, "
            f"{len(diverge)} recorded divergence{'s' if len(diverge) != 1 else ''}."
        )
        out.append("")
        backends = [c.api.split(".")[0] for c in agree if c.kind == "backend"]
        laws = [c.api.removeprefix("law: ") for c in agree if c.kind == "invariant"]
        natives = [c for c in agree if c.kind == "native"]
        if backends:
            out.append("- maskref's backends: " + ", ".join(_code(b) for b in backends))
        if laws:
            out.append("- laws of the reference: " + "; ".join(_code(law) for law in laws))
        if natives:
            rows = [_code(c.api) + (f" ({_cell(c.domain)})" if c.domain else "") for c in natives]
            out.append("- frameworks' APIs that agree: " + "; ".join(rows))
        out.append("")
        apis = list(dict.fromkeys(c.api for c in diverge))  # in the registry's order
        for api in apis:
            out += [
                f"*{_code(api)}*",
                "",
                "| divergence | what it does | smallest input |",
                "|---|---|---|",
            ]
            for c in diverge:
                if c.api == api:
                    example = describe(c.example) if c.example is not None else "(none pinned)"
                    out.append(
                        f"| {_code_cell(c.expect)} | {_prose_cell(c.explanation)} | "
                        f"{_code_cell(example)} |"
                    )
            out.append("")
        out += _keras_elsewhere(group)
    return "\n".join(out)


def _keras_elsewhere(group: list[Any]) -> list[str]:
    """The table of what ``group``'s Keras cases record on Keras's other backends."""
    from maskref.conformance import describe

    rows = [(c, b, there) for c in group for b, there in (c.keras_elsewhere or {}).items()]
    if not rows:
        return []
    out = [
        "*Where Keras on another backend does not do what it does on TensorFlow*",
        "",
        "| API | backend | there | why | smallest input |",
        "|---|---|---|---|---|",
    ]
    for c, backend, there in rows:
        if there.expect:
            found = _code_cell(there.expect)
        else:
            found = "agrees" + (f" (no {_code_cell(c.expect)})" if c.expect else "")
        example = _code_cell(describe(there.example)) if there.example is not None else "-"
        out.append(
            f"| {_code_cell(c.api)} | `{backend}` | {found} | {_prose_cell(there.explanation)} "
            f"| {example} |"
        )
    return out + [""]


# ---------------------------------------------------------------------------------------
# The site: which page states which rule, the figures, directive expansion
# ---------------------------------------------------------------------------------------


@dataclass
class Site:
    """What the build knows about every page before it renders one."""

    rule_pages: dict[str, str] = field(default_factory=dict)  # name -> page with its rule
    figures: dict[str, str] = field(default_factory=dict)  # EXPR -> figures/<hash>.png

    @classmethod
    def scan(cls, docs_dir: Path) -> Site:
        site = cls()
        for path in sorted(docs_dir.rglob("*.md")):
            page = path.relative_to(docs_dir).as_posix()
            for name, args in directives(path.read_text(encoding="utf-8")):
                if name == "rule":
                    site.rule_pages.setdefault(args, page)
                elif name == "figure":
                    site.figures[args] = figure_path(args)
        return site

    # -- links -----------------------------------------------------------------------

    @staticmethod
    def _rel(target: str, page: str) -> str:
        path, _, anchor = target.partition("#")
        here = posixpath.dirname(page)
        rel = "" if path == page else posixpath.relpath(path, here or ".")
        return f"{rel}#{anchor}" if anchor else rel

    def api_link(self, name: str, page: str) -> str:
        return self._rel(f"api/{module_of(name)}.md#{name}", page)

    def rule_link(self, name: str, page: str) -> str:
        where = self.rule_pages.get(name)
        return self._rel(f"{where}#{name}", page) if where else self.api_link(name, page)

    def linker(self, page: str, extras: str | None = None) -> Callable[[str], str | None]:
        def link(name: str) -> str | None:
            if extras and any(name in names for names in EXTRAS[extras].values()):
                return self._rel(f"api/{extras}.md#{name}", page)
            try:
                return self.rule_link(name, page)
            except DirectiveError:
                return None

        return link

    # -- expansion -------------------------------------------------------------------

    def expand(self, markdown: str, page: str) -> str:
        """Every directive of ``markdown`` (the page ``page``, relative to docs/) expanded."""
        out = []
        for code, piece in _prose(markdown):
            if code:
                out.append(piece)
            else:
                out.append(_DIRECTIVE.sub(lambda m: self.render(m["name"], m["args"], page), piece))
        return "".join(out)

    def render(self, name: str, args: str, page: str) -> str:
        args = args.strip()
        words = args.split()
        if name == "rule":
            return self.rule(args, page)
        if name == "functions":
            return self.functions(words, page)
        if name == "divergences":
            if not words:
                raise DirectiveError("maskref:divergences needs at least one operation")
            return divergences_markdown(words)
        if name == "counts":
            return counts_markdown()
        if name == "figure":
            return self.figure(args, page)
        if name == "api":
            return self.api(args, page)
        if name == "index":
            return self.index(page)
        if name == "conventions":
            from maskref.cli import conventions_table

            return conventions_table()
        if name == "tolerances":
            return tolerances_markdown()
        if name == "backends":
            return self.backends(page)
        raise DirectiveError(f"unknown directive maskref:{name} (in {page})")

    def rule(self, name: str, page: str, level: int = 3) -> str:
        api = self.api_link(name, page)
        body = docstring_markdown(doc_of(name), self.linker(page))
        return (
            f"{'#' * level} `{name}` {{#{name}}}\n\n"
            f"```python\n{signature(name)}\n```\n\n{body}\n"
            f"[API reference of `{name}`]({api})\n"
        )

    def _names(self, words: list[str]) -> list[str]:
        names: list[str] = []
        for word in words:
            if word in SHARED:
                names += SHARED[word]
            else:
                module_of(word)
                names.append(word)
        if not names:
            raise DirectiveError("maskref:functions needs a module or function names")
        return names

    def functions(self, words: list[str], page: str) -> str:
        rows = ["| function | rule | API |", "|---|---|---|"]
        for name in self._names(words):
            summary = _inline(first_paragraph(doc_of(name)), self.linker(page))
            rows.append(
                f"| [`{name}`]({self.rule_link(name, page)}) | {summary.replace('|', '&#124;')} "
                f"| [API]({self.api_link(name, page)}) |"
            )
        return _function_table(rows)

    def index(self, page: str) -> str:
        rows = ["| function | page | rule |", "|---|---|---|"]
        for module, names in SHARED.items():
            target = MODULE_PAGES[module]
            title = target.removesuffix(".md")
            for name in names:
                summary = _inline(first_paragraph(doc_of(name)), self.linker(page))
                rows.append(
                    f"| [`{name}`]({self.rule_link(name, page)}) | "
                    f"[{title}]({self._rel(target, page)}) | {summary.replace('|', '&#124;')} |"
                )
        return _function_table(rows)

    def figure(self, expr: str, page: str) -> str:
        path = self.figures.get(expr) or figure_path(expr)
        title = figure_title(expr)
        return (
            '<figure markdown="span">\n'
            f"  ![{title}]({self._rel(path, page)})\n"
            f"  <figcaption>Drawn at build time: <code>{html.escape(expr)}</code></figcaption>\n"
            "</figure>\n"
        )

    def backends(self, page: str) -> str:
        """Each backend package's docstring (read from source: no framework imported)."""
        out = []
        for package in BACKENDS:
            doc = ast.get_docstring(_tree(ROOT / package / "__init__.py")) or ""
            extras = f" ([extras](api/{package}.md))" if EXTRAS[package] else ""
            out.append(f"### `{package}`{extras}\n")
            out.append(docstring_markdown(doc, self.linker(page)))
        return self._relink("\n".join(out), page)

    def _relink(self, text: str, page: str) -> str:
        # Links written from the docs root (api/x.md) made relative to ``page``.
        return re.sub(r"\]\((api/[^)#]+\.md)", lambda m: f"]({self._rel(m[1], page)}", text)

    def api(self, what: str, page: str) -> str:
        if what in SHARED:
            return self.api_module(what, page)
        if EXTRAS.get(what):
            return self.api_extras(what, page)
        raise DirectiveError(f"maskref:api {what!r}: not a module of {sorted(SHARED)} or a backend")

    def api_module(self, module: str, page: str) -> str:
        link = self.linker(page)
        intro = inspect.getdoc(importlib.import_module(f"maskref.api.{module}")) or ""
        out = [docstring_markdown(intro, link)]
        for name in SHARED[module]:
            rule_page = self.rule_pages.get(name)
            where = (
                f"The rule in context: [{rule_page.removesuffix('.md')}]"
                f"({self._rel(f'{rule_page}#{name}', page)}).\n"
                if rule_page
                else ""
            )
            out += [
                f"## `{name}` {{#{name}}}\n",
                f"```python\n{signature(name, annotations=True)}\n```\n",
                docstring_markdown(doc_of(name), link),
                where,
            ]
            is_class = inspect.isclass(public_object(name))
            for package in BACKENDS:
                if package == "reference" and is_class:
                    continue  # the reference's class docstring is the rule above
                notes = backend_notes(package, name)
                if notes:
                    body = docstring_markdown(notes, self.linker(page, package))
                    out.append(f'??? note "{package} notes"\n\n' + _indent(body) + "\n")
        return "\n".join(out)

    def api_extras(self, package: str, page: str) -> str:
        link = self.linker(page, package)
        out = [
            f"What `{package}` exports beyond the shared API (maskref/api/exports.py), "
            "from the docstrings in its source.\n"
        ]
        for module, names in EXTRAS[package].items():
            out.append(f"## `{package}.{module}`\n")
            for name in names:
                node = source_definition(package, module, name)
                if not isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    raise DirectiveError(f"{package}/{module}.py defines no {name}")
                doc = ast.get_docstring(node)
                if not doc and isinstance(node, ast.ClassDef) and node.bases:
                    base = ast.unparse(node.bases[0])
                    base_node = source_definition(package, module, base)
                    if isinstance(base_node, ast.ClassDef):
                        doc = ast.get_docstring(base_node)
                out += [
                    f"### `{name}` {{#{name}}}\n",
                    f"```python\n{_ast_signature(node, package, module)}\n```\n",
                    docstring_markdown(doc or "", link) if doc else "",
                ]
        return "\n".join(out)


def _function_table(rows: list[str]) -> str:
    # A class for the stylesheet: function names in these tables are never broken.
    return '<div class="maskref-functions" markdown>\n\n' + "\n".join(rows) + "\n\n</div>\n"


def _indent(text: str) -> str:
    return "".join(("    " + line) if line.strip() else line for line in text.splitlines(True))


def tolerances_markdown() -> str:
    from maskref.conformance.operations import FLOAT_TOLERANCES

    rows = ["| result dtype | rtol | atol |", "|---|---|---|"]
    rows += [
        f"| `{dtype}` | {rtol:g} | {atol:g} |" for dtype, (rtol, atol) in FLOAT_TOLERANCES.items()
    ]
    return "\n".join(rows) + "\n"


# ---------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------


def figure_path(expr: str) -> str:
    digest = hashlib.sha1(" ".join(expr.split()).encode()).hexdigest()[:12]
    return f"{FIGURE_DIR}/{digest}.png"


def _figure_call(expr: str) -> ast.Call:
    try:
        tree = ast.parse(" ".join(expr.split()), mode="eval")
    except SyntaxError as err:
        raise DirectiveError(f"maskref:figure {expr!r} is not a Python expression: {err}") from None
    call = tree.body
    if not (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id in PLOT_FUNCTIONS
    ):  # only reference.plot's pictures: a figure is the reference's, not the page's
        raise DirectiveError(
            f"maskref:figure {expr!r} must call one of {', '.join(PLOT_FUNCTIONS)}"
        )
    return call


def figure_title(expr: str) -> str:
    """The image's alt text: the call's ``title=`` when it is a literal string, else the
    function's name."""
    call = _figure_call(expr)
    for kw in call.keywords:
        if kw.arg == "title" and isinstance(kw.value, ast.Constant):
            return html.escape(str(kw.value.value))
    assert isinstance(call.func, ast.Name)
    return call.func.id


@dataclass(frozen=True)
class _MaskSummary:
    shape: tuple[int, ...]
    valid: int


@dataclass(frozen=True)
class _Layer:
    name: str
    class_name: str
    kind: str
    mask_in: _MaskSummary | None
    mask_out: _MaskSummary | None
    flag: str | None


def keras_stack(mask: Any, *layers: str | tuple[str, dict[str, Any]]) -> list[_Layer]:
    """The mask flow of a Keras ``Sequential`` stack by the reference's rules (what
    :func:`reference.plot.plot_flow` draws), without TensorFlow: the first layer creates
    ``mask`` (an ``Embedding(mask_zero=True)`` or ``Masking``); each later one maps its
    input mask by :func:`reference.flow_mask` with the kind that
    ``reference.flow.KERAS_LAYER_KINDS`` gives its class. A layer is a class name or
    ``(class name, keyword arguments of flow_mask)``, e.g.
    ``("LSTM", {"return_sequences": True})``."""
    import numpy as np

    import reference
    from reference.flow import KERAS_LAYER_KINDS

    def summary(m: Any) -> _MaskSummary | None:
        return None if m is None else _MaskSummary(np.shape(m), int(np.sum(m)))

    records: list[_Layer] = []
    current: Any = None
    for i, layer in enumerate(layers):
        cls, options = (layer, {}) if isinstance(layer, str) else layer
        kind = KERAS_LAYER_KINDS[cls]
        if i == 0:
            if kind != "create":
                raise ValueError(f"the first layer must create the mask, not {cls} ({kind})")
            out = np.asarray(mask)
        else:
            if kind in ("create", "merge", "concatenate"):
                raise ValueError(f"keras_stack draws one-input layers after the first: {cls}")
            out = reference.flow_mask(kind, current, **options)
        if kind == "recurrent":  # named by what it does, as tf_impl.explain_masks does
            kind = "keep" if options.get("return_sequences") else "consume"
        flag = "destroyed" if current is not None and out is None and kind == "destroy" else None
        label = cls.lower() if not options else f"{cls.lower()} ({', '.join(options)})"
        records.append(_Layer(label, cls, kind, summary(current), summary(out), flag))
        current = out
    return records


def render_figure(expr: str) -> bytes:
    """The PNG that ``expr`` draws (reference.plot, matplotlib's Agg backend)."""
    _figure_call(expr)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    import reference
    from reference import plot

    scope = {
        "np": np,
        "mr": reference,
        "keras_stack": keras_stack,
        **{n: getattr(plot, n) for n in PLOT_FUNCTIONS},
    }
    fig = eval(" ".join(expr.split()), scope)  # the docs' own expressions, checked above
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------
# MkDocs hook events
# ---------------------------------------------------------------------------------------

_SITE: Site | None = None


def on_files(files: Any, config: Any) -> Any:
    """Scan every page for rule sections and figures; draw the figures into the site."""
    from mkdocs.exceptions import PluginError
    from mkdocs.structure.files import File

    global _SITE
    _SITE = Site.scan(Path(config["docs_dir"]))
    for expr, path in sorted(_SITE.figures.items(), key=lambda item: item[1]):
        if files.get_file_from_path(path) is None:
            try:
                png = render_figure(expr)
            except Exception as err:  # name the directive, whatever went wrong in it
                raise PluginError(f"maskref:figure {expr}: {type(err).__name__}: {err}") from err
            files.append(File.generated(config, path, content=png))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    from mkdocs.exceptions import PluginError

    site = _SITE or Site.scan(Path(config["docs_dir"]))
    try:
        return site.expand(markdown, page.file.src_uri)
    except DirectiveError as err:
        raise PluginError(f"{page.file.src_uri}: {err}") from err


# ---------------------------------------------------------------------------------------
# README: generated regions and the picture
# ---------------------------------------------------------------------------------------

README = ROOT / "README.md"
REPORT_IMAGE = ROOT / "docs" / "images" / "report.png"


def rewrite_regions(text: str, page: str = "README.md") -> str:
    """``text`` with every region ``<!-- maskref:X -->...<!-- /maskref:X -->`` regenerated."""
    site = Site()

    def refresh(m: re.Match[str]) -> str:
        if m["body"] is None:
            return m[0]
        body = site.render(m["name"], m["args"], page).strip()
        return f"<!-- maskref:{m['name']}{m['args']}-->{body}<!-- /maskref:{m['name']} -->"

    return _DIRECTIVE.sub(refresh, text)


def report_image(path: Path = REPORT_IMAGE, *, chromium: str = "/usr/bin/chromium") -> str:
    """Write README's picture of the report; return how it was made.

    A screenshot of ``maskref report --format html`` (headless Chromium through
    Playwright) where that format exists; otherwise reference.plot's picture of a
    padded batch and its mask.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if importlib.util.find_spec("maskref.report_html") is not None:
        only, examples = "pad_sequences", 20
        with tempfile.TemporaryDirectory() as tmp:
            page = Path(tmp) / "report.html"
            command = [
                sys.executable, "-m", "maskref.cli", "report", "--format", "html",
                "--only", only, "--examples", str(examples), "-o", str(page),
            ]  # fmt: skip
            subprocess.run(command, check=True, cwd=ROOT)
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=chromium,
                    args=["--headless", "--no-sandbox", "--disable-gpu",
                          "--disable-background-networking"],
                )  # fmt: skip
                view = browser.new_page(viewport={"width": 1100, "height": 760})
                view.goto(page.as_uri())
                view.screenshot(path=str(path))
                browser.close()
        return (
            f"`maskref report --format html --only {only} --examples {examples}`, "
            "screenshot by `python -m maskref.docs images`"
        )
    expr = (
        "plot_batch(np.tile(np.asarray(mr.pad_sequences([[1, 2, 3], [4, 5], [1, 4, 8, 19]], "
        'padding="post"), dtype="float32")[:, :, None], (1, 1, 5)), '
        'mr.sequence_mask([3, 2, 4]), title="a padded batch and its mask")'
    )
    path.write_bytes(render_figure(expr))
    return f"`reference.plot.{expr}`, drawn by `python -m maskref.docs images`"


# ---------------------------------------------------------------------------------------
# `maskref docs` and `python -m maskref.docs`
# ---------------------------------------------------------------------------------------


def find_config(start: Path | None = None) -> Path:
    """The checkout's mkdocs.yml: next to this package, else in ``start`` or a parent."""
    candidates = [ROOT]
    here = (start or Path.cwd()).resolve()
    candidates += [here, *here.parents]
    for folder in candidates:
        config = folder / "mkdocs.yml"
        if config.is_file() and (folder / "maskref" / "docs.py").is_file():
            return config
    raise FileNotFoundError(
        "maskref docs needs a checkout of the maskref repository (no mkdocs.yml next to "
        f"{ROOT} or in {here} and its parents): clone it, `pip install -c constraints.txt "
        '-e ".[docs]"` there and run `maskref docs` inside it'
    )


def docs_command(args: argparse.Namespace) -> int:
    """``maskref docs --serve`` / ``--build [-o DIR]``: MkDocs on the checkout's site."""
    try:
        config = find_config()
    except FileNotFoundError as err:
        print(f"maskref docs: {err}", file=sys.stderr)
        return 2
    if importlib.util.find_spec("mkdocs") is None:
        print(
            'maskref docs: MkDocs is not installed: pip install -c constraints.txt ".[docs]"',
            file=sys.stderr,
        )
        return 2
    command = [sys.executable, "-m", "mkdocs"]
    if args.serve:
        if args.output:
            print("maskref docs: -o goes with --build, not --serve", file=sys.stderr)
            return 2
        command += ["serve", "-f", str(config)]
        if args.dev_addr:
            command += ["-a", args.dev_addr]
    else:
        out = Path(args.output) if args.output else config.parent / "site"
        command += ["build", "--strict", "-f", str(config), "-d", str(out.resolve())]
    # Material prints an advertisement for its successor on every build: not ours to show.
    env = {"NO_MKDOCS_2_WARNING": "1", **os.environ}
    return subprocess.run(command, cwd=config.parent, env=env).returncode


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m maskref.docs", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("images", help=f"write {REPORT_IMAGE.relative_to(ROOT)} (README's picture)")
    r = sub.add_parser("readme", help="regenerate README.md's maskref regions")
    r.add_argument("--check", action="store_true", help="exit 1 if README.md is not current")
    args = p.parse_args(argv)
    if args.command == "images":
        how = report_image()
        print(f"wrote {REPORT_IMAGE.relative_to(ROOT)}: {how}")
        return 0
    text = README.read_text(encoding="utf-8")
    fresh = rewrite_regions(text)
    if args.check:
        return 0 if fresh == text else 1
    if fresh != text:
        README.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
