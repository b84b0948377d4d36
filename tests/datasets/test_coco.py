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
    images = [
        {"id": 5 + i, "file_name": f"gone{i}.png", "width": 12, "height": 10} for i in range(7)
    ]
    annotations = [{"image_id": 11, "category_id": 7, "bbox": [0, 0, 1, 1]}]
    path = coco_file(tmp_path / "gone.json", annotations, images=images)
    with pytest.warns(SeewhyWarning, match=r"1 annotated image\(s\) .* gone6.png"):
        open_dataset(folder, path, labels=LABELS)
    path = coco_file(
        tmp_path / "bad.json", [{"image_id": 3, "category_id": 7, "bbox": [0, 0, 1, 1]}]
    )
    with pytest.raises(DataError, match=r"annotations\[0\]: unknown image id 3"):
        open_dataset(folder, path, labels=LABELS)
    path = coco_file(
        tmp_path / "bad.json", [{"image_id": 1, "category_id": 8, "bbox": [0, 0, 1, 1]}]
    )
    with pytest.raises(DataError, match=r"annotations\[0\]: unknown category id 8"):
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


IMAGE = {"id": 1, "file_name": "a.png", "width": 12, "height": 10}
CATEGORY = {"id": 7, "name": "cat"}


def annotation(**fields):
    return {"image_id": 1, "category_id": 7, "bbox": [1, 1, 2, 2], **fields}


def polygons(*coordinates):
    return annotation(segmentation=[list(coordinates)])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # bbox: four finite numbers, width and height not negative
        ({"annotations": [annotation(bbox=[1, 2, 3])]},
         r"annotations\[0\]: bbox is list \[1, 2, 3\]; a COCO bbox is \[x, y, width, height\]"),
        ({"annotations": [annotation(bbox=["a", 2, 3, 4])]},
         r"annotations\[0\]: bbox\[0\] is str 'a', not a number"),
        ({"annotations": [annotation(), annotation(bbox=[1, True, 3, 4])]},
         r"annotations\[1\]: bbox\[1\] is bool True, not a number"),
        ({"annotations": [annotation(bbox="1 2 3 4")]}, r"annotations\[0\]: bbox is str"),
        ({"annotations": [annotation(bbox=[1, 2, -3, 4])]},
         r"annotations\[0\]: bbox \[1, 2, -3, 4\] has a negative width"),
        # images, categories, annotations: lists of objects with their fields
        ({"images": [{"id": 1, "width": 12, "height": 10}]},
         r"images\[0\]: no 'file_name'; an image is an object with id, file_name"),
        ({"images": [{**IMAGE, "file_name": 5}]}, r"images\[0\]: file_name is int 5"),
        ({"images": [{"file_name": "a.png"}]}, r"images\[0\]: no 'id'"),
        ({"images": [{**IMAGE, "width": "big"}]},
         r"images\[0\]: width is str 'big', not a number of pixels"),
        ({"images": "x"}, r"instances.json: images is str 'x', not a list of image objects"),
        ({"images": ["a.png"]}, r"images\[0\] is str 'a.png', not an object with id"),
        ({"images": [IMAGE, {**IMAGE, "file_name": "b.png"}]},
         r"images\[1\]: id 1 is also the id of 'a.png'; an image id names one file"),
        ({"categories": "x"}, r"categories is str 'x', not a list of category objects"),
        ({"categories": [{"id": 7}]}, r"categories\[0\]: no 'name'"),
        ({"annotations": [[1, 2]]},
         r"annotations\[0\] is list \[1, 2\], not an object with image_id, category_id"),
        ({"annotations": {"image_id": 1}}, r"annotations is dict .*not a list of annotation"),
        ({"annotations": [{"category_id": 7, "bbox": [1, 1, 2, 2]}]},
         r"annotations\[0\]: no 'image_id'"),
        ({"annotations": [annotation(image_id=[1])]},
         r"annotations\[0\]: image_id is list \[1\], not an id"),
        ({"annotations": [annotation(iscrowd="yes")]},
         r"annotations\[0\]: iscrowd is str 'yes'; it is 0 or 1"),
        # polygons: even counts of finite numbers near the image
        ({"annotations": [polygons(1, 1, 5, 1, 5, 5, 1)]},
         r"annotations\[0\]: segmentation\[0\] is 7 numbers; a polygon is a list of x1, y1"),
        ({"annotations": [annotation(segmentation=[5])]},
         r"annotations\[0\]: segmentation\[0\] is int 5; a polygon"),
        ({"annotations": [polygons(1, 1, 5, "a", 5, 5)]},
         r"annotations\[0\]: segmentation\[0\]\[3\] is str 'a', not a number"),
        ({"annotations": [polygons(1e12, 1, 5, 1, 5, 5)]},
         r"annotations\[0\]: segmentation\[0\]\[0\] is 1000000000000.0, far outside the 12 x 10 "
         r"image; .*\(x in -12..24\)"),
        ({"annotations": [annotation(segmentation="x")]},
         r"annotations\[0\]: segmentation is str 'x', neither polygons"),
        # RLE: the image's size, runs covering it
        ({"annotations": [annotation(segmentation={"size": 10, "counts": [120]})]},
         r"annotations\[0\]: bad segmentation \(size is int 10\)"),
        ({"annotations": [annotation(segmentation={"size": [10, 12], "counts": [5]})]},
         r"annotations\[0\]: bad segmentation \(its runs cover 5 pixels, not the image's "
         r"10 x 12 = 120\)"),
        ({"annotations": [annotation(segmentation={"size": [10, 12], "counts": [60, -1, 61]})]},
         r"annotations\[0\]: bad segmentation \(counts has a run that is not a whole number"),
        ({"annotations": [annotation(segmentation={"size": [10, 12], "counts": 3})]},
         r"annotations\[0\]: bad segmentation \(counts is int 3\)"),
    ],
    ids=[
        "bbox-3-numbers",
        "bbox-string-number",
        "bbox-bool",
        "bbox-string",
        "bbox-negative-width",
        "image-no-file_name",
        "image-file_name-int",
        "image-no-id",
        "image-width-string",
        "images-string",
        "image-string",
        "image-id-twice",
        "categories-string",
        "category-no-name",
        "annotation-list",
        "annotations-dict",
        "annotation-no-image_id",
        "image_id-list",
        "iscrowd-string",
        "polygon-odd",
        "polygon-int",
        "polygon-string",
        "polygon-far-outside",
        "segmentation-string",
        "rle-size-int",
        "rle-runs-short",
        "rle-run-negative",
        "rle-counts-int",
    ],
)  # fmt: skip
def test_malformed_coco_names_the_file_and_entry(folder, tmp_path, data, message):
    """A malformed entry is a DataError naming the file, the entry and what is allowed, never
    a ValueError, KeyError or TypeError from deep inside the reader."""
    coco = {"images": [IMAGE], "categories": [CATEGORY], "annotations": [annotation()], **data}
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(coco))
    with pytest.raises(DataError, match=message) as raised:
        open_dataset(folder, path, labels=LABELS)
    assert str(raised.value).startswith(str(path))


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN"])
def test_non_finite_bbox_and_polygon(folder, tmp_path, value):
    """JSON's Infinity and NaN (Python's json reads them) in a bbox are not pixels; in a polygon
    they would make pycocotools allocate without bound."""
    path = tmp_path / "instances.json"
    bbox = f'{{"image_id": 1, "category_id": 7, "bbox": [1, {value}, 2, 2]}}'
    path.write_text(json.dumps({"images": [IMAGE], "categories": [CATEGORY]})[:-1] + ', '
                    f'"annotations": [{bbox}]}}')  # fmt: skip
    with pytest.raises(DataError, match=r"annotations\[0\]: bbox\[1\] is -?(inf|nan); .*finite"):
        open_dataset(folder, path, labels=LABELS)
    polygon = f'{{"image_id": 1, "category_id": 7, "segmentation": [[1, 1, 5, {value}, 5, 5]]}}'
    path.write_text(json.dumps({"images": [IMAGE], "categories": [CATEGORY]})[:-1] + ', '
                    f'"annotations": [{polygon}]}}')  # fmt: skip
    with pytest.raises(
        DataError, match=r"annotations\[0\]: segmentation\[0\]\[3\] is -?(inf|nan); .*finite"
    ):
        open_dataset(folder, path, labels=LABELS)


