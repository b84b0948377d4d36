"""seewhy.explain.side_by_side: every model explains the first model's classes."""

from __future__ import annotations

import pytest
import torch

import seewhy
from seewhy.engine.targets import Classes
from seewhy.errors import TargetError
from seewhy.models import LoadedModel


def _models():
    return [seewhy.load_model(n, "random") for n in ("efficientnet_lite0", "efficientnet_lite1")]


def test_each_row_is_one_class_with_each_model_s_own_probability(chelsea_path) -> None:
    models = _models()  # random weights: build them once
    first, second = seewhy.explain_models(models, [chelsea_path, chelsea_path], targets="top3")
    assert torch.equal(first.targets, second.targets)
    alone = seewhy.Explainer(models[1]).explain(chelsea_path, targets="top3")
    assert not torch.equal(alone.targets[0], first.targets[0])  # its own top-3 differ
    probs = seewhy.Explainer(models[1]).explain(
        chelsea_path, targets=Classes(first.targets[0].tolist())
    )
    torch.testing.assert_close(second.probs[0], probs.probs[0])
    assert second.options["targets"] == "top3"
    assert second.options["targets_from"] == "efficientnet_lite0"


def test_given_classes_go_to_every_model(chelsea_path) -> None:
    results = seewhy.explain_models(_models(), chelsea_path, targets=Classes(["tabby", 285]))
    assert [r.targets.tolist() for r in results] == [[[281, 285]], [[281, 285]]]


def test_models_with_other_classes_are_refused(chelsea_path) -> None:
    ten = LoadedModel.wrap(
        torch.nn.Sequential(
            torch.nn.Conv2d(3, 10, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
        ),
        extra={"num_classes": 10},
    )
    with pytest.raises(
        TargetError, match="'efficientnet_lite0' has 1000 classes and 'Sequential' has 10"
    ):
        seewhy.explain_models([_models()[0], ten], chelsea_path)
    renamed = _models()[1]
    renamed.labels = ["x", *renamed.labels[1:]]
    with pytest.raises(TargetError, match="class 0 is 'tench' for 'efficientnet_lite0' and 'x'"):
        seewhy.explain_models([_models()[0], renamed], chelsea_path)


def test_two_models_of_one_name_are_refused(chelsea_path) -> None:
    lite0 = seewhy.load_model("efficientnet_lite0", "random")
    with pytest.raises(seewhy.OptionError, match="two models are named 'efficientnet_lite0'"):
        seewhy.explain_models([lite0, lite0], chelsea_path)
