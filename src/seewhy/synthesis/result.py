"""What :func:`~seewhy.synthesis.synthesize` returns, and how it is saved."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from seewhy.errors import OptionError

__all__ = ["LABEL_BAND", "SynthesisResult", "image_grid"]

#: Height in pixels of the band under each image of a labelled grid.
LABEL_BAND = 16


@dataclass
class SynthesisResult:
    """Synthesized images, one per objective.

    Attributes:
        images: (N, H, W, 3) uint8 plain RGB at the size the model was fed: what is saved.
        tensor: (N, C, H, W) the normalized model input of ``images`` (``(images / 255 -
            mean) / std``), so ``model.module(result.tensor)`` sees exactly the saved PNGs.
        history: (steps, N) the objective of every image at every step, as optimized
            (under that step's random transform, before the penalties).
        objective: one description per image, e.g. ``"class 285 (Egyptian cat)"``.
        start_values: (N,) each objective on the starting image (no transform).
        final_values: (N,) each objective on ``tensor`` (no transform).
    """

    images: np.ndarray
    tensor: torch.Tensor
    history: torch.Tensor
    objective: list[str]
    start_values: torch.Tensor
    final_values: torch.Tensor

    def __len__(self) -> int:
        return len(self.images)

    def grid(
        self, columns: int | None = None, gap: int = 4, labels: Sequence[str] | None = None
    ) -> np.ndarray:
        """All images in one (rows x columns) array, ``labels`` under them; see
        :func:`image_grid`."""
        return image_grid(self.images, columns, gap, labels)

    def save(self, folder: str | PathLike[str], names: list[str] | None = None) -> list[Path]:
        """Write each image as a PNG into ``folder`` (created); the paths written.

        ``names`` are file stems, one per image; by default ``"000_class_285_egyptian_cat"``.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if names is None:
            names = [f"{i:03d}_{slug(text)}" for i, text in enumerate(self.objective)]
        if len(names) != len(self.images):
            raise OptionError(f"got {len(names)} names for {len(self.images)} images")
        paths = []
        for name, image in zip(names, self.images):
            path = folder / f"{name}.png"
            Image.fromarray(image).save(path)
            paths.append(path)
        return paths


def slug(text: str) -> str:
    """``text`` as a file-name part: lower case letters, digits, ``.`` and ``_``."""
    return re.sub(r"[^a-z0-9.]+", "_", text.lower()).strip("_") or "image"


def image_grid(
    images: np.ndarray,
    columns: int | None = None,
    gap: int = 4,
    labels: Sequence[str] | None = None,
) -> np.ndarray:
    """(N, H, W, 3) images tiled row by row on white, ``gap`` pixels apart.

    ``columns`` defaults to ``ceil(sqrt(N))``, so 16 images make a 4 x 4 grid of size
    ``(4 H + 3 gap, 4 W + 3 gap)``. ``labels``, one per image, are written in a
    :data:`LABEL_BAND` px band under each image (``"channel 8"``): a grid of an arbitrary
    channel list does not say on its own which tile is which.
    """
    count, height, width, channels = images.shape
    if labels is not None and len(labels) != count:
        raise OptionError(f"got {len(labels)} labels for {count} images")
    band = LABEL_BAND if labels is not None else 0
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    cell = height + band
    grid = np.full(
        (rows * cell + (rows - 1) * gap, columns * width + (columns - 1) * gap, channels),
        255,
        dtype=np.uint8,
    )
    font = ImageFont.load_default(size=LABEL_BAND - 4) if labels is not None else None
    for i, image in enumerate(images):
        top, left = (i // columns) * (cell + gap), (i % columns) * (width + gap)
        grid[top : top + height, left : left + width] = image
        if labels is not None:
            strip = Image.new("RGB", (width, band), "white")
            ImageDraw.Draw(strip).text(
                (width / 2, band / 2), labels[i], fill="black", font=font, anchor="mm"
            )
            grid[top + height : top + cell, left : left + width] = np.asarray(strip)[..., :channels]
    return grid
