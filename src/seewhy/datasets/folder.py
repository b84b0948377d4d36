"""The images of a data folder, and the class each one's folder names.

Layout: every sub-folder of the data folder is a class folder, named by a synset id
(``n02124075``), a class index (``285``) or a class name (``Egyptian_cat``; the rules are
:mod:`seewhy.datasets.classes`); its images, at any depth, are of that class. Images directly
in the data folder have no class from their place (a flat folder: their classes come from the
annotations, if any). An image's key is its path relative to the data folder with ``/``
separators (``n02124075/cat1.jpg``), and images come sorted by key.

Image files are recognised by suffix (:data:`seewhy.io.images.IMAGE_SUFFIXES`); other files
are listed as skipped with the reason, hidden files and folders (``.DS_Store``) are ignored.
The pixels are read only when a sample's ``load`` is called.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from seewhy.datasets.classes import ClassNames
from seewhy.errors import DataError, ImageError
from seewhy.io.images import IMAGE_SUFFIXES, load_image

__all__ = ["ImageFile", "ImageEntry", "list_images"]


@dataclass(frozen=True)
class ImageFile:
    """Loads one image file as RGB (a picklable ``Sample.load``).

    Attributes:
        path: the file.
        size: ``(width, height)`` the annotations declare, when they do: an image of another
            size is refused (its boxes would be in other coordinates, e.g. after an EXIF
            rotation that the annotator did not apply).
    """

    path: str
    size: tuple[int, int] | None = None

    def __call__(self) -> Image.Image:
        try:
            image = load_image(self.path)
        except ImageError as error:
            raise OSError(str(error)) from error
        if self.size is not None and image.size != tuple(self.size):
            raise ValueError(
                f"{self.path}: the image is {image.size[0]} x {image.size[1]} but its annotation "
                f"says {self.size[0]} x {self.size[1]}; its boxes would not fit it"
            )
        return image


@dataclass(frozen=True)
class ImageEntry:
    """An image of the data folder: its key, file and the class its folder names."""

    key: str
    path: str
    folder_class: int | None

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def stem(self) -> str:
        return os.path.splitext(self.name)[0]


def _walk(folder: Path, root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Relative keys of the image files under ``folder`` and the skipped other files."""
    images: list[str] = []
    skipped: list[tuple[str, str]] = []
    for directory, subfolders, files in os.walk(folder):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            key = Path(directory, name).relative_to(root).as_posix()
            suffix = os.path.splitext(name)[1].lower()
            if suffix in IMAGE_SUFFIXES:
                images.append(key)
            else:
                skipped.append((key, f"not an image file (suffix {suffix or 'none'!r})"))
    return images, skipped


def list_images(
    root: str | os.PathLike[str], classes: ClassNames
) -> tuple[list[ImageEntry], list[tuple[str, str]]]:
    """The images of the data folder ``root`` sorted by key, and the files skipped
    (``(key, reason)``).

    Raises:
        DataError: ``root`` is not a folder, a class folder names no class of the model
            (with the closest labels), or there is no image at all.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(
            f"{root}: no such folder; --data takes a folder of images (class sub-folders or "
            "flat) or 'samples'"
        )
    entries: list[ImageEntry] = []
    skipped: list[tuple[str, str]] = []
    for item in sorted(root.iterdir(), key=lambda p: p.name):
        if item.name.startswith("."):
            continue
        if item.is_dir():
            keys, others = _walk(item, root)
            index = classes.index(item.name, f"class folder {str(item)!r}") if keys else None
            if index is None:  # left out by the class_map
                skipped.extend(
                    (key, "its class folder is left out by the class_map") for key in keys
                )
            else:
                entries.extend(ImageEntry(key, str(root / key), index) for key in keys)
            skipped.extend(others)
        elif item.is_file():
            suffix = item.suffix.lower()
            if suffix in IMAGE_SUFFIXES:
                entries.append(ImageEntry(item.name, str(item), None))
            else:
                skipped.append((item.name, f"not an image file (suffix {suffix or 'none'!r})"))
    if not entries:
        raise DataError(
            f"{root}: no image files (looked for {', '.join(IMAGE_SUFFIXES)}, in the folder "
            "and its class sub-folders)"
        )
    entries.sort(key=lambda entry: entry.key)
    skipped.sort()
    return entries, skipped
