"""Adapters: how the checker calls a model, reads its output and its gradients.

Every adapter takes NumPy inputs (the padded batch, maskref's bool mask with
``True`` = valid, or None when the mask is dropped) and returns the selected
output as a NumPy array. The mask reaches the model converted with
:func:`reference.convert_mask` to ``mask_convention`` and passed by keyword
``mask_arg`` (or through ``call(model, x, mask)``). No framework is imported
before a model of that framework is seen.

* ``keras``: a Keras model or layer; an implicit mask (``Embedding(mask_zero=True)``,
  ``Masking``) when ``mask_arg`` is None, or an explicit one: a named input of a
  functional model, else the ``mask=``-style keyword.
* ``torch``: an ``nn.Module``: ``forward(x, <mask_arg>=mask)``, e.g.
  ``src_key_padding_mask`` (convention ``drop``), ``mask`` (``torch_impl``
  masked modules, which return ``(y, mask)``; the first element is read).
* ``transformers``: a Hugging Face ``PreTrainedModel``: ``forward(input_ids,
  attention_mask=..., position_ids=...)``; ``last_hidden_state`` is read.
* ``numpy``: any other callable taking and returning arrays.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import reference

#: ``loss_weights(output shape) -> (valid, weights)``: the masked loss's positions and weights.
LossWeights = Callable[[tuple[int, ...]], tuple[np.ndarray, np.ndarray]]
#: Gradients by parameter name, or None when the adapter reaches no parameter.
Grads = dict[str, np.ndarray] | None
#: A selector of the output to check: None (automatic), an index, a key or attribute
#: name, or a function of the model's return value.
OutputSelector = None | int | str | Callable[[Any], Any]


def _mro_names(obj: object) -> list[str]:
    return [f"{c.__module__}.{c.__qualname__}" for c in type(obj).__mro__]


def infer_framework(model: object) -> str:
    """``keras``, ``transformers``, ``torch`` or ``numpy`` (any other callable)."""
    names = _mro_names(model)
    if any(n.startswith("transformers.") and n.endswith(".PreTrainedModel") for n in names):
        return "transformers"
    if "torch.nn.modules.module.Module" in names:
        return "torch"
    if any(n.startswith("keras.") and n.endswith(".Layer") for n in names):
        return "keras"
    if callable(model):
        return "numpy"
    raise TypeError(f"model: expected a Keras model, a torch module or a callable, got {model!r}")


def select_output(out: Any, output: OutputSelector) -> Any:
    """The output to check out of what the model returned."""
    if callable(output):
        return output(out)
    if isinstance(output, str):
        if isinstance(out, dict) or hasattr(out, "keys"):
            with contextlib.suppress(KeyError, TypeError):
                return out[output]
        if hasattr(out, output):
            return getattr(out, output)
        raise KeyError(f"output: the model's result has no {output!r}")
    if isinstance(output, int) and not isinstance(output, bool):
        return out[output]
    if output is not None:
        raise TypeError(f"output: expected None, an int, a str or a callable, got {output!r}")
    if hasattr(out, "keys") and hasattr(out, "to_tuple"):  # transformers.ModelOutput
        return out["last_hidden_state"] if "last_hidden_state" in out else out[0]
    if isinstance(out, dict):
        return next(iter(out.values()))
    if isinstance(out, (tuple, list)):
        return out[0]
    return out


def _walk(obj: object, seen: set[int] | None = None) -> Iterator[object]:
    """The object and its sub-layers / sub-modules (Keras ``layers``, torch ``modules``)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    yield obj
    modules = getattr(obj, "modules", None)
    if callable(modules) and "torch.nn.modules.module.Module" in _mro_names(obj):
        for m in obj.modules():  # type: ignore[attr-defined]
            if id(m) not in seen:
                seen.add(id(m))
                yield m
        return
    flatten = getattr(obj, "_flatten_layers", None)
    children = (
        list(flatten(include_self=False, recursive=True))
        if callable(flatten)
        else list(getattr(obj, "layers", []) or [])
    )
    for child in children:
        yield from _walk(child, seen)


def implicit_mask_source(model: object) -> tuple[object, str] | None:
    """``(pad value, why)`` when a layer derives the mask from the values, else None."""
    for layer in _walk(model):
        name = type(layer).__name__
        if getattr(layer, "mask_zero", False) is True:
            return 0, f"{name}(mask_zero=True) masks the id 0"
        if name == "Masking" and hasattr(layer, "mask_value"):
            value = layer.mask_value
            return value, (
                f"Masking(mask_value={value!r}) masks the steps whose features all equal {value!r}"
            )
    return None


