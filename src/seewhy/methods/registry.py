"""The method registry: a name -> a pure function of the captured tensors.

Adding a method is one small module with a function decorated by :func:`register`, plus
its import line in ``seewhy/methods/__init__.py``.

Families:

- ``"cam"``: ``function(inputs: CamInputs, **options) -> Tensor (B, T, h, w)``, a map at the
  layer's resolution built from its activations and gradients.
- ``"input"``: ``function(inputs: InputGradientInputs, **options) -> InputAttribution``, an
  attribution (B, T, C, H, W) over the input's pixels and its per-pixel map (B, T, H, W).
- ``"smooth"``: the wrapper ``smooth:<method>``, not registered by name: :func:`get_method`
  builds its spec for any registered method, and the engine averages that method's maps over
  noisy copies of the input.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seewhy.errors import MethodError, suggestion

MethodFunction = Callable[..., Any]
CamFunction = MethodFunction  # the name older modules import

FAMILIES = ("cam", "input", "smooth")
#: Backward rules for ``nn.ReLU`` modules an input-space method may ask the engine for.
RELU_RULES = ("normal", "guided", "deconv")
#: How a method's per-pixel map is best drawn (see :func:`seewhy.render.render_panel`).
DISPLAYS = ("cam", "abs", "signed", "rgb")
SMOOTH_PREFIX = "smooth:"
#: The options the ``smooth:`` wrapper keeps for itself; any other goes to the inner method.
SMOOTH_OPTIONS = ("n", "noise", "seed", "batch_size", "noise_tensors")


@dataclass(frozen=True)
class MethodSpec:
    """A registered method.

    Attributes:
        name: the registered name (``"gradcam++"``).
        function: the pure function (see the families above); None for ``smooth:`` specs.
        family: ``"cam"``, ``"input"`` or ``"smooth"``.
        needs_gradients: whether the engine must compute ``dS/dA`` at the layer for it.
        needs_head: whether it needs a verified GAP + Linear head (CAM).
        summary: one line for ``seewhy methods`` and the docs.
        input_rule: for input-space methods that use the gradient at the clean input, the
            backward rule of ``nn.ReLU`` modules it is taken with (``"normal"``, ``"guided"``
            or ``"deconv"``); None when the method only asks for extra forwards.
        uses_layer: an input-space method that also needs a CAM at the layer
            (guided Grad-CAM); its maps are keyed per layer like CAM methods.
        display: how its map is drawn: ``"cam"`` (jet overlay), ``"abs"`` (magnitude
            heatmap), ``"signed"`` (diverging overlay) or ``"rgb"`` (gradient image).
        inner: for ``smooth:<method>``, the smoothed method's name.
    """

    name: str
    function: MethodFunction | None
    family: str
    needs_gradients: bool
    needs_head: bool
    summary: str
    input_rule: str | None = None
    uses_layer: bool = False
    display: str = "cam"
    inner: str | None = None

    @property
    def needs_layer(self) -> bool:
        """Whether the method (or the method it smooths) works on a layer's activations."""
        return self.family == "cam" or self.uses_layer


_METHODS: dict[str, MethodSpec] = {}


def register(
    name: str,
    *,
    family: str = "cam",
    needs_gradients: bool = True,
    needs_head: bool = False,
    input_rule: str | None = None,
    uses_layer: bool = False,
    display: str | None = None,
) -> Callable[[MethodFunction], MethodFunction]:
    """Register ``function`` under ``name``; its docstring's first line is its summary."""
    if family not in ("cam", "input"):
        raise ValueError(f"family must be 'cam' or 'input', got {family!r}")
    if input_rule is not None and input_rule not in RELU_RULES:
        raise ValueError(f"input_rule must be one of {RELU_RULES} or None, got {input_rule!r}")
    display = display or ("cam" if family == "cam" else "abs")
    if display not in DISPLAYS:
        raise ValueError(f"display must be one of {DISPLAYS}, got {display!r}")
    if name.startswith(SMOOTH_PREFIX) or "@" in name:
        raise ValueError(f"method names may not start with {SMOOTH_PREFIX!r} or contain '@'")

    def decorate(function: MethodFunction) -> MethodFunction:
        if name in _METHODS:
            raise ValueError(f"method {name!r} is registered twice")
        summary = (function.__doc__ or "").strip().splitlines()[0] if function.__doc__ else ""
        _METHODS[name] = MethodSpec(
            name,
            function,
            family,
            needs_gradients if family == "cam" or uses_layer else False,
            needs_head,
            summary,
            input_rule=input_rule,
            uses_layer=uses_layer,
            display=display,
        )
        return function

    return decorate


def get_method(name: str) -> MethodSpec:
    """The registered method called ``name``, or a MethodError suggesting close names.

    ``"smooth:<method>"`` gives the spec of the smoothing wrapper around any registered method.
    """
    if name.startswith(SMOOTH_PREFIX):
        inner = get_method(name[len(SMOOTH_PREFIX) :])
        return MethodSpec(
            name,
            None,
            "smooth",
            needs_gradients=False,
            needs_head=False,
            summary=f"{inner.name} averaged over noisy copies of the input",
            uses_layer=inner.needs_layer,
            display=inner.display,
            inner=inner.name,
        )
    try:
        return _METHODS[name]
    except KeyError:
        known = ", ".join(sorted(_METHODS))
        raise MethodError(
            f"unknown method {name!r}.{suggestion(name, _METHODS)} Known methods: {known}, "
            f"and {SMOOTH_PREFIX}<any of them>"
        ) from None


def available_methods() -> dict[str, MethodSpec]:
    """Every registered method by name, in registration order (``smooth:`` not included)."""
    return dict(_METHODS)


def method_names(family: str) -> list[str]:
    """The registered names of one family (``"cam"`` or ``"input"``)."""
    return [name for name, spec in _METHODS.items() if spec.family == family]


def method_options(name: str) -> list[str]:
    """The options ``name`` takes: its function's keyword parameters, and for
    ``smooth:<method>`` the method's own followed by the wrapper's."""
    spec = get_method(name)
    if spec.inner is not None:
        inner = method_options(spec.inner)
        return inner + [option for option in SMOOTH_OPTIONS if option not in inner]
    if spec.function is None:
        return []
    return [p for p in inspect.signature(spec.function).parameters if p != "inputs"]


def run_method(name: str, inputs: Any, options: dict[str, object]) -> Any:
    """Call a method with its options, turning a bad option into a MethodError."""
    spec = get_method(name)
    if spec.function is None:
        raise MethodError(f"{name!r} is run by the engine, not called directly")
    try:
        return spec.function(inputs, **options)
    except TypeError as error:
        if "unexpected keyword argument" in str(error):
            allowed = method_options(name)
            raise MethodError(
                f"method {name!r} got a bad option: {error}. Allowed options: "
                f"{', '.join(allowed) or 'none'}"
            ) from None
        raise
