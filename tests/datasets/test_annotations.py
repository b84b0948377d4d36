"""Tests for seewhy.datasets.annotations: which reader reads a --boxes path."""

from __future__ import annotations

import pytest
from helpers.datasets import LABELS, write_image

from seewhy.datasets import open_dataset
from seewhy.datasets.annotations import read_annotations
from seewhy.datasets.classes import ClassNames
from seewhy.datasets.voc import read_voc
from seewhy.errors import DataError


@pytest.mark.parametrize("name", ["missing.xml", "missing.json", "missing.csv", "missing"])
def test_a_missing_boxes_path_is_no_such_file_or_folder(tmp_path, name):
    """Whatever its suffix: a missing "boxes.xml" was read as an empty VOC folder ("no .xml
    files; a --boxes folder holds VOC XML files")."""
    write_image(tmp_path / "data" / "a.png")
    with pytest.raises(
        DataError, match=rf"{name}: no such file or folder; --boxes takes"
    ) as raised:
        open_dataset(tmp_path / "data", tmp_path / name, labels=LABELS)
    assert "no .xml files" not in str(raised.value)
    with pytest.raises(DataError, match=rf"{name}: no such file or folder"):
        read_annotations(tmp_path / name, ClassNames(LABELS))


def test_read_voc_of_a_missing_path(tmp_path):
    with pytest.raises(DataError, match=r"missing.xml: no such file or folder; VOC boxes are"):
        read_voc(tmp_path / "missing.xml", ClassNames(LABELS))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: no .xml files"):  # an existing folder still
        read_voc(tmp_path / "empty", ClassNames(LABELS))
