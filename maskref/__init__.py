"""maskref: the behaviour report and the conformance registry.

The rules live in :mod:`reference` (NumPy), mirrored by :mod:`tf_impl` and
:mod:`torch_impl`. This package holds what compares them: the registry of
conformance cases (:mod:`maskref.conformance`) that the tests and the
``maskref report`` command share.
"""

__version__ = "0.1.0"
