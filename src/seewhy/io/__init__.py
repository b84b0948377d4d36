"""Reading images: paths, folders, PIL images and arrays into RGB images."""

from __future__ import annotations

from seewhy.io.images import (
    IMAGE_SUFFIXES,
    MAX_PIXELS,
    LoadedInput,
    expand_inputs,
    list_inputs,
    load_image,
    load_inputs,
    skipped_files,
    skipped_note,
)
from seewhy.io.rgb import as_rgb_uint8

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "LoadedInput",
    "as_rgb_uint8",
    "expand_inputs",
    "load_image",
    "load_inputs",
    "list_inputs",
    "skipped_files",
    "skipped_note",
]
