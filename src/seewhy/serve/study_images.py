"""The study's images: the bundled samples, or the experimenter's folder (``--study-images``).

Each image has a key (a sample's name, or a file's name in the folder) that the study
configuration, the trials and the answers refer to. A key only ever indexes the listing made
here on the server: nothing a client sends is joined to a path.

- **Bundled samples.** Four photos the bundled EfficientNet-Lite0/1/2 all classify the same way:
  scikit-image's ``chelsea`` (285 Egyptian cat) and ``coffee`` (967 espresso) and ``camera``
  (872 tripod), and matplotlib's ``grace_hopper`` (652 military uniform). The class
  discrimination study shows their six side-by-side pairs (``chelsea+coffee``...), each
  category's class known; the trust study shows the four photos, each with its label.
- **A folder.** Every image file in it (not its sub-folders). An optional sidecar
  ``study.json`` beside them maps a file name to its classes, as ids or label names:
  ``{"pair.jpg": ["Egyptian cat", "espresso"], "cat.jpg": "tabby"}``. Two classes are the two
  categories of the discrimination study; one class is the label of the trust study (and keeps
  the image out of the discrimination study, which needs two). Without
  an entry, the discrimination study takes the model's top-2 predictions as the two
  categories, and the trust study keeps the images where both models make the same top-1
  prediction (with an entry, that prediction must also be one of the entry's classes).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from seewhy.data import example_image
from seewhy.errors import ImageError, OptionError
from seewhy.io.images import IMAGE_SUFFIXES, load_image

__all__ = [
    "SAMPLE_PHOTOS",
    "SIDECAR",
    "ImageSource",
    "StudyImage",
    "compose_pair",
    "folder_source",
    "sample_source",
]

SAMPLES = Path(__file__).parent / "static" / "study" / "samples"
#: The sidecar file of a study folder: file name -> its classes (ids or label names).
SIDECAR = "study.json"
#: Bundled photo -> (file, ImageNet class of its object). Every bundled model's top-1.
SAMPLE_PHOTOS: dict[str, tuple[Path, int]] = {
    "chelsea": (example_image(), 285),  # Egyptian cat
    "coffee": (SAMPLES / "coffee.jpg", 967),  # espresso
    "camera": (SAMPLES / "camera.jpg", 872),  # tripod
    "grace_hopper": (SAMPLES / "grace_hopper.jpg", 652),  # military uniform
}
#: Side of one photo's square cell in a composed pair (the bundled models' input size).
CELL = 224

ClassName = int | str


@dataclass(frozen=True)
class StudyImage:
    """One image a trial can show.

    Attributes:
        key: its name in the study (a sample's name, a file's name in the folder).
        load: makes the RGB image (read or composed on the server).
        classes: the categories it shows, as ids or label names: two for a discrimination
            image, one (the label) or none for a trust image; none means "ask the model".
    """

    key: str
    load: Callable[[], Image.Image] = field(compare=False, repr=False)
    classes: tuple[ClassName, ...] = ()


@dataclass(frozen=True)
class ImageSource:
    """The images of each study, by key, in a stable order."""

    name: str
    discrimination: Mapping[str, StudyImage]
    trust: Mapping[str, StudyImage]

    def keys(self) -> list[str]:
        """Every key of either study, each once."""
        return list(dict.fromkeys([*self.discrimination, *self.trust]))


def _fit_cell(photo: Image.Image, side: int = CELL) -> Image.Image:
    """``photo`` scaled to fit a white ``side`` x ``side`` square, centred, aspect kept."""
    photo = photo.copy()
    photo.thumbnail((side, side), Image.Resampling.LANCZOS)
    cell = Image.new("RGB", (side, side), (255, 255, 255))
    cell.paste(photo, ((side - photo.width) // 2, (side - photo.height) // 2))
    return cell


def compose_pair(left: Image.Image, right: Image.Image, side: int = CELL) -> Image.Image:
    """Two photos side by side, each fitted to a white ``side`` px square: (2 side) x side.

    Squashed to a square by the model, each photo keeps half of its input; Grad-CAM of each
    photo's class on the bundled EfficientNet-Lite0 puts 0.76-0.99 of its mass on that half.
    """
    pair = Image.new("RGB", (2 * side, side), (255, 255, 255))
    pair.paste(_fit_cell(left, side), (0, 0))
    pair.paste(_fit_cell(right, side), (side, 0))
    return pair


def _sample_photo(name: str) -> Image.Image:
    return load_image(SAMPLE_PHOTOS[name][0])


def sample_source() -> ImageSource:
    """The bundled samples: six pairs for discrimination, four photos for trust."""
    names = list(SAMPLE_PHOTOS)
    pairs: dict[str, StudyImage] = {}
    for i, left in enumerate(names):
        for right in names[i + 1 :]:
            key = f"{left}+{right}"
            pairs[key] = StudyImage(
                key,
                lambda a=left, b=right: compose_pair(_sample_photo(a), _sample_photo(b)),
                (SAMPLE_PHOTOS[left][1], SAMPLE_PHOTOS[right][1]),
            )
    photos = {
        name: StudyImage(name, lambda n=name: _sample_photo(n), (SAMPLE_PHOTOS[name][1],))
        for name in names
    }
    return ImageSource("samples", pairs, photos)


def _sidecar(folder: Path, files: set[str]) -> dict[str, tuple[ClassName, ...]]:
    path = folder / SIDECAR
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OptionError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(entries, dict):
        raise OptionError(f"{path}: must be a JSON object of file name -> classes")
    found: dict[str, tuple[ClassName, ...]] = {}
    for name, value in entries.items():
        if name not in files:
            raise OptionError(f"{path}: {name!r} is not an image file of {folder}")
        items = value if isinstance(value, list) else [value]
        if not 1 <= len(items) <= 2 or not all(
            isinstance(item, (int, str)) and not isinstance(item, bool) for item in items
        ):
            raise OptionError(
                f"{path}: {name!r} must name one class (its label) or two (its two "
                f"categories), as ids or label names; got {value!r}"
            )
        if len(items) == 2 and items[0] == items[1]:
            raise OptionError(f"{path}: {name!r} names the same class twice")
        found[name] = tuple(items)
    return found


def folder_source(folder: Path) -> ImageSource:
    """Every image file of ``folder`` (by suffix, hidden files left out), with its sidecar."""
    folder = Path(folder)
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise ImageError(f"{folder}: cannot list the study folder ({exc.strerror})") from None
    files = [
        n
        for n in names
        if not n.startswith(".")
        and os.path.splitext(n)[1].lower() in IMAGE_SUFFIXES
        and (folder / n).is_file()
    ]
    if not files:
        raise ImageError(f"{folder}: the study folder has no image files")
    classes = _sidecar(folder, set(files))
    images = {
        name: StudyImage(name, lambda p=folder / name: load_image(p), classes.get(name, ()))
        for name in files
    }
    pairs = {key: image for key, image in images.items() if len(image.classes) != 1}
    return ImageSource("folder", pairs, images)
