"""The ``maskref`` command.

``maskref report`` runs the conformance cases against every installed
framework and prints which APIs agree with the reference and which diverge.
``maskref cases`` lists the registered cases without running them.
``maskref conventions`` prints the table of mask conventions (what ``True``,
``1`` or ``-inf`` means to each framework's argument).
"""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
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
    r.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    r.add_argument(
        "--examples",
        type=_positive,
        default=100,
        help="hypothesis examples drawn per case (default 100)",
    )
    r.add_argument(
        "--only",
        metavar="PATTERN",
        help="only cases whose id contains PATTERN (or matches it as a glob)",
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
        help="comma-separated Keras backends to run Keras's cases on, each in its own "
        "process: tensorflow, torch, jax (default: every installed one)",
    )
    c = sub.add_parser("cases", help="list the registered conformance cases")
    c.add_argument("--only", metavar="PATTERN")
    sub.add_parser(
        "conventions", help="print what True/1/-inf means in each framework's mask argument"
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
    if args.command == "cases":
        from .conformance import all_cases
        from .report import select

        for case in select(all_cases(), args.only):
            tag = f"expects divergence {case.expect}" if case.expect else "expects agreement"
            print(f"{case.case_id}  ({case.kind}; {tag})")
        return 0
    from .report import report

    return report(
        args.examples, args.format, args.only, sys.stdout, args.progress, args.keras_backends
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
