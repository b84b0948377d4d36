"""read_image: an image from an open binary file, refused past the pixel limit from its header."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from seewhy.errors import ImageError, PixelLimitError
from seewhy.io.images import read_image


def png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 7).save(buffer, format="PNG")
    return buffer.getvalue()


def test_reads_rgb_from_bytes():
    image = read_image(io.BytesIO(png((5, 3), "L")), "x.png")
    assert image.mode == "RGB" and image.size == (5, 3) and image.getpixel((0, 0)) == (7, 7, 7)


def test_refuses_a_bomb_from_its_header():
    data = png((5000, 5000), "1")
    assert len(data) < 20_000  # a few KB that would decode to 25 million pixels
    with pytest.raises(PixelLimitError, match=r"bomb.png: too many pixels \(5000 x 5000"):
        read_image(io.BytesIO(data), "bomb.png", max_pixels=16_000_000)


def test_not_an_image():
    with pytest.raises(ImageError, match="notes.txt: not an image") as caught:
        read_image(io.BytesIO(b"hello"), "notes.txt")
    assert not isinstance(caught.value, PixelLimitError)
