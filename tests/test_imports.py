"""Package boundaries and the export table.

The reference imports NumPy alone; every backend exports exactly the names of
:mod:`maskref.api.exports`, each shared function with the front end's
signature and a docstring that states the rule.
"""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest
from conftest import BACKENDS, FRAMEWORK, require

from maskref.api.core import FRONTENDS
from maskref.api.exports import EXTRAS, public_names, shared_names


def test_importing_reference_imports_no_framework():
    code = (
        "import sys, reference, reference.strategies; "
        "bad = [m for m in ('tensorflow', 'torch', 'keras', 'jax') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", BACKENDS)
def test_backend_exports_exactly_the_table(name):
    if name in FRAMEWORK:
        require(FRAMEWORK[name])
    backend = importlib.import_module(name)
    assert sorted(backend.__all__) == public_names(name)
    for public in backend.__all__:
        assert hasattr(backend, public), public
    assert name == backend.BACKEND


@pytest.mark.parametrize("name", BACKENDS)
def test_shared_functions_are_the_front_ends(name):
    if name in FRAMEWORK:
        require(FRAMEWORK[name])
    backend = importlib.import_module(name)
    reference = importlib.import_module("reference")
    for public in shared_names():
        fn = getattr(backend, public)
        if isinstance(fn, type):
            continue
        aliases = set(fn.backend.aliases) if hasattr(fn, "backend") else set()
        assert _parameters(fn, aliases) == _parameters(getattr(reference, public)), public
        assert fn.__doc__ and ">>>" in fn.__doc__, f"{name}.{public} states no rule"
        if public in FRONTENDS:
            assert fn.frontend is FRONTENDS[public]
            assert fn.__module__ == name


def _parameters(fn, aliases=frozenset()) -> str:
    """The parameters as text, less a backend's aliases (return types are the backend's)."""
    sig = inspect.signature(fn)
    params = [p for p in sig.parameters.values() if p.name not in aliases]
    return str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))


def test_no_backend_name_is_also_an_extra():
    for package, modules in EXTRAS.items():
        extras = [n for names in modules.values() for n in names]
        assert not set(extras) & set(shared_names()), package
        assert len(extras) == len(set(extras)), package
