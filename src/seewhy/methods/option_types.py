"""The declared types of method options, read from each method's signature, and the check
that a value fits one.

``gradcam(inputs, relu: bool = True)`` declares ``relu: bool``; ``check_value("gradcam",
"relu", "false")`` is then an :class:`~seewhy.errors.OptionError` naming ``bool``. The check
is lenient where Python is (an int is a float, a list of two ints is a ``tuple[int, int]``,
NumPy scalars count as numbers) and strict where a wrong value would silently mean
something else (a string is never a bool).
"""

from __future__ import annotations

import collections.abc
import math
import numbers
import types
import typing
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from seewhy.errors import MethodOptionError


def declared_types(function: Callable[..., Any]) -> dict[str, Any]:
    """``{option: type hint}`` of a method function's keyword parameters (``Any`` where a
    parameter has no annotation)."""
    import inspect

    try:
        hints = typing.get_type_hints(function)
    except Exception:  # an annotation that does not resolve: check nothing rather than fail
        hints = {}
    return {
        name: hints.get(name, Any)
        for name, parameter in inspect.signature(function).parameters.items()
        if name != "inputs" and parameter.kind is not inspect.Parameter.VAR_KEYWORD
    }


def describe(hint: Any) -> str:
    """A hint as a reader writes it: ``int | None``, ``tuple[int, int]``, ``bool``."""
    if hint is type(None) or hint is None:
        return "None"
    if hint is Any:
        return "any value"
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(describe(arg) for arg in typing.get_args(hint))
    if origin is not None:
        args = ", ".join(describe(arg) for arg in typing.get_args(hint))
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{args}]" if args else name
    if hint is torch.Tensor:
        return "Tensor"
    return getattr(hint, "__name__", str(hint))


def accepts(hint: Any, value: object) -> bool:
    """Whether ``value`` is of the type ``hint`` declares (see the module's docstring)."""
    if hint is Any:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(accepts(arg, value) for arg in typing.get_args(hint))
    if hint is bool:
        return isinstance(value, (bool, np.bool_))
    if isinstance(value, (bool, np.bool_)):
        return False  # True is an int to Python, never a number of pixels or copies here
    if hint is int:
        return isinstance(value, numbers.Integral)
    if hint is float:
        return isinstance(value, numbers.Real)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (tuple, list)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(accepts(args[0], item) for item in value)
        return len(value) == len(args) and all(map(accepts, args, value))
    if origin is not None:
        hint = origin
    if hint is collections.abc.Mapping:
        return isinstance(value, collections.abc.Mapping)
    try:
        return isinstance(value, hint)
    except TypeError:  # a hint isinstance cannot check: let the method decide
        return True


def check_value(method: str, option: str, hint: Any, value: object) -> None:
    """A MethodOptionError naming the expected type when ``value`` does not fit ``hint``,
    or when it is a NaN or infinite number (no option of a method means anything by one:
    an occlusion baseline of NaN would make every map NaN)."""
    if not accepts(hint, value):
        raise MethodOptionError(
            f"option {option!r} of {method!r} must be {describe(hint)}, "
            f"got {value!r} ({type(value).__name__})"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise MethodOptionError(f"option {option!r} of {method!r} must be finite, got {value!r}")
