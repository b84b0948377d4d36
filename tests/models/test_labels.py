"""seewhy.models.labels.read_labels and load_model(labels=FILE)."""

from __future__ import annotations

import json

import pytest

import seewhy
from seewhy.errors import ModelError
from seewhy.models import read_labels


@pytest.mark.parametrize(
    "text",
    [
        "cat\ndog\nbird\n",
        "cat\r\ndog\r\nbird",
        json.dumps(["cat", "dog", "bird"]),
        json.dumps({"2": "bird", "0": "cat", "1": "dog"}),
    ],
)
def test_labels_from_lines_a_json_list_or_a_json_dict(tmp_path, text) -> None:
    path = tmp_path / "labels"
    path.write_text(text)
    assert read_labels(path) == ["cat", "dog", "bird"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ('{"0": "cat", "2": "bird"}', "has no name for class 1"),
        ('{"a": "cat"}', "must map class ids"),
        ("[1, 2", "not valid JSON"),
    ],
)
def test_bad_labels_files_are_named(tmp_path, text, message) -> None:
    path = tmp_path / "labels.json"
    path.write_text(text)
    with pytest.raises(ModelError, match=message):
        read_labels(path)
    with pytest.raises(ModelError, match="cannot read labels file"):
        read_labels(tmp_path / "missing.txt")


def test_load_model_takes_a_labels_file_and_records_it(tmp_path) -> None:
    path = tmp_path / "names.txt"
    path.write_text("\n".join(f"n{i}" for i in range(1000)))
    model = seewhy.load_model("efficientnet_lite0", "random", labels=path)
    assert model.labels[285] == "n285"
    assert model.describe()["labels"] == str(path)
    with pytest.raises(ModelError, match="labels has 3 names but 'efficientnet_lite0' has 1000"):
        seewhy.load_model("efficientnet_lite0", "random", labels=["a", "b", "c"])


def test_the_bundled_imagenet_names_are_torchvisions() -> None:
    from torchvision.models import ResNet50_Weights

    from seewhy.models.labels import imagenet_labels

    assert imagenet_labels() == ResNet50_Weights.IMAGENET1K_V2.meta["categories"]
    assert imagenet_labels()[285] == "Egyptian cat"
