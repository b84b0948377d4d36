"""The method registry: a name -> a pure function of the captured tensors.

Adding a method is one small module with a function decorated by :func:`register`, plus
its import line in ``seewhy/methods/__init__.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from seewhy.errors import MethodError, suggestion
from seewhy.methods.base import CamInputs

CamFunction = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class MethodSpec:
    """A registered method.

    Attributes:
        name: the registered name (``"gradcam++"``).
        function: ``function(inputs: CamInputs, **options) -> Tensor (B, T, h, w)``.
        family: ``"cam"`` for layer-resolution maps built from activations and gradients.
        needs_gradients: whether the engine must compute ``dS/dA`` for it.
        needs_head: whether it needs a verified GAP + Linear head (CAM).
        summary: one line for ``seewhy methods`` and the docs.
    """

    name: str
    function: CamFunction
    family: str
    needs_gradients: bool
    needs_head: bool
    summary: str


_METHODS: dict[str, MethodSpec] = {}


def register(
    name: str,
    *,
    family: str = "cam",
    needs_gradients: bool = True,
    needs_head: bool = False,
) -> Callable[[CamFunction], CamFunction]:
    """Register ``function`` under ``name``; its docstring's first line is its summary."""

    def decorate(function: CamFunction) -> CamFunction:
        if name in _METHODS:
            raise ValueError(f"method {name!r} is registered twice")
        summary = (function.__doc__ or "").strip().splitlines()[0] if function.__doc__ else ""
        _METHODS[name] = MethodSpec(name, function, family, needs_gradients, needs_head, summary)
        return function

    return decorate


def get_method(name: str) -> MethodSpec:
    """The registered method called ``name``, or a MethodError suggesting close names."""
    try:
        return _METHODS[name]
    except KeyError:
        known = ", ".join(sorted(_METHODS))
        raise MethodError(
            f"unknown method {name!r}.{suggestion(name, _METHODS)} Known methods: {known}"
        ) from None


def available_methods() -> dict[str, MethodSpec]:
    """Every registered method by name, in registration order."""
    return dict(_METHODS)


def run_method(name: str, inputs: CamInputs, options: dict[str, object]) -> torch.Tensor:
    """Call a method with its options, turning a bad option into a MethodError."""
    spec = get_method(name)
    try:
        return spec.function(inputs, **options)
    except TypeError as error:
        if "unexpected keyword argument" in str(error):
            import inspect

            allowed = [p for p in inspect.signature(spec.function).parameters if p != "inputs"]
            raise MethodError(
                f"method {name!r} got a bad option: {error}. Allowed options: "
                f"{', '.join(allowed) or 'none'}"
            ) from None
        raise
