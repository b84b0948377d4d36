"""The bundled example photo (``seewhy.data``)."""

from __future__ import annotations

from PIL import Image

from seewhy.data import example_image


def test_example_image_is_the_bundled_rgb_photo() -> None:
    path = example_image()
    assert path.is_file()
    assert path.name == "chelsea.png"
    with Image.open(path) as image:
        assert image.mode == "RGB"
        assert image.size == (451, 300)
        image.load()  # decodes the whole file, not only the header
