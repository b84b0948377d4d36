"""Ground truth in the model's input pixels, and the (image, class) pairs the metrics score.

A sample's boxes and masks are in the image file's pixels; the model sees the image resized
(and cropped, with ``crop``): :meth:`seewhy.models.LoadedModel.geometry` maps them the way
:meth:`~seewhy.models.LoadedModel.display` maps the pixels.

The classes measured on an image are its labelled classes, each once, in order (with no
labels: its top-1 class, whose region is then every object of the image).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seewhy.datasets.base import Sample
from seewhy.localize import box_mask
from seewhy.models.base import Geometry

__all__ = ["ImageTruth", "image_truth", "measured_classes"]


@dataclass
class ImageTruth:
    """One image's ground truth in input pixels.

    Attributes:
        boxes: class -> (K, 4) boxes (inclusive ends); a class with no box left after the
            crop has none. Class ``-1`` holds every box (the class-agnostic region).
        masks: class -> (H, W) bool region: the union of its objects' masks, or their
            boxes where an object has no mask.
        segmentations: class -> (H, W) bool union of its objects' masks only (PxAP's).
    """

    boxes: dict[int, np.ndarray]
    masks: dict[int, np.ndarray]
    segmentations: dict[int, np.ndarray]


def image_truth(sample: Sample, geometry: Geometry) -> ImageTruth:
    """``sample``'s objects mapped through ``geometry``."""
    width, height = geometry.size
    boxes: dict[int, list[tuple[int, int, int, int]]] = {}
    masks: dict[int, np.ndarray] = {}
    segmentations: dict[int, np.ndarray] = {}
    for truth in sample.objects:
        region = None
        if truth.mask is not None:
            region = geometry.mask(truth.mask)
            for label in (truth.label, -1):
                found = segmentations.get(label)
                segmentations[label] = region if found is None else found | region
        if truth.box is not None:
            box = geometry.box(truth.box)
            if box is not None:
                for label in (truth.label, -1):
                    boxes.setdefault(label, []).append(box)
                if region is None:
                    region = box_mask([box], (height, width))
        if region is None or not region.any():
            continue
        for label in (truth.label, -1):
            masks[label] = masks[label] | region if label in masks else region
    return ImageTruth(
        boxes={label: np.asarray(found, dtype=np.float64) for label, found in boxes.items()},
        masks=masks,
        segmentations=segmentations,
    )


def measured_classes(sample: Sample) -> list[int]:
    """The classes scored on ``sample``: its labels (or its objects' classes when it lists
    none), each once, in order."""
    labels = sample.labels or tuple(t.label for t in sample.objects if t.label >= 0)
    return list(dict.fromkeys(int(label) for label in labels))


def region_of(truth: ImageTruth, label: int, labelled: bool) -> tuple[np.ndarray | None, ...]:
    """(region, boxes, segmentation) of ``label`` (of every object when the image is not
    ``labelled``)."""
    key = label if labelled else -1
    return truth.masks.get(key), truth.boxes.get(key), truth.segmentations.get(key)
