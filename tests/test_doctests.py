"""Every example in a docstring runs and prints what it shows, once.

Front ends (``maskref.api.<module>``, where the rules are stated) run their
examples against the reference; a backend's kernel modules run theirs against
that backend's public functions (their docstrings are the backend's notes).
Each module's examples must actually run: a module listed here with no
example fails, so an example cannot silently stop being checked.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import numpy as np
import pytest
from conftest import FRAMEWORK, require

import maskref.api
from maskref.api.exports import SHARED

_API = {m.name for m in pkgutil.iter_modules(maskref.api.__path__)}
FRONT_ENDS = [f"maskref.api.{m}" for m in ("checks", "dtypes", *SHARED) if m in _API]
BACKEND_MODULES = [
    f"{package}.{m.name}"
    for package in ("reference", *FRAMEWORK)
    for m in pkgutil.iter_modules([str(maskref.api.__path__[0]).replace("maskref/api", package)])
    if not m.name.startswith("_") and m.name != "strategies"
]


def _run(name: str, globs: dict) -> doctest.TestResults:
    module = importlib.import_module(name)
    globs = {"np": np, **vars(module), **globs}
    return doctest.testmod(
        module,
        globs=globs,
        optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
    )


@pytest.mark.parametrize("name", FRONT_ENDS)
def test_front_end_examples(name):
    import reference

    result = _run(name, {k: getattr(reference, k) for k in reference.__all__})
    assert result.failed == 0
    assert result.attempted > 0, f"{name} has no example"


@pytest.mark.parametrize("name", BACKEND_MODULES)
def test_backend_examples(name):
    package = name.split(".")[0]
    globs: dict = {}
    if package in FRAMEWORK:
        require(FRAMEWORK[package])
        globs[FRAMEWORK[package].replace("tensorflow", "tf")] = importlib.import_module(
            FRAMEWORK[package]
        )
    backend = importlib.import_module(package)
    globs.update({k: getattr(backend, k) for k in backend.__all__})
    result = _run(name, globs)
    assert result.failed == 0
