"""evaluate(): the values equal the measures called directly; skipped images; configurations
kept apart."""

from __future__ import annotations

import json

import pytest
from helpers.evaluation import boxed_dataset, direct, picture, tiny_model

from seewhy.errors import OptionError
from seewhy.evaluate import EvaluationRequest, evaluate
from seewhy.evaluate.report import write_outputs

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
        expected = direct(model, dataset, method, batch=3)
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


def test_a_resumed_run_recomputes_images_whose_truth_or_file_changed(tmp_path):
    import dataclasses

    from seewhy.datasets.base import Sample, Truth
    from seewhy.datasets.folder import ImageFile
    from seewhy.evaluate.store import sample_key

    request = EvaluationRequest(
        models=[tiny_model()], methods=["gradcam"], metrics=["energy_pointing"], batch_size=2
    )
    dataset = boxed_dataset(3, grid_every=0)
    first = evaluate(dataset, request, tmp_path / "out", progress=False)
    # the same key, the box moved: not the stored record, but the value a fresh run gives
    moved = dataclasses.replace(
        dataset,
        samples=[
            dataclasses.replace(s, objects=(Truth(s.labels[0], box=(30, 2, 47, 12)),))
            for s in dataset.samples
        ],
    )
    again = evaluate(moved, request, tmp_path / "out", progress=False)
    fresh = evaluate(moved, request, tmp_path / "fresh", progress=False)
    assert again.rows == fresh.rows and again.rows != first.rows
    # a file: its key changes with its contents (size, modification time) and its folder
    path = tmp_path / "a.png"
    picture(0).save(path)
    sample = Sample("a.png", ImageFile(str(path)), (0,), ())
    before = sample_key(sample)
    assert before.startswith("a.png#") and sample_key(sample) == before
    picture(1, width=60).save(path)
    assert sample_key(sample) != before
    other = tmp_path / "b"
    other.mkdir()
    picture(1, width=60).save(other / "a.png")
    assert sample_key(Sample("a.png", ImageFile(str(other / "a.png")), (0,), ())) != sample_key(
        sample
    )


def test_a_run_where_no_image_loads_still_writes_its_outputs(tmp_path):
    dataset = boxed_dataset(2, bad=(0, 1))
    request = EvaluationRequest(
        models=[tiny_model()], methods=["gradcam"], metrics=["deletion", "energy_pointing"]
    )
    evaluation = evaluate(dataset, request, tmp_path / "out", progress=False)
    assert evaluation.records == [] and len(evaluation.skipped) == 3
    paths = write_outputs(evaluation, dataset, {"scores": ["logit"]}, tmp_path / "out")
    assert paths["report"].exists() and json.loads(paths["results"].read_text())["images"] == []


def test_examples_never_show_the_best_map_again_as_a_worst(tmp_path):
    from seewhy.evaluate.report import example_figures

    dataset = boxed_dataset(2, grid_every=0)  # two pairs
    request = EvaluationRequest(models=[tiny_model()], methods=["gradcam"], metrics=["pointing"])
    evaluation = evaluate(dataset, request, tmp_path / "out", progress=False)
    drawn = example_figures(evaluation, dataset, {"scores": ["logit"]}, tmp_path / "out")
    kinds = [name.split("_")[-2] + name.split("_")[-1] for _, name in drawn]
    assert len(drawn) == 2 and kinds[0].startswith("best") and kinds[1].startswith("worst")
    assert drawn[0][1].split("_")[-1] != drawn[1][1].split("_")[-1]  # two different images


def test_a_score_given_twice_runs_once_and_two_models_of_one_name_are_refused(tmp_path):
    dataset = boxed_dataset(2, grid_every=0)
    twice = EvaluationRequest(
        models=[tiny_model()], metrics=["energy_pointing"], scores=["logit", "logit"]
    )
    evaluation = evaluate(dataset, twice, tmp_path / "a", progress=False)
    assert [r["n"] for r in evaluation.rows] == [2] and len(evaluation.records) == 2
    same_name = EvaluationRequest(models=[tiny_model(), tiny_model(seed=1)])
    with pytest.raises(OptionError, match="two models are named 'tiny'"):
        evaluate(dataset, same_name, tmp_path / "b", progress=False)
