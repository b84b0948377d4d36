"""COCO instances JSON (``instances_val2017.json``): boxes and polygon / RLE masks.

Format (the fields read)::

    {"images": [{"id": 397133, "file_name": "000000397133.jpg", "width": 640, "height": 427}],
     "categories": [{"id": 18, "name": "dog"}],
     "annotations": [{"image_id": 397133, "category_id": 18, "bbox": [x, y, w, h],
                      "segmentation": [[x1, y1, x2, y2, ...]] or RLE, "iscrowd": 0}]}

Images are matched to the data folder by ``file_name`` (a path relative to the folder, or a
file name). Category names resolve by :mod:`seewhy.datasets.classes`; COCO's names (``dog``)
are not ImageNet classes, so an ImageNet model needs a ``class_map`` (``seewhy evaluate
--class-map FILE``) for them, and only the categories that annotations use are resolved.

Every entry is checked as it is read: a malformed one (a bbox that is not four finite
numbers, an image without ``file_name``, an RLE whose runs do not cover the image, a polygon
point that is not a finite number near the image) is a :class:`~seewhy.errors.DataError`
naming the file and the entry (``annotations[3]``).

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
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from seewhy.datasets.annotations import Annotated, clip_box
from seewhy.datasets.base import Truth
from seewhy.datasets.classes import ClassNames
from seewhy.errors import DataError, warn

__all__ = ["RleTruth", "coco_box", "read_coco"]

_IMAGE = "an object with id, file_name, width and height"
_ANNOTATION = "an object with image_id, category_id, bbox and / or segmentation"
_CATEGORY = "an object with id and name"


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
    holding the decoded mask. ``where`` names the annotation in the message of a mask that
    cannot be decoded."""

    def __init__(
        self,
        label: int,
        box: tuple[int, int, int, int] | None = None,
        mask: np.ndarray | None = None,
        crowd: bool = False,
        *,
        rle: dict[str, Any] | None = None,
        where: str = "COCO annotation",
    ) -> None:
        for name, value in (("label", label), ("box", box), ("crowd", crowd)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_mask", mask)
        object.__setattr__(self, "rle", rle)
        object.__setattr__(self, "where", where)

    @property
    def has_mask(self) -> bool:
        return self._mask is not None or self.rle is not None

    @property  # type: ignore[override]
    def mask(self) -> np.ndarray | None:  # type: ignore[override]
        if self._mask is None and self.rle is not None:
            mask_utils = _mask_utils()
            try:
                return mask_utils.decode(self.rle).astype(bool)
            except (ValueError, TypeError, KeyError) as error:
                raise DataError(
                    f"{self.where}: cannot decode its RLE segmentation ({error}); an RLE is "
                    "{'size': [height, width], 'counts': ...} whose runs cover the image"
                ) from None
        return self._mask


def _kind(value: Any) -> str:
    """``value`` for a message: its type, and the value when short."""
    text = repr(value)
    return type(value).__name__ + (f" {text}" if len(text) <= 40 else "")


def _finite(value: Any, what: str, where: str) -> float:
    """``value`` as a float when it is a finite JSON number (not a bool, a string, NaN or
    infinity)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"{where}: {what} is {_kind(value)}, not a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise DataError(f"{where}: {what} is {value!r}; coordinates are finite numbers")
    return number


def _id(entry: Mapping[str, Any], key: str, where: str) -> int | str:
    if key not in entry:
        raise DataError(f"{where}: no {key!r}")
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise DataError(f"{where}: {key} is {_kind(value)}, not an id (an integer or a string)")
    return value


def _pixels(entry: Mapping[str, Any], key: str, where: str) -> int:
    """An image's ``width`` or ``height``: 0 when absent or null (size unknown)."""
    value = entry.get(key)
    if value is None:
        return 0
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise DataError(f"{where}: {key} is {_kind(value)}, not a number of pixels")
    return int(value)


def _entries(
    data: Mapping[str, Any], key: str, source: str, each: str, shape: str
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``data[key]``'s entries with where they are (``file: images[3]``), each checked to be
    an object (``shape`` says what one holds)."""
    if key not in data:
        raise DataError(f"{source}: no {key!r}; a COCO instances dict has a list of {each} objects")
    value = data[key]
    if not isinstance(value, list):
        raise DataError(f"{source}: {key} is {_kind(value)}, not a list of {each} objects")
    for number, entry in enumerate(value):
        where = f"{source}: {key}[{number}]"
        if not isinstance(entry, Mapping):
            raise DataError(f"{where} is {_kind(entry)}, not {shape}")
        yield where, entry


def coco_box(
    bbox: Sequence[float], size: tuple[int, int] | None, where: str = "COCO annotation"
) -> tuple[int, int, int, int] | None:
    """COCO's float ``[x, y, w, h]`` as the pixels it touches: 0-based inclusive, clipped to
    ``size`` (width, height) when known; ``None`` when nothing is left.

    Raises:
        DataError: naming ``where``, when ``bbox`` is not four finite numbers with a width
            and height that are not negative.
    """
    if isinstance(bbox, (str, bytes)) or not isinstance(bbox, Sequence) or len(bbox) != 4:
        raise DataError(
            f"{where}: bbox is {_kind(bbox)}; a COCO bbox is [x, y, width, height], four numbers"
        )
    x, y, w, h = (_finite(v, f"bbox[{i}]", where) for i, v in enumerate(bbox))
    if w < 0 or h < 0:
        raise DataError(
            f"{where}: bbox {list(bbox)} has a negative width or height; a COCO bbox is "
            "[x, y, width, height]"
        )
    x0, y0 = math.floor(x), math.floor(y)
    x1 = max(x0, math.ceil(x + w) - 1)
    y1 = max(y0, math.ceil(y + h) - 1)
    return clip_box((x0, y0, x1, y1), size)


def _string_counts(text: str) -> list[int] | None:
    """The runs of a compressed RLE string (pycocotools' ``rleFrString``), or ``None`` when
    it is not one: a character outside ``'0'..'o'`` or a run cut short."""
    counts: list[int] = []
    position = 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(text):
                return None
            code = ord(text[position]) - 48
            if not 0 <= code < 64:
                return None
            value |= (code & 0x1F) << shift
            more = bool(code & 0x20)
            position += 1
            shift += 5
            if not more and code & 0x10:
                value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def _check_rle(segmentation: Mapping[str, Any], height: int, width: int, where: str) -> Any:
    """The counts of an RLE segmentation, checked: its size is the image's and its runs (whole
    numbers, none negative) cover the image exactly. pycocotools does not check: a bad string
    fails at decoding, an empty one decodes to whatever memory holds."""
    allowed = (
        "an RLE is {'size': [height, width], 'counts': [run, ...] or the compressed string}, "
        "its runs adding up to height x width"
    )
    size = segmentation.get("size")
    if not (isinstance(size, list) and len(size) == 2 and all(type(v) is int for v in size)):
        raise DataError(f"{where}: bad segmentation (size is {_kind(size)}); {allowed}")
    if size != [height, width]:
        raise DataError(
            f"{where}: bad segmentation (its size {size} is not the image's [{height}, {width}])"
        )
    counts = segmentation.get("counts")
    if isinstance(counts, list):
        runs = counts
        if not all(type(v) is int and v >= 0 for v in runs):
            raise DataError(
                f"{where}: bad segmentation (counts has a run that is not a whole number >= 0); "
                f"{allowed}"
            )
    elif isinstance(counts, (str, bytes)):
        try:
            text = counts.decode("ascii") if isinstance(counts, bytes) else counts
        except UnicodeDecodeError:
            text = "\x00"
        decoded = _string_counts(text)
        if decoded is None or any(v < 0 for v in decoded):
            shown = text if len(text) <= 40 else text[:40] + "..."
            raise DataError(
                f"{where}: bad segmentation (counts {shown!r} is not a compressed RLE string); "
                f"{allowed}"
            )
        runs = decoded
    else:
        raise DataError(f"{where}: bad segmentation (counts is {_kind(counts)}); {allowed}")
    if sum(runs) != height * width:
        raise DataError(
            f"{where}: bad segmentation (its runs cover {sum(runs)} pixels, not the image's "
            f"{height} x {width} = {height * width}); {allowed}"
        )
    return counts


def _check_polygons(segmentation: list[Any], height: int, width: int, where: str) -> None:
    """Each polygon a flat list of finite x, y numbers near the image: a point far outside
    would make pycocotools rasterise (and allocate for) a huge polygon."""
    for i, polygon in enumerate(segmentation):
        what = f"segmentation[{i}]"
        if not isinstance(polygon, list) or len(polygon) % 2:
            count = f"{len(polygon)} numbers" if isinstance(polygon, list) else _kind(polygon)
            raise DataError(
                f"{where}: {what} is {count}; a polygon is a list of x1, y1, x2, y2, ... "
                "(an even count of numbers)"
            )
        for j, value in enumerate(polygon):
            number = _finite(value, f"{what}[{j}]", where)
            extent = height if j % 2 else width
            if not -extent <= number <= 2 * extent:
                axis = "y" if j % 2 else "x"
                raise DataError(
                    f"{where}: {what}[{j}] is {value!r}, far outside the {width} x {height} "
                    f"image; polygon points lie within one image size of it ({axis} in "
                    f"{-extent}..{2 * extent})"
                )


def _rle(segmentation: Any, height: int, width: int, where: str) -> dict[str, Any] | None:
    """COCO RLE of a segmentation; ``None`` for polygons that are all degenerate (fewer than
    3 points: the object keeps its box only)."""
    if isinstance(segmentation, list):
        _check_polygons(segmentation, height, width, where)
    elif isinstance(segmentation, Mapping):
        counts = _check_rle(segmentation, height, width, where)
    else:
        raise DataError(
            f"{where}: segmentation is {_kind(segmentation)}, neither polygons (a list of "
            "[x1, y1, x2, y2, ...]) nor RLE ({'size': [height, width], 'counts': ...})"
        )
    mask_utils = _mask_utils()
    try:
        if isinstance(segmentation, list):  # polygons
            polygons = [p for p in segmentation if len(p) >= 6]
            if not polygons:
                return None
            return mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
        if isinstance(counts, list):  # uncompressed
            return mask_utils.frPyObjects(dict(segmentation), height, width)
        return {
            "size": [height, width],
            "counts": counts.encode("ascii") if isinstance(counts, str) else counts,
        }
    except (ValueError, KeyError, TypeError) as error:
        raise DataError(f"{where}: bad segmentation ({error})") from None


def _images(data: Mapping[str, Any], source: str) -> dict[Any, tuple[str, tuple[int, int] | None]]:
    """The images by id: file name and (width, height) when declared."""
    images: dict[Any, tuple[str, tuple[int, int] | None]] = {}
    for where, image in _entries(data, "images", source, "image", _IMAGE):
        image_id = _id(image, "id", where)
        name = image.get("file_name")
        if not isinstance(name, str) or not name.strip():
            said = "no 'file_name'" if name is None else f"file_name is {_kind(name)}"
            raise DataError(f"{where}: {said}; an image is {_IMAGE} (file_name a path)")
        width, height = _pixels(image, "width", where), _pixels(image, "height", where)
        if image_id in images and images[image_id][0] != name:  # whose annotations are they?
            raise DataError(
                f"{where}: id {image_id!r} is also the id of {images[image_id][0]!r}; an "
                "image id names one file"
            )
        images[image_id] = (name, (width, height) if width > 0 and height > 0 else None)
    return images


def _categories(data: Mapping[str, Any], source: str) -> dict[Any, str]:
    if "categories" not in data:
        return {}
    categories: dict[Any, str] = {}
    for where, category in _entries(data, "categories", source, "category", _CATEGORY):
        category_id = _id(category, "id", where)
        name = category.get("name")
        if isinstance(name, bool) or not isinstance(name, (str, int)) or not str(name).strip():
            said = "no 'name'" if name is None else f"name is {_kind(name)}"
            raise DataError(f"{where}: {said}; a category is {_CATEGORY}")
        categories[category_id] = str(name)
    return categories


def read_coco(data: Mapping[str, Any], classes: ClassNames, *, source: str) -> list[Annotated]:
    """The annotated images of a COCO instances dict, in ``images`` order.

    Args:
        data: the parsed JSON.
        classes: resolves category names (and their ``class_map`` entries).
        source: the file, for messages.

    Raises:
        DataError: naming the file and the entry (``annotations[3]``): an entry that is not an
            object, a missing or bad field (a bbox that is not four finite numbers, an image
            without ``file_name``, a bad polygon or RLE), an unknown image or category id, a
            category name that resolves to no class, or masks without pycocotools.
    """
    images = _images(data, source)
    categories = _categories(data, source)
    by_image: dict[Any, Annotated] = {}
    dropped = 0
    for where, annotation in _entries(data, "annotations", source, "annotation", _ANNOTATION):
        image_id = _id(annotation, "image_id", where)
        category_id = _id(annotation, "category_id", where)
        if image_id not in images:
            raise DataError(f"{where}: unknown image id {image_id!r} (no entry of images has it)")
        if category_id not in categories:
            raise DataError(
                f"{where}: unknown category id {category_id!r} (no entry of categories has it)"
            )
        name = categories[category_id]
        crowd = annotation.get("iscrowd")
        if crowd not in (None, 0, 1):  # True and False are 1 and 0
            raise DataError(f"{where}: iscrowd is {_kind(crowd)}; it is 0 or 1")
        label = classes.index(name, f"{source}: category {name!r}")
        if label is None:  # left out by the class_map
            continue
        file_name, size = images[image_id]
        annotated = by_image.get(image_id)
        if annotated is None:
            annotated = by_image[image_id] = Annotated(file_name, size=size)
        bbox = annotation.get("bbox")
        box = coco_box(bbox, size, where) if bbox else None
        segmentation = annotation.get("segmentation")
        rle = None
        if segmentation:
            if size is None:
                raise DataError(f"{where}: a segmentation needs the image's width and height")
            rle = _rle(segmentation, size[1], size[0], where)
        if box is None and rle is None:
            dropped += 1
            annotated.add(None, label)
            continue
        truth = (
            RleTruth(label, box, crowd=bool(crowd), rle=rle, where=where)
            if rle
            else Truth(label, box, None, bool(crowd))
        )
        annotated.add(truth, label)
    if dropped:
        warn(f"{source}: {dropped} annotation(s) with no box or segmentation inside the image")
    return [by_image[image_id] for image_id in images if image_id in by_image]
