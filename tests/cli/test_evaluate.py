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


def test_list_metrics(capsys):
    assert main(["evaluate", "--list-metrics"]) == 0
    listed = capsys.readouterr().out
    assert "box_accuracy" in listed and "road" in listed and "(opt-in)" in listed
