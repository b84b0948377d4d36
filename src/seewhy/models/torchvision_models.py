"""torchvision's image classifiers (``resnet50``, ``vgg16``, ``densenet121``, ...).

Pretrained weights are torchvision's own ImageNet weights, downloaded from download.pytorch.org
on first use and cached by ``torch.hub``.
"""

from __future__ import annotations

import functools

from torch import nn

from seewhy.errors import ModelError
from seewhy.models.base import IMAGENET_MEAN, IMAGENET_STD

SOURCE = "torchvision"
DOWNLOAD = "weights downloaded on first use"


@functools.cache
def names() -> tuple[str, ...]:
    """The names of torchvision's classification models."""
    import torchvision

    return tuple(torchvision.models.list_models(module=torchvision.models))


def has(name: str) -> bool:
    """Whether ``name`` is a torchvision classifier."""
    return name in names()


def build(name: str, num_classes: int | None = None) -> nn.Module:
    """A randomly initialized ``name`` (1000 classes unless ``num_classes`` is given)."""
    import torchvision

    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    return torchvision.models.get_model(name, weights=None, **kwargs)


def pretrained(name: str) -> nn.Module:
    """``name`` with torchvision's default ImageNet weights (downloaded and cached)."""
    import torchvision

    weights = torchvision.models.get_model_weights(name).DEFAULT
    try:
        return torchvision.models.get_model(name, weights=weights)
    except Exception as error:
        raise ModelError(
            f"could not download the pretrained weights of torchvision {name!r} ({weights}): "
            f"{type(error).__name__}: {error}. Pass weights=PATH to a saved state dict, or "
            "weights='random' for random initialization"
        ) from error


def data_config(name: str, module: nn.Module) -> tuple[int, tuple[float, ...], tuple[float, ...]]:
    """``(input_size, mean, std)`` from the default weights' metadata (no download)."""
    import torchvision

    try:
        transform = torchvision.models.get_model_weights(name).DEFAULT.transforms()
        size = transform.crop_size
        return (
            int(size[0] if isinstance(size, (list, tuple)) else size),
            tuple(float(v) for v in transform.mean),
            tuple(float(v) for v in transform.std),
        )
    except Exception:  # models without weights metadata: the ImageNet defaults
        return 224, IMAGENET_MEAN, IMAGENET_STD


def describe(name: str) -> str:
    """A one-line description from the default weights' metadata (no download)."""
    import torchvision

    try:
        meta = torchvision.models.get_model_weights(name).DEFAULT.meta
        top1 = meta["_metrics"]["ImageNet-1K"]["acc@1"]
        params = meta["num_params"] / 1e6
        return f"torchvision, ImageNet-1k top-1 {top1:.1f}%, {params:.1f}M params; {DOWNLOAD}"
    except Exception:
        return f"torchvision classifier; {DOWNLOAD}"


def num_classes(module: nn.Module, requested: int | None) -> int:
    """The number of classes ``module`` was built with."""
    return 1000 if requested is None else requested
