"""The models one server offers, loaded on first use and shared by every request.

A model's forward passes run with hooks and instance-level forwards that the engine adds and
removes (:mod:`seewhy.engine.guard`), so two threads must not run the same model at once:
:meth:`ModelPool.using` holds each model's lock (several models' in a fixed order, so two
side-by-side requests never wait on each other crosswise). Different models run in parallel.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from seewhy.errors import closest
from seewhy.explain import Explainer
from seewhy.models import LoadedModel, load_model
from seewhy.models.registry import BUNDLED

__all__ = ["LayerChoice", "ModelPool", "UnknownName"]


class UnknownName(LookupError):
    """A name the client sent that is not one of the choices (the app answers 422).

    Attributes:
        what: what was named (``"model"``, ``"method"``, ``"layer"``).
        name: the name sent.
        choices: the valid names.
    """

    def __init__(self, what: str, name: str, choices: Sequence[str]) -> None:
        self.what, self.name, self.choices = what, name, list(choices)
        self.closest = closest(name, self.choices, n=1)
        hint = f" Did you mean {self.closest[0]!r}?" if self.closest else ""
        shown = ", ".join(self.choices[:40]) + (" ..." if len(self.choices) > 40 else "")
        super().__init__(f"unknown {what} {name!r}.{hint} Choose from: {shown}")


@dataclass(frozen=True)
class LayerChoice:
    """One candidate layer: a module whose output reads as a map of the input."""

    name: str
    kind: str
    shape: tuple[int, ...]
    reading: str


_MODULE_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.Lock] = weakref.WeakKeyDictionary()
_MODULE_LOCKS_LOCK = threading.Lock()


def module_lock(module: nn.Module) -> threading.Lock:
    """The process-wide lock of ``module``, to hold while seewhy runs it.

    The engine hooks the module during a call (and may fold its BatchNorms), so two calls on
    one module must not overlap: a second call's forward would run through the first one's
    hooks ("layer ... runs more than once per forward pass"). Everything in the process that
    explains or runs a shared module, the study and the app's API alike, should hold this lock.
    """
    with _MODULE_LOCKS_LOCK:
        found = _MODULE_LOCKS.get(module)
        if found is None:
            found = _MODULE_LOCKS[module] = threading.Lock()
        return found


class ModelPool:
    """The served models by name, each loaded once (lazily, thread-safe).

    Args:
        names: model names as :func:`seewhy.load_model` takes them, or ``NAME=CHECKPOINT``
            (``resnet50=my_resnet.pth``: its weights from that file); these, and only
            these, are what clients may ask for (a client never names a file).
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(dict.fromkeys(names))
        self._models: dict[str, LoadedModel] = {}
        self._explainers: dict[tuple[str, str], Explainer] = {}
        self._layers: dict[str, tuple[str, list[LayerChoice]]] = {}
        self._loading = {name: threading.Lock() for name in self.names}

    def check(self, name: str) -> str:
        """``name`` if it is served, else :class:`UnknownName`."""
        if name not in self._loading:
            raise UnknownName("model", name, self.names)
        return name

    def loaded(self, name: str) -> bool:
        return name in self._models

    def get_model(self, name: str) -> LoadedModel:
        """The loaded model ``name`` (loaded on first call; later calls return the same one)."""
        self.check(name)
        model = self._models.get(name)
        if model is not None:
            return model
        with self._loading[name]:
            if name not in self._models:
                model, _, weights = name.partition("=")
                self._models[name] = load_model(model, weights or None)
            return self._models[name]

    @contextmanager
    def using(self, names: Sequence[str]) -> Iterator[list[LoadedModel]]:
        """The models ``names``, each held for this thread alone until the block ends (by
        :func:`module_lock`, which the study holds too)."""
        models = [self.get_model(name) for name in names]
        modules = {id(m.module): m.module for m in models}
        with ExitStack() as stack:
            for key in sorted(modules):
                stack.enter_context(module_lock(modules[key]))
            yield models

    def explainer(self, name: str, layer: str = "auto") -> Explainer:
        """An :class:`~seewhy.Explainer` of model ``name`` at ``layer`` (kept: it remembers
        its automatic layer); ``layer`` must be ``"auto"`` or one of :meth:`layers`."""
        key = (name, layer)
        if key not in self._explainers:
            if layer != "auto":
                choices = [choice.name for choice in self.layers(name)[1]]
                if layer not in choices:
                    raise UnknownName("layer", layer, ["auto", *choices])
            self._explainers[key] = Explainer(self.get_model(name), layer=layer)
        return self._explainers[key]

    def layers(self, name: str) -> tuple[str, list[LayerChoice]]:
        """The automatic layer of ``name`` and its candidate layers, in forward order
        (what ``seewhy layers`` lists); probed once, with one forward of a blank image."""
        if name not in self._layers:
            from seewhy.engine.layers import auto_layer, probe_layers

            with self.using([name]) as (model,):
                example = torch.zeros(1, len(model.mean), model.input_size, model.input_size)
                chosen = auto_layer(model.module, example)
                found = [
                    LayerChoice(info.name, info.kind, info.shape[1:], info.reading)
                    for info in probe_layers(model.module, example)
                    if info.shape is not None
                    and info.reading is not None
                    and (not info.redundant or info.name == chosen)
                ]
            self._layers[name] = (chosen, found)
        return self._layers[name]


def bundled(name: str) -> bool:
    """Whether ``name`` is one of the models shipped with seewhy."""
    return name.removeprefix("bundled:") in BUNDLED
