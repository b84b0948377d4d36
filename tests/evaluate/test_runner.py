"""evaluate(): the values equal the measures called directly; skipped images; configurations
kept apart."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from helpers.evaluation import boxed_dataset, tiny_model

from seewhy.errors import OptionError
from seewhy.evaluate import EvaluationRequest, evaluate
from seewhy.evaluate.report import write_outputs
from seewhy.evaluate.truth import image_truth, measured_classes
from seewhy.explain import Explainer
from seewhy.localize import boxes as map_boxes
from seewhy.metrics import (
    average_drop_increase,
    box_accuracy,
    deletion,
    energy_pointing_game,
    insertion,
    localization_error,
    pointing_accuracy,
    pointing_game,
)

METRICS = {
    "pointing": {},
    "energy_pointing": {},
    "grid_pointing": {},
    "box_accuracy": {},
    "localization_error": {},
    "deletion": {"pixels_per_step": 64},
    "insertion": {"pixels_per_step": 64},
    "average_drop": {},
    "average_increase": {},
}
METHODS = ["gradcam", "gradcam++"]


def direct(model, dataset, method):
    """Every metric of ``method`` computed by calling the measures functions on all pairs."""
    samples = [s for s in dataset.samples]
    images = [s.load() for s in samples]
    x = model.preprocess(images)
    logits = model.module(x)
    predictions = logits.argmax(1).tolist()
    targets = []
    for sample, predicted in zip(samples, predictions):
        measured = measured_classes(sample)
        targets.append(measured + ([predicted] if predicted not in measured else []))
    width = max(len(t) for t in targets)
    targets = [t + [t[-1]] * (width - len(t)) for t in targets]
    maps = (
        Explainer(model, batch_size=64).explain(x, [method], targets, progress=False).maps[method]
    )
    pairs = []  # (row, class, mask, boxes, grid, map)
    truths = [image_truth(s, model.geometry(*im.size)) for s, im in zip(samples, images)]
    for b, (sample, truth) in enumerate(zip(samples, truths)):
        for label in measured_classes(sample):
            pairs.append(
                (b, label, truth.masks[label], truth.boxes[label], sample.kind == "grid",
                 maps[b, targets[b].index(label)])
            )  # fmt: skip
    rows = torch.tensor([p[0] for p in pairs])
    classes = torch.tensor([p[1] for p in pairs])
    pair_maps = torch.stack([p[5] for p in pairs])
    masks = np.stack([p[2] for p in pairs])
    grid = np.array([p[4] for p in pairs])
    hits = pointing_game(pair_maps, masks)
    energy = energy_pointing_game(pair_maps, masks)
    located = [
        {predictions[b]: map_boxes(maps[b, targets[b].index(predictions[b])])}
        for b in range(len(samples))
    ]
    truth_boxes = [{k: v for k, v in t.boxes.items() if k >= 0} for t in truths]
    dropped = average_drop_increase(model, x[rows], pair_maps, classes)
    return {
        "pointing": pointing_accuracy(hits, classes.numpy()),
        "energy_pointing": math.fsum(energy) / len(energy),
        "grid_pointing": math.fsum(energy[grid]) / grid.sum(),
        "box_accuracy": box_accuracy(pair_maps, [p[3] for p in pairs]).mean,
        "localization_error": localization_error(located, truth_boxes, topk=(1,))[1],
        "deletion": float(np.mean(deletion(model, x[rows], pair_maps, classes, pixels_per_step=64).auc)),
        "insertion": float(np.mean(insertion(model, x[rows], pair_maps, classes, pixels_per_step=64).auc)),
        "average_drop": dropped.drop,
        "average_increase": dropped.increase,
    }  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    model, dataset = tiny_model(), boxed_dataset(7)
    request = EvaluationRequest(models=[model], methods=METHODS, metrics=METRICS, batch_size=3)
    out = tmp_path_factory.mktemp("evaluate")
    return model, dataset, evaluate(dataset, request, out, progress=False), out


def test_every_value_equals_the_measures_called_directly(run):
    model, dataset, evaluation, _ = run
    assert {r["metric"] for r in evaluation.rows} == set(METRICS)
    for method in METHODS:
        expected = direct(model, dataset, method)
        found = {r["metric"]: r for r in evaluation.rows if r["method"] == method}
        for metric, value in expected.items():
            assert found[metric]["value"] == pytest.approx(value, rel=1e-9, abs=1e-12), metric
        assert found["pointing"]["n"] == 7 + 3  # one pair per label; grids have two
        assert found["grid_pointing"]["n"] == 6
        assert found["localization_error"]["n"] == 7
        assert found["deletion"]["layer"] == "features"


def test_rows_and_records_are_in_results_json(run, tmp_path):
    model, dataset, evaluation, _ = run
    paths = write_outputs(evaluation, dataset, {"scores": ["logit"]}, tmp_path, figures=False)
    results = json.loads(paths["results"].read_text())
    assert results["rows"] == evaluation.rows
    assert set(results["rows"][0]) == {"model", "method", "layer", "score", "metric", "value", "n"}
    assert len(results["images"]) == 7 * len(METHODS)
    first = results["images"][0]
    assert first["key"] == "img00.png" and first["classes"] == [0, 1]
    assert len(first["metrics"]["deletion"]) == 2 and isinstance(
        first["metrics"]["deletion"][0], float
    )
    assert results["data"]["skipped"] == [{"key": "notes.txt", "reason": "not an image"}]
    report = paths["report"].read_text()
    assert "### box_accuracy" in report and "| tiny | gradcam |" in report


def test_an_image_that_fails_to_load_is_listed_and_skipped(tmp_path):
    dataset = boxed_dataset(4, bad=(1, 2))
    request = EvaluationRequest(
        models=[tiny_model()], methods=["gradcam"], metrics=["energy_pointing"], batch_size=2
    )
    evaluation = evaluate(dataset, request, tmp_path, progress=False)
    assert evaluation.skipped == [
        ("img01.png", "truncated file"),
        ("img02.png", "truncated file"),
        ("notes.txt", "not an image"),
    ]
    assert [r["key"] for r in evaluation.records] == ["img00.png", "img03.png"]
    assert evaluation.rows[0]["n"] == 4  # img00 and img03 are grids of two classes


def test_a_metric_the_data_cannot_support_is_refused(tmp_path):
    dataset = boxed_dataset(2)
    found = evaluate(
        dataset,
        EvaluationRequest(models=[tiny_model()], metrics=["pixel_ap"]),
        tmp_path,
        progress=False,
    )
    assert found.rows[0]["n"] == 1  # the one mask, on img00
    no_grid = boxed_dataset(2, grid_every=0)
    with pytest.raises(OptionError, match="'grid_pointing' needs grid"):
        evaluate(
            no_grid, EvaluationRequest(models=[tiny_model()], metrics=["grid_pointing"]), tmp_path
        )
    with pytest.raises(OptionError, match="unknown metric 'deletio'"):
        evaluate(dataset, EvaluationRequest(models=[tiny_model()], metrics=["deletio"]), tmp_path)


def test_another_configuration_in_the_same_out_is_kept_apart(tmp_path):
    dataset = boxed_dataset(3)
    model = tiny_model()
    first = evaluate(
        dataset,
        EvaluationRequest(models=[model], metrics=["energy_pointing"]),
        tmp_path,
        progress=False,
    )
    second = evaluate(
        dataset,
        EvaluationRequest(models=[model], metrics=["pointing"], batch_size=1),
        tmp_path,
        progress=False,
    )
    assert [r["metric"] for r in first.rows] == ["energy_pointing"]
    assert [r["metric"] for r in second.rows] == ["pointing"]
    assert all(set(r["entries"]) == {"pointing"} for r in second.records)
    again = evaluate(
        dataset,
        EvaluationRequest(models=[model], metrics=["energy_pointing"]),
        tmp_path,
        progress=False,
    )
    assert again.rows == first.rows
