"""COCO instances JSON (``instances_val2017.json``): boxes and polygon / RLE masks.

Format (the fields read)::

    {"images": [{"id": 397133, "file_name": "000000397133.jpg", "width": 640, "height": 427}],
     "categories": [{"id": 18, "name": "dog"}],
     "annotations": [{"image_id": 397133, "category_id": 18, "bbox": [x, y, w, h],
                      "segmentation": [[x1, y1, x2, y2, ...]] or RLE, "iscrowd": 0}]}

Images are matched to the data folder by ``file_name`` (a path relative to the folder, or a
file name). Category names resolve by :mod:`seewhy.datasets.classes`; COCO's names (``dog``)
are not ImageNet classes, so an ImageNet model needs a ``class_map`` for them, and only the
categories that annotations use are resolved.

Boxes: COCO's ``[x, y, w, h]`` are floats on a continuous plane where pixel ``i`` covers
``[i, i + 1)``. The contract's box is every pixel the box touches: ``x0 = floor(x)``,
``x1 = ceil(x + w) - 1`` (at least ``x0``), the same for y, clipped to the image. That is
also the tight box of the rasterised mask: the polygon of the square ``(2, 2)-(6, 6)`` covers
pixels 2..5, and its bbox ``[2, 2, 4, 4]`` becomes ``(2, 2, 5, 5)``.

Masks: polygons, uncompressed RLE (``iscrowd`` regions) and compressed RLE are converted by
``pycocotools`` (the ``seewhy[coco]`` extra) to RLE when the file is read, and decoded to an
``(H, W)`` bool array each time ``Truth.mask`` is read: a decoded COCO set would not fit in
memory. Crowd regions (``iscrowd: 1``, one region around many objects of a class) are kept,
with ``crowd=True`` on their :class:`~seewhy.datasets.base.Truth`: the class is there, so a
point in the region is on the class (COCO's own detection evaluation also does not count a
detection on a crowd region as wrong).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from seewhy.datasets.annotations import Annotated, clip_box
from seewhy.datasets.base import Truth
from seewhy.datasets.classes import ClassNames
from seewhy.errors import DataError, warn

__all__ = ["RleTruth", "coco_box", "read_coco"]


def _mask_utils() -> Any:
    try:
        from pycocotools import mask as mask_utils
    except ImportError:
        raise DataError(
            "COCO masks (segmentation) need pycocotools: pip install 'seewhy[coco]'"
        ) from None
    return mask_utils


class RleTruth(Truth):
    """A :class:`~seewhy.datasets.base.Truth` whose mask is kept as COCO RLE and decoded on
    each read of ``mask`` (the decoded array is not kept); ``dataclasses.replace`` gives one
    holding the decoded mask."""

    def __init__(
        self,
        label: int,
        box: tuple[int, int, int, int] | None = None,
        mask: np.ndarray | None = None,
        crowd: bool = False,
        *,
        rle: dict[str, Any] | None = None,
    ) -> None:
        for name, value in (("label", label), ("box", box), ("crowd", crowd)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_mask", mask)
        object.__setattr__(self, "rle", rle)

    @property  # type: ignore[override]
    def mask(self) -> np.ndarray | None:  # type: ignore[override]
        if self._mask is None and self.rle is not None:
            return _mask_utils().decode(self.rle).astype(bool)
        return self._mask


def coco_box(
    bbox: Sequence[float], size: tuple[int, int] | None
) -> tuple[int, int, int, int] | None:
    """COCO's float ``[x, y, w, h]`` as the pixels it touches: 0-based inclusive, clipped to
    ``size`` (width, height) when known; ``None`` when nothing is left."""
    x, y, w, h = (float(v) for v in bbox)
    x0, y0 = math.floor(x), math.floor(y)
    x1 = max(x0, math.ceil(x + w) - 1)
    y1 = max(y0, math.ceil(y + h) - 1)
    return clip_box((x0, y0, x1, y1), size)


def _rle(segmentation: Any, height: int, width: int, where: str) -> dict[str, Any] | None:
    """COCO RLE of a segmentation; ``None`` for polygons that are all degenerate (fewer than
    3 points: the object keeps its box only)."""
    mask_utils = _mask_utils()
    try:
        if isinstance(segmentation, list):  # polygons
            polygons = [p for p in segmentation if len(p) >= 6]
            if not polygons:
                return None
            return mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
        if isinstance(segmentation, Mapping) and list(segmentation["size"]) != [height, width]:
            raise ValueError(
                f"its size {list(segmentation['size'])} is not the image's [{height}, {width}]"
            )
        if isinstance(segmentation, Mapping) and isinstance(segmentation.get("counts"), list):
            return mask_utils.frPyObjects(dict(segmentation), height, width)  # uncompressed
        if isinstance(segmentation, Mapping):
            counts = segmentation["counts"]
            return {
                "size": list(segmentation["size"]),
                "counts": counts.encode("ascii") if isinstance(counts, str) else counts,
            }
    except (ValueError, KeyError, TypeError) as error:
        raise DataError(f"{where}: bad segmentation ({error})") from None
    raise DataError(f"{where}: segmentation is neither polygons nor RLE")


def read_coco(data: Mapping[str, Any], classes: ClassNames, *, source: str) -> list[Annotated]:
    """The annotated images of a COCO instances dict, in ``images`` order.

    Args:
        data: the parsed JSON.
        classes: resolves category names (and their ``class_map`` entries).
        source: the file, for messages.

    Raises:
        DataError: an annotation names an unknown image or category, a category name resolves
            to no class, a segmentation is bad, or masks are present without pycocotools.
    """
    try:
        images = {image["id"]: image for image in data["images"]}
        categories = {c["id"]: str(c["name"]) for c in data.get("categories", [])}
    except (KeyError, TypeError) as error:
        raise DataError(f"{source}: bad COCO images or categories ({error!r} missing)") from None
    by_image: dict[Any, Annotated] = {}
    dropped = 0
    for number, annotation in enumerate(data["annotations"]):
        where = f"{source}: annotations[{number}]"
        try:
            image = images[annotation["image_id"]]
            name = categories[annotation["category_id"]]
        except KeyError as error:
            raise DataError(f"{where}: unknown image or category id {error}") from None
        label = classes.index(name, f"{source}: category {name!r}")
        if label is None:  # left out by the class_map
            continue
        width, height = int(image.get("width") or 0), int(image.get("height") or 0)
        size = (width, height) if width > 0 and height > 0 else None
        annotated = by_image.get(image["id"])
        if annotated is None:
            annotated = by_image[image["id"]] = Annotated(str(image["file_name"]), size=size)
        box = coco_box(annotation["bbox"], size) if annotation.get("bbox") else None
        segmentation = annotation.get("segmentation")
        rle = None
        if segmentation:
            if size is None:
                raise DataError(f"{where}: a segmentation needs the image's width and height")
            rle = _rle(segmentation, height, width, where)
        if box is None and rle is None:
            dropped += 1
            annotated.add(None, label)
            continue
        crowd = bool(annotation.get("iscrowd", 0))
        truth = (
            RleTruth(label, box, crowd=crowd, rle=rle) if rle else Truth(label, box, None, crowd)
        )
        annotated.add(truth, label)
    if dropped:
        warn(f"{source}: {dropped} annotation(s) with no box or segmentation inside the image")
    return [by_image[image_id] for image_id in images if image_id in by_image]
