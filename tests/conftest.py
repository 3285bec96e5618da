"""Test configuration: hypothesis profiles and the backend fixture.

Profiles: ``default`` (quick, for local runs), ``ci`` (chosen automatically
when the ``CI`` environment variable is set, reproducible), ``thorough``
(``--hypothesis-profile=thorough``, many examples). On CI a missing framework
fails the run instead of skipping its tests.
"""

from __future__ import annotations

import importlib
import importlib.util
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("default", max_examples=30, **_common)
settings.register_profile("ci", max_examples=60, derandomize=True, print_blob=True, **_common)
settings.register_profile("thorough", max_examples=1000, **_common)
settings.load_profile(
    "ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "default")
)

ON_CI = bool(os.environ.get("CI"))
#: CI's NumPy-only leg: frameworks are absent there by design, so their tests skip.
NUMPY_ONLY = bool(os.environ.get("MASKREF_NUMPY_ONLY"))
FRAMEWORK = {"tf_impl": "tensorflow", "torch_impl": "torch", "jax_impl": "jax"}
BACKENDS = ["reference", "tf_impl", "torch_impl", "jax_impl"]


#: What one test worker holds with TensorFlow, PyTorch and JAX loaded (measured: 3-4.2 GiB).
WORKER_BYTES = 5 * 2**30


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto``: a worker per core, but no more than memory holds."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    from maskref.runner import available_memory

    available = available_memory()
    if available is None:
        return cores
    return max(1, min(cores, available // WORKER_BYTES))


def require(module: str) -> None:
    """Skip when ``module`` is missing, unless on CI, where it must be installed."""
    if importlib.util.find_spec(module) is None:
        if ON_CI and not NUMPY_ONLY:
            pytest.fail(f"{module} is not installed, but CI must test every framework")
        pytest.skip(
            f"{module} is not installed (pip install -c constraints.txt 'maskref[all]')",
            allow_module_level=True,
        )  # also called at the top of framework-only files


def chromium_path() -> str | None:
    """Debian's Chromium (Playwright's own browser download cannot reach the network)."""
    import shutil

    if os.path.exists("/usr/bin/chromium"):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def require_chromium() -> str:
    """Chromium's path, with Playwright to drive it, or a skip (a failure on CI's full leg)."""
    missing = []
    if importlib.util.find_spec("playwright") is None:
        missing.append("playwright (pip install -c constraints.txt 'maskref[test]')")
    if chromium_path() is None:
        missing.append("chromium (apt-get install chromium)")
    if missing:
        if ON_CI and not NUMPY_ONLY:
            pytest.fail(f"{' and '.join(missing)} missing, but CI must run the browser tests")
        pytest.skip(f"needs {' and '.join(missing)}")
    return str(chromium_path())


def installed_backends() -> list[str]:
    """The backends whose framework is installed (on CI's full leg: all, or the test fails)."""
    out = []
    for name in BACKENDS:
        if name in FRAMEWORK and importlib.util.find_spec(FRAMEWORK[name]) is None:
            if ON_CI and not NUMPY_ONLY:
                pytest.fail(f"{FRAMEWORK[name]} is not installed, but CI must test every framework")
            continue
        out.append(name)
    return out


def to_numpy(value):
    """Backend results (tensors, lists of tensors) as NumPy."""
    from maskref.conformance.core import to_numpy as convert

    return convert(value)


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Each backend module in turn (skipped when its framework is missing)."""
    name = request.param
    if name in FRAMEWORK:
        require(FRAMEWORK[name])
    if name != "jax_impl":
        yield importlib.import_module(name)
        return
    import jax

    # Hand-written examples state the reference's int64/float64 results: JAX runs them in
    # x64 mode (its 32-bit default is tested in tests/test_jax_impl.py).
    with jax.enable_x64(True):
        yield importlib.import_module(name)


@pytest.fixture
def native(backend):
    """Converts a NumPy array into the current backend's tensor type."""
    if backend.__name__ == "reference":
        return np.asarray
    from maskref.conformance.operations import to_native

    return lambda a: to_native(backend.__name__, np.asarray(a))
