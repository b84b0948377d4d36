"""What a data set is for ``seewhy evaluate``: the contract the readers fill and the
evaluation reads.

Coordinates are the image file's own pixels (before any resize or crop): boxes are
``(x0, y0, x1, y1)``, 0-based, ends included (as :mod:`seewhy.localize`); a mask is an
``(H, W)`` bool array of the image's size. The evaluation maps both to the model's input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

__all__ = ["Dataset", "Sample", "Truth"]


@dataclass(frozen=True)
class Truth:
    """One annotated object: its class index (the model's label space), and its box and / or
    mask in the image's pixels (``None`` when the annotation has none). ``crowd`` marks a
    COCO crowd region (``iscrowd``: one box / mask around many objects of the class)."""

    label: int
    box: tuple[int, int, int, int] | None = None
    mask: np.ndarray | None = None
    crowd: bool = False

    @property
    def has_mask(self) -> bool:
        """Whether the object has a mask, without making it (a COCO RLE is not decoded)."""
        return self.mask is not None


@dataclass(frozen=True)
class Sample:
    """One image of a data set.

    Attributes:
        key: stable and unique within the data set (a relative path, or ``samples/<name>``):
            resuming and sharding use it, and it names the image in reports.
        load: returns the image as RGB (``PIL.Image``); may raise ``OSError`` / ``ValueError``
            for a file that cannot be read (the evaluation lists it as skipped).
        labels: the image's classes (from its folder, or its annotations); empty when unknown.
        objects: the annotated objects; empty when the data set has no boxes or masks.
        kind: ``"photo"``, or for the samples benchmark ``"grid"`` (an n x n grid of photos,
            one object per cell, the cell as its box) or ``"pasted"``.
    """

    key: str
    load: Callable[[], Image.Image]
    labels: tuple[int, ...] = ()
    objects: tuple[Truth, ...] = ()
    kind: str = "photo"


@dataclass
class Dataset:
    """A data set: its samples in a fixed order, the label names of its class space, and the
    files that were not used (``(name, reason)``)."""

    name: str
    samples: list[Sample]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def has_boxes(self) -> bool:
        return any(t.box is not None for s in self.samples for t in s.objects)

    @property
    def has_masks(self) -> bool:
        return any(t.has_mask for s in self.samples for t in s.objects)

    @property
    def has_labels(self) -> bool:
        return any(s.labels for s in self.samples)
