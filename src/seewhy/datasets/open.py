"""``open_dataset``: a ``--data`` folder (and ``--boxes`` annotations), or the built-in
``samples`` benchmark, as a :class:`~seewhy.datasets.base.Dataset`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from seewhy.datasets.annotations import Annotated, read_annotations
from seewhy.datasets.base import Dataset, Sample, Truth
from seewhy.datasets.classes import ClassNames
from seewhy.datasets.folder import ImageEntry, ImageFile, list_images
from seewhy.errors import DataError, OptionError, warn

__all__ = ["open_dataset"]

#: How many annotated images without a file the warning names.
_NAMED = 5


def open_dataset(
    data: str | os.PathLike[str],
    boxes: str | os.PathLike[str] | None = None,
    *,
    labels: Sequence[str] | None,
    synsets: Sequence[str] | None = None,
    limit: int | None = None,
    class_map: Mapping[str, int | str | None] | None = None,
) -> Dataset:
    """The images to evaluate on, with their classes and annotated objects.

    Args:
        data: ``"samples"`` for the built-in benchmark (:mod:`seewhy.datasets.samples`; a folder
            of that name is ``"./samples"``), or a folder of images: class sub-folders named by
            synset id, class index or class name, or flat (:mod:`seewhy.datasets.folder`).
        boxes: annotations (:mod:`seewhy.datasets.annotations`): a folder of Pascal VOC /
            ImageNet XML files, a COCO instances JSON, or a CSV / JSON table.
        labels: the model's class names by index (``LoadedModel.labels``); folder and
            annotation class names resolve to them (:mod:`seewhy.datasets.classes`).
        synsets: the synset id of each class (default: ImageNet-1k's for 1000 labels).
        limit: keep the first ``limit`` images (in key order; interleaved grids and pasted
            photos for ``samples``).
        class_map: names that are not the model's labels, to a class index or label
            (``{"cat": 285}``), or to ``None`` to leave a class out; ``"*"`` stands for every
            name that names no class (:class:`~seewhy.datasets.classes.ClassNames`).

    Returns:
        The data set: samples sorted by key, each with its folder's class and its
        annotations' classes (in that order, without repeats) and objects; images without
        annotations are kept, with no objects. ``skipped`` lists the files that are not images.
        Annotated images that are not in the folder are named in a warning.

    Raises:
        DataError: a missing folder, a folder without images, a class that names no class of
            the model, an unreadable or bad annotation file (each names the file and entry).
        OptionError: ``limit`` is not a positive integer.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise OptionError(f"limit must be a positive integer, got {limit!r}")
    if isinstance(data, str) and data == "samples":
        if boxes is not None:
            raise DataError("--data samples has its own boxes; give --boxes with a folder only")
        if class_map:
            raise DataError(
                "--data samples names its classes by the model's indices; a class_map "
                "(--class-map) maps the class names of a folder and its --boxes only"
            )
        from seewhy.datasets.samples import samples as benchmark

        return benchmark(labels=labels, limit=limit)
    classes = ClassNames(labels, synsets, class_map)
    entries, skipped = list_images(data, classes)
    kept = entries[:limit] if limit is not None else entries
    found: dict[str, Annotated] = {}
    if boxes is not None:
        found = _attach(entries, kept, boxes, classes, data)
    samples = []
    for entry in kept:
        annotated = found.get(entry.key)
        classes_of = [] if entry.folder_class is None else [entry.folder_class]
        objects: tuple[Truth, ...] = ()
        size = None
        if annotated is not None:
            classes_of += [c for c in annotated.labels if c not in classes_of]
            objects = tuple(annotated.objects)
            size = annotated.size
        samples.append(
            Sample(entry.key, ImageFile(entry.path, size), tuple(classes_of), objects, "photo")
        )
    return Dataset(Path(data).resolve().name or str(data), samples, skipped)


class _Index:
    """Finds the image an annotation names: by key (its path in the data folder), else by file
    name, else by file stem (the last part of the name given, for the last two)."""

    def __init__(self, entries: Sequence[ImageEntry]) -> None:
        self.keys = {entry.key: entry for entry in entries}
        self.names: dict[str, list[ImageEntry]] = {}
        self.stems: dict[str, list[ImageEntry]] = {}
        for entry in entries:
            self.names.setdefault(entry.name, []).append(entry)
            self.stems.setdefault(entry.stem, []).append(entry)

    def find(self, image: str, by_stem: bool, source: str) -> ImageEntry | None:
        image = image.replace("\\", "/").removeprefix("./")
        if not by_stem and image in self.keys:
            return self.keys[image]
        name = image.rsplit("/", 1)[-1]  # COCO's "val2017/x.jpg" is x.jpg of --data val2017
        tables = [("stem", self.stems)] if by_stem else [("name", self.names), ("stem", self.stems)]
        for kind, table in tables:
            matches = table.get(name, [])
            if len(matches) == 1:
                return matches[0]
            if matches:
                listed = ", ".join(entry.key for entry in matches[:_NAMED])
                raise DataError(
                    f"{source}: {image!r} could be any of {len(matches)} images with that file "
                    f"{kind} ({listed}); name it by its path in the data folder"
                )
        return None


def _attach(
    entries: Sequence[ImageEntry],
    kept: Sequence[ImageEntry],
    boxes: str | os.PathLike[str],
    classes: ClassNames,
    data: str | os.PathLike[str],
) -> dict[str, Annotated]:
    """The annotations of the ``kept`` images by key, merged when several name one image;
    warns about annotated images not in the folder."""
    annotated, unread = read_annotations(boxes, classes, stems={entry.stem for entry in kept})
    index = _Index(entries)
    wanted = {entry.key for entry in kept}
    found: dict[str, Annotated] = {}
    missing: list[str] = []
    for item in annotated:
        entry = index.find(item.image, item.by_stem, os.fspath(boxes))
        if entry is None:
            missing.append(item.image)
        elif entry.key in wanted:
            into = found.setdefault(entry.key, Annotated(entry.key, size=item.size))
            into.objects.extend(item.objects)
            into.labels.extend(c for c in item.labels if c not in into.labels)
    missing.extend(s for s in unread if index.find(s, True, os.fspath(boxes)) is None)
    if missing:
        named = ", ".join(missing[:_NAMED]) + (", ..." if len(missing) > _NAMED else "")
        warn(
            f"{len(missing)} annotated image(s) in {os.fspath(boxes)} are not in "
            f"{os.fspath(data)}: {named}"
        )
    return found
