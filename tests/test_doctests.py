"""Every example in the reference's docstrings runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib

import pytest
from conftest import FRAMEWORK, require

MODULES = ["reference._checks", "reference._dtypes", "reference.padding", "reference.masks",
           "reference.reductions", "reference.conventions", "reference.attention",
           "reference.ragged", "reference.flow"]
BACKEND_MODULES = [f"{b}.{m}" for b in FRAMEWORK for m in ("padding", "masks", "reductions",
                                                           "pooling", "conventions", "attention",
                                                           "ragged", "flow")]


@pytest.mark.parametrize("name", MODULES + BACKEND_MODULES)
def test_docstring_examples(name):
    package = name.split(".")[0]
    if package in FRAMEWORK:
        require(FRAMEWORK[package])
    module = importlib.import_module(name)
    globs = {"np": importlib.import_module("numpy"), **vars(module)}
    if package in FRAMEWORK:
        globs[FRAMEWORK[package].replace("tensorflow", "tf")] = importlib.import_module(
            FRAMEWORK[package])
    result = doctest.testmod(module, globs=globs, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
