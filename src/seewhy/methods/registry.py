"""The method registry: a name -> a pure function of the captured tensors.

Adding a method is one small module with a function decorated by :func:`register`, plus
its import line in ``seewhy/methods/__init__.py``.

Families:

- ``"cam"``: ``function(inputs: CamInputs, **options) -> Tensor (B, T, h, w)``, a map at the
  layer's resolution built from its activations and gradients.
- ``"input"``: ``function(inputs: InputGradientInputs, **options) -> InputAttribution``, an
  attribution (B, T, C, H, W) over the input's pixels and its per-pixel map (B, T, H, W).
- ``"smooth"``: the wrapper ``smooth:<method>`` (:mod:`seewhy.methods.smooth`), not registered
  by name: :func:`get_method` builds its spec for any registered method.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from seewhy.errors import MethodError, suggestion
from seewhy.methods import smooth
from seewhy.methods.contract import BACKWARD_RULES, DISPLAYS, MethodFunction, MethodSpec
from seewhy.methods.option_types import check_value, declared_types

FAMILIES = ("cam", "input")
#: What a call may ask for: a name, a list of names, or ``{name: options}``.
MethodRequest = Sequence[str] | Mapping[str, Mapping[str, Any] | None] | str

_METHODS: dict[str, MethodSpec] = {}


def register(
    name: str,
    *,
    family: str = "cam",
    needs_gradients: bool = True,
    needs_head: bool = False,
    input_rule: str | None = None,
    companion: str | None = None,
    uses_layer: bool = False,
    display: str | None = None,
) -> Callable[[MethodFunction], MethodFunction]:
    """Register ``function`` under ``name``; its docstring's first line is its summary.

    ``companion`` names the option of an input-space method that names a CAM-family method
    it multiplies by (its default is the function's default for that option); the engine
    then captures that CAM's needs at the layer. ``uses_layer=True`` is the older spelling
    of ``companion="cam"``.
    """
    if family not in FAMILIES:
        raise MethodError(f"family must be one of {FAMILIES}, got {family!r}")
    if input_rule is not None and input_rule not in BACKWARD_RULES:
        raise MethodError(
            f"input_rule must be one of {tuple(BACKWARD_RULES)} or None, got {input_rule!r}"
        )
    display = display or ("cam" if family == "cam" else "abs")
    if display not in DISPLAYS:
        raise MethodError(f"display must be one of {DISPLAYS}, got {display!r}")
    if name.startswith(smooth.PREFIX) or "@" in name:
        raise MethodError(f"method names may not start with {smooth.PREFIX!r} or contain '@'")
    if uses_layer and companion is None:
        companion = "cam"

    def decorate(function: MethodFunction) -> MethodFunction:
        if name in _METHODS:
            raise MethodError(f"method {name!r} is registered twice")
        summary = (function.__doc__ or "").strip().splitlines()[0] if function.__doc__ else ""
        default = None
        if companion is not None:
            parameter = inspect.signature(function).parameters.get(companion)
            if parameter is None or not isinstance(parameter.default, str):
                raise MethodError(
                    f"{name!r} declares companion={companion!r}, so its function needs an "
                    f"option {companion!r} whose default names a CAM method"
                )
            default = parameter.default
        _METHODS[name] = MethodSpec(
            name,
            function,
            family,
            needs_gradients if family == "cam" or companion is not None else False,
            needs_head,
            summary,
            input_rule=input_rule,
            companion=companion,
            companion_default=default,
            display=display,
        )
        return function

    return decorate


def get_method(name: str) -> MethodSpec:
    """The registered method called ``name``, or a MethodError suggesting close names.

    ``"smooth:<method>"`` gives the spec of the smoothing wrapper around any registered method.
    """
    if not isinstance(name, str):
        raise MethodError(f"a method name must be a string, got {name!r}")
    if name.startswith(smooth.PREFIX):
        inner = name[len(smooth.PREFIX) :]
        if not inner:
            raise MethodError(
                f"{name!r} names no method to smooth: write {smooth.PREFIX}<method>, "
                f"e.g. {smooth.PREFIX}gradcam"
            )
        if inner.startswith(smooth.PREFIX):  # its options would name both wrappers' n, sigma
            raise MethodError(
                f"{name!r} smooths twice: {smooth.PREFIX} wraps a method once "
                f"(e.g. {smooth.PREFIX}{inner.removeprefix(smooth.PREFIX) or 'gradcam'})"
            )
        return smooth.spec(get_method(inner))
    try:
        return _METHODS[name]
    except KeyError:
        known = ", ".join(sorted(_METHODS))
        raise MethodError(
            f"unknown method {name!r}.{suggestion(name, _METHODS)} Known methods: {known}, "
            f"and {smooth.PREFIX}<any of them>"
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
        return inner + [option for option in smooth.OPTIONS if option not in inner]
    return [p for p in inspect.signature(spec.function).parameters if p != "inputs"]


def option_types(name: str) -> dict[str, Any]:
    """``{option: type hint}`` of every option ``name`` takes (the order of
    :func:`method_options`), read from the method's signature; for ``smooth:<method>`` the
    method's own, then the wrapper's."""
    spec = get_method(name)
    if spec.inner is not None:
        inner = option_types(spec.inner)
        wrapper = declared_types(smooth.smooth)
        return {**inner, **{option: wrapper[option] for option in smooth.OPTIONS}}
    return declared_types(spec.function)


def get_cam(name: object, option: str = "cam") -> MethodSpec:
    """The CAM-family method called ``name``: a companion CAM given by a method's ``option``
    (guided Grad-CAM's ``cam=``)."""
    names = method_names("cam")
    if not isinstance(name, str) or name not in names:
        hint = suggestion(name, names) if isinstance(name, str) else ""
        raise MethodError(
            f"{option}={name!r} is not a CAM-family method.{hint} Allowed: {', '.join(names)}"
        )
    return _METHODS[name]


def companion_of(spec: MethodSpec, options: Mapping[str, Any]) -> MethodSpec | None:
    """The CAM method a method with a companion multiplies by, from its options; else None."""
    if spec.companion is None:
        return None
    return get_cam(options.get(spec.companion, spec.companion_default), spec.companion)


def check_options(name: str, options: Mapping[str, Any]) -> None:
    """A MethodError naming the allowed options when ``options`` has a key ``name`` lacks;
    an OptionError naming the expected type when a value does not fit the type the method
    declares (:mod:`seewhy.methods.option_types`)."""
    allowed = method_options(name)
    unknown = [key for key in options if key not in allowed]
    if unknown:
        raise MethodError(
            f"method {name!r} has no option {unknown[0]!r}.{suggestion(unknown[0], allowed)} "
            f"Allowed options: {', '.join(allowed) or 'none'}"
        )
    types = option_types(name)
    for key, value in options.items():
        check_value(name, key, types[key], value)
    companion = companion_of(get_method(name), options)
    if companion is not None and options.get("cam_options"):  # the CAM's own options
        check_options(companion.name, options["cam_options"])


def resolved_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with every option ``name`` takes that they leave out at its default
    (``{"relu": True}`` for ``gradcam`` given ``{}``); ``smooth:<method>`` adds the wrapper's
    defaults to the method's. What a run records as the options it used."""
    spec = get_method(name)
    if spec.inner is not None:
        defaults = {**_defaults(get_method(spec.inner).function), **_defaults(smooth.smooth)}
    else:
        defaults = _defaults(spec.function)
    return {**defaults, **options}


def _defaults(function: Callable[..., Any]) -> dict[str, Any]:
    return {
        name: parameter.default
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }


def normalize_methods(methods: MethodRequest) -> dict[str, dict[str, Any]]:
    """``{name: options}`` from a name, a list of names or a dict; unknown names and options
    fail here, before any work."""
    if isinstance(methods, str):
        methods = [methods]
    if isinstance(methods, Mapping):
        request = {name: options or {} for name, options in methods.items()}
    elif isinstance(methods, Sequence):
        request = {name: {} for name in methods}
    else:
        raise MethodError(
            f"methods={methods!r} is not understood: give a name, a list of names or "
            "{name: options}"
        )
    if not request:
        raise MethodError("no method requested; pass methods=['gradcam', ...]")
    for name, options in request.items():
        get_method(name)
        if not isinstance(options, Mapping):
            raise MethodError(f"options for {name!r} must be a dict, got {options!r}")
        check_options(name, options)
    return {name: dict(options) for name, options in request.items()}


def run_method(name: str, inputs: Any, options: Mapping[str, object]) -> Any:
    """Call a method with its options, turning a bad option into a MethodError."""
    spec = get_method(name)
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
