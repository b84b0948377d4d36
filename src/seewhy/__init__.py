"""seewhy: why did the CNN say that?

>>> import seewhy
>>> lm = seewhy.load_model("efficientnet_lite0")
>>> res = seewhy.Explainer(lm).explain(["cat.jpg"], methods=["gradcam"], targets="top5")
"""

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
from seewhy.explain import Explainer
from seewhy.methods import available_methods, register
from seewhy.models import LoadedModel, load_model
from seewhy.result import ExplanationResult
from seewhy.synthesis import synthesize

__version__ = "0.1.0"

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
    "load_model",
    "localize",
    "metrics",
    "register",
    "synthesize",
]
