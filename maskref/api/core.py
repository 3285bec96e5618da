"""How one front end serves every backend.

A public function is written once, in a module of :mod:`maskref.api`, as a
*front end*: its signature, defaults, docstring (the rule, with an example)
and every static argument check. Its first parameter is ``B``, the
:class:`Backend` it runs on; it converts and checks the arguments, then calls
``B.kernel("module", "name")`` (or the shortcut ``B.k.name``) with validated,
normalised arguments. Each backend package supplies those kernels as plain
functions under the public names, in modules named like the front ends'
(``torch_impl/reductions.py`` holds ``masked_sum(x, mask, axes, keepdims,
empty)``, plain PyTorch).

:func:`bind` makes the public function of one backend from a front end: the
same signature without ``B``, the front end's docstring followed by the
kernel's (the backend's notes), and ``__module__`` set to the backend
package. :func:`maskref.api.namespace` binds every name of the export table.

Data-dependent checks (negative lengths, lengths above ``maxlen``, values of
an additive mask) go through one hook, :meth:`Backend.require`: the front end
builds the error, the backend decides how to raise it (at once in eager code;
as a ``tf.debugging.Assert`` inside a ``tf.function``; skipped under ``jit``
where the backend says so). Messages and classes are therefore identical in
every backend.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

__all__ = ["FRONTENDS", "Backend", "Kernels", "bind", "frontend"]

#: Every front end, by public name (filled by :func:`frontend` as the modules load).
FRONTENDS: dict[str, Callable[..., Any]] = {}


def frontend(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Register ``fn`` (whose first parameter is the backend ``B``) as a front end."""
    params = list(inspect.signature(fn).parameters)
    if not params or params[0] != "B":
        raise TypeError(f"front end {fn.__name__} must take the backend `B` first")
    FRONTENDS[fn.__name__] = fn
    return fn


class Kernels:
    """Attribute access to a backend's kernels: ``B.k.masked_sum`` looks the name up in the
    kernel module that the export table names for it (imported on first use)."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def __getattr__(self, name: str) -> Callable[..., Any]:
        from .exports import module_of

        return self._backend.kernel(module_of(name), name)


def _raise_now(ok: object, error: Callable[[], Exception], message: str | None = None) -> None:
    if not bool(ok):
        raise error()


@dataclass(frozen=True, eq=False)
class Backend:
    """What a backend package supplies besides its kernels.

    ``package``: the package name (``"torch_impl"``); kernels live in
    ``{package}.{module}``. ``require(ok, error, message)``: the value-check
    hook; ``ok`` is a boolean scalar (a Python bool or a 0-d tensor),
    ``error()`` builds the exception (it may read tensor values; it is called
    only on failure and only where values can be read), ``message`` is the
    text a graph-mode assertion carries. ``aliases`` maps a keyword this
    backend's users type to the parameter it stands for (torch users write
    ``dim=`` for ``axis=``); a function with that parameter then accepts either,
    never both. ``guard(fn)`` wraps every bound
    public function (TensorFlow turns stray ``OpError``\\ s into Python
    errors and attaches graph-mode checks to the result there); the default
    returns ``fn``. ``after_checks(t)`` is ``t`` made to wait for the value checks
    required so far (TensorFlow graphs run independent ops in any order: an assertion
    must run before the op it guards fails on the same bad input); the default returns
    ``t``. ``adapter`` holds the backend's conversion helpers (its
    ``_convert`` module), which front ends reach as ``B.a``.
    """

    package: str
    adapter: ModuleType | None = None
    require: Callable[..., None] = _raise_now
    guard: Callable[[Callable[..., Any]], Callable[..., Any]] = lambda fn: fn
    after_checks: Callable[[Any], Any] = lambda t: t
    aliases: Mapping[str, str] = field(default_factory=dict)
    _modules: dict[str, ModuleType] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.package

    @property
    def k(self) -> Kernels:
        return Kernels(self)

    @property
    def a(self) -> ModuleType:
        if self.adapter is None:
            raise AttributeError(f"backend {self.package} has no adapter module")
        return self.adapter

    def module(self, module: str) -> ModuleType:
        mod = self._modules.get(module)
        if mod is None:
            mod = importlib.import_module(f"{self.package}.{module}")
            self._modules[module] = mod
        return mod

    def kernel(self, module: str, name: str) -> Callable[..., Any]:
        return getattr(self.module(module), name)


def _notes(kernel: Callable[..., Any] | None, backend: Backend) -> str:
    doc = inspect.getdoc(kernel) if kernel is not None else None
    if not doc:
        return ""
    return f"\n\n{backend.package} notes\n{'-' * (len(backend.package) + 6)}\n{doc}"


class _Unset:
    """The default of an alias parameter: the parameter it stands for decides."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __repr__(self) -> str:
        return f"<as {self.target}>"


def _with_aliases(
    front: Callable[..., Any], call: Callable[..., Any], aliases: dict[str, str]
) -> Callable[..., Any]:
    """``call`` accepting each alias keyword in place of the parameter it names."""
    name = front.__name__
    positional = [p.name for p in list(inspect.signature(front).parameters.values())[1:]]

    def aliased(*args: Any, **kwargs: Any) -> Any:
        for alias, target in aliases.items():
            if alias not in kwargs:
                continue
            value = kwargs.pop(alias)
            if target in kwargs or target in positional[: len(args)]:
                raise TypeError(f"{name}() got both {target}= and its alias {alias}=")
            kwargs[target] = value
        return call(*args, **kwargs)

    return aliased


def bind(
    front: Callable[..., Any], backend: Backend, kernel: Callable[..., Any] | None
) -> Callable[..., Any]:
    """The public function ``front`` on ``backend``: same signature without ``B`` (plus the
    backend's aliases of its parameters); the front end's docstring followed by ``kernel``'s
    (the backend's notes)."""
    guarded = backend.guard(functools.partial(front, backend))
    sig = inspect.signature(front)
    params = list(sig.parameters.values())[1:]
    aliases = {a: t for a, t in backend.aliases.items() if t in sig.parameters}
    call = _with_aliases(front, guarded, aliases) if aliases else guarded

    @functools.wraps(front)
    def public(*args: Any, **kwargs: Any) -> Any:
        return call(*args, **kwargs)

    doc = inspect.getdoc(front) or ""
    for alias, target in aliases.items():
        kind = inspect.Parameter.KEYWORD_ONLY
        params.append(inspect.Parameter(alias, kind, default=_Unset(target)))
        doc += f"\n\n``{alias}`` is accepted as another name for ``{target}`` ({backend.package})."
    public.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    public.__doc__ = doc + _notes(kernel, backend)
    public.__module__ = backend.package
    public.__qualname__ = front.__name__
    public.__wrapped__ = front  # type: ignore[attr-defined]
    public.frontend = front  # type: ignore[attr-defined]
    public.backend = backend  # type: ignore[attr-defined]
    return public
