"""Class names for the models seewhy knows."""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1)
def _imagenet_labels() -> tuple[str, ...]:
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet-1k class names by index (``[285] == "Egyptian cat"``).

    They come from torchvision's weights metadata, so nothing is downloaded.
    """
    return list(_imagenet_labels())
