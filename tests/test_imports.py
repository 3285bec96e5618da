"""Package boundaries: the reference is NumPy alone; the three APIs mirror each other."""

from __future__ import annotations

import importlib
import inspect
import math
import subprocess
import sys

import pytest
from conftest import FRAMEWORK, require


def test_importing_reference_imports_no_framework():
    code = (
        "import sys, reference, reference.strategies; "
        "bad = [m for m in ('tensorflow', 'torch', 'keras', 'jax') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", ["tf_impl", "torch_impl"])
def test_backend_mirrors_the_reference(name):
    require(FRAMEWORK[name])
    import reference

    backend = importlib.import_module(name)
    for fn_name in reference.__all__:
        ref_fn = getattr(reference, fn_name)
        if not callable(ref_fn):
            continue
        fn = getattr(backend, fn_name)
        ref_sig = inspect.signature(ref_fn)
        sig = inspect.signature(fn)
        assert list(sig.parameters) == list(ref_sig.parameters), fn_name
        for p, q in zip(sig.parameters.values(), ref_sig.parameters.values()):
            same = (
                p.default == q.default
                or p.default is q.default
                or (
                    isinstance(p.default, float) and math.isnan(p.default) and math.isnan(q.default)
                )
            )
            assert same, (fn_name, p.name)
            assert p.kind == q.kind, (fn_name, p.name)
        assert fn.__doc__, fn_name


@pytest.mark.parametrize("name", ["tf_impl", "torch_impl"])
def test_backend_modules_mirror_the_reference_modules(name):
    require(FRAMEWORK[name])
    for module in ("padding", "masks", "reductions", "conventions", "attention", "ragged", "flow"):
        ref_mod = importlib.import_module(f"reference.{module}")
        mod = importlib.import_module(f"{name}.{module}")
        assert set(ref_mod.__all__) <= set(dir(mod)), module
