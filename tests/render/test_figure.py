"""explanation_figure and save_figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seewhy.errors import ImageShapeError
from seewhy.render import FigureBlock, explanation_figure, figure_layout, save_figure


def _photo(h: int = 64, w: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 4 % 256, yy * 4 % 256, (xx + yy) * 2 % 256], axis=-1).astype(np.uint8)


def _block(rows: int, methods: int, title: str = "resnet18", size: int = 16) -> FigureBlock:
    rng = np.random.default_rng(rows * 10 + methods)
    return FigureBlock(
        title=title,
        image=_photo(),
        methods=[f"method{m}" for m in range(methods)],
        row_labels=[f"class {t} ({t})  p=0.{t}" for t in range(rows)],
        maps=rng.random((rows, methods, size, size)),
    )


def test_returns_rgb_image() -> None:
    out = explanation_figure([_block(1, 2)], title="cat.jpg")
    assert isinstance(out, Image.Image)
    assert out.mode == "RGB"
    arr = np.asarray(out)
    assert arr.ndim == 3 and arr.shape[-1] == 3
    assert arr.std() > 0  # something was drawn


def test_grows_with_rows_and_blocks() -> None:
    one = explanation_figure([_block(1, 2)])
    three = explanation_figure([_block(3, 2)])
    two_blocks = explanation_figure([_block(1, 2), _block(1, 2, title="vgg16")])
    assert three.size[1] > one.size[1]
    assert three.size[0] == one.size[0]
    assert two_blocks.size[1] > one.size[1]


def test_grows_with_methods_and_dpi() -> None:
    narrow = explanation_figure([_block(1, 1)])
    wide = explanation_figure([_block(1, 4)])
    assert wide.size[0] > narrow.size[0]
    big = explanation_figure([_block(1, 1)], dpi=200)
    assert big.size[0] > narrow.size[0] and big.size[1] > narrow.size[1]


def test_blocks_with_different_shapes_and_map_sizes() -> None:
    out = explanation_figure([_block(3, 2, size=7), _block(1, 4, title="vit", size=64)], "x")
    assert out.mode == "RGB"


def test_maps_shape_mismatch_raises() -> None:
    block = _block(2, 3)
    block.maps = np.zeros((3, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\(2, 3, H, W\)"):
        explanation_figure([block])
    block.maps = np.zeros((2, 3, 8))
    with pytest.raises(ValueError, match=r"\(2, 3, H, W\)"):
        explanation_figure([block])


def test_bad_block_image_names_the_block() -> None:
    block = _block(1, 1)
    block.image = np.zeros((8, 8, 2), dtype=np.uint8)
    with pytest.raises(ImageShapeError, match=r"^block 'resnet18': an image array .* \(8, 8, 2\)$"):
        explanation_figure([block])
    with pytest.raises(ValueError):  # still a ValueError, as before the one converter
        explanation_figure([block])


def test_no_blocks_raises() -> None:
    with pytest.raises(ValueError):
        explanation_figure([])


def test_save_figure_writes_png(tmp_path: Path) -> None:
    img = explanation_figure([_block(2, 2)])
    path = tmp_path / "deep" / "dir" / "fig.png"
    save_figure(img, path)
    assert path.is_file()
    with Image.open(path) as back:
        assert back.format == "PNG"
        assert back.size == img.size
        np.testing.assert_array_equal(np.asarray(back.convert("RGB")), np.asarray(img))


def test_a_note_draws_an_empty_labelled_cell_instead_of_the_map() -> None:
    block = _block(2, 2)
    plain = np.asarray(explanation_figure([block]))
    block.notes = [None, "not run: cam needs a head"]
    noted = np.asarray(explanation_figure([block]))
    assert noted.shape == plain.shape
    layout = figure_layout([block])
    for t in range(2):
        # 20 px inside each cell's top left corner
        top = layout.panels[0, t, 2][1] + 20
        cam, empty = (layout.panels[0, t, c][0] + 20 for c in (1, 2))
        assert noted[top, empty].tolist() == [238, 238, 238]  # the empty cell's grey
        assert plain[top, empty].tolist() != [238, 238, 238]
        assert noted[top, cam].tolist() == plain[top, cam].tolist()  # other columns unchanged
    assert (noted != plain).any(axis=-1).sum() > 0


def test_notes_need_one_entry_per_method() -> None:
    block = _block(1, 2)
    block.notes = ["x"]
    with pytest.raises(ValueError, match="notes must have one entry per method"):
        explanation_figure([block])


@pytest.mark.parametrize("anchor", ["mm", "ma", "la", "ra"])
@pytest.mark.parametrize("text", ["Grad-CAM++", "0.0123", "p=0.82 ...", " ", ""])
def test_cached_text_draws_the_pixels_imagedraw_draws(text: str, anchor: str) -> None:
    from PIL import ImageDraw

    from seewhy.render.figure import _font, _text

    font = _font(15)
    ours = Image.new("RGB", (200, 60), (250, 240, 230))
    theirs = ours.copy()
    _text(ours, (100, 30), text, (20, 90, 20), font, anchor)
    _text(ours, (100, 30), text, (20, 90, 20), font, anchor)  # from the cache: same pixels
    ImageDraw.Draw(theirs).text((100, 30), text, (20, 90, 20), font, anchor)
    ImageDraw.Draw(theirs).text((100, 30), text, (20, 90, 20), font, anchor)
    assert np.array_equal(np.asarray(ours), np.asarray(theirs))
    assert text.strip() == "" or np.asarray(ours).min() < 200  # something was drawn
