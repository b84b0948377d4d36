"""seewhy.errors: the records an ImageError carries, and ImageShapeError's two bases."""

from __future__ import annotations

import pytest

from seewhy.errors import ImageError, ImageShapeError, SeewhyError
from seewhy.result import InputRecord


def test_image_error_records_are_optional_and_kept_as_a_list() -> None:
    assert ImageError("x").records is None
    records = (InputRecord("a.png", None, "a.png: no such file"),)
    error = ImageError("no image could be read: a.png: no such file", records=records)
    assert error.records == list(records) and str(error).startswith("no image could be read")
    assert ImageError("x", records=[]).records == []


def test_image_shape_error_is_an_image_error_and_a_value_error() -> None:
    with pytest.raises(SeewhyError):
        raise ImageShapeError("bad shape")
    assert issubclass(ImageShapeError, ImageError) and issubclass(ImageShapeError, ValueError)
