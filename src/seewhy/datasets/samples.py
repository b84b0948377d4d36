"""``--data samples``: a built-in benchmark whose classes and boxes are known exactly, made
only from photos that installed packages ship (nothing is downloaded).

The photos (:data:`PHOTOS`) are crops of scikit-image's ``chelsea``, ``coffee``, ``camera``,
``astronaut`` (twice: the shuttle model and the helmet) and ``rocket``, and of matplotlib's
``grace_hopper.jpg``. Each one's class is the ImageNet-1k class the bundled EfficientNet-Lite0
gives that photo alone (squashed to a 224 x 224 cell, as in a grid), with a probability of 0.6
or more; ``tests/datasets/test_samples.py`` checks that the model still says so.

Two kinds of samples, 448 x 448 pixels each:

- ``"grid"``: a 2 x 2 grid of four different photos, each squashed into its 224 x 224 cell.
  Each cell is one object: its box is the cell (the four boxes tile the image exactly), its
  class the photo's. On these, a class-discriminative map of one cell's class puts its energy
  in that cell (the grid pointing score; chance is 1/4).
- ``"pasted"``: one photo (aspect ratio kept, longer side 35-65 % of the image side) or two
  (different classes, 30-50 %, not overlapping) pasted at random positions on a 448 x 448
  window of one of scikit-image's textures (``brick``, ``grass``, ``gravel``, in gray); the
  box is the pasted rectangle. The model need not recognise these small photos on a texture:
  the truth is where each photo is, not what the model says.

64 samples, grids and pasted images alternating (``limit=16`` has 8 of each). Every sample is
drawn from its own seeded generator (``numpy.random.default_rng((SEED, kind, number))``), so a
sample is the same whatever ``limit`` is, and its pixels are made only when ``load`` is called.
There is no 3 x 3 grid: it would need nine photos of different classes, and the shipped photos
give seven that Lite0 classifies confidently.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from seewhy.datasets.base import Dataset, Sample, Truth
from seewhy.errors import DataError

__all__ = ["COUNT", "PHOTOS", "SIZE", "Photo", "photo_image", "samples"]

#: The side of every sample, in pixels.
SIZE = 448
#: How many samples the benchmark has.
COUNT = 64
#: The seed of every sample's generator.
SEED = 14
_GRID = 2
_TEXTURES = ("brick.png", "grass.png", "gravel.png")
#: The longer side of a pasted photo, as a share of the image side: alone, and one of two.
_SCALES = ((0.35, 0.65), (0.3, 0.5))


@dataclass(frozen=True)
class Photo:
    """One photo of the benchmark.

    Attributes:
        name: its name in sample descriptions.
        package: ``"skimage"`` or ``"matplotlib"``, the package that ships the file.
        file: the file name in the package's data folder.
        crop: ``(left, top, right, bottom)`` of the crop, PIL's convention (right and bottom
            excluded).
        label: its ImageNet-1k class index.
    """

    name: str
    package: str
    file: str
    crop: tuple[int, int, int, int]
    label: int


# The class Lite0 gives each photo alone at 224 x 224, and its probability (measured once with
# seewhy.load_model("efficientnet_lite0"); tests/datasets/test_samples.py checks top-1 and >= 0.5).
PHOTOS: tuple[Photo, ...] = (
    Photo("chelsea", "skimage", "chelsea.png", (0, 0, 451, 300), 285),  # Egyptian cat, 0.79
    Photo("coffee", "skimage", "coffee.png", (0, 0, 600, 400), 967),  # espresso, 0.90
    Photo("camera", "skimage", "camera.png", (0, 0, 512, 512), 872),  # tripod, 0.94
    Photo("astronaut-shuttle", "skimage", "astronaut.png", (330, 0, 490, 290), 812),  # space shuttle, 0.88
    Photo("astronaut-helmet", "skimage", "astronaut.png", (282, 282, 512, 512), 560),  # football helmet, 0.93
    Photo("rocket", "skimage", "rocket.jpg", (240, 120, 400, 280), 657),  # missile, 0.65
    Photo("grace_hopper-tie", "matplotlib", "grace_hopper.jpg", (192, 384, 320, 512), 906),  # Windsor tie, 0.79
)  # fmt: skip


def _data_folder(package: str) -> Path:
    if package == "matplotlib":
        import matplotlib

        return Path(matplotlib.get_data_path()) / "sample_data"
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        raise DataError(
            "--data samples is made from photos that scikit-image ships: pip install "
            "scikit-image (or seewhy[metrics])"
        )
    return Path(spec.origin).parent / "data"


@functools.cache
def _file(package: str, file: str) -> Image.Image:
    path = _data_folder(package) / file
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except OSError as error:
        raise OSError(f"{path}: cannot read the {package} sample photo ({error})") from error


@functools.cache
def _cropped(photo: Photo) -> Image.Image:
    return _file(photo.package, photo.file).crop(photo.crop)


@functools.lru_cache(maxsize=32)
def photo_image(photo: Photo, width: int, height: int | None = None) -> Image.Image:
    """``photo``'s crop resized to ``width`` x ``height`` (square when ``height`` is None)."""
    size = (width, width if height is None else height)
    return _cropped(photo).resize(size, Image.Resampling.BILINEAR)