@pytest.mark.parametrize("counts", ["garbage!!", "", "0h31", "0h3o"])
def test_bad_compressed_rle_is_refused_when_read(folder, tmp_path, counts):
    """pycocotools does not check a compressed RLE until it decodes it (then raises a bare
    "Invalid RLE mask representation", or for an empty string returns whatever memory
    held): the reader checks the runs cover the image. "0h3" is a full 10 x 12 mask."""
    segmentation = {"size": [10, 12], "counts": counts}
    path = coco_file(tmp_path / "instances.json", [annotation(segmentation=segmentation)])
    with pytest.raises(
        DataError, match=r"instances.json: annotations\[0\]: bad segmentation \((counts|its runs)"
    ):
        open_dataset(folder, path, labels=LABELS)
    path = coco_file(
        tmp_path / "good.json", [annotation(segmentation={**segmentation, "counts": "0h3"})]
    )
    assert open_dataset(folder, path, labels=LABELS).samples[0].objects[0].mask.all()


def test_rle_mask_that_cannot_be_decoded_names_the_annotation():
    truth = RleTruth(
        0, rle={"size": [10, 12], "counts": b"garbage!!"}, where="x.json: annotations[4]"
    )
    with pytest.raises(DataError, match=r"x.json: annotations\[4\]: cannot decode its RLE"):
        _ = truth.mask


def test_coco_box_refuses_what_is_not_a_box():
    with pytest.raises(DataError, match=r"a.json: annotations\[2\]: bbox is list \[1, 2, 3\]"):
        coco_box([1, 2, 3], None, "a.json: annotations[2]")
    with pytest.raises(ValueError, match=r"bbox\[2\] is inf"):  # DataError is a ValueError
        coco_box([1, 2, float("inf"), 3], None)


def test_has_mask_does_not_decode_the_rle(monkeypatch):
    """Whether a data set has masks is known without decoding every COCO mask."""
    import seewhy.datasets.coco as coco
    from seewhy.datasets.base import Dataset, Sample, Truth
    from seewhy.evaluate.runner import data_has

    monkeypatch.setattr(coco, "_mask_utils", lambda: pytest.fail("an RLE was decoded"))
    truth = RleTruth(0, box=(0, 0, 3, 3), rle={"size": [10, 12], "counts": b"PT2"})
    assert truth.has_mask and not Truth(0, box=(0, 0, 3, 3)).has_mask
    dataset = Dataset("x", [Sample("a.png", lambda: None, (0,), (truth,))])
    assert dataset.has_masks and {"masks", "boxes"} <= data_has(dataset)
