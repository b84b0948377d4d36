"""Target requests and their errors."""

from __future__ import annotations

import pytest
import torch

from seewhy import TargetError
from seewhy.engine.targets import Classes, class_indices, parse_topk, resolve_targets

OUTPUT = torch.tensor([[0.1, 3.0, 2.0, -1.0], [5.0, 0.0, 1.0, 4.0]])
LABELS = ["cat", "dog", "tabby cat", "car"]


def test_topk() -> None:
    assert parse_topk("top5") == 5 and parse_topk("Top12") == 12 and parse_topk("tops") is None
    assert class_indices("top2", OUTPUT, None).tolist() == [[1, 2], [0, 3]]


def test_one_for_all_per_image_and_lists() -> None:
    assert class_indices(2, OUTPUT, None).tolist() == [[2], [2]]
    assert class_indices([1, 3], OUTPUT, None).tolist() == [[1], [3]]
    assert class_indices([[1, 0], [3, 2]], OUTPUT, None).tolist() == [[1, 0], [3, 2]]
    assert class_indices(Classes([3, "dog"]), OUTPUT, LABELS).tolist() == [[3, 1], [3, 1]]


def test_label_names_and_suggestions() -> None:
    assert class_indices("Tabby Cat", OUTPUT, LABELS).tolist() == [[2], [2]]
    with pytest.raises(TargetError, match="'tabby cat'"):
        class_indices("taby cat", OUTPUT, LABELS)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (4, "class id 4 is out of range: the model has 4 classes"),
        ("top9", "asks for 9 classes"),
        ([1, 2, 3], "got 3 targets for 2 images"),
        ([[1], [1, 2]], "same number of targets"),
        (2.5, "not understood"),
    ],
)
def test_bad_targets(spec: object, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        class_indices(spec, OUTPUT, None)


def test_scores_and_probabilities() -> None:
    logits = OUTPUT.clone().requires_grad_(True)
    resolved = resolve_targets(logits, "top1", score="prob")
    probs = torch.softmax(OUTPUT, 1)
    assert resolved.scores.tolist() == [[3.0], [5.0]]
    torch.testing.assert_close(resolved.probs[:, 0], probs.max(1).values)
    torch.testing.assert_close(resolved.objective.detach()[:, 0], probs.max(1).values)
    logprob = resolve_targets(logits, 1, score="logprob")
    torch.testing.assert_close(logprob.objective.detach()[:, 0], torch.log_softmax(OUTPUT, 1)[:, 1])


def test_bad_score_and_bad_callables() -> None:
    logits = OUTPUT.clone().requires_grad_(True)
    with pytest.raises(TargetError, match="logit, prob, logprob"):
        resolve_targets(logits, "top1", score="softmax")
    with pytest.raises(TargetError, match=r"shape \(3,\)"):
        resolve_targets(logits, lambda out: torch.zeros(3))
    with pytest.raises(TargetError, match="does not depend"):
        resolve_targets(logits, lambda out: torch.zeros(2))
    with pytest.raises(TargetError, match="pass a function"):
        resolve_targets(torch.zeros(2, 3, 4, 4, requires_grad=True), "top1")


def test_segmentation_region_target() -> None:
    seg = torch.randn(2, 3, 4, 4, requires_grad=True)
    region = torch.zeros(4, 4)
    region[:2, :2] = 1
    resolved = resolve_targets(seg, lambda out: (out[:, 1] * region).sum(dim=(1, 2)))
    torch.testing.assert_close(resolved.scores[:, 0], (seg.detach()[:, 1] * region).sum(dim=(1, 2)))
    assert resolved.indices.tolist() == [[-1], [-1]]
