"""``maskref check FILE.py[:FUNCTION]``: load the user's model and run the checks.

``FUNCTION`` (default ``make_model``) takes no argument and returns
``(model, batch)``, ``(model, batch, options)`` or a dict with ``model``,
``batch`` and options; ``options`` are keyword arguments of
:func:`~maskref.testing.check_padding_invariance`. Exit status: 0 when no check
fails, 1 when one does, 2 when the target cannot be loaded or run.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import traceback
from pathlib import Path
from typing import Any, TextIO

from .results import CHECKS


class TargetError(Exception):
    """The target file or function cannot be loaded, or returns the wrong thing."""


def load_target(target: str) -> tuple[Any, Any, dict[str, Any]]:
    """``(model, batch, options)`` from ``FILE.py[:FUNCTION]``."""
    path_text, _, function = target.rpartition(":") if ":" in target else (target, "", "")
    function = function or "make_model"
    path = Path(path_text)
    if not path.is_file():
        raise TargetError(f"{path}: no such file")
    name = f"_maskref_check_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TargetError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # the file's own imports of its neighbours
    try:
        spec.loader.exec_module(module)
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    make = getattr(module, function, None)
    if not callable(make):
        raise TargetError(f"{path}: defines no function {function!r}")
    made = make()
    if isinstance(made, dict):
        options = dict(made)
        try:
            model, batch = options.pop("model"), options.pop("batch")
        except KeyError as exc:
            raise TargetError(f"{function}() returned a dict without {exc.args[0]!r}") from None
        return model, batch, options
    if isinstance(made, tuple) and len(made) in (2, 3):
        options = made[2] if len(made) == 3 else {}
        if not isinstance(options, dict):
            raise TargetError(f"{function}(): the third element must be a dict of options")
        return made[0], made[1], dict(options)
    raise TargetError(
        f"{function}() must return (model, batch), (model, batch, options) or a dict; "
        f"got {type(made).__name__}"
    )


def _names(text: str | None, allowed: tuple[str, ...], what: str) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise TargetError(
            f"--{what}: {', '.join(unknown) or text!r} not among {', '.join(allowed)}"
        )
    return names


def run_check(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    from .checks import check_padding_invariance

    try:
        checks = _names(args.checks, CHECKS, "checks")
        sides = _names(args.padding_sides, ("post", "pre"), "padding-sides")
        model, batch, options = load_target(args.target)
    except TargetError as exc:
        print(f"maskref check: {exc}", file=err)
        return 2
    except Exception:
        print(f"maskref check: loading {args.target} failed:", file=err)
        traceback.print_exc(file=err)
        return 2
    if checks is not None:
        options["checks"] = checks
    if sides is not None:
        options["padding_sides"] = sides
    if args.training:
        options["training"] = True
    if args.no_gradients:
        options["gradients"] = False
    if args.no_shrink:
        options["shrink"] = False
    if args.seed is not None:
        options["seed"] = args.seed
    if args.progress is not None:
        options["progress"] = args.progress
    try:
        report = check_padding_invariance(model, batch, **options)
    except Exception:
        print("maskref check: the check could not run:", file=err)
        traceback.print_exc(file=err)
        return 2
    print(report.to_json() if args.format == "json" else report.to_text(), file=out)
    return 0 if report.passed else 1
