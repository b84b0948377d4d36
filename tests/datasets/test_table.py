"""Tests for seewhy.datasets.table: CSV and JSON tables of image, class, x0, y0, x1, y1."""

from __future__ import annotations

import json

import pytest
from helpers.datasets import LABELS, write_image

from seewhy.datasets import Truth, open_dataset
from seewhy.errors import DataError
from seewhy.models.labels import imagenet_labels


@pytest.fixture
def folder(tmp_path):
    write_image(tmp_path / "data" / "a.png")
    write_image(tmp_path / "data" / "dog" / "b.jpg")
    write_image(tmp_path / "data" / "c.png")
    return tmp_path / "data"


def test_csv_by_key_name_and_stem(folder, tmp_path):
    table = tmp_path / "boxes.csv"
    table.write_text(
        "Image, Class ,x0,y0,x1,y1,note\n"
        "a.png,cat,0,0,3,4,first\n"
        "a.png,4,5,5,11,9,\n"
        "dog/b.jpg,Espresso,1,2,3,4,\n"
        "\n"
        "c,tabby cat,,,,,no box\n"
    )
    data = open_dataset(folder, table, labels=LABELS)
    a, c, b = data.samples
    assert a.objects == (Truth(0, (0, 0, 3, 4)), Truth(4, (5, 5, 11, 9))) and a.labels == (0, 4)
    assert b.key == "dog/b.jpg" and b.labels == (1, 3) and b.objects == (Truth(3, (1, 2, 3, 4)),)
    assert c.labels == (2,) and c.objects == ()


def test_json_records_with_synsets_and_indices(tmp_path):
    write_image(tmp_path / "data" / "a.png")
    write_image(tmp_path / "data" / "c.png")
    table = tmp_path / "boxes.json"
    table.write_text(
        json.dumps(
            [
                {"image": "a.png", "class": "n02124075", "x0": 0, "y0": 1, "x1": 2, "y1": 3},
                {"image": "c.png", "class": 967, "x0": 1.0, "y0": 1, "x1": 1, "y1": 1},
                {"image": "c.png", "class": "285"},
            ]
        )
    )
    data = open_dataset(tmp_path / "data", table, labels=imagenet_labels())
    a, c = data.samples
    assert a.objects == (Truth(285, (0, 1, 2, 3)),)
    assert c.objects == (Truth(967, (1, 1, 1, 1)),) and c.labels == (967, 285)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("image,class,x0,y0,x1\na.png,cat,0,0,1\n", "the header has no y1 column"),
        ("a.png,cat,0,0,1,1\n", "the header has no image, class, x0, y0, x1, y1 column"),
        (
            "image,class,x0,y0,x1,y1\na.png,cat,0,0,1.5,1\n",
            "line 2: x1 is '1.5'; table boxes are whole",
        ),
        (
            "image,class,x0,y0,x1,y1\na.png,cat,0,0,,1\n",
            "line 2: give all of x0, y0, x1, y1 or none",
        ),
        (
            "image,class,x0,y0,x1,y1\na.png,cat,3,0,1,1\n",
            r"line 2: box \(3, 0, 1, 1\) is not x0 <= x1",
        ),
        ("image,class,x0,y0,x1,y1\n,cat,0,0,1,1\n", "line 2: no image"),
        (
            "image,class,x0,y0,x1,y1\na.png,kat,0,0,1,1\n",
            r"line 2: class: 'kat' is not a class.*'cat'",
        ),
        ("", "empty; a CSV table needs the header"),
    ],
)
def test_csv_errors_name_the_line(folder, tmp_path, text, message):
    table = tmp_path / "boxes.csv"
    table.write_text(text)
    with pytest.raises(DataError, match=message):
        open_dataset(folder, table, labels=LABELS)


def test_unknown_formats(folder, tmp_path):
    (tmp_path / "boxes.json").write_text('{"rows": []}')
    with pytest.raises(DataError, match="a COCO instances dict"):
        open_dataset(folder, tmp_path / "boxes.json", labels=LABELS)
    (tmp_path / "boxes.json").write_text("[1]")
    with pytest.raises(DataError, match="entry 0 is int, not an object"):
        open_dataset(folder, tmp_path / "boxes.json", labels=LABELS)
    (tmp_path / "boxes.txt").write_text("x")
    with pytest.raises(DataError, match="unknown annotation format '.txt'"):
        open_dataset(folder, tmp_path / "boxes.txt", labels=LABELS)
    with pytest.raises(DataError, match="no such file or folder"):
        open_dataset(folder, tmp_path / "nothing.csv", labels=LABELS)
    with pytest.raises(DataError, match="--data samples has its own boxes"):
        open_dataset("samples", tmp_path / "boxes.txt", labels=LABELS)