def vocabulary_size(model: object) -> int | None:
    """The number of ids the model's (first) embedding takes, when it can be found."""
    config = getattr(model, "config", None)
    if config is not None and isinstance(getattr(config, "vocab_size", None), int):
        return int(config.vocab_size)
    get = getattr(model, "get_input_embeddings", None)
    if callable(get):
        with contextlib.suppress(Exception):
            emb = get()
            if isinstance(getattr(emb, "num_embeddings", None), int):
                return int(emb.num_embeddings)
    for layer in _walk(model):
        for attr in ("num_embeddings", "input_dim"):
            value = getattr(layer, attr, None)
            if isinstance(value, int) and type(layer).__name__.endswith("Embedding"):
                return value
    return None


class Adapter:
    """Calls a model on NumPy inputs and returns the selected output as NumPy."""

    framework = "numpy"

    def __init__(
        self,
        model: Any,
        *,
        mask_arg: str | None,
        mask_convention: str,
        position_ids_arg: str | None,
        call: Callable[..., Any] | None,
        output: OutputSelector,
        training: bool,
        seed: int,
    ) -> None:
        self.model = model
        self.mask_arg = mask_arg
        self.mask_convention = mask_convention
        self.position_ids_arg = position_ids_arg
        self.call = call
        self.output = output
        self.training = training
        self.seed = seed
        self.output_dtype: str | None = None
        self.runs = 0

    # -- what the model is -------------------------------------------------------------
    @property
    def explicit_mask(self) -> bool:
        """Whether the model is given the mask (by keyword or through ``call``)."""
        return self.mask_arg is not None or self.call is not None

    def describe(self) -> str:
        how = (
            "through call(model, x, mask)"
            if self.call is not None
            else f"as {self.mask_arg}="
            if self.mask_arg is not None
            else "not passed"
        )
        conv = f" in the {self.mask_convention!r} convention" if self.explicit_mask else ""
        pos = f"; position ids as {self.position_ids_arg}=" if self.position_ids_arg else ""
        return f"{self.framework} adapter: mask {how}{conv}{pos}"

    def random_layers(self) -> list[str]:
        """Layers that are random in the current mode (dropout in training)."""
        return []

    def parameter_count(self) -> int | None:
        return None

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Puts the model in the requested mode for the duration of the check."""
        yield

    # -- running -------------------------------------------------------------------------
    def convert_mask(self, mask: np.ndarray, like: np.ndarray) -> np.ndarray:
        dtype = like.dtype.name if self.mask_convention.startswith("additive") else None
        if dtype is not None and like.dtype.kind != "f":
            dtype = None
        out = reference.convert_mask(mask, "keep", self.mask_convention, dtype=dtype)
        return np.asarray(out)

    def positions(self, mask: np.ndarray) -> np.ndarray:
        return np.asarray(reference.positions_from_mask(mask))

    def forward(
        self, x: np.ndarray, mask: np.ndarray | None, positions_from: np.ndarray
    ) -> np.ndarray:
        """The selected output for inputs ``x`` and ``mask`` (None: the mask is dropped)."""
        self.runs += 1
        return self._forward(x, mask, positions_from)

    def gradients(self, x: np.ndarray, mask: np.ndarray, loss_weights: LossWeights) -> Grads:
        """Gradients of ``sum(where(valid, y, 0) * weights)`` w.r.t. every trainable parameter,
        where ``valid, weights = loss_weights(y.shape)`` (None when the model has no
        parameter the adapter can reach)."""
        return None

    def _forward(
        self, x: np.ndarray, mask: np.ndarray | None, positions_from: np.ndarray
    ) -> np.ndarray:
        kwargs: dict[str, Any] = {}
        m = None if mask is None else self.convert_mask(mask, x)
        if self.call is not None:
            out = self.call(self.model, x, m)
        else:
            if self.mask_arg is not None and m is not None:
                kwargs[self.mask_arg] = m
            if self.position_ids_arg is not None:
                kwargs[self.position_ids_arg] = self.positions(positions_from)
            out = self.model(x, **kwargs)
        return self._to_numpy(select_output(out, self.output))

    def _to_numpy(self, y: Any) -> np.ndarray:
        arr = np.asarray(y)
        if self.output_dtype is None:
            self.output_dtype = arr.dtype.name
        return arr


class TorchAdapter(Adapter):
    """``torch.nn.Module`` (and Hugging Face models): inputs as tensors, no_grad forward."""

    framework = "torch"

    def random_layers(self) -> list[str]:
        import torch

        if not self.training or not isinstance(self.model, torch.nn.Module):
            return []
        found = []
        for name, m in self.model.named_modules():
            p = (
                getattr(m, "p", None)
                if isinstance(m, torch.nn.modules.dropout._DropoutNd)
                else None
            )
            if p is None and isinstance(getattr(m, "dropout", None), float):
                p = m.dropout
            if p:
                found.append(f"{name or type(m).__name__} (p={p:g})")
        return found

    def parameter_count(self) -> int | None:
        import torch

        if isinstance(self.model, torch.nn.Module):
            return sum(p.numel() for p in self.model.parameters())
        return None

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        import torch

        if not isinstance(self.model, torch.nn.Module):
            yield
            return
        modes = [(m, m.training) for m in self.model.modules()]
        self.model.train(self.training)
        try:
            yield
        finally:
            for m, mode in modes:
                m.training = mode

    def _tensor(self, a: np.ndarray) -> Any:
        import torch

        t = torch.from_numpy(np.ascontiguousarray(a))
        device = self._device()
        return t.to(device) if device is not None else t

    def _device(self) -> Any:
        import torch

        if isinstance(self.model, torch.nn.Module):
            for p in self.model.parameters():
                return p.device
        return None

    def _call(self, x: np.ndarray, mask: np.ndarray | None, positions_from: np.ndarray) -> Any:
        xt = self._tensor(x)
        m = None if mask is None else self._tensor(self.convert_mask(mask, x))
        if self.call is not None:
            return self.call(self.model, xt, m)
        kwargs: dict[str, Any] = {}
        if self.mask_arg is not None and m is not None:
            kwargs[self.mask_arg] = m
        if self.position_ids_arg is not None:
            kwargs[self.position_ids_arg] = self._tensor(self.positions(positions_from))
        return self.model(xt, **kwargs)

    def _forward(
        self, x: np.ndarray, mask: np.ndarray | None, positions_from: np.ndarray
    ) -> np.ndarray:
        import torch

        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            y = select_output(self._call(x, mask, positions_from), self.output)
        return self._to_numpy(y)

    def _to_numpy(self, y: Any) -> np.ndarray:
        import torch

        if isinstance(y, torch.Tensor):
            if self.output_dtype is None:
                self.output_dtype = str(y.dtype).removeprefix("torch.")
            y = y.detach()
            if y.dtype == torch.bfloat16:
                y = y.float()
            return y.cpu().numpy()
        return super()._to_numpy(y)

    def gradients(self, x: np.ndarray, mask: np.ndarray, loss_weights: LossWeights) -> Grads:
        import torch

        if not isinstance(self.model, torch.nn.Module):
            return None
        named = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        if not named:
            return None
        self.runs += 1
        with torch.enable_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            y = select_output(self._call(x, mask, mask), self.output)
            if not isinstance(y, torch.Tensor) or not y.requires_grad:
                return None
            valid, weights = loss_weights(tuple(y.shape))
            v = self._tensor(valid)
            w = self._tensor(weights).to(y.dtype)
            loss = (torch.where(v, y, torch.zeros((), dtype=y.dtype, device=y.device)) * w).sum()
            grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
        out = {}
        for (name, p), g in zip(named, grads):
            g = torch.zeros_like(p) if g is None else g
            out[name] = g.detach().float().cpu().numpy()
        return out


class TransformersAdapter(TorchAdapter):
    """A Hugging Face model: ``forward(input_ids, attention_mask=..., position_ids=...)``."""

    framework = "transformers"


class KerasAdapter(Adapter):
    """A Keras model or layer (gradients on the TensorFlow and torch backends)."""

    framework = "keras"

    def random_layers(self) -> list[str]:
        if not self.training:
            return []
        found = []
        for layer in _walk(self.model):
            rate = getattr(layer, "rate", None)
            if rate is None:
                rate = getattr(layer, "dropout", None)
            if isinstance(rate, float) and rate > 0:
                found.append(f"{getattr(layer, 'name', type(layer).__name__)} (rate={rate:g})")
        return found

    def parameter_count(self) -> int | None:
        count = getattr(self.model, "count_params", None)
        with contextlib.suppress(Exception):
            return int(count()) if callable(count) else None
        return None

    def _inputs(self, x: np.ndarray, m: np.ndarray | None) -> tuple[Any, dict[str, Any]]:
        """The model's positional input and keyword arguments."""
        kwargs: dict[str, Any] = {}
        names = [getattr(t, "name", None) for t in (getattr(self.model, "inputs", None) or [])]
        if self.mask_arg is not None and self.mask_arg in names and len(names) == 2:
            other = next(n for n in names if n != self.mask_arg)
            if m is None:  # a mask input cannot be left out: dropping it means all valid
                m = self.convert_mask(np.ones(x.shape[:2], bool), x)
            return {other: x, self.mask_arg: m}, kwargs
        if self.mask_arg is not None and m is not None:
            kwargs[self.mask_arg] = m
        return x, kwargs

    def _arguments(
        self, x: np.ndarray, mask: np.ndarray | None, positions_from: np.ndarray
    ) -> tuple[Any, dict[str, Any]]:
        """The model's input and keyword arguments (or, with ``call``: ``x`` and the mask)."""
        m = None if mask is None else self.convert_mask(mask, x)
        if self.call is not None:
            return x, {"mask": m}
        inputs, kwargs = self._inputs(x, m)
        if self.position_ids_arg is not None:
            kwargs[self.position_ids_arg] = self.positions(positions_from)
        return inputs, kwargs

    def _apply(self, inputs: Any, kwargs: dict[str, Any]) -> Any:
        if self.call is not None:
            return select_output(self.call(self.model, inputs, kwargs["mask"]), self.output)
        return select_output(self.model(inputs, training=self.training, **kwargs), self.output)

    _traced: Any = None  # tf.function of _apply (None: not built yet, False: eager only)

    def _run(self, fn_name: str, *args: Any) -> Any:
        """``fn_name`` traced with ``tf.function`` on the TensorFlow backend (eager Keras runs a
        recurrent layer step by step: tracing is ~50x faster), eagerly elsewhere or when the
        model cannot be traced."""
        import keras

        eager = getattr(self, fn_name)
        if self._traced is False or keras.backend.backend() != "tensorflow":
            return eager(*args)
        if self._traced is None:
            # a trace costs a fraction of a second: worth it only when eager runs are slow
            started = time.perf_counter()
            result = eager(*args)
            if time.perf_counter() - started < 0.2:
                self._traced = False
                return result
            import tensorflow as tf

            self._traced = {
                name: tf.function(getattr(self, name), reduce_retracing=True)
                for name in ("_apply", "_loss_gradients")
            }
            return result
        try:
            return self._traced[fn_name](*args)
        except Exception:
            result = eager(*args)  # raises again when the model itself fails
            self._traced = False  # the model runs eagerly but not traced: stay eager
            return result

    def _forward(
        self, x: np.ndarray, mask: np.ndarray | None, positions_from: np.ndarray
    ) -> np.ndarray:
        import keras

        y = self._run("_apply", *self._arguments(x, mask, positions_from))
        if self.output_dtype is None:
            dtype = getattr(y, "dtype", None)
            self.output_dtype = (
                keras.backend.standardize_dtype(dtype)
                if dtype is not None
                else np.asarray(y).dtype.name
            )
        return _keras_numpy(y)

    def _loss_gradients(
        self, inputs: Any, kwargs: dict[str, Any], valid: Any, weights: Any
    ) -> list[Any]:
        import tensorflow as tf

        variables = list(self.model.trainable_variables)
        with tf.GradientTape() as tape:
            y = tf.convert_to_tensor(self._apply(inputs, kwargs))
            w = tf.cast(weights, y.dtype)
            loss = tf.reduce_sum(tf.where(valid, y, tf.zeros_like(y)) * w)
        return list(tape.gradient(loss, variables))

    def gradients(self, x: np.ndarray, mask: np.ndarray, loss_weights: LossWeights) -> Grads:
        import keras

        variables = list(getattr(self.model, "trainable_variables", []) or [])
        if not variables:
            return None
        backend = keras.backend.backend()
        inputs, kwargs = self._arguments(x, mask, mask)
        if backend == "tensorflow":
            shape = tuple(self._run("_apply", inputs, kwargs).shape)
            valid, weights = loss_weights(shape)
            self.runs += 1
            grads = self._run("_loss_gradients", inputs, kwargs, valid, weights)
            return {
                v.path: np.zeros(v.shape, np.float32) if g is None else _keras_numpy(g)
                for v, g in zip(variables, grads)
            }
        if backend == "torch":
            import torch

            self.runs += 1
            y = self._apply(inputs, kwargs)
            valid, weights = loss_weights(tuple(y.shape))
            w = torch.as_tensor(weights, dtype=y.dtype, device=y.device)
            v = torch.as_tensor(valid, device=y.device)
            loss = (torch.where(v, y, torch.zeros((), dtype=y.dtype, device=y.device)) * w).sum()
            values = [var.value for var in variables]
            grads = torch.autograd.grad(loss, values, allow_unused=True)
            return {
                var.path: np.zeros(var.shape, np.float32)
                if g is None
                else g.detach().float().cpu().numpy()
                for var, g in zip(variables, grads)
            }
        return None


def _keras_numpy(y: Any) -> np.ndarray:
    import keras

    arr = keras.ops.convert_to_numpy(y)
    if arr.dtype.name == "bfloat16":
        arr = arr.astype(np.float32)
    return np.asarray(arr)


ADAPTERS: dict[str, type[Adapter]] = {
    "numpy": Adapter,
    "torch": TorchAdapter,
    "transformers": TransformersAdapter,
    "keras": KerasAdapter,
}
