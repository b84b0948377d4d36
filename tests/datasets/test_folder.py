"""Tests for seewhy.datasets.folder and open_dataset on folders without annotations."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from helpers.datasets import LABELS, write_image

from seewhy.datasets import Dataset, open_dataset
from seewhy.errors import DataError, OptionError
from seewhy.models.labels import imagenet_labels


def test_class_folders_by_synset_index_and_name(tmp_path):
    write_image(tmp_path / "n02124075" / "b.png")
    write_image(tmp_path / "n02124075" / "a.jpg")
    write_image(tmp_path / "967" / "cup.png")
    write_image(tmp_path / "golden_retriever" / "deep" / "dog.png")
    write_image(tmp_path / "loose.png")
    data = open_dataset(tmp_path, labels=imagenet_labels())
    assert isinstance(data, Dataset) and data.name == tmp_path.name
    assert [(s.key, s.labels, s.kind) for s in data.samples] == [
        ("967/cup.png", (967,), "photo"),
        ("golden_retriever/deep/dog.png", (207,), "photo"),
        ("loose.png", (), "photo"),  # no class folder: no class
        ("n02124075/a.jpg", (285,), "photo"),
        ("n02124075/b.png", (285,), "photo"),
    ]
    assert all(s.objects == () for s in data.samples)
    assert data.has_labels and not data.has_boxes and not data.has_masks
    assert data.samples[0].load().size == (12, 10)


def test_names_case_insensitive_and_limit(tmp_path):
    for name in ("Espresso", "egyptian_cat", "TABBY CAT"):
        write_image(tmp_path / name / "x.png")
    data = open_dataset(str(tmp_path), labels=LABELS, limit=2)
    assert [(s.key, s.labels) for s in data.samples] == [
        ("Espresso/x.png", (3,)),
        ("TABBY CAT/x.png", (2,)),
    ]


def test_unknown_class_folder_names_folder_and_closest(tmp_path):
    write_image(tmp_path / "espreso" / "x.png")
    with pytest.raises(DataError) as info:
        open_dataset(tmp_path, labels=LABELS)
    message = str(info.value)
    assert f"class folder '{tmp_path / 'espreso'}'" in message
    assert "Did you mean 'espresso'?" in message


def test_class_folder_left_out_by_class_map(tmp_path):
    write_image(tmp_path / "cat" / "a.png")
    write_image(tmp_path / "person" / "b.png")
    data = open_dataset(tmp_path, labels=LABELS, class_map={"person": None})
    assert [s.key for s in data.samples] == ["cat/a.png"]
    assert data.skipped == [("person/b.png", "its class folder is left out by the class_map")]


def test_non_images_skipped_hidden_ignored(tmp_path):
    write_image(tmp_path / "cat" / "a.png")
    (tmp_path / "cat" / "notes.txt").write_text("hi")
    (tmp_path / "README").write_text("hi")
    (tmp_path / ".DS_Store").write_text("x")
    (tmp_path / "cat" / ".hidden.png").write_text("x")
    data = open_dataset(tmp_path, labels=LABELS)
    assert [s.key for s in data.samples] == ["cat/a.png"]
    assert data.skipped == [
        ("README", "not an image file (suffix 'none')"),
        ("cat/notes.txt", "not an image file (suffix '.txt')"),
    ]


def test_bad_image_fails_at_load_not_open(tmp_path):
    write_image(tmp_path / "good.png", value=7)
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    data = open_dataset(tmp_path, labels=LABELS)
    assert [s.key for s in data.samples] == ["broken.jpg", "good.png"]
    with pytest.raises(OSError, match="broken.jpg: not an image"):
        data.samples[0].load()
    assert np.asarray(data.samples[1].load()).max() == 7
    assert pickle.loads(pickle.dumps(data.samples[1].load))().size == (12, 10)


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        open_dataset(tmp_path / "missing", labels=LABELS)
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(DataError, match="no image files"):
        open_dataset(tmp_path, labels=LABELS)
    write_image(tmp_path / "a.png")
    for limit in (0, -1, 1.5, True):
        with pytest.raises(OptionError, match="limit must be a positive integer"):
            open_dataset(tmp_path, labels=LABELS, limit=limit)
