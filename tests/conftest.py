"""Shared fixtures: tiny models and images, all made here (no downloads)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

CHELSEA = Path(__file__).resolve().parents[1] / "src" / "seewhy" / "data" / "chelsea.png"


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
    return str(CHELSEA)
