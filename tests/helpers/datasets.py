"""Helpers of the seewhy.datasets tests: images of known sizes, a tiny label list."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

#: A 5-class label list with an alias, for tests that need no ImageNet.
LABELS = ["cat", "dog", "tabby, tabby cat", "espresso", "Egyptian cat"]


def write_image(path: Path, size: tuple[int, int] = (12, 10), value: int = 0) -> Path:
    """An RGB PNG (or whatever the suffix says) of ``size`` (width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)
    return path
