"""The result's grid and PNGs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from seewhy.errors import OptionError
from seewhy.synthesis import SynthesisResult, image_grid


def test_grid_layout() -> None:
    images = np.stack([np.full((5, 7, 3), i, dtype=np.uint8) for i in range(5)])
    grid = image_grid(images, gap=2)  # ceil(sqrt(5)) = 3 columns, 2 rows
    assert grid.shape == (2 * 5 + 2, 3 * 7 + 2 * 2, 3)
    assert grid[0, 0, 0] == 0 and grid[0, 9, 0] == 1 and grid[7, 0, 0] == 3
    assert grid[5, 0, 0] == 255 and grid[-1, -1, 0] == 255  # gap and empty cell


def test_labelled_grid_writes_each_label_under_its_image() -> None:
    # Before: a grid of channels 0, 3, 8-11 did not say which tile was which channel.
    images = np.stack([np.full((20, 60, 3), 10 * (i + 1), dtype=np.uint8) for i in range(3)])
    grid = image_grid(images, gap=2, labels=["channel 0", "channel 3", ""])
    assert grid.shape == (2 * (20 + 16) + 2, 2 * 60 + 2, 3)  # 2 x 2 cells, bands of 16 px
    assert (grid[:20, :60] == 10).all() and (grid[:20, 62:] == 20).all()
    assert (grid[38:58, :60] == 30).all()  # second row: one cell and one gap lower
    assert (grid[20:36, :60] < 128).any() and (grid[20:36, 62:] < 128).any()  # the labels
    assert (grid[58:74, :60] == 255).all()  # an empty label stays blank
    with pytest.raises(OptionError, match="got 1 labels for 3 images"):
        image_grid(images, labels=["one"])


def test_save_writes_plain_rgb_pngs(tmp_path) -> None:
    images = np.random.default_rng(0).integers(0, 256, (2, 6, 6, 3), dtype=np.uint8)
    result = SynthesisResult(
        images=images,
        tensor=torch.zeros(2, 3, 6, 6),
        history=torch.zeros(0, 2),
        objective=["class 285 (Egyptian cat)", "channel 7 of blocks.3"],
        start_values=torch.zeros(2),
        final_values=torch.zeros(2),
    )
    paths = result.save(tmp_path / "out")
    assert [p.name for p in paths] == [
        "000_class_285_egyptian_cat.png",
        "001_channel_7_of_blocks.3.png",
    ]
    for path, image in zip(paths, images):
        assert np.array_equal(np.asarray(Image.open(path)), image)
