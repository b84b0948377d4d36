"""seewhy: why did the CNN say that?

>>> import seewhy
>>> lm = seewhy.load_model("efficientnet_lite0")
>>> res = seewhy.Explainer(lm).explain(seewhy.data.example_image(), targets="top5")
"""

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
from seewhy.explain import Explainer, explain_models
from seewhy.load import load_result, load_results
from seewhy.methods import available_methods, register
from seewhy.models import LoadedModel, load_model
from seewhy.result import ExplanationResult
from seewhy.synthesis import synthesize

SUBMODULES = ("localize", "metrics")  # imported on first use: they pull in SciPy


def __getattr__(name: str) -> object:
    if name in SUBMODULES:
        import importlib

        return importlib.import_module(f"seewhy.{name}")
    raise AttributeError(f"module 'seewhy' has no attribute {name!r}")


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
