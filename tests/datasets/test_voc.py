"""Tests for seewhy.datasets.voc: Pascal VOC and ImageNet XML boxes, 1-based to 0-based."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from helpers.datasets import LABELS, write_image

from seewhy.datasets import Truth, open_dataset
from seewhy.errors import DataError, SeewhyWarning
from seewhy.models.labels import imagenet_labels


def voc_xml(path: Path, size: tuple[int, int] | None, *objects: tuple) -> Path:
    """A VOC XML file; each object is ``(name, xmin, ymin, xmax, ymax)`` or ``(name,)``."""
    parts = ["<annotation>", f"<filename>{path.stem}.jpg</filename>"]
    if size is not None:
        parts.append(
            f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>"
        )
    for name, *box in objects:
        parts.append(f"<object><name>{name}</name><difficult>0</difficult>")
        if box:
            tags = ("xmin", "ymin", "xmax", "ymax")
            parts.append(
                "<bndbox>" + "".join(f"<{t}>{v}</{t}>" for t, v in zip(tags, box)) + "</bndbox>"
            )
        parts.append("</object>")
    parts.append("</annotation>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts))
    return path


def test_imagenet_val_format_synsets_and_one_based(tmp_path):
    images, boxes = tmp_path / "val", tmp_path / "boxes"
    write_image(images / "ILSVRC2012_val_00000001.JPEG", (12, 10))
    write_image(images / "ILSVRC2012_val_00000002.JPEG", (12, 10))
    # 1-based inclusive: xmin=1..xmax=12 is the whole 12-pixel width
    voc_xml(boxes / "ILSVRC2012_val_00000001.xml", (12, 10), ("n01751748", 1, 1, 12, 10))
    voc_xml(
        boxes / "ILSVRC2012_val_00000002.xml",
        (12, 10),
        ("n02124075", 3, 2, 5, 4),
        ("n02124075", 6.4, 7, 8, 9),
    )
    data = open_dataset(images, boxes, labels=imagenet_labels())
    first, second = data.samples
    assert first.key == "ILSVRC2012_val_00000001.JPEG"
    assert first.labels == (65,) and first.objects == (Truth(65, (0, 0, 11, 9)),)
    assert second.labels == (285,)
    assert second.objects == (Truth(285, (2, 1, 4, 3)), Truth(285, (5, 6, 7, 8)))
    assert data.has_boxes and not data.has_masks


def test_voc_names_indices_and_class_folders(tmp_path):
    write_image(tmp_path / "data" / "cat" / "000001.jpg", (20, 16))
    write_image(tmp_path / "data" / "cat" / "000002.jpg", (20, 16))
    voc_xml(tmp_path / "ann" / "000001.xml", (20, 16), ("dog", 2, 2, 9, 9), ("4", 10, 1, 20, 16))
    data = open_dataset(tmp_path / "data", tmp_path / "ann", labels=LABELS)
    annotated, plain = data.samples
    assert annotated.labels == (0, 1, 4)  # folder class first, then the objects' in order
    assert annotated.objects == (Truth(1, (1, 1, 8, 8)), Truth(4, (9, 0, 19, 15)))
    assert plain.labels == (0,) and plain.objects == ()  # no XML: kept, without objects


def test_boxes_clipped_to_size_and_empty_ones_dropped(tmp_path):
    write_image(tmp_path / "data" / "a.png", (12, 10))
    voc_xml(tmp_path / "a.xml", (12, 10), ("cat", 0, 0, 13, 11), ("dog", 20, 20, 30, 30))
    with pytest.warns(SeewhyWarning, match="1 box"):
        data = open_dataset(tmp_path / "data", tmp_path / "a.xml", labels=LABELS)
    assert data.samples[0].objects == (Truth(0, (0, 0, 11, 9)),)
    assert data.samples[0].labels == (0, 1)  # the dropped box's class is still in the image


def test_declared_size_checked_at_load(tmp_path):
    write_image(tmp_path / "data" / "a.png", (12, 10))
    voc_xml(tmp_path / "ann" / "a.xml", (10, 12), ("cat", 1, 1, 5, 5))
    data = open_dataset(tmp_path / "data", tmp_path / "ann", labels=LABELS)
    with pytest.raises(ValueError, match=r"the image is 12 x 10 but its annotation says 10 x 12"):
        data.samples[0].load()


def test_annotations_without_images_warned_and_limit(tmp_path):
    for name in ("a", "b", "c"):
        write_image(tmp_path / "data" / f"{name}.png")
        voc_xml(tmp_path / "ann" / f"{name}.xml", None, ("cat", 1, 1, 2, 2))
    for name in ("x1", "x2"):
        voc_xml(tmp_path / "ann" / "sub" / f"{name}.xml", None, ("cat", 1, 1, 2, 2))
    with pytest.warns(SeewhyWarning, match=r"2 annotated image\(s\) in .* are not in .*: x1, x2"):
        data = open_dataset(tmp_path / "data", tmp_path / "ann", labels=LABELS, limit=2)
    assert [s.key for s in data.samples] == ["a.png", "b.png"]
    assert all(s.objects == (Truth(0, (0, 0, 1, 1)),) for s in data.samples)


def test_unparsed_files_beyond_limit_not_read(tmp_path):
    write_image(tmp_path / "data" / "a.png")
    write_image(tmp_path / "data" / "b.png")
    voc_xml(tmp_path / "ann" / "a.xml", None, ("cat", 1, 1, 2, 2))
    (tmp_path / "ann" / "b.xml").write_text("<annotation><object><name>nope</name>")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = open_dataset(tmp_path / "data", tmp_path / "ann", labels=LABELS, limit=1)
    assert data.samples[0].objects == (Truth(0, (0, 0, 1, 1)),)
    with pytest.raises(DataError, match="b.xml: cannot read VOC XML"):
        open_dataset(tmp_path / "data", tmp_path / "ann", labels=LABELS)


def test_bad_entries_name_file_and_object(tmp_path):
    write_image(tmp_path / "data" / "a.png")
    voc_xml(tmp_path / "ann" / "a.xml", None, ("cat", 1, 1, 2, 2), ("kat", 1, 1, 2, 2))
    with pytest.raises(DataError, match=r"a.xml: object 2 <name>: 'kat' is not a class.*'cat'"):
        open_dataset(tmp_path / "data", tmp_path / "ann", labels=LABELS)
    voc_xml(tmp_path / "ann" / "a.xml", None, ("cat", 1, "left", 2, 2))
    with pytest.raises(
        DataError, match=r"a.xml: object 1 <bndbox>: <ymin> is 'left', not a number"
    ):
        open_dataset(tmp_path / "data", tmp_path / "ann", labels=LABELS)
    with pytest.raises(DataError, match="no .xml files"):
        open_dataset(tmp_path / "data", tmp_path / "data", labels=LABELS)


def test_same_stem_twice_is_ambiguous(tmp_path):
    write_image(tmp_path / "data" / "cat" / "a.png")
    write_image(tmp_path / "data" / "dog" / "a.png")
    voc_xml(tmp_path / "ann" / "a.xml", None, ("cat", 1, 1, 2, 2))
    with pytest.raises(DataError, match=r"'a' could be any of 2 images .*cat/a.png, dog/a.png"):
        open_dataset(tmp_path / "data", tmp_path / "ann", labels=LABELS)


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "nan", "NaN", "1e400"])
def test_non_finite_coordinates_and_sizes_name_file_and_field(tmp_path, value):
    """float() reads these; int() of them raised a bare OverflowError (inf) or a misleading
    "not a number" (nan): a non-finite coordinate or size is a DataError naming both."""
    write_image(tmp_path / "data" / "a.png")
    voc_xml(tmp_path / "ann" / "a.xml", None, ("cat", value, 1, 2, 2))
    with pytest.raises(
        DataError,
        match=rf"a.xml: object 1 <bndbox>: <xmin> is '{value}'; coordinates and sizes are finite",
    ):
        open_dataset(tmp_path / "data", tmp_path / "ann", labels=LABELS)
    voc_xml(tmp_path / "ann" / "a.xml", (12, 10), ("cat", 1, 1, 2, value))
    with pytest.raises(DataError, match=rf"a.xml: object 1 <bndbox>: <ymax> is '{value}'"):
        open_dataset(tmp_path / "data", tmp_path / "ann", labels=LABELS)
    (tmp_path / "ann" / "a.xml").write_text(
        f"<annotation><size><width>{value}</width><height>10</height></size></annotation>"
    )
    with pytest.raises(DataError, match=rf"a.xml: <size>: <width> is '{value}'"):
        open_dataset(tmp_path / "data", tmp_path / "ann", labels=LABELS)


def test_voc_class_names_mapped_by_a_class_map(tmp_path):
    """VOC's "cat" is no ImageNet class: the error names both ways to pass a class map, and a
    class map read from a file (what --class-map does) makes it one."""
    from seewhy.datasets import read_class_map

    write_image(tmp_path / "data" / "a.png", (12, 10))
    voc_xml(tmp_path / "ann" / "a.xml", (12, 10), ("cat", 2, 2, 9, 9), ("person", 1, 1, 3, 3))
    with pytest.raises(DataError, match=r"class_map= in Python, --class-map FILE with seewhy"):
        open_dataset(tmp_path / "data", tmp_path / "ann", labels=imagenet_labels())
    (tmp_path / "map.tsv").write_text("cat\t285\nperson\t\n")
    data = open_dataset(
        tmp_path / "data",
        tmp_path / "ann",
        labels=imagenet_labels(),
        class_map=read_class_map(tmp_path / "map.tsv"),
    )
    assert data.samples[0].objects == (Truth(285, (1, 1, 8, 8)),)
