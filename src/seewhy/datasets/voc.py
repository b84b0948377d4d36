"""Pascal VOC XML box files: one file per image, matched to the image by file stem
(``Annotations/000005.xml`` annotates ``JPEGImages/000005.jpg``). ImageNet's box annotations
(``ILSVRC2012_val_00000001.xml``, the LOC validation boxes) use the same format, with synset
ids as object names.

Format (the fields read; others are ignored)::

    <annotation>
      <filename>000005.jpg</filename>
      <size><width>500</width><height>375</height><depth>3</depth></size>
      <object>
        <name>n01751748</name>                 <!-- or "chair", or "285" -->
        <bndbox><xmin>263</xmin><ymin>211</ymin><xmax>324</xmax><ymax>339</ymax></bndbox>
      </object>
    </annotation>

Coordinates: VOC boxes are 1-based pixel indices with inclusive ends (the VOC development kit
is MATLAB code that indexes the top-left pixel as (1, 1), and its evaluation counts a box's
width as ``xmax - xmin + 1``; py-faster-rcnn's ``pascal_voc.py`` subtracts 1 from every
coordinate "to make pixel indexes 0-based", as detectors built on it do). They become
the contract's 0-based inclusive boxes by subtracting 1: ``xmin=1, xmax=500`` on a 500 pixel
wide image is ``x0=0, x1=499``. Fractional values (some converters write them) are rounded
first. Boxes are then clipped to the declared ``<size>`` (a stray ``0`` becomes pixel 0); a box
with nothing left is dropped with a warning. ``<size>`` also checks the image:
one of another size fails to load (:class:`~seewhy.datasets.folder.ImageFile`).

Object names resolve by :mod:`seewhy.datasets.classes`: synset ids, class indices, or labels
matched exactly (case-insensitive). VOC's own class names (``cat``, ``pottedplant``) are not
ImageNet classes: with an ImageNet model they need a ``class_map`` (``seewhy evaluate
--class-map FILE``). Every object is kept, ``<difficult>`` and ``<truncated>`` ones included.
A coordinate or size that is not a finite number (``inf``, ``nan``) is a DataError.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ElementTree
from collections.abc import Collection
from pathlib import Path

from seewhy.datasets.annotations import Annotated, clip_box
from seewhy.datasets.base import Truth
from seewhy.datasets.classes import ClassNames
from seewhy.errors import DataError, warn

__all__ = ["read_voc", "read_voc_file"]


def _number(node: ElementTree.Element, tag: str, where: str) -> int:
    child = node.find(tag)
    text = None if child is None else (child.text or "").strip()
    if not text:
        raise DataError(f"{where}: no <{tag}>")
    try:
        number = float(text)
    except ValueError:
        raise DataError(f"{where}: <{tag}> is {text!r}, not a number") from None
    if not math.isfinite(number):  # "inf", "nan", "1e400"
        raise DataError(
            f"{where}: <{tag}> is {text!r}; coordinates and sizes are finite numbers of pixels"
        )
    return int(round(number))


def read_voc_file(path: str | os.PathLike[str], classes: ClassNames) -> Annotated:
    """The objects of one VOC / ImageNet XML file, in 0-based inclusive coordinates.

    Raises:
        DataError: the file is not XML, or an object has no name, a bad name or a bad box.
    """
    path = Path(path)
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as error:
        raise DataError(f"{path}: cannot read VOC XML ({error})") from None
    size = None
    size_node = root.find("size")
    if size_node is not None:
        width = _number(size_node, "width", f"{path}: <size>")
        height = _number(size_node, "height", f"{path}: <size>")
        size = (width, height) if width > 0 and height > 0 else None  # some files say 0 x 0
    annotated = Annotated(path.stem, size=size, by_stem=True)
    dropped = 0
    for number, node in enumerate(root.iter("object"), start=1):
        where = f"{path}: object {number}"
        name_node = node.find("name")
        name = None if name_node is None else (name_node.text or "").strip()
        if not name:
            raise DataError(f"{where} has no <name>")
        label = classes.index(name, f"{where} <name>")
        if label is None:  # left out by the class_map
            continue
        box_node = node.find("bndbox")
        if box_node is None:
            annotated.add(None, label)
            continue
        box = tuple(
            _number(box_node, tag, f"{where} <bndbox>") - 1
            for tag in ("xmin", "ymin", "xmax", "ymax")
        )
        clipped = clip_box(box, size)  # type: ignore[arg-type]
        if clipped is None:
            dropped += 1
        annotated.add(None if clipped is None else Truth(label, clipped), label)
    if dropped:
        warn(f"{path}: {dropped} box(es) outside the image or empty, dropped")
    return annotated


def read_voc(
    path: str | os.PathLike[str],
    classes: ClassNames,
    *,
    stems: Collection[str] | None = None,
) -> tuple[list[Annotated], list[str]]:
    """The XML files of a folder (at any depth, sorted), or one XML file.

    Args:
        stems: parse only the files with these stems; the others' stems are returned unread.

    Returns:
        The annotated images read, and the stems of the files not read.

    Raises:
        DataError: the path does not exist, the folder has no XML file, two files have the
            same stem, or a file is bad (a coordinate that is not a finite number...).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(
            f"{path}: no such file or folder; VOC boxes are a folder of .xml files or one .xml file"
        )
    if path.is_file():
        files = [path]
    else:
        files = sorted(
            (p for p in path.rglob("*") if p.suffix.lower() == ".xml" and p.is_file()),
            key=lambda p: p.as_posix(),
        )
        files = [
            p for p in files if not any(part.startswith(".") for part in p.relative_to(path).parts)
        ]
        if not files:
            raise DataError(f"{path}: no .xml files; a --boxes folder holds VOC XML files")
    seen: dict[str, Path] = {}
    for file in files:
        if file.stem in seen:
            raise DataError(
                f"{seen[file.stem]} and {file} annotate the same image stem {file.stem!r}"
            )
        seen[file.stem] = file
    read = [read_voc_file(f, classes) for f in files if stems is None or f.stem in stems]
    unread = [] if stems is None else [f.stem for f in files if f.stem not in stems]
    return read, unread
