"""Files shipped with seewhy: one example photo (see ``README.txt`` beside this module)."""

from __future__ import annotations

from pathlib import Path


def example_image() -> Path:
    """The path of the bundled example photo, ``chelsea.png``.

    It is scikit-image's ``chelsea`` (``skimage.data.chelsea()``): Chelsea the cat, a 451 x 300
    RGB photo by Stefan van der Walt, public domain / CC0. ``make demo`` explains it, and the
    tests use it as a real image that needs no download.

    >>> from PIL import Image
    >>> Image.open(example_image()).size
    (451, 300)
    """
    return Path(__file__).parent / "chelsea.png"
