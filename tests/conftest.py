"""Shared fixtures: tiny models and images, all made here (no downloads)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from seewhy.data import example_image

sys.path.insert(0, str(Path(__file__).parent))


def skimage_image(name: str) -> str:
    import skimage.data

    return os.path.join(os.path.dirname(skimage.data.__file__), name)


@pytest.fixture(scope="session")
def lite0():
    """The bundled EfficientNet-Lite0 with real ImageNet weights."""
    import seewhy

    return seewhy.load_model("efficientnet_lite0")


@pytest.fixture
def chelsea_path() -> str:
    return str(example_image())
