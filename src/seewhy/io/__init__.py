"""Reading images: paths, folders, PIL images and arrays into RGB images."""

from __future__ import annotations

from seewhy.io.images import (
    IMAGE_SUFFIXES,
    MAX_PIXELS,
    LoadedInput,
    expand_inputs,
    load_image,
    load_inputs,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "LoadedInput",
    "expand_inputs",
    "load_image",
    "load_inputs",
]
