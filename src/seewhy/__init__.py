"""seewhy: why did the CNN say that?

>>> import seewhy
>>> lm = seewhy.load_model("efficientnet_lite0")
>>> res = seewhy.Explainer(lm).explain(seewhy.data.example_image(), targets="top5")

``import seewhy`` is light: the names below that need PyTorch (and the ``localize`` and
``metrics`` submodules, which pull in SciPy) are imported on first use. So a program, e.g.
the ``seewhy`` command, can set the environment PyTorch reads when it loads (such as
``OMP_WAIT_POLICY``, :mod:`seewhy.cli`) after ``import seewhy`` and before the first
explanation.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from seewhy import data
from seewhy._version import __version__ as __version__
from seewhy.errors import (
    ImageError,
    ImageShapeError,
    LayerError,
    MethodError,
    MethodRefusal,
    ModelError,
    OptionError,
    SeewhyError,
    SeewhyWarning,
    TargetError,
)

if TYPE_CHECKING:
    from seewhy import localize, metrics
    from seewhy.explain import Explainer, explain_models
    from seewhy.load import load_result, load_results
    from seewhy.methods import available_methods, register
    from seewhy.models import LoadedModel, load_model
    from seewhy.result import ExplanationResult
    from seewhy.synthesis import synthesize

# name -> the module that defines it, imported on first use (these import PyTorch)
_LAZY = {
    "Explainer": "seewhy.explain",
    "explain_models": "seewhy.explain",
    "load_result": "seewhy.load",
    "load_results": "seewhy.load",
    "available_methods": "seewhy.methods",
    "register": "seewhy.methods",
    "LoadedModel": "seewhy.models",
    "load_model": "seewhy.models",
    "ExplanationResult": "seewhy.result",
    "synthesize": "seewhy.synthesis",
}
SUBMODULES = ("localize", "metrics")  # imported on first use: they pull in SciPy


def _modules() -> set[str]:
    """The package's submodules (``seewhy.models``, ``seewhy.report``...): as attributes they
    import on first use, as they were reachable when ``import seewhy`` imported them all."""
    import pkgutil

    return {info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # found once; later reads do not come here
        return value
    if name in SUBMODULES or name in _modules():
        return importlib.import_module(f"seewhy.{name}")
    raise AttributeError(f"module 'seewhy' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *SUBMODULES, *_modules()})


__all__ = [
    "ExplanationResult",
    "Explainer",
    "ImageError",
    "ImageShapeError",
    "LayerError",
    "LoadedModel",
    "MethodError",
    "MethodRefusal",
    "SeewhyWarning",
    "ModelError",
    "OptionError",
    "SeewhyError",
    "TargetError",
    "available_methods",
    "data",
    "explain_models",
    "load_result",
    "load_results",
    "load_model",
    "localize",
    "metrics",
    "register",
    "synthesize",
]
