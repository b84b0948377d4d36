"""Writing RGB images as PNG, fast: the "Up" filter in NumPy, then deflate at its fastest
level (Intel's ISA-L through ``isal``, else zlib level 1 with ``Z_RLE``).

PNG encoding is most of the cost of saving results (a figure is 1-2 million pixels). Pillow
chooses a filter for each row by trying all five (libpng's heuristic), which costs more than
the compression itself at zlib's fastest level. Here every row but the first takes the "Up"
filter (the byte-wise difference from the row above: one vectorized subtraction), and the
rows are deflated by ISA-L's level 1 (``isal.isal_zlib``, installed with seewhy: a zlib
stream, as PNG wants), or where ``isal`` is missing by zlib level 1 with the run-length
strategy, which suits filtered image rows. Measured on a 1382 x 973 figure: zlib 77 ms
against Pillow's 240 ms at ``compress_level=1`` (files 7% larger); on a 1382 x 1422 figure
ISA-L took 83 ms where zlib took 293 ms (2 busy cores), and its file is 10 % smaller. Both
release the GIL, so threads overlap.
The file is a standard 8-bit RGB PNG (IHDR, one IDAT, IEND) that any reader decodes to the
same pixels.
"""

from __future__ import annotations

import struct
import zlib
from os import PathLike
from typing import Any

import numpy as np

from seewhy.io.rgb import as_rgb_uint8

__all__ = ["encode_png", "save_png"]

try:
    from isal import isal_zlib as _isal
except ImportError:  # pragma: no cover - isal is a dependency; a platform without wheels
    _isal = None

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_NONE, _UP = 0, 2  # PNG filter types


def _chunk(tag: bytes, body: bytes) -> list[bytes]:
    """A PNG chunk as pieces (length and tag, body, CRC): the body, a megabyte or more for
    a figure's pixels, is not copied."""
    return [
        struct.pack(">I", len(body)) + tag,
        body,
        struct.pack(">I", zlib.crc32(body, zlib.crc32(tag))),
    ]


def _deflate(data: memoryview) -> bytes:
    """``data`` as a zlib stream, at the fastest level."""
    if _isal is not None:
        return _isal.compress(data, 1)
    compressor = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    return compressor.compress(data) + compressor.flush()


def encode_png(image: Any) -> bytes:
    """``image`` (a PIL image or anything :func:`~seewhy.io.rgb.as_rgb_uint8` reads) as the
    bytes of an 8-bit RGB PNG file."""
    return b"".join(_pieces(image))


def save_png(image: Any, path: str | PathLike[str]) -> None:
    """Write ``image`` to ``path`` as :func:`encode_png` encodes it."""
    with open(path, "wb") as handle:
        handle.writelines(_pieces(image))


def _pieces(image: Any) -> list[bytes]:
    pixels = as_rgb_uint8(np.asarray(image))
    height, width, _ = pixels.shape
    flat = pixels.reshape(height, width * 3)
    rows = np.empty((height, 1 + width * 3), np.uint8)
    rows[0, 0], rows[0, 1:] = _NONE, flat[0]
    rows[1:, 0] = _UP
    np.subtract(flat[1:], flat[:-1], out=rows[1:, 1:])  # uint8: modulo 256, as PNG wants
    data = _deflate(rows.data)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, RGB
    return [_SIGNATURE, *_chunk(b"IHDR", header), *_chunk(b"IDAT", data), *_chunk(b"IEND", b"")]
