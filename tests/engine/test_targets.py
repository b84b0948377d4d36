"""Target requests and their errors."""

from __future__ import annotations

import pytest
import torch

from seewhy import TargetError
from seewhy.engine.targets import Classes, Objective, class_indices, parse_topk, resolve_targets

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


def test_the_objective_negates_the_score_once_and_exactly() -> None:
    torch.manual_seed(0)
    output = torch.randn(3, 6, requires_grad=True)
    for score in ("logit", "prob", "logprob"):
        plain = Objective("top2", score).resolve(output)
        counter = Objective("top2", score, counterfactual=True).resolve(output)
        assert torch.equal(counter.objective, -plain.objective)
        assert torch.equal(counter.indices, plain.indices)
        assert torch.equal(counter.scores, plain.scores)  # the reported logits keep their sign
        assert torch.equal(counter.probs, plain.probs)


@pytest.mark.parametrize(("score", "counterfactual"), [("probability", False), ("logit", 1)])
def test_the_objective_checks_its_score_kind_and_flag(score, counterfactual) -> None:
    with pytest.raises(TargetError, match="is not allowed|True or False"):
        Objective("top1", score, counterfactual)


def test_the_objective_of_a_chunk_of_images_slices_per_image_targets() -> None:
    objective = Objective([[1, 2], [3, 4], [5, 0]])
    assert objective.images(1, 3).targets == [[3, 4], [5, 0]]
    top = Objective("top3")
    assert top.images(1, 3) is top


def test_fixed_targets_follow_the_copies_rows() -> None:
    output = torch.tensor([[0.0, 5, 1], [9, 0, 2]])
    objective = Objective("top2", "logit", counterfactual=True)
    fixed = objective.fixed(objective.resolve(output))
    copies = torch.tensor([[7.0, 8, 9], [1, 2, 3], [4, 5, 6]])
    rows = torch.tensor([1, 0, 1])  # copy i stands for image rows[i]
    resolved = fixed.for_rows(rows).resolve(copies)
    assert resolved.indices.tolist() == [[0, 2], [1, 2], [0, 2]]
    assert resolved.objective.tolist() == [[-7.0, -9], [-2, -3], [-4, -6]]
    function = Objective(lambda out: out[:, 0] - out[:, 1])
    pinned = function.fixed(function.resolve(output)).for_rows(rows).resolve(copies)
    assert pinned.objective[:, 0].tolist() == [-1.0, -1, -1]  # out[0] - out[1] per copy
    with pytest.raises(TargetError, match="fixed on a clean batch"):
        objective.for_rows(rows)


def test_numpy_class_ids_are_read_as_ints() -> None:
    import numpy as np

    assert class_indices(np.int64(2), OUTPUT, None).tolist() == [[2], [2]]
    assert class_indices(np.array([1, 3]), OUTPUT, None).tolist() == [[1], [3]]
    assert class_indices([np.int64(1), np.int32(3)], OUTPUT, None).tolist() == [[1], [3]]
    assert class_indices(Classes([np.int64(3)]), OUTPUT, None).tolist() == [[3], [3]]
    assert Objective(np.array([1, 3])).targets == [1, 3]  # as given to report.json


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (torch.tensor([1.0, 2.0]), "must be an int or a label name, got 1.0"),
        ([[], []], "at least one target"),
    ],
)
def test_float_ids_and_empty_lists_are_target_errors(spec, message) -> None:
    with pytest.raises(TargetError, match=message):
        class_indices(spec, OUTPUT, None)


def test_an_exact_name_wins_and_a_name_of_two_classes_is_an_error() -> None:
    labels = ["Cardigan", "cat", "cardigan", "car"]
    output = torch.zeros(1, 4)
    assert class_indices("cardigan", output, labels).tolist() == [[2]]
    assert class_indices("Cardigan", output, labels).tolist() == [[0]]
    assert class_indices("CAT", output, labels).tolist() == [[1]]  # one match in any case
    with pytest.raises(TargetError, match=r"'CARDIGAN' names 2 classes \('Cardigan' \(0\)"):
        class_indices("CARDIGAN", output, labels)


def test_a_target_function_returning_no_target_is_an_error() -> None:
    logits = OUTPUT.clone().requires_grad_(True)
    with pytest.raises(TargetError, match="no target"):
        resolve_targets(logits, lambda out: out[:, :0])


def test_copies_are_scored_by_a_target_function_at_their_images_rows() -> None:
    refs = torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 1]])  # per image, as an embedding similarity

    def similarity(out: torch.Tensor) -> torch.Tensor:
        return (out * refs).sum(dim=1)  # fails or mixes images unless row i is image i

    objective = Objective(similarity)
    fixed = objective.fixed(objective.resolve(OUTPUT.clone().requires_grad_(True)))
    copies = torch.tensor([[7.0, 8, 9, 1], [1, 2, 3, 4], [4, 5, 6, 2]])
    rows = torch.tensor([1, 1, 0])  # two copies of image 1, then one of image 0
    resolved = fixed.for_rows(rows).resolve(copies)
    assert resolved.objective[:, 0].tolist() == [1.0, 4, 4]
    # As many copies as images, all of image 0: still image 0's reference for each.
    two = fixed.for_rows(torch.tensor([0, 0])).resolve(copies[:2])
    assert two.objective[:, 0].tolist() == [7.0, 1]
    # A chunk of the call's images (batch_size) sees its own images' rows too.
    chunk = objective.of_images(2).images(1, 2)
    assert chunk.resolve(OUTPUT[1:]).objective[:, 0].tolist() == [4.0]


@pytest.mark.parametrize("score", ["prob", "logprob"])
def test_a_score_kind_with_a_target_function_is_an_error(score: str) -> None:
    """The function's values are explained as returned: a score kind would be ignored."""
    with pytest.raises(TargetError, match=f"score='{score}' does not apply to a target function"):
        Objective(lambda out: out[:, 0], score=score)
    assert Objective(lambda out: out[:, 0]).score == "logit"
