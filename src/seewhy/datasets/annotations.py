"""What the annotation readers return, and which reader reads a ``--boxes`` path.

``--boxes`` is one of:

- a folder of Pascal VOC XML files (also one ``.xml`` file), the ImageNet box format too
  (:mod:`seewhy.datasets.voc`);
- a COCO instances JSON, a dict with ``images``, ``annotations`` and ``categories``
  (:mod:`seewhy.datasets.coco`);
- a CSV or JSON table of ``image, class, x0, y0, x1, y1`` (:mod:`seewhy.datasets.table`).

Every reader gives a list of :class:`Annotated`, one per annotated image, with its objects
already in the contract's coordinates (0-based, inclusive ends, clipped to the declared image
size when the format declares one).
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from seewhy.datasets.base import Truth
from seewhy.datasets.classes import ClassNames
from seewhy.errors import DataError

__all__ = ["Annotated", "clip_box", "read_annotations"]

Box = tuple[int, int, int, int]


@dataclass
class Annotated:
    """One annotated image as the annotation file names it.

    Attributes:
        image: how the file names the image: a path relative to the data folder, a file name,
            or (``by_stem``) a file name without its suffix.
        objects: its objects.
        labels: its classes in order of first mention (the objects' and any box-less class).
        size: ``(width, height)`` when the file declares it.
        by_stem: match ``image`` to the image whose file stem it is (VOC XML files).
    """

    image: str
    objects: list[Truth] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    size: tuple[int, int] | None = None
    by_stem: bool = False

    def add(self, truth: Truth | None, label: int) -> None:
        if truth is not None:
            self.objects.append(truth)
        if label not in self.labels:
            self.labels.append(label)


def clip_box(box: Box, size: tuple[int, int] | None) -> Box | None:
    """``box`` (0-based, inclusive) clipped to an image of ``size`` (width, height) when known;
    ``None`` when nothing of it is left (or it was empty: ``x1 < x0`` or ``y1 < y0``)."""
    x0, y0, x1, y1 = box
    if size is not None:
        width, height = size
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, width - 1), min(y1, height - 1)
    if x1 < x0 or y1 < y0:
        return None
    return (x0, y0, x1, y1)


def read_annotations(
    path: str | os.PathLike[str],
    classes: ClassNames,
    *,
    stems: Collection[str] | None = None,
) -> tuple[list[Annotated], list[str]]:
    """Read ``--boxes path`` in whichever format it is.

    Args:
        path: a folder of VOC XML files, one XML file, a COCO JSON, or a CSV / JSON table.
        classes: resolves the class names.
        stems: for VOC folders, parse only the XML files with these stems (the others are
            returned by name, for the report of annotations without images).

    Returns:
        The annotated images, and the names of the annotated images that were not read
        (VOC files outside ``stems``).

    Raises:
        DataError: a missing path, an unknown format, or a bad entry (named).
    """
    from seewhy.datasets import coco, table, voc

    path = Path(path)
    if not path.is_dir() and not path.is_file():  # checked first, whatever its suffix
        what = "not a file or folder" if path.exists() else "no such file or folder"
        raise DataError(
            f"{path}: {what}; --boxes takes a folder of VOC XML files, a COCO "
            "instances JSON, or a CSV / JSON table of image, class, x0, y0, x1, y1"
        )
    suffix = path.suffix.lower()
    if path.is_dir() or suffix == ".xml":
        return voc.read_voc(path, classes, stems=stems)
    if suffix == ".csv":
        return table.read_csv(path, classes), []
    if suffix == ".json":
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DataError(f"{path}: cannot read JSON ({error})") from None
        if isinstance(data, Mapping) and "annotations" in data and "images" in data:
            return coco.read_coco(data, classes, source=str(path)), []
        if isinstance(data, list):
            return table.read_records(data, classes, source=str(path)), []
        raise DataError(
            f"{path}: a JSON --boxes file is a COCO instances dict (with 'images', "
            "'annotations', 'categories') or a list of {image, class, x0, y0, x1, y1} objects"
        )
    raise DataError(
        f"{path}: unknown annotation format {suffix or '(no suffix)'!r}; --boxes takes a folder "
        "of VOC XML files (or one .xml), a COCO instances .json, or a .csv / .json table"
    )
