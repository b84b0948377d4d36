"""Models seewhy can explain: bundled EfficientNet-Lite, torchvision, timm, or your own.

>>> from seewhy.models import load_model
>>> lm = load_model("efficientnet_lite0")  # ImageNet weights bundled, nothing downloaded
"""

from __future__ import annotations

from seewhy.models.base import LoadedModel, make_selector
from seewhy.models.labels import imagenet_labels, read_labels
from seewhy.models.loader import known_models, load_model, resolve
from seewhy.models.registry import register

__all__ = [
    "LoadedModel",
    "imagenet_labels",
    "known_models",
    "load_model",
    "make_selector",
    "read_labels",
    "register",
    "resolve",
]
