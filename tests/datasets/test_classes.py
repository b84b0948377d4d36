"""Tests for seewhy.datasets.classes: how a data set's class names become class indices."""

from __future__ import annotations

import pytest
from helpers.datasets import LABELS

from seewhy.datasets.classes import ClassNames, imagenet_synsets, read_class_map
from seewhy.errors import DataError
from seewhy.models.labels import imagenet_labels


@pytest.fixture
def labels() -> list[str]:
    return list(LABELS)


def test_labels_indices_and_aliases(labels):
    names = ClassNames(labels)
    assert names.index("Cat", "x") == 0
    assert names.index("egyptian_cat", "x") == 4
    assert names.index("tabby cat", "x") == 2  # an alias of "tabby, tabby cat"
    assert names.index("tabby", "x") == 2
    assert names.index("3", "x") == 3
    assert names.index(1, "x") == 1


def test_no_substring_matches_and_suggestions(labels):
    with pytest.raises(DataError, match=r"folder 'x': 'espreso' is not a class.*'espresso'\?"):
        ClassNames(labels).index("espreso", "folder 'x'")
    with pytest.raises(DataError, match="'tab' is not a class"):
        ClassNames(labels).index("tab", "x")
    with pytest.raises(DataError, match="out of range: the model has 5 classes"):
        ClassNames(labels).index("5", "x")


def test_two_labels_with_one_name_are_an_error():
    with pytest.raises(DataError, match=r"'crane' names 2 classes: 0 \('crane'\), 1"):
        ClassNames(["crane", "crane, bird"]).index("crane", "x")


def test_class_map_first(labels):
    names = ClassNames(labels, class_map={"kitty": 4, "pup": "dog", "Cat": "espresso"})
    assert names.index("kitty", "x") == 4
    assert names.index("pup", "x") == 1
    assert names.index("cat", "x") == 3  # class_map wins over the labels


def test_imagenet_synsets():
    synsets = imagenet_synsets()
    assert len(synsets) == 1000 and synsets[285] == "n02124075" and synsets[0] == "n01440764"
    names = ClassNames(imagenet_labels())
    assert names.index("n02124075", "x") == 285
    assert names.index("Egyptian cat", "x") == 285
    with pytest.raises(DataError, match="synset 'n99999999' is not one of the model's 1000"):
        names.index("n99999999", "x")
    # VOC's "cat" is not an ImageNet class: an error, not a guess
    with pytest.raises(
        DataError,
        match="'cat' is not a class of the model. Labels with that word: 'tiger cat', 'Persian cat'",
    ):
        names.index("cat", "x")


def test_synsets_of_other_models(labels):
    with pytest.raises(DataError, match="model's 5 classes have none; pass synsets="):
        ClassNames(labels).index("n02124075", "x")
    given = ClassNames(labels, synsets=["n1", "n2", "n3", "n4", "n02124075"])
    assert given.index("n02124075", "x") == 4
    with pytest.raises(DataError, match="synsets has 2 ids but the model has 5 labels"):
        ClassNames(labels, synsets=["n1", "n2"])


def test_read_class_map(tmp_path):
    (tmp_path / "map.json").write_text('{"cat": 285, "pup": "golden retriever"}')
    assert read_class_map(tmp_path / "map.json") == {"cat": 285, "pup": "golden retriever"}
    (tmp_path / "map.csv").write_text("cat,285\n\npotted plant, pot\n*,\n")
    assert read_class_map(tmp_path / "map.csv") == {"cat": 285, "potted plant": "pot", "*": None}
    (tmp_path / "bad.csv").write_text("cat 285\n")
    with pytest.raises(DataError, match=r"bad.csv, line 1: 'cat 285' is not 'name,class'"):
        read_class_map(tmp_path / "bad.csv")


def test_class_map_leaves_classes_out(labels):
    names = ClassNames(labels, class_map={"person": None, "pup": "dog", "*": None})
    assert names.index("person", "x") is None
    assert names.index("car", "x") is None  # "*": every name that names no class
    assert names.index("pup", "x") == 1 and names.index("cat", "x") == 0
    catch_all = ClassNames(labels, class_map={"*": "espresso"})
    assert catch_all.index("anything", "x") == 3
    with pytest.raises(DataError, match="class index 9 is out of range"):
        ClassNames(labels, class_map={"*": 9}).index("anything", "x")


def test_read_class_map_tsv_and_bad_files(tmp_path):
    (tmp_path / "map.tsv").write_text("cat\t285\ntabby, tabby cat\tdog\n*\t\nperson\t\t\n")
    assert read_class_map(tmp_path / "map.tsv") == {
        "cat": 285, "tabby, tabby cat": "dog", "*": None, "person": None,
    }  # fmt: skip
    (tmp_path / "three.tsv").write_text("cat\t285\t7\n")
    with pytest.raises(DataError, match=r"three.tsv, line 1: 'cat\\t285\\t7' is not 'name,class'"):
        read_class_map(tmp_path / "three.tsv")
    (tmp_path / "noname.csv").write_text(",285\n")
    with pytest.raises(DataError, match=r"noname.csv, line 1: ',285' has no name"):
        read_class_map(tmp_path / "noname.csv")
    (tmp_path / "digits.csv").write_text("cat,\u00b2\n")  # a digit to isdigit(), not to int()
    assert read_class_map(tmp_path / "digits.csv") == {"cat": "\u00b2"}
    for value in ("true", "-1", "2.5", "[285]", "{}"):
        (tmp_path / "bad.json").write_text(f'{{"cat": {value}}}')
        with pytest.raises(DataError, match=r"bad.json'?: 'cat' maps to .*a class index"):
            read_class_map(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(DataError, match=r"list.json' is a JSON list, not an object"):
        read_class_map(tmp_path / "list.json")
    (tmp_path / "missing.json").unlink(missing_ok=True)
    with pytest.raises(DataError, match="cannot read class map"):
        read_class_map(tmp_path / "missing.json")


def test_errors_name_the_python_argument_and_the_flag(labels):
    flag = r"a class map \(class_map= in Python, --class-map FILE with seewhy evaluate\)"
    with pytest.raises(DataError, match=rf"'tab' is not a class of the model.*{flag}"):
        ClassNames(labels).index("tab", "x")
    with pytest.raises(DataError, match=rf"'crane' names 2 classes.*{flag}"):
        ClassNames(["crane", "crane, bird"]).index("crane", "x")
    with pytest.raises(DataError, match=rf"have none; pass synsets=.*{flag}"):
        ClassNames(labels).index("n02124075", "x")
    with pytest.raises(DataError, match=rf"the model has no class names.*{flag}"):
        ClassNames(None).index("cat", "x")


def test_class_map_with_samples_is_refused():
    from seewhy.datasets import open_dataset

    with pytest.raises(DataError, match=r"--data samples names its classes.*--class-map"):
        open_dataset("samples", labels=None, class_map={"cat": 285})
