"""``seewhy evaluate`` from the shell: options, outputs, errors."""

from __future__ import annotations

import json

import pytest
from helpers.evaluation import boxed_dataset, tiny_model

import seewhy.models
from seewhy.cli import evaluate as evaluate_cli
from seewhy.cli.main import main


@pytest.fixture
def tiny(monkeypatch):
    """The CLI on the tiny boxed data set and model (no readers or weights needed)."""
    monkeypatch.setattr(evaluate_cli, "_open", lambda args, labels: boxed_dataset(6, bad=(2,)))
    monkeypatch.setattr(seewhy.models, "load_model", lambda name, **kw: tiny_model())


def test_evaluate_writes_every_output(tiny, tmp_path, capsys):
    out = tmp_path / "eval"
    code = main(
        [
            "evaluate", "--method", "gradcam", "--method", "gradcam++", "--score", "logit",
            "--score", "logprob", "--metric-option", "deletion:pixels_per_step=256",
            "--batch-size", "4", "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr()
    assert "skipped img02.png: truncated file" in printed.err
    results = json.loads((out / "results.json").read_text())
    metrics = {r["metric"] for r in results["rows"]}
    assert metrics == {
        "pointing", "energy_pointing", "grid_pointing", "box_accuracy", "localization_error",
        "deletion", "insertion", "average_drop", "average_increase", "pixel_ap",
    }  # fmt: skip
    assert {r["score"] for r in results["rows"]} == {"logit", "logprob"}
    assert len(results["rows"]) == 2 * 2 * 10
    assert results["request"]["command"].startswith("seewhy evaluate --method gradcam")
    assert "--out" not in results["request"]["command"]
    assert results["metrics"]["deletion"] == {"pixels_per_step": 256}
    report = (out / "report.md").read_text()
    assert "## Class discrimination" in report and "| logit | logprob | best score |" in report
    assert "## Failure modes" in report and "## Examples" in report
    assert (out / "plots" / "curves.png").exists()
    assert any((out / "examples").iterdir()) and any((out / "failures").iterdir())


def test_bad_metric_names_and_options_exit_2(tiny, tmp_path, capsys):
    assert main(["evaluate", "--metric", "pointin", "--out", str(tmp_path)]) == 2
    assert "unknown metric 'pointin'. Did you mean 'pointing'" in capsys.readouterr().err
    code = main(
        ["evaluate", "--metric", "pointing", "--metric-option", "deletion:pixels_per_step=2"]
    )
    assert code == 2
    assert "not run" in capsys.readouterr().err
    assert main(["evaluate", "--metric-option", "deletion:steps=2"]) == 2
    assert "no option 'steps'" in capsys.readouterr().err
    assert main(["evaluate", "--metric-option", "average_drop"]) == 2
    assert "--metric-option 'average_drop' is not METRIC:KEY=VALUE" in capsys.readouterr().err


def test_list_metrics(capsys):
    assert main(["evaluate", "--list-metrics"]) == 0
    listed = capsys.readouterr().out
    assert "box_accuracy" in listed and "road" in listed and "(opt-in)" in listed


CHEAP = ["--metric-option", "deletion:pixels_per_step=6272"]
CHEAP += ["--metric-option", "insertion:pixels_per_step=6272"]


@pytest.mark.slow
def test_samples_end_to_end_equals_the_measures_called_directly(lite0, tmp_path):
    """The acceptance run: --data samples --limit 16, two methods, every default metric,
    every output; each row equals the measures functions on the same maps."""
    from helpers.evaluation import direct

    from seewhy.datasets import open_dataset

    out = tmp_path / "eval"
    argv = ["evaluate", "--data", "samples", "--limit", "16", "--method", "gradcam"]
    argv += ["--method", "gradcam++", *CHEAP, "--out", str(out)]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["data"]["images"] == 16
    metrics = {r["metric"] for r in results["rows"]}
    assert {"pointing", "energy_pointing", "grid_pointing", "box_accuracy", "deletion"} <= metrics
    for name in ("report.md", "plots/curves.png", "plots/hist_energy_pointing.png"):
        assert (out / name).exists(), name
    assert any((out / "examples").iterdir())
    dataset = open_dataset("samples", labels=lite0.labels, limit=16)
    for method in ("gradcam", "gradcam++"):
        expected = direct(lite0, dataset, method, step=6272)
        for row in (r for r in results["rows"] if r["method"] == method):
            want = expected[row["metric"]]
            assert row["value"] == pytest.approx(want, rel=1e-9, abs=1e-12), row["metric"]


def test_class_map_maps_voc_names(tmp_path, monkeypatch, capsys):
    """A VOC set whose objects are `cat`: refused without --class-map (the error names the
    flag), evaluated with a JSON or TSV --class-map that maps it to ImageNet's 285."""
    from helpers.datasets import write_image
    from helpers.models import TinyGapNet

    from seewhy.models import LoadedModel
    from seewhy.models.labels import imagenet_labels

    model = LoadedModel.wrap(
        TinyGapNet(1000).eval(), name="tiny", input_size=32, labels=imagenet_labels()
    )
    monkeypatch.setattr(seewhy.models, "load_model", lambda name, **kw: model)
    write_image(tmp_path / "data" / "000001.png", (48, 40))
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "000001.xml").write_text(
        "<annotation><size><width>48</width><height>40</height></size><object><name>cat</name>"
        "<bndbox><xmin>5</xmin><ymin>4</ymin><xmax>30</xmax><ymax>33</ymax></bndbox>"
        "</object></annotation>"
    )
    argv = ["evaluate", "--data", str(tmp_path / "data"), "--boxes", str(tmp_path / "ann")]
    argv += ["--metric", "pointing", "--limit", "1", "--no-figures"]
    assert main([*argv, "--out", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "000001.xml: object 1 <name>: 'cat' is not a class of the model" in err
    assert "--class-map FILE" in err and "Traceback" not in err
    (tmp_path / "map.json").write_text('{"cat": 285}')
    (tmp_path / "map.tsv").write_text("cat\tEgyptian cat\n")
    for name in ("map.json", "map.tsv"):
        out = tmp_path / f"out-{name}"
        assert main([*argv, "--class-map", str(tmp_path / name), "--out", str(out)]) == 0
        results = json.loads((out / "results.json").read_text())
        assert results["request"]["class_map"] == str(tmp_path / name)
        (row,) = results["rows"]
        assert row["metric"] == "pointing" and row["n"] == 1
        (image,) = results["images"]
        assert image["key"] == "000001.png" and image["labels"] == [285]
    capsys.readouterr()
    assert main([*argv, "--class-map", str(tmp_path / "nope.json"), "--out", str(out)]) == 2
    assert "cannot read class map" in capsys.readouterr().err
