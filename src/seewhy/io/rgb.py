"""The one conversion of a picture to RGB uint8 pixels, shared by io, models and render."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from seewhy.errors import ImageShapeError

__all__ = ["as_rgb_uint8"]

_SHAPES = "(H, W), (H, W, 1), (H, W, 3) or (H, W, 4)"
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


def as_rgb_uint8(image: Any) -> np.ndarray:
    """A picture as an ``(H, W, 3)`` uint8 RGB array.

    Accepts a PIL image of any mode, or an array (NumPy, a torch tensor, anything
    ``np.asarray`` reads) of shape ``(H, W)`` or ``(H, W, 1)`` (gray), ``(H, W, 3)`` (RGB)
    or ``(H, W, 4)`` (RGBA). Values become 0..255 by dtype:

    - ``uint8``: as they are; an ``(H, W, 3)`` uint8 array is returned as is.
    - ``uint16``: ``rint(x / 257)``, so 0..65535 maps onto 0..255.
    - other integers: clipped to 0..255 (8-bit values held in a wider type).
    - ``bool``: ``False`` 0, ``True`` 255.
    - floats: NaN is 0; when every finite value lies within [0, 1] the values are scaled by
      255, else taken as 0..255; then clipped to 0..255 (so -inf is 0, +inf 255) and
      rounded with ``rint``.

    Gray is repeated into three channels. A fourth channel is alpha on the same scale and
    is composited onto white: ``rint(c * a + 255 * (1 - a))`` with ``a`` in [0, 1] (for
    uint8 exactly Pillow's ``alpha_composite``).

    PIL images follow the same rules through their pixels: 16-bit modes (``I;16*``) are
    uint16; mode ``I`` (32-bit, how Pillow holds some 16-bit files) is clipped to 0..65535
    and read as uint16; ``F`` is float; ``1`` is bool; modes with alpha (and palette or gray
    images with a transparent colour) go through RGBA; CMYK, YCbCr, LAB, HSV and palettes
    are converted to RGB by Pillow. EXIF orientation is not applied here (that is a file
    matter: :func:`seewhy.io.load_image` does it).

    Raises:
        ImageShapeError: (an :class:`~seewhy.errors.ImageError` and a ``ValueError``) for
            another shape, or a dtype that is not bool, integer or float.
    """
    array = _pil_pixels(image) if isinstance(image, Image.Image) else _numpy(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise ImageShapeError(f"an image array must have shape {_SHAPES}, got {tuple(array.shape)}")
    if _is_uint(array, 1) and array.shape[-1] != 4:
        if array.shape[-1] == 1:
            array = np.repeat(array, 3, axis=-1)
        return np.ascontiguousarray(array)
    values = _to_0_255(array)
    if values.shape[-1] == 4:
        alpha = values[..., 3:] / 255.0
        values = values[..., :3] * alpha + 255.0 * (1.0 - alpha)
    elif values.shape[-1] == 1:
        values = np.repeat(values, 3, axis=-1)
    return np.rint(values).astype(np.uint8)


def _numpy(image: Any) -> np.ndarray:
    if hasattr(image, "detach") and hasattr(image, "cpu"):  # a torch tensor, without torch
        image = image.detach().cpu().numpy()
    return np.asarray(image)


def _pil_pixels(img: Image.Image) -> np.ndarray:
    """The pixels of ``img`` in a dtype and channel count :func:`as_rgb_uint8` reads."""
    mode = img.mode
    if mode.startswith("I;16") or mode == "F":
        return np.asarray(img)
    if mode == "I":
        return np.clip(np.asarray(img), 0, 65535).astype(np.uint16)
    if mode in _ALPHA_MODES or "transparency" in img.info:
        return np.asarray(img.convert("RGBA"))
    if mode in ("1", "L", "RGB"):
        return np.asarray(img)
    return np.asarray(img.convert("RGB"))


def _is_uint(array: np.ndarray, size: int) -> bool:
    return array.dtype.kind == "u" and array.dtype.itemsize == size


def _to_0_255(array: np.ndarray) -> np.ndarray:
    """``array`` as float64 on the 0..255 scale, not yet rounded (see :func:`as_rgb_uint8`)."""
    kind = array.dtype.kind
    if kind == "b":
        return array * 255.0
    if _is_uint(array, 1):
        return array.astype(np.float64)
    if _is_uint(array, 2):
        return array / 257.0
    if kind in "iu":
        return np.clip(array, 0, 255).astype(np.float64)
    if kind == "f":
        values = np.where(np.isnan(array), 0.0, array.astype(np.float64))
        finite = values[np.isfinite(values)]
        if finite.size and finite.min() >= 0.0 and finite.max() <= 1.0:
            values = values * 255.0
        return np.clip(values, 0.0, 255.0)
    raise ImageShapeError(
        f"an image array must hold bool, integer or float values, got dtype {array.dtype}"
    )
