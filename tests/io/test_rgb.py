"""Tests for seewhy.io.rgb: the one RGB uint8 conversion, exact pixels for each input kind."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from seewhy.errors import ImageError, ImageShapeError
from seewhy.io.rgb import as_rgb_uint8


def _rgb(image: object) -> list:
    out = as_rgb_uint8(image)
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[-1] == 3
    return out.tolist()


def _gray(*values: int) -> list:
    """The expected one-row RGB image of gray ``values``."""
    return [[[v] * 3 for v in values]]


# ---------------------------------------------------------------- arrays


def test_uint8_rgb_is_returned_as_is() -> None:
    array = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    assert as_rgb_uint8(array) is array
    strided = array[:, ::2]
    out = as_rgb_uint8(strided)
    assert out.flags.c_contiguous and out.tolist() == strided.tolist()


def test_uint8_gray_repeats_into_three_channels() -> None:
    assert _rgb(np.array([[0, 7, 255]], dtype=np.uint8)) == _gray(0, 7, 255)
    assert _rgb(np.array([[[0], [7], [255]]], dtype=np.uint8)) == _gray(0, 7, 255)


def test_uint8_rgba_is_composited_on_white() -> None:
    rgba = np.array([[[10, 20, 30, 0], [255, 0, 0, 128], [1, 2, 3, 255]]], dtype=np.uint8)
    assert _rgb(rgba) == [[[255, 255, 255], [255, 127, 127], [1, 2, 3]]]


def test_uint8_rgba_matches_pillow_alpha_composite_exactly() -> None:
    colour, alpha = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    rgba = np.stack([colour, 255 - colour, colour, alpha], axis=-1).astype(np.uint8)
    white = Image.new("RGBA", (256, 256), (255, 255, 255, 255))
    pillow = Image.alpha_composite(white, Image.fromarray(rgba, "RGBA")).convert("RGB")
    np.testing.assert_array_equal(as_rgb_uint8(rgba), np.asarray(pillow))


def test_uint16_maps_the_full_range() -> None:
    array = np.array([[0, 128, 129, 257 * 100, 65535]], dtype=np.uint16)
    assert _rgb(array) == _gray(0, 0, 1, 100, 255)
    assert _rgb(array.astype(">u2")) == _gray(0, 0, 1, 100, 255)  # byte order does not matter


def test_uint16_rgba_composites_on_the_16_bit_scale() -> None:
    rgba = np.array([[[65535, 0, 0, 128 * 257], [0, 0, 0, 0]]], dtype=np.uint16)
    assert _rgb(rgba) == [[[255, 127, 127], [255, 255, 255]]]


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint32])
def test_other_integers_are_clipped_8_bit_values(dtype: type) -> None:
    values = [0, 1, 100, 127] if dtype == np.int8 else [0, 1, 128, 255, 300]
    if np.issubdtype(dtype, np.signedinteger):
        values = [-5, *values]
    expected = [min(max(v, 0), 255) for v in values]
    assert _rgb(np.array([values], dtype=dtype)) == _gray(*expected)


def test_bool_is_black_and_white() -> None:
    assert _rgb(np.array([[False, True]])) == _gray(0, 255)


def test_floats_within_0_1_are_scaled_by_255() -> None:
    # 0.5 * 255 = 127.5 rounds (half to even) to 128; NaN counts as 0.
    unit = np.array([[0.0, 0.2, 0.5, 1.0, np.nan]])
    assert _rgb(unit) == _gray(0, 51, 128, 255, 0)
    assert _rgb(unit.astype(np.float32)) == _gray(0, 51, 128, 255, 0)
    assert _rgb(unit.astype(np.float16)) == _gray(0, 51, 128, 255, 0)


def test_floats_outside_0_1_are_clipped_and_rounded() -> None:
    wide = np.array([[-5.0, 1.5, 100.4, 127.5, 300.0, np.nan]])
    assert _rgb(wide) == _gray(0, 2, 100, 128, 255, 0)


def test_infinities_clip_and_do_not_decide_the_scale() -> None:
    assert _rgb(np.array([[0.5, np.inf, -np.inf]])) == _gray(128, 255, 0)
    assert _rgb(np.array([[2.0, np.inf, -np.inf]])) == _gray(2, 255, 0)


def test_float_rgba_in_0_1_composites_on_white() -> None:
    rgba = np.array([[[0.0, 0.2, 1.0, 0.5], [0.25, 0.25, 0.25, 1.0]]], dtype=np.float32)
    # 0 * 0.5 + 127.5 -> 128; 51 * 0.5 + 127.5 = 153; 255 stays; opaque 0.25 -> 63.75 -> 64.
    assert _rgb(rgba) == [[[128, 153, 255], [64, 64, 64]]]


def test_torch_tensors_read_like_arrays() -> None:
    floats = torch.tensor([[[0.0, 0.5, 1.0]]], requires_grad=True)
    assert _rgb(floats) == [[[0, 128, 255]]]
    assert _rgb(torch.tensor([[3, 4]], dtype=torch.uint8)) == _gray(3, 4)


def test_the_input_is_not_changed() -> None:
    rgba = np.array([[[0.0, 0.2, 1.0, 0.5]]])
    before = rgba.copy()
    as_rgb_uint8(rgba)
    np.testing.assert_array_equal(rgba, before)


@pytest.mark.parametrize("shape", [(2, 3, 2), (2, 3, 5), (6,), (1, 2, 3, 3), ()])
def test_bad_shapes_name_the_shape_and_what_is_allowed(shape: tuple[int, ...]) -> None:
    with pytest.raises(ImageShapeError) as info:
        as_rgb_uint8(np.zeros(shape, dtype=np.uint8))
    assert str(info.value) == (
        f"an image array must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {shape}"
    )
    assert isinstance(info.value, ImageError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("array", [np.zeros((2, 2), complex), np.full((2, 2), "a")])
def test_bad_dtypes_are_named(array: np.ndarray) -> None:
    with pytest.raises(
        ImageShapeError, match=f"bool, integer or float values, got dtype {array.dtype}"
    ):
        as_rgb_uint8(array)


# ---------------------------------------------------------------- PIL images


def test_pil_rgb_l_and_one_bit() -> None:
    rgb = Image.new("RGB", (2, 1), (1, 2, 3))
    assert _rgb(rgb) == [[[1, 2, 3], [1, 2, 3]]]
    assert _rgb(Image.fromarray(np.array([[0, 128, 255]], dtype=np.uint8))) == _gray(0, 128, 255)
    one = Image.new("1", (2, 1), 0)
    one.putpixel((1, 0), 1)
    assert _rgb(one) == _gray(0, 255)


def test_pil_16_bit_modes() -> None:
    values = np.array([[0, 129, 257 * 100, 65535]], dtype=np.uint16)
    little = Image.fromarray(values)
    assert little.mode.startswith("I;16")
    big = Image.frombytes("I;16B", (4, 1), values.astype(">u2").tobytes())
    assert _rgb(little) == _rgb(big) == _gray(0, 1, 100, 255)


def test_pil_mode_i_is_read_as_16_bit() -> None:
    image = Image.fromarray(np.array([[-3, 0, 257 * 7, 65535, 100_000]], dtype=np.int32))
    assert image.mode == "I"
    assert _rgb(image) == _gray(0, 0, 7, 255, 255)


def test_pil_mode_f_follows_the_float_rule() -> None:
    unit = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    wide = Image.fromarray(np.array([[-5.0, 100.0, 300.0]], dtype=np.float32))
    assert unit.mode == wide.mode == "F"
    assert _rgb(unit) == _gray(0, 128, 255)
    assert _rgb(wide) == _gray(0, 100, 255)


def test_pil_alpha_modes_composite_on_white() -> None:
    rgba = Image.new("RGBA", (3, 1), (10, 20, 30, 0))
    rgba.putpixel((1, 0), (255, 0, 0, 128))
    rgba.putpixel((2, 0), (1, 2, 3, 255))
    assert _rgb(rgba) == [[[255, 255, 255], [255, 127, 127], [1, 2, 3]]]
    assert _rgb(Image.new("LA", (1, 1), (0, 0))) == _gray(255)
    assert _rgb(Image.new("LA", (1, 1), (0, 255))) == _gray(0)


def test_pil_transparent_colour_becomes_white() -> None:
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putpixel((1, 0), 1)
    assert _rgb(palette) == [[[255, 0, 0], [0, 0, 255]]]
    palette.info["transparency"] = 1
    assert _rgb(palette) == [[[255, 0, 0], [255, 255, 255]]]
    rgb = Image.new("RGB", (2, 1), (9, 9, 9))
    rgb.putpixel((1, 0), (1, 2, 3))
    rgb.info["transparency"] = (1, 2, 3)
    assert _rgb(rgb) == [[[9, 9, 9], [255, 255, 255]]]


def test_pil_other_modes_are_converted_by_pillow() -> None:
    cmyk = Image.new("CMYK", (2, 1), (0, 0, 0, 0))
    cmyk.putpixel((1, 0), (255, 0, 0, 0))
    assert _rgb(cmyk) == [[[255, 255, 255], [0, 255, 255]]]
    ycbcr = Image.new("RGB", (1, 1), (200, 100, 50)).convert("YCbCr")
    assert _rgb(ycbcr) == np.asarray(ycbcr.convert("RGB")).tolist()


def test_exif_orientation_is_not_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    buffer = io.BytesIO()
    Image.new("RGB", (4, 2), (5, 6, 7)).save(buffer, format="PNG", exif=exif)
    with Image.open(buffer) as image:
        assert image.getexif()[0x0112] == 6
        assert as_rgb_uint8(image).shape == (2, 4, 3)
