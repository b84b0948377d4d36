"""Tests for seewhy.datasets.coco: COCO instances JSON boxes, polygon and RLE masks."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from helpers.datasets import LABELS, write_image

from seewhy.datasets import Truth, open_dataset
from seewhy.datasets.coco import RleTruth, coco_box
from seewhy.errors import DataError, SeewhyWarning

pytest.importorskip("pycocotools")


def coco_file(path, annotations, images=None, categories=None):
    data = {
        "images": images
        or [
            {"id": 1, "file_name": "a.png", "width": 12, "height": 10},
            {"id": 2, "file_name": "b.png", "width": 12, "height": 10},
        ],
        "categories": categories or [{"id": 7, "name": "cat"}, {"id": 9, "name": "hot dog"}],
        "annotations": annotations,
    }
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def folder(tmp_path):
    for name in ("a.png", "b.png", "c.png"):
        write_image(tmp_path / "data" / name, (12, 10))
    return tmp_path / "data"


def test_coco_box_rounding():
    assert coco_box([2.0, 2.0, 4.0, 4.0], None) == (2, 2, 5, 5)
    assert coco_box([1.5, 2.2, 3.1, 0.5], None) == (1, 2, 4, 2)
    assert coco_box([3.0, 3.0, 0.0, 0.0], None) == (3, 3, 3, 3)  # at least one pixel
    assert coco_box([-1.0, 8.5, 20.0, 5.0], (12, 10)) == (0, 8, 11, 9)
    assert coco_box([20.0, 20.0, 2.0, 2.0], (12, 10)) is None


def test_boxes_and_polygon_mask(folder, tmp_path):
    square = [2, 2, 6, 2, 6, 6, 2, 6]  # covers pixels 2..5 in x and y: 16 pixels
    path = coco_file(
        tmp_path / "instances.json",
        [
            {
                "image_id": 1,
                "category_id": 7,
                "bbox": [2, 2, 4, 4],
                "segmentation": [square],
                "iscrowd": 0,
            },
            {"image_id": 1, "category_id": 9, "bbox": [0.5, 0.5, 2, 3], "iscrowd": 0},
        ],
    )
    data = open_dataset(folder, path, labels=LABELS, class_map={"hot dog": "dog"})
    a, b, c = data.samples
    assert a.labels == (0, 1)
    cat, dog = a.objects
    assert isinstance(cat, RleTruth) and cat.box == (2, 2, 5, 5) and not cat.crowd
    expected = np.zeros((10, 12), bool)
    expected[2:6, 2:6] = True
    assert cat.mask.dtype == bool and cat.mask.sum() == 16
    np.testing.assert_array_equal(cat.mask, expected)
    assert dog == Truth(1, (0, 0, 2, 3))
    assert b.objects == () and c.objects == () and b.labels == ()
    assert data.has_boxes and data.has_masks


def test_rle_uncompressed_and_compressed_and_crowd(folder, tmp_path):
    from pycocotools import mask as mask_utils

    expected = np.zeros((10, 12), bool)
    expected[3:5, 4:9] = True  # rows 3-4, columns 4-8
    # uncompressed RLE counts run down the columns (Fortran order), starting with zeros
    flat = expected.ravel(order="F")
    counts, value, run = [], False, 0
    for pixel in flat:
        if pixel != value:
            counts.append(run)
            value, run = pixel, 0
        run += 1
    counts.append(run)
    compressed = mask_utils.encode(np.asfortranarray(expected.astype(np.uint8)))
    compressed["counts"] = compressed["counts"].decode("ascii")
    path = coco_file(
        tmp_path / "instances.json",
        [
            {"image_id": 2, "category_id": 7, "bbox": [4, 3, 5, 2], "iscrowd": 1,
             "segmentation": {"size": [10, 12], "counts": counts}},
            {"image_id": 2, "category_id": 7, "bbox": [4, 3, 5, 2], "iscrowd": 0,
             "segmentation": compressed},
        ],
    )  # fmt: skip
    data = open_dataset(folder, path, labels=LABELS)
    crowd, single = data.samples[1].objects
    assert crowd.crowd and not single.crowd
    assert crowd.box == single.box == (4, 3, 8, 4)
    np.testing.assert_array_equal(crowd.mask, expected)
    np.testing.assert_array_equal(single.mask, expected)


def test_degenerate_polygons_and_bad_rle(folder, tmp_path):
    line = [[1, 1, 5, 5]]  # two points: no area, the object keeps its box
    path = coco_file(
        tmp_path / "a.json",
        [{"image_id": 1, "category_id": 7, "bbox": [1, 1, 4, 4], "segmentation": line}],
    )
    assert open_dataset(folder, path, labels=LABELS).samples[0].objects == (Truth(0, (1, 1, 4, 4)),)
    wrong = {"size": [12, 10], "counts": [120]}
    path = coco_file(
        tmp_path / "b.json",
        [{"image_id": 1, "category_id": 7, "bbox": [1, 1, 4, 4], "segmentation": wrong}],
    )
    with pytest.raises(
        DataError, match=r"annotations\[0\]: bad segmentation \(its size \[12, 10\]"
    ):
        open_dataset(folder, path, labels=LABELS)


def test_unknown_category_and_missing_images(folder, tmp_path):
    path = coco_file(
        tmp_path / "instances.json",
        [{"image_id": 1, "category_id": 9, "bbox": [0, 0, 1, 1]}],
    )
    with pytest.raises(
        DataError, match=r"instances.json: category 'hot dog': 'hot dog' is not a class"
    ):
        open_dataset(folder, path, labels=LABELS)
    images = [{"id": 5, "file_name": f"gone{i}.png", "width": 12, "height": 10} for i in range(7)]
    annotations = [{"image_id": 5, "category_id": 7, "bbox": [0, 0, 1, 1]}]
    path = coco_file(tmp_path / "gone.json", annotations, images=images)
    with pytest.warns(SeewhyWarning, match=r"1 annotated image\(s\) .* gone6.png"):
        open_dataset(folder, path, labels=LABELS)
    path = coco_file(
        tmp_path / "bad.json", [{"image_id": 3, "category_id": 7, "bbox": [0, 0, 1, 1]}]
    )
    with pytest.raises(DataError, match=r"annotations\[0\]: unknown image or category id 3"):
        open_dataset(folder, path, labels=LABELS)


def test_missing_pycocotools_is_a_clear_error(folder, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pycocotools", None)
    path = coco_file(
        tmp_path / "instances.json",
        [
            {
                "image_id": 1,
                "category_id": 7,
                "bbox": [0, 0, 1, 1],
                "segmentation": [[0, 0, 2, 0, 2, 2]],
            }
        ],
    )
    with pytest.raises(DataError, match=r"pip install 'seewhy\[coco\]'"):
        open_dataset(folder, path, labels=LABELS)
    boxes_only = coco_file(
        tmp_path / "boxes.json", [{"image_id": 1, "category_id": 7, "bbox": [0, 0, 1, 1]}]
    )
    assert open_dataset(folder, boxes_only, labels=LABELS).samples[0].objects == (
        Truth(0, (0, 0, 0, 0)),
    )
