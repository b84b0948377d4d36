"""Tests for seewhy.io.images: conversions, errors, folder expansion and mixed inputs."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

import seewhy.io.images as images_mod
from seewhy.errors import ImageError
from seewhy.io import (
    IMAGE_SUFFIXES,
    MAX_PIXELS,
    LoadedInput,
    expand_inputs,
    load_image,
    load_inputs,
    skipped_files,
)


def _pixels(img: Image.Image) -> list:
    assert isinstance(img, Image.Image)
    assert img.mode == "RGB"
    return np.asarray(img).tolist()


def _save(img: Image.Image, path: Path, **kwargs) -> Path:
    img.save(path, **kwargs)
    return path


@pytest.fixture(autouse=True)
def _strict_truncation(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever another test or library did, truncated files must fail here.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False)


def _noise_image(path: Path) -> Path:
    rng = np.random.default_rng(0)
    return _save(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), path)


# ---------------------------------------------------------------- conversions


def test_constants() -> None:
    assert MAX_PIXELS == 89_478_485
    for suffix in (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"):
        assert suffix in IMAGE_SUFFIXES


def test_gray_to_rgb(tmp_path: Path) -> None:
    path = _save(Image.fromarray(np.array([[0, 128, 255]], dtype=np.uint8)), tmp_path / "g.png")
    assert _pixels(load_image(path)) == [[[0, 0, 0], [128, 128, 128], [255, 255, 255]]]


def test_16bit_png_scales_full_range(tmp_path: Path) -> None:
    array = np.array([[0, 257 * 100, 65535]], dtype=np.uint16)
    path = _save(Image.fromarray(array), tmp_path / "g16.png")
    with Image.open(path) as raw:
        assert raw.mode.startswith("I;16")
    assert _pixels(load_image(path)) == [[[0, 0, 0], [100, 100, 100], [255, 255, 255]]]


def test_32bit_int_tiff_scales_16bit_range(tmp_path: Path) -> None:
    array = np.array([[0, 257 * 7, 65535, 100_000]], dtype=np.int32)
    path = _save(Image.fromarray(array), tmp_path / "i.tif")
    with Image.open(path) as raw:
        assert raw.mode == "I"
    assert _pixels(load_image(path)) == [[[0] * 3, [7] * 3, [255] * 3, [255] * 3]]


def test_float_tiff(tmp_path: Path) -> None:
    unit = _save(Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32)), tmp_path / "u.tif")
    wide = _save(Image.fromarray(np.array([[-5.0, 100.0, 300.0]], np.float32)), tmp_path / "w.tif")
    assert _pixels(load_image(unit)) == [[[0] * 3, [128] * 3, [255] * 3]]
    assert _pixels(load_image(wide)) == [[[0] * 3, [100] * 3, [255] * 3]]


def test_cmyk(tmp_path: Path) -> None:
    img = Image.new("CMYK", (2, 1), (0, 0, 0, 0))
    img.putpixel((1, 0), (255, 0, 0, 0))
    path = _save(img, tmp_path / "c.tif")
    assert _pixels(load_image(path)) == [[[255, 255, 255], [0, 255, 255]]]


def test_palette_and_palette_transparency(tmp_path: Path) -> None:
    img = Image.new("P", (2, 1))
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.putpixel((1, 0), 1)
    plain = _save(img, tmp_path / "p.png")
    clear = _save(img, tmp_path / "pt.png", transparency=1)
    assert _pixels(load_image(plain)) == [[[255, 0, 0], [0, 0, 255]]]
    assert _pixels(load_image(clear)) == [[[255, 0, 0], [255, 255, 255]]]


def test_alpha_composited_on_white(tmp_path: Path) -> None:
    img = Image.new("RGBA", (3, 1), (10, 20, 30, 0))
    img.putpixel((1, 0), (255, 0, 0, 128))
    img.putpixel((2, 0), (1, 2, 3, 255))
    path = _save(img, tmp_path / "a.png")
    la = _save(Image.new("LA", (1, 1), (0, 0)), tmp_path / "la.png")
    assert _pixels(load_image(path)) == [[[255, 255, 255], [255, 127, 127], [1, 2, 3]]]
    assert _pixels(load_image(la)) == [[[255, 255, 255]]]


def test_one_bit(tmp_path: Path) -> None:
    img = Image.new("1", (2, 1), 0)
    img.putpixel((1, 0), 1)
    path = _save(img, tmp_path / "b.bmp")
    assert _pixels(load_image(path)) == [[[0, 0, 0], [255, 255, 255]]]


@pytest.mark.parametrize("name", ["anim.gif", "anim.png", "anim.webp"])
def test_animated_first_frame(tmp_path: Path, name: str) -> None:
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    path = tmp_path / name
    kwargs = {"lossless": True} if name.endswith(".webp") else {}
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, **kwargs)
    with Image.open(path) as raw:
        assert getattr(raw, "n_frames", 1) == 3
    assert _pixels(load_image(path))[0][0] == [255, 0, 0]


def test_exif_orientation_6_rotates(tmp_path: Path) -> None:
    img = Image.new("RGB", (4, 2), (0, 0, 255))
    img.putpixel((0, 0), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(img, tmp_path / "e.png", exif=exif)
    out = load_image(path)
    assert out.size == (2, 4)
    assert np.asarray(out)[:, :, 0].tolist() == [[0, 255], [0, 0], [0, 0], [0, 0]]


def test_exif_orientation_6_jpeg(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(Image.new("RGB", (40, 20), (0, 128, 0)), tmp_path / "e.jpg", exif=exif)
    assert load_image(str(path)).size == (20, 40)


def test_content_decides_format(tmp_path: Path) -> None:
    path = _save(Image.new("RGB", (3, 2), (1, 2, 3)), tmp_path / "really_png.jpg", format="PNG")
    out = load_image(path)
    assert out.size == (3, 2)
    assert _pixels(out)[1][2] == [1, 2, 3]


def test_chelsea_from_skimage() -> None:
    skdata = pytest.importorskip("skimage.data")
    out = load_image(os.path.join(os.path.dirname(skdata.__file__), "chelsea.png"))
    assert out.mode == "RGB"
    assert np.asarray(out).shape == (300, 451, 3)


# ---------------------------------------------------------------- errors


def _error(path: object, **kwargs) -> str:
    with pytest.raises(ImageError) as info:
        load_image(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    assert _error(tmp_path / "nope.png") == f"{tmp_path / 'nope.png'}: no such file"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert _error(path) == f"{path}: is empty (0 bytes), not an image"


def test_directory(tmp_path: Path) -> None:
    assert _error(tmp_path) == f"{tmp_path}: is a directory, not an image file"


def test_text_file_named_png(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("hello, I am not a picture\n")
    assert _error(path) == f"{path}: not an image (or a format Pillow cannot read)"


@pytest.mark.parametrize("name", ["cut.png", "cut.jpg"])
def test_truncated(tmp_path: Path, name: str) -> None:
    whole = tmp_path / ("whole" + Path(name).suffix)
    _noise_image(whole)
    data = whole.read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    assert _error(path).startswith(f"{path}: truncated or corrupt (")


def test_bomb_checked_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(Image.new("RGB", (20, 10)), tmp_path / "big.png")

    def no_decode(self: Image.Image) -> None:
        raise AssertionError("decoded a too-large image")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decode)
    message = _error(path, max_pixels=100)
    assert message == f"{path}: too many pixels (20 x 10 = 200, limit 100)"


def test_pil_bomb_warning_and_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(Image.new("RGB", (20, 10)), tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 150)  # 200 px: Pillow only warns
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_image(path).size == (20, 10)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)  # 200 > 2 * 50: Pillow refuses
    assert _error(path).startswith(f"{path}: too many pixels (Image size (200 pixels)")


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(Image.new("RGB", (2, 2)), tmp_path / "locked.png")

    def deny(*args: object, **kwargs: object) -> io.BufferedReader:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(images_mod, "open", deny, raising=False)
    assert _error(path) == f"{path}: permission denied"


def test_no_global_state_change(tmp_path: Path) -> None:
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    path = _save(Image.new("RGB", (20, 10)), tmp_path / "x.png")
    load_image(path)
    _error(path, max_pixels=10)
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == before


# ---------------------------------------------------------------- expanding and mixed inputs


def test_folder_expands_sorted_and_filtered(tmp_path: Path) -> None:
    for name in ("b.png", "a.JPG", "c.webp", "notes.txt", ".hidden.png", "model.pt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    (tmp_path / "sub.png" / "inner.png").write_bytes(b"x")
    expected = [str(tmp_path / n) for n in ("a.JPG", "b.png", "c.webp")]
    assert expand_inputs(tmp_path) == expected
    assert expand_inputs([str(tmp_path)]) == expected


def test_empty_folder_and_folder_without_images(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImageError, match=r"empty: folder is empty$"):
        expand_inputs(empty)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "readme.txt").write_text("hi")
    with pytest.raises(ImageError) as info:
        load_inputs([docs])
    assert str(info.value).startswith(f"{docs}: folder has no image files (looked for .jpg,")


def test_paths_become_str_and_missing_pass_through(tmp_path: Path) -> None:
    assert expand_inputs(tmp_path / "missing.png") == [str(tmp_path / "missing.png")]
    assert expand_inputs(("x.png", Path("y.jpg"))) == ["x.png", "y.jpg"]


def test_mixed_list_bad_file_does_not_stop_others(tmp_path: Path) -> None:
    good = _save(Image.new("RGB", (3, 3), (9, 8, 7)), tmp_path / "good.png")
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a jpeg")
    missing = tmp_path / "gone.png"
    array = np.zeros((2, 2, 3), dtype=np.uint8)
    pil = Image.new("RGBA", (2, 2), (0, 0, 0, 0))
    out = load_inputs([good, str(bad), missing, array, pil])
    assert [r.source for r in out] == [str(good), str(bad), str(missing), "image[3]", "image[4]"]
    assert [r.ok for r in out] == [True, False, False, True, True]
    assert _pixels(out[0].image)[0][0] == [9, 8, 7]
    assert out[1].image is None
    assert out[1].error == f"{bad}: not an image (or a format Pillow cannot read)"
    assert out[2].error == f"{missing}: no such file"
    assert out[3].image is array
    assert _pixels(out[4].image) == [[[255, 255, 255]] * 2] * 2


def test_single_pil_and_array_pass_through() -> None:
    array = np.ones((4, 5), dtype=np.float32)
    pil = Image.new("L", (3, 2), 77)
    assert expand_inputs(array)[0] is array
    assert expand_inputs(pil)[0] is pil
    [loaded] = load_inputs(pil)
    assert loaded == LoadedInput("image[0]", loaded.image)
    assert _pixels(loaded.image) == [[[77] * 3] * 3] * 2
    [arr] = load_inputs([array])
    assert arr.image is array and arr.error is None and arr.ok


def test_folder_in_load_inputs(tmp_path: Path) -> None:
    _save(Image.new("RGB", (2, 2), (1, 1, 1)), tmp_path / "2.png")
    _save(Image.new("RGB", (2, 2), (2, 2, 2)), tmp_path / "1.png")
    (tmp_path / "0.png").write_bytes(b"")
    out = load_inputs(tmp_path, max_pixels=100)
    assert [Path(r.source).name for r in out] == ["0.png", "1.png", "2.png"]
    assert out[0].error == f"{tmp_path / '0.png'}: is empty (0 bytes), not an image"
    assert [_pixels(r.image)[0][0] for r in out[1:]] == [[2, 2, 2], [1, 1, 1]]


@pytest.mark.parametrize(
    ("items", "start"),
    [
        (3, "input has type int (3)"),
        (["a.png", 2.5], "input 1 has type float (2.5)"),
        ([[]], "input 0"),
    ],
)
def test_wrong_type(items: object, start: str) -> None:
    with pytest.raises(ImageError) as info:
        load_inputs(items)
    message = str(info.value)
    assert message.startswith(start)
    assert message.endswith(
        "expected a path (str or pathlib.Path), a folder, a PIL.Image.Image or a numpy array"
    )


def test_skipped_files_are_the_folder_s_files_that_are_not_images(tmp_path: Path) -> None:
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    for name in ("b.svg", "c.txt", ".hidden"):
        (tmp_path / name).write_text("x")
    (tmp_path / "sub").mkdir()
    expected = [str(tmp_path / "b.svg"), str(tmp_path / "c.txt")]
    assert skipped_files(tmp_path) == expected
    assert skipped_files([str(tmp_path), str(tmp_path / "a.png")]) == expected
    assert skipped_files(tmp_path / "a.png") == []
