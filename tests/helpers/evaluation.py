"""Tiny data sets with known boxes and a tiny model for the evaluate tests (no downloads)."""

from __future__ import annotations

import numpy as np
import torch
from helpers.models import TinyGapNet
from PIL import Image

from seewhy.datasets.base import Dataset, Sample, Truth
from seewhy.models import LoadedModel


def tiny_model(classes: int = 5, seed: int = 0, size: int = 32) -> LoadedModel:
    torch.manual_seed(seed)
    return LoadedModel.wrap(TinyGapNet(classes).eval(), name="tiny", input_size=size)


def picture(seed: int, width: int = 48, height: int = 40) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def broken() -> Image.Image:
    raise OSError("truncated file")


def boxed_dataset(count: int = 7, grid_every: int = 3, bad: tuple[int, ...] = ()) -> Dataset:
    """``count`` random pictures of 48 x 40 px: a labelled box each (two on every
    ``grid_every``-th, a 'grid' with a mask on one object); the indices in ``bad`` fail to
    load."""
    samples = []
    for i in range(count):
        label = i % 5
        objects = [Truth(label, box=(4 + i, 3, 20 + i, 25))]
        kind = "photo"
        if grid_every and i % grid_every == 0:
            mask = np.zeros((40, 48), dtype=bool)
            mask[20:39, 24:47] = True
            objects.append(Truth((label + 1) % 5, box=(24, 20, 47, 39), mask=mask))
            kind = "grid"
        load = broken if i in bad else (lambda s=i: picture(s))
        samples.append(
            Sample(
                key=f"img{i:02d}.png",
                load=load,
                labels=tuple(dict.fromkeys(t.label for t in objects)),
                objects=tuple(objects),
                kind=kind,
            )
        )
    return Dataset("tiny", samples, [("notes.txt", "not an image")])
