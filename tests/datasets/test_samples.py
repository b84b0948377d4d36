"""Tests for seewhy.datasets.samples: the built-in benchmark's layout, pixels and classes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seewhy.datasets import open_dataset
from seewhy.datasets.samples import COUNT, PHOTOS, SIZE, photo_image, samples
from seewhy.errors import DataError
from seewhy.models.labels import imagenet_labels

pytest.importorskip("skimage")

BY_LABEL = {photo.label: photo for photo in PHOTOS}


def test_order_kinds_and_limit():
    data = open_dataset("samples", labels=imagenet_labels())
    assert data.name == "samples" and len(data.samples) == COUNT == 64 and data.skipped == []
    assert [s.kind for s in data.samples[:4]] == ["grid", "pasted", "grid", "pasted"]
    assert [s.key for s in data.samples[:3]] == [
        "samples/00-grid",
        "samples/01-pasted",
        "samples/02-grid",
    ]
    assert len({s.key for s in data.samples}) == COUNT
    assert sorted(s.key for s in data.samples) == [s.key for s in data.samples]
    first16 = open_dataset("samples", labels=None, limit=16).samples
    assert [s.kind for s in first16].count("grid") == 8 == [s.kind for s in first16].count("pasted")
    assert [(s.key, s.labels, s.objects) for s in first16] == [
        (s.key, s.labels, s.objects) for s in data.samples[:16]
    ]
    assert data.has_boxes and data.has_labels and not data.has_masks
    assert len(samples(limit=1000).samples) == COUNT


def test_deterministic_pixels():
    one = samples(limit=6).samples
    two = samples().samples[:6]
    for a, b in zip(one, two):
        first, second = np.asarray(a.load()), np.asarray(b.load())
        assert first.shape == (SIZE, SIZE, 3) and first.dtype == np.uint8
        np.testing.assert_array_equal(first, second)


def test_grid_cells_tile_the_image_and_hold_their_photo():
    for sample in samples(limit=8).samples[::2]:
        assert sample.kind == "grid" and len(sample.objects) == 4
        assert [t.label for t in sample.objects] == list(sample.labels)
        assert len(set(sample.labels)) == 4
        covered = np.zeros((SIZE, SIZE), int)
        pixels = np.asarray(sample.load())
        for truth in sample.objects:
            x0, y0, x1, y1 = truth.box
            covered[y0 : y1 + 1, x0 : x1 + 1] += 1
            assert (x1 - x0 + 1, y1 - y0 + 1) == (SIZE // 2, SIZE // 2)
            cell = np.asarray(photo_image(BY_LABEL[truth.label], SIZE // 2))
            np.testing.assert_array_equal(pixels[y0 : y1 + 1, x0 : x1 + 1], cell)
        assert (covered == 1).all()


def test_pasted_box_is_where_the_photo_is():
    pasted = [s for s in samples().samples if s.kind == "pasted"]
    assert {len(s.objects) for s in pasted} == {1, 2}
    for sample in pasted:
        pixels = np.asarray(sample.load())
        boxes = [t.box for t in sample.objects]
        for truth in sample.objects:
            x0, y0, x1, y1 = truth.box
            assert 0 <= x0 <= x1 < SIZE and 0 <= y0 <= y1 < SIZE
            photo = np.asarray(photo_image(BY_LABEL[truth.label], x1 - x0 + 1, y1 - y0 + 1))
            np.testing.assert_array_equal(pixels[y0 : y1 + 1, x0 : x1 + 1], photo)
        # outside the boxes: the gray texture
        outside = np.ones((SIZE, SIZE), bool)
        for x0, y0, x1, y1 in boxes:
            outside[y0 : y1 + 1, x0 : x1 + 1] = False
        rest = pixels[outside]
        assert (rest[:, 0] == rest[:, 1]).all() and (rest[:, 1] == rest[:, 2]).all()
        if len(boxes) == 2:
            (a0, b0, a1, b1), (c0, d0, c1, d1) = boxes
            assert a1 < c0 or c1 < a0 or b1 < d0 or d1 < b0  # no overlap


def test_other_label_spaces_refused():
    with pytest.raises(DataError, match="ImageNet-1k classes; this model has 3 classes"):
        open_dataset("samples", labels=["a", "b", "c"])


def test_lite0_still_classifies_each_photo_as_the_table_says(lite0):
    """The classes of PHOTOS are Lite0's top-1 on each photo alone in a 224 x 224 cell (with
    the probabilities in the table's comments): if the weights or preprocessing change, this
    says which photo no longer holds."""
    batch = lite0.preprocess([photo_image(photo, SIZE // 2) for photo in PHOTOS])
    with torch.no_grad():
        probs = lite0.module.eval()(batch).softmax(1)
    for photo, row in zip(PHOTOS, probs):
        assert int(row.argmax()) == photo.label, (photo.name, lite0.labels[int(row.argmax())])
        assert float(row[photo.label]) >= 0.6, (photo.name, float(row[photo.label]))
