"""The ``maskref`` command.

``maskref report`` runs the conformance cases against every installed
framework and prints which APIs agree with the reference and which diverge.
``maskref cases`` lists the registered cases without running them.
``maskref conventions`` prints the table of mask conventions (what ``True``,
``1`` or ``-inf`` means to each framework's argument).
``maskref check FILE.py:make_model`` checks that a model ignores its padding
(:mod:`maskref.testing`); its exit status is 1 when a check fails.
``maskref docs --serve`` / ``--build`` serves or builds the documentation site.
"""

from __future__ import annotations

import argparse
import io
import os
import sys

from . import __version__
from .runner import default_jobs


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def _backends(text: str) -> list[str]:
    from .keras_backends import KERAS_BACKENDS

    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in KERAS_BACKENDS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown Keras backend(s) {', '.join(unknown)}; choose from "
            + ", ".join(KERAS_BACKENDS)
        )
    return names


ONLY_HELP = (
    "only these cases: an operation's name (e.g. sequence_mask) selects that operation's "
    "cases; any other PATTERN selects the cases whose id (operation:api[detail], as "
    "`maskref cases` lists them) contains it, ignoring case, or matches it as a glob "
    "(*, ?, [...])"
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="maskref",
        description="Cross-framework reference for padding and masking.",
    )
    p.add_argument("--version", action="version", version=f"maskref {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser(
        "report",
        help="compare every installed framework's padding/masking APIs with the reference",
    )
    r.add_argument(
        "--format",
        choices=("text", "markdown", "json", "html"),
        default="text",
        help="text (default), markdown (a table), json (for tools) or html (a self-contained "
        "page with filters and each divergence drawn as grids)",
    )
    r.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the report to FILE instead of standard output",
    )
    r.add_argument(
        "--examples",
        type=_positive,
        default=100,
        help="hypothesis examples drawn per case (default 100)",
    )
    r.add_argument(
        "--only",
        metavar="PATTERN",
        help=ONLY_HELP,
    )
    r.add_argument(
        "--jobs",
        "-j",
        metavar="N",
        type=_positive,
        default=None,
        help="worker processes that run cases at once, Keras's cases on its other backends "
        f"included (default: the number of cores, {default_jobs()} here, fewer where memory "
        "is short); the report is the same for every N",
    )
    r.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show progress on stderr (default: when stderr is a terminal)",
    )
    r.add_argument(
        "--keras-backends",
        metavar="NAMES",
        type=_backends,
        default=None,
        help="comma-separated Keras backends to run Keras's cases on, each in processes "
        "of its own: tensorflow, torch, jax (default: every installed one)",
    )
    c = sub.add_parser("cases", help="list the registered conformance cases")
    c.add_argument("--only", metavar="PATTERN", help=ONLY_HELP)
    sub.add_parser(
        "conventions", help="print what True/1/-inf means in each framework's mask argument"
    )
    d = sub.add_parser(
        "docs",
        help="serve or build the documentation site (a checkout, with the docs extra)",
        description="MkDocs on the checkout's mkdocs.yml: --serve runs `mkdocs serve`, "
        "--build runs `mkdocs build --strict` (warnings are errors).",
    )
    how = d.add_mutually_exclusive_group(required=True)
    how.add_argument("--serve", action="store_true", help="serve the site, rebuilt on edits")
    how.add_argument("--build", action="store_true", help="build the site")
    d.add_argument("-o", "--output", metavar="DIR", help="build into DIR (default: site/)")
    d.add_argument("--dev-addr", metavar="HOST:PORT", help="--serve's address")
    k = sub.add_parser(
        "check",
        help="check that a model ignores its padding (six checks; exit status 1 on a failure)",
        description="Run maskref.testing.check_padding_invariance on the model that "
        "FILE.py:FUNCTION returns. FUNCTION (default make_model) takes no argument and "
        "returns (model, batch) or (model, batch, options): batch is (x, mask), the "
        "post-padded inputs and a bool mask (True = valid); options are keyword arguments "
        "of check_padding_invariance (mask_arg, mask_convention, output, ...). A dict with "
        "'model', 'batch' and options works too.",
    )
    k.add_argument("target", metavar="FILE.py[:FUNCTION]")
    k.add_argument("--format", choices=("text", "json"), default="text")
    k.add_argument("--checks", metavar="NAMES", help="comma-separated checks (default: all six)")
    k.add_argument("--padding-sides", metavar="SIDES", help="comma-separated: post, pre")
    k.add_argument("--training", action="store_true", help="run the model in training mode")
    k.add_argument("--no-gradients", action="store_true", help="skip the gradient comparisons")
    k.add_argument("--no-shrink", action="store_true", help="do not shrink failing inputs")
    k.add_argument("--seed", type=int, default=None, help="seed set before every run")
    k.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show progress on stderr (default: once the check takes more than 2 s)",
    )
    from .show import add_show_arguments

    add_show_arguments(
        sub.add_parser(
            "show",
            help="print a padded batch and its mask, an attention mask or every layout as text",
            description='Examples: maskref show "[[1,2,3],[4,5],[6]]" --padding post; '
            "maskref show --causal 5; maskref show --lengths 3,2; "
            'maskref show "[[1,2,3],[4,5]]" --layouts',
        )
    )
    return p


def conventions_table() -> str:
    """The named mask conventions as a Markdown table."""
    from maskref.api.conventions import NAMED_CONVENTIONS

    rows = ["| argument | convention | shape | note |", "|---|---|---|---|"]
    rows += [
        f"| `{c.name}` | {c.convention} | {c.shape} | {c.note} |"
        for c in NAMED_CONVENTIONS.values()
    ]
    legend = (
        "keep: bool, True = valid; drop: bool, True = masked out; int: 1 = valid, "
        "0 = masked; additive: 0 = valid, -inf = masked; additive_min: 0 = valid, "
        "the dtype's most negative finite value = masked."
    )
    return "\n".join(rows + ["", legend])


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.command == "conventions":
        print(conventions_table())
        return 0
    if args.command == "docs":
        from .docs import docs_command

        return docs_command(args)
    if args.command == "cases":
        from .conformance import all_cases
        from .report import select

        for case in select(all_cases(), args.only):
            tag = f"expects divergence {case.expect}" if case.expect else "expects agreement"
            print(f"{case.case_id}  ({case.kind}; {tag})")
        return 0
    if args.command == "show":
        from .show import run_show

        return run_show(args)
    if args.command == "check":
        from .testing.command import run_check

        return run_check(args)
    from .report import report

    # -o: the file is written once the report is complete, so a failed run leaves no half page
    buffer = io.StringIO()
    out = buffer if args.output else sys.stdout
    jobs = args.jobs or default_jobs()
    status = report(
        args.examples, args.format, args.only, out, args.progress, args.keras_backends, jobs
    )
    if args.output:
        with open(args.output, "w", encoding="utf-8") as file:
            file.write(buffer.getvalue())
        print(f"report written to {args.output}", file=sys.stderr)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
