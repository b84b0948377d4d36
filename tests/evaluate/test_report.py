"""The report: failure modes on a labelled set with deliberately wrong labels, the tables,
the figures."""

from __future__ import annotations

import json

import pytest
from conftest import skimage_image
from PIL import Image

from seewhy.datasets.base import Dataset, Sample
from seewhy.evaluate import EvaluationRequest, evaluate
from seewhy.evaluate.report import write_outputs
from seewhy.io import load_image

PHOTOS = ("chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png")


@pytest.mark.slow
def test_the_failure_section_lists_exactly_the_mislabelled_photos(lite0, tmp_path):
    paths = [skimage_image(name) for name in PHOTOS]
    top1 = lite0.module(lite0.preprocess([load_image(p) for p in paths])).argmax(1).tolist()
    wrong = {1: (top1[1] + 500) % 1000, 3: (top1[3] + 321) % 1000}  # coffee, rocket
    samples = [
        Sample(
            key=name,
            load=lambda p=path: load_image(p),
            labels=(wrong.get(i, top1[i]),),
        )
        for i, (name, path) in enumerate(zip(PHOTOS, paths))
    ]
    dataset = Dataset("photos", samples)
    request = EvaluationRequest(
        models=[lite0], methods=["gradcam", "guided_gradcam"], metrics=["average_drop"]
    )
    evaluation = evaluate(dataset, request, tmp_path, progress=False)
    outputs = write_outputs(evaluation, dataset, {"scores": ["logit"]}, tmp_path)
    results = json.loads(outputs["results"].read_text())
    failures = results["failures"]
    assert sorted(f["key"] for f in failures) == ["coffee.png", "rocket.jpg"]
    confidences = [f["confidence"] for f in failures]
    assert confidences == sorted(confidences, reverse=True)
    for failure in failures:
        index = PHOTOS.index(failure["key"])
        assert failure["prediction"] == top1[index] and failure["labels"] == [wrong[index]]
    marked = {r["key"] for r in results["images"] if r["misclassified"]}
    assert marked == {"coffee.png", "rocket.jpg"}
    report = outputs["report"].read_text()
    section = report.split("## Failure modes")[1].split("\n## ")[0]
    assert "2 misclassified images" in section
    assert section.count("](failures/") == 2
    for name in ("coffee", "rocket"):
        figure = next((tmp_path / "failures").glob(f"*{name}.png"))
        example = next((tmp_path / "examples").glob("*_gradcam_*"))
        # two rows (predicted and true class) against an example's one
        assert Image.open(figure).height > Image.open(example).height + 150
        assert (
            lite0.labels[wrong[PHOTOS.index(f"{name}.png" if name != "rocket" else "rocket.jpg")]]
            in section
        )
    assert (tmp_path / "plots" / "hist_average_drop.png").exists()


def _row(method, value, layer="conv_head", score="logit"):
    return {
        "model": "efficientnet_lite0", "method": method, "layer": layer, "score": score,
        "metric": "grid_pointing", "value": value, "n": 8,
    }  # fmt: skip


def test_tables_bold_the_best_and_cite_only_matching_protocols(tmp_path):
    from seewhy.evaluate import Evaluation
    from seewhy.evaluate.report import write_report

    rows = [_row("gradcam", 0.81), _row("gradcam++", 0.42), _row("layercam", 0.5, layer="bn2")]
    evaluation = Evaluation(rows, [], [], {"grid_pointing": {}}, {"gradcam": {}}, {}, [])
    samples = Dataset("samples", [])
    text = write_report(evaluation, samples, {}, tmp_path, {}, []).read_text()
    assert (
        "| efficientnet_lite0 | gradcam | conv_head | **0.810** | 8 | 0.70 (pytorch-grad-cam) |"
        in text
    )
    assert (
        "| efficientnet_lite0 | gradcam++ | conv_head | 0.420 | 8 | 0.37 (pytorch-grad-cam) |"
        in text
    )
    assert "| efficientnet_lite0 | layercam | bn2 | 0.500 | 8 |  |" in text  # another layer
    other = write_report(evaluation, Dataset("photos", []), {}, tmp_path, {}, []).read_text()
    assert "published" not in other and "0.70 (" not in other