def _rng(kind: int, number: int) -> np.random.Generator:
    return np.random.default_rng((SEED, kind, number))


@dataclass(frozen=True)
class _Grid:
    """A grid sample's layout: ``photos[r * n + c]`` fills row r, column c."""

    photos: tuple[Photo, ...]

    def boxes(self) -> list[tuple[int, int, int, int]]:
        cell = SIZE // _GRID
        return [
            (c * cell, r * cell, (c + 1) * cell - 1, (r + 1) * cell - 1)
            for r in range(_GRID)
            for c in range(_GRID)
        ]

    def __call__(self) -> Image.Image:
        canvas = Image.new("RGB", (SIZE, SIZE))
        cell = SIZE // _GRID
        for photo, (x0, y0, _, _) in zip(self.photos, self.boxes()):
            canvas.paste(photo_image(photo, cell), (x0, y0))
        return canvas


@dataclass(frozen=True)
class _Pasted:
    """A pasted sample's layout: a texture window and each photo's box (inclusive ends)."""

    texture: str
    window: tuple[int, int]
    photos: tuple[Photo, ...]
    boxes: tuple[tuple[int, int, int, int], ...]

    def __call__(self) -> Image.Image:
        x, y = self.window
        canvas = _file("skimage", self.texture).crop((x, y, x + SIZE, y + SIZE))
        for photo, (x0, y0, x1, y1) in zip(self.photos, self.boxes):
            canvas.paste(photo_image(photo, x1 - x0 + 1, y1 - y0 + 1), (x0, y0))
        return canvas


def _grid(number: int) -> Sample:
    rng = _rng(0, number)
    chosen = rng.choice(len(PHOTOS), _GRID * _GRID, replace=False)
    layout = _Grid(tuple(PHOTOS[i] for i in chosen))
    objects = tuple(Truth(p.label, box) for p, box in zip(layout.photos, layout.boxes()))
    return Sample("", layout, tuple(p.label for p in layout.photos), objects, "grid")


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _place(
    photos: Sequence[Photo], scales: tuple[float, float], rng: np.random.Generator
) -> list[tuple[int, int, int, int]]:
    """Boxes for ``photos`` (aspect ratio kept, longer side a ``scales`` share of the image)
    that do not overlap: each drawn until it fits, all drawn again after 100 misses."""
    while True:
        boxes: list[tuple[int, int, int, int]] = []
        for photo in photos:
            left, top, right, bottom = photo.crop
            aspect = (right - left) / (bottom - top)
            for _ in range(100):
                longer = rng.uniform(*scales) * SIZE
                width = int(round(longer if aspect >= 1 else longer * aspect))
                height = int(round(longer / aspect if aspect >= 1 else longer))
                x0 = int(rng.integers(0, SIZE - width + 1))
                y0 = int(rng.integers(0, SIZE - height + 1))
                box = (x0, y0, x0 + width - 1, y0 + height - 1)
                if not any(_overlaps(box, other) for other in boxes):
                    boxes.append(box)
                    break
            else:
                break
        if len(boxes) == len(photos):
            return boxes


def _pasted(number: int) -> Sample:
    rng = _rng(1, number)
    texture = _TEXTURES[number % len(_TEXTURES)]
    window = (int(rng.integers(0, 512 - SIZE + 1)), int(rng.integers(0, 512 - SIZE + 1)))
    count = 1 + number % 2
    photos = tuple(PHOTOS[i] for i in rng.choice(len(PHOTOS), count, replace=False))
    boxes = _place(photos, _SCALES[count - 1], rng)
    layout = _Pasted(texture, window, photos, tuple(boxes))
    objects = tuple(Truth(p.label, box) for p, box in zip(photos, boxes))
    return Sample("", layout, tuple(p.label for p in photos), objects, "pasted")


def _sample(index: int) -> Sample:
    kind, number = ("grid", index // 2) if index % 2 == 0 else ("pasted", index // 2)
    made = _grid(number) if kind == "grid" else _pasted(number)
    return Sample(f"samples/{index:02d}-{kind}", made.load, made.labels, made.objects, made.kind)


def samples(labels: Sequence[str] | None = None, limit: int | None = None) -> Dataset:
    """The benchmark: :data:`COUNT` samples, grids and pasted photos alternating, or the first
    ``limit``.

    Args:
        labels: the model's labels; the benchmark's classes are ImageNet-1k indices, so a model
            with labels must have 1000 of them.

    Raises:
        DataError: the model does not have 1000 classes, or scikit-image is not installed.
    """
    if labels and len(labels) != 1000:
        raise DataError(
            f"--data samples is labelled with ImageNet-1k classes; this model has "
            f"{len(labels)} classes"
        )
    _data_folder("skimage")
    count = COUNT if limit is None else min(limit, COUNT)
    return Dataset("samples", [_sample(i) for i in range(count)])
