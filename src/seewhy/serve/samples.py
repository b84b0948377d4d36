"""Sample photos the page offers: seewhy's own cat always, and scikit-image's and
matplotlib's sample photos where those libraries are installed. Clients name a sample by
its id; the file behind it is the library's, never a path the client gave."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

from seewhy.data import example_image
from seewhy.render import encode_png

__all__ = ["Sample", "sample_png", "samples"]


@dataclass(frozen=True)
class Sample:
    id: str
    title: str
    source: str
    load: Callable[[], Image.Image | np.ndarray]


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        return getattr(skimage.data, name)()

    return load


def _matplotlib(name: str) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        from matplotlib import cbook

        with cbook.get_sample_data(name) as handle:
            return Image.open(io.BytesIO(handle.read())).convert("RGB")

    return load


@lru_cache(maxsize=1)
def samples() -> dict[str, Sample]:
    """The samples available here, by id."""
    found = {
        "chelsea": Sample(
            "chelsea", "Chelsea the cat", "seewhy (scikit-image's chelsea)",
            lambda: Image.open(example_image()).convert("RGB"),
        )
    }  # fmt: skip
    try:
        import skimage.data  # noqa: F401

        for name, title in (("coffee", "A cup of coffee"), ("astronaut", "Eileen Collins")):
            found[name] = Sample(name, title, "scikit-image", _skimage(name))
    except ImportError:
        pass
    try:
        from matplotlib import cbook

        cbook.get_sample_data("grace_hopper.jpg").close()
        found["grace_hopper"] = Sample(
            "grace_hopper", "Grace Hopper", "matplotlib", _matplotlib("grace_hopper.jpg")
        )
    except (ImportError, OSError, ValueError):
        pass
    return found


@lru_cache(maxsize=8)
def sample_png(sample_id: str) -> bytes:
    """The PNG bytes of one sample (KeyError for an unknown id)."""
    return encode_png(samples()[sample_id].load())
