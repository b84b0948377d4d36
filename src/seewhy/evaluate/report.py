"""What ``seewhy evaluate`` writes: ``results.json``, ``report.md``, plots and figures.

- ``results.json``: ``rows`` (one per model x score x method x metric: ``model``,
  ``method``, ``layer``, ``score``, ``metric``, ``value``, ``n``), ``images`` (per-image
  records: classes, top-1 class and confidence, ``misclassified``, each metric's value per
  class), ``failures`` (the misclassified images, most confident first), ``skipped``.
- ``report.md``: one table per metric (rows model x method, the best in bold, published
  numbers beside where the protocol matches), class discrimination on grids, failure modes
  (maps of the predicted and the true class side by side), examples (best and worst).
- ``plots/``: deletion / insertion curves and a histogram per metric (matplotlib).
- ``failures/`` and ``examples/``: figures drawn with :mod:`seewhy.render`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from seewhy.datasets.base import Dataset
from seewhy.evaluate.runner import Evaluation
from seewhy.metrics.registry import get_metric

__all__ = ["REFERENCES", "write_outputs"]

#: Published numbers whose protocol a run can match: (metric, data, model, layer, method,
#: score) -> (value, source). Only the grid pointing game of the bundled Lite0 qualifies
#: (REFERENCE.md: 2 x 2 grids of the bundled photos, 112 px cells at the input, each cell's
#: class explained at ``conv_head`` with pytorch-grad-cam): ``--data samples --layer
#: conv_head`` is that protocol (its grids: 448 px, squashed to 224).
GRID = ("grid_pointing", "samples", "efficientnet_lite0", "conv_head")
REFERENCES: dict[tuple[str, ...], tuple[float, str]] = {
    (*GRID, "gradcam", "logit"): (0.70, "pytorch-grad-cam"),
    (*GRID, "gradcam", "logprob"): (0.89, "pytorch-grad-cam"),
    (*GRID, "hirescam", "logit"): (0.75, "pytorch-grad-cam"),
    (*GRID, "hirescam", "logprob"): (0.89, "pytorch-grad-cam"),
    (*GRID, "scorecam", "logit"): (0.59, "pytorch-grad-cam"),
    (*GRID, "gradcam++", "logit"): (0.37, "pytorch-grad-cam"),
    (*GRID, "xgradcam", "logit"): (0.34, "pytorch-grad-cam"),
    (*GRID, "layercam", "logit"): (0.33, "pytorch-grad-cam"),
}


def reference(metric: str, data: str, row: Mapping[str, Any]) -> tuple[float, str] | None:
    """The published number for ``row`` when its protocol matches (:data:`REFERENCES`)."""
    layer = row["layer"] if isinstance(row["layer"], str) else None
    return REFERENCES.get((metric, data, row["model"], layer, row["method"], row["score"]))  # type: ignore[arg-type]


#: Published numbers under other protocols (other data and models), printed under the tables
#: for scale, never beside a row.
PUBLISHED: dict[str, str] = {
    "pointing": "TorchRay benchmark, VOC07 test (all), Grad-CAM: VGG16 86.6 %, ResNet50 90.4 %; "
    "COCO14: 54.2 %, 57.3 %. Grad-CAM paper: 70.58 %.",
    "energy_pointing": "Score-CAM paper, ImageNet VGG-16: Grad-CAM 48.1 %, Grad-CAM++ 49.3 %, "
    "Score-CAM 63.7 %.",
    "box_accuracy": "wsolevaluation, ImageNet CAM MaxBoxAccV2: VGG16 60.0 %, ResNet50 63.7 %; a "
    "centred box 52.5 %.",
    "localization_error": "Grad-CAM paper, ILSVRC-15 val top-1: VGG-16 Grad-CAM 56.51 %, "
    "GoogLeNet 60.09 %.",
    "deletion": "Score-CAM paper, VGG-16: Grad-CAM 0.089, Grad-CAM++ 0.082, Score-CAM 0.077; RISE "
    "on ResNet-50: 0.1048.",
    "insertion": "Score-CAM paper, VGG-16: Grad-CAM 0.357, Grad-CAM++ 0.346, Score-CAM 0.386; "
    "RISE on ResNet-50: 0.7719.",
    "average_drop": "Grad-CAM++ paper, VGG-16: Grad-CAM++ 36.84, Grad-CAM 46.56; ResNet-50: "
    "28.90, 30.36.",
    "average_increase": "Grad-CAM++ paper, VGG-16: Grad-CAM++ 17.05, Grad-CAM 13.42; ResNet-50: "
    "22.16, 22.11.",
}


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+_-]+", "_", text).strip("_") or "image"


def image_records(evaluation: Evaluation) -> list[dict[str, Any]]:
    """The per-image records of ``results.json``: each metric's number per class."""
    out = []
    for record in evaluation.records:
        values = {
            name: [get_metric(name).shown(entry) for entry in entries]
            for name, entries in record["entries"].items()
        }
        kept = {k: v for k, v in record.items() if k != "entries"}
        out.append({**kept, "metrics": values})
    return out


def failures(evaluation: Evaluation) -> list[dict[str, Any]]:
    """The misclassified images of each model and score (the first method's records hold
    the prediction), most confident mistake first."""
    first = next(iter(evaluation.methods), None)
    found = [
        {
            "model": r["model"],
            "score": r["score"],
            "index": r["index"],
            "key": r["key"],
            "labels": r["labels"],
            "prediction": r["prediction"],
            "confidence": r["confidence"],
        }
        for r in evaluation.records
        if r["method"] == first and r["misclassified"]
    ]
    return sorted(found, key=lambda f: (f["model"], f["score"], -f["confidence"], f["index"]))


def write_results(
    evaluation: Evaluation, dataset: Dataset, request: Mapping[str, Any], out: Path
) -> Path:
    """``results.json`` (see the module docstring)."""
    from seewhy._version import __version__

    images = len(dataset.samples)
    limit = request.get("limit")
    payload = {
        "seewhy": __version__,
        "request": dict(request),
        "data": {
            "name": dataset.name,
            "images": images if limit is None else min(images, limit),
            "skipped": [{"key": k, "reason": r} for k, r in evaluation.skipped],
        },
        "metrics": evaluation.metrics,
        "methods": evaluation.methods,
        "refused": evaluation.refused,
        "rows": evaluation.rows,
        "failures": failures(evaluation),
        "images": image_records(evaluation),
    }
    path = out / "results.json"
    path.write_text(json.dumps(payload, indent=1, default=list) + "\n")
    return path


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" if unit == "%" else f"{value:.3f}"


def _metric_table(evaluation: Evaluation, name: str, several_scores: bool, data: str) -> list[str]:
    spec = get_metric(name)
    rows = [r for r in evaluation.rows if r["metric"] == name]
    if not rows:
        return []
    valued = [r["value"] for r in rows if r["value"] is not None]
    best = (max if spec.higher_is_better else min)(valued) if valued else None
    has_reference = any(reference(name, data, r) is not None for r in rows)
    direction = "higher is better" if spec.higher_is_better else "lower is better"
    unit = " (%)" if spec.unit == "%" else ""
    lines = [f"### {name}{unit}", "", f"{spec.summary}; {direction}.", ""]
    header = ["model", "method", "layer"] + (["score"] if several_scores else []) + ["value", "n"]
    if has_reference:
        header.append("published")
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cell = _format(r["value"], spec.unit)
        if best is not None and r["value"] == best:
            cell = f"**{cell}**"
        layer = r["layer"] if isinstance(r["layer"], str) else ", ".join(r["layer"] or []) or "-"
        cells = [r["model"], r["method"], layer]
        cells += [r["score"]] if several_scores else []
        cells += [cell, str(r["n"])]
        if has_reference:
            ref = reference(name, data, r)
            cells.append(f"{ref[0]:.2f} ({ref[1]})" if ref else "")
        lines.append("| " + " | ".join(cells) + " |")
    if name in PUBLISHED:
        lines += ["", f"Published under other protocols (for scale only): {PUBLISHED[name]}"]
    return [*lines, ""]


def _discrimination(evaluation: Evaluation, scores: Sequence[str]) -> list[str]:
    rows = [r for r in evaluation.rows if r["metric"] == "grid_pointing"]
    if not rows:
        return []
    lines = [
        "## Class discrimination",
        "",
        "On grid images, each cell's class map's share of positive mass inside its own cell "
        "(the grid pointing game; chance is a cell's share of the image, 1/4 on 2 x 2 grids).",
        "",
        "| model | method | " + " | ".join(scores) + " | best score |",
        "|" + "---|" * (len(scores) + 3),
    ]
    keys = list(dict.fromkeys((r["model"], r["method"]) for r in rows))
    for model, method in keys:
        values = {
            r["score"]: r["value"] for r in rows if r["model"] == model and r["method"] == method
        }
        known = {s: v for s, v in values.items() if v is not None}
        best = max(known, key=lambda s: known[s]) if known else "-"
        cells = [_format(values.get(s), "") for s in scores]
        lines.append(f"| {model} | {method} | " + " | ".join(cells) + f" | {best} |")
    return [*lines, ""]


def write_report(
    evaluation: Evaluation,
    dataset: Dataset,
    request: Mapping[str, Any],
    out: Path,
    figures: Mapping[str, list[tuple[str, str]]],
    plots: Sequence[str],
) -> Path:
    """``report.md``; ``figures`` maps a section (``failures``, ``examples``) to its
    ``(caption, relative path)`` pictures, ``plots`` lists the plot files."""
    scores = list(request.get("scores") or ["logit"])
    command = request.get("command")
    lines = ["# seewhy evaluate", ""]
    if command:
        lines += ["```", command, "```", ""]
    count = len(dataset.samples)
    limit = request.get("limit")
    used = count if limit is None else min(count, limit)
    lines += [f"Data: `{dataset.name}`, {used} images.", ""]
    if evaluation.skipped:
        lines += [f"Skipped ({len(evaluation.skipped)}):", ""]
        lines += [f"- `{key}`: {reason}" for key, reason in evaluation.skipped]
        lines.append("")
    for model, reasons in evaluation.refused.items():
        for method, reason in reasons.items():
            lines += [f"- {method} was not run on {model}: {reason}", ""]
    lines += ["## Metrics", ""]
    for name in evaluation.metrics:
        lines += _metric_table(evaluation, name, len(scores) > 1, dataset.name)
    lines += _discrimination(evaluation, scores)
    wrong = failures(evaluation)
    labelled = any(r["labels"] for r in evaluation.records)
    if labelled:
        lines += ["## Failure modes", ""]
        if not wrong:
            lines += ["Every image's top-1 class is one of its labels.", ""]
        else:
            names = {m.name: m.labels for m in evaluation.models}
            lines += [
                f"{len(wrong)} misclassified images, most confident mistake first: each "
                "figure shows the maps of the predicted class (top row) and the true class "
                "(bottom row).",
                "",
                "| model | image | true | predicted | confidence |",
                "|---|---|---|---|---|",
            ]
            for f in wrong:
                labels = names.get(f["model"])
                true = ", ".join(_label(labels, c) for c in f["labels"])
                lines.append(
                    f"| {f['model']} | `{f['key']}` | {true} | {_label(labels, f['prediction'])}"
                    f" | {f['confidence']:.3f} |"
                )
            lines.append("")
            for caption, path in figures.get("failures", []):
                lines += [f"![{caption}]({path})", ""]
    if figures.get("examples"):
        lines += ["## Examples", ""]
        for caption, path in figures["examples"]:
            lines += [f"**{caption}**", "", f"![{caption}]({path})", ""]
    if plots:
        lines += ["## Plots", ""]
        lines += [f"![{Path(p).stem}]({p})" for p in plots]
        lines.append("")
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


def _label(labels: Sequence[str] | None, index: int) -> str:
    if labels and 0 <= index < len(labels):
        return f"{labels[index]} ({index})"
    return str(index)


def write_plots(evaluation: Evaluation, out: Path) -> list[str]:
    """Deletion / insertion curves (mean over the scored pairs) and a histogram of each
    metric's per-pair values, one line or histogram per model, score and method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = out / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    groups = list(dict.fromkeys((r["model"], r["score"], r["method"]) for r in evaluation.records))
    several = len({(m, s) for m, s, _ in groups}) > 1

    def name(group: tuple[str, str, str]) -> str:
        return f"{group[0]} {group[2]} ({group[1]})" if several else group[2]

    curves = [c for c in ("deletion", "insertion") if c in evaluation.metrics]
    if curves and groups:  # no records (no image could be read): no curves
        figure, axes = plt.subplots(1, len(curves), figsize=(5.5 * len(curves), 4), squeeze=False)
        for axis, which in zip(axes[0], curves):
            counts = set()
            for group in groups:
                found = [
                    entry[1]
                    for r in evaluation.records
                    if (r["model"], r["score"], r["method"]) == group
                    for entry in r["entries"][which]
                    if entry is not None
                ]
                lengths = {len(c) for c in found}
                if len(lengths) != 1:
                    continue
                mean = np.mean(np.asarray(found), axis=0)
                auc = np.mean([e[0] for r in evaluation.records if (r["model"], r["score"], r["method"]) == group for e in r["entries"][which] if e is not None])  # fmt: skip
                axis.plot(np.linspace(0, 1, len(mean)), mean, label=f"{name(group)}: {auc:.3f}")
                counts.add(len(found))
            each = " or ".join(str(c) for c in sorted(counts)) or "no"
            axis.set_title(f"{which} (each line the mean over {each} maps; legend: AUC)")
            axis.set_xlabel("share of pixels " + ("removed" if which == "deletion" else "restored"))
            axis.set_ylabel("probability of the class")
            axis.set_ylim(0, 1)
            axis.legend(fontsize=8)
            axis.grid(alpha=0.3)
        figure.tight_layout()
        figure.savefig(folder / "curves.png", dpi=100)
        plt.close(figure)
        written.append("plots/curves.png")
    for metric in evaluation.metrics:
        spec = get_metric(metric)
        series = []
        for group in groups:
            values = [
                spec.shown(entry)
                for r in evaluation.records
                if (r["model"], r["score"], r["method"]) == group
                for entry in r["entries"][metric]
            ]
            values = [v for v in values if v is not None and np.isfinite(v)]
            if values:
                series.append((name(group), values))
        if not series or metric in ("pointing", "localization_error", "average_increase"):
            continue  # 0 / 1 values: the tables say it all
        panels = list(
            dict.fromkeys(label.rsplit(" ", 2)[0] if several else "" for label, _ in series)
        )
        figure, axes = plt.subplots(
            len(panels), 1, figsize=(7.5, 2.6 * len(panels) + 0.6), squeeze=False, sharex=True
        )
        low = min(min(v) for _, v in series)
        high = max(max(v) for _, v in series)
        bins = np.linspace(low, high if high > low else low + 1, 21)
        for axis, panel in zip(axes[:, 0], panels):
            for label, values in series:
                if several and not label.startswith(panel + " "):
                    continue
                shown = label[len(panel) :].strip() if several else label
                axis.hist(values, bins=bins, histtype="step", linewidth=1.5, label=shown)
            axis.set_title(f"{panel}: {metric} per map" if panel else f"{metric} per map")
            axis.set_ylabel("maps")
            axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        axes[-1, 0].set_xlabel(metric + (" (%)" if spec.unit == "%" else ""))
        figure.tight_layout()
        figure.savefig(folder / f"hist_{metric}.png", dpi=100)
        plt.close(figure)
        written.append(f"plots/hist_{metric}.png")
    return written


def _explain_figure(
    dataset: Dataset,
    model: Any,
    methods: Mapping[str, Any],
    request: Mapping[str, Any],
    index: int,
    targets: list[int],
    rows: list[str],
    score: str,
    title: str,
    path: Path,
) -> None:
    from seewhy.explain import Explainer
    from seewhy.render import explanation_figure, save_figure

    sample = dataset.samples[index]
    x = model.preprocess([sample.load()])
    explainer = Explainer(
        model, request.get("layer") or "auto", device=request.get("device"),
        fast=request.get("fast", True),
    )  # fmt: skip
    result = explainer.explain(x, methods, [targets], score=score, progress=False)
    block = result.block(0, "map")
    labelled = [f"{row}: {result.target_label(0, t)}" for t, row in enumerate(rows)]
    block = replace(block, row_labels=labelled)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(explanation_figure([block], title=title), path)


def failure_figures(
    evaluation: Evaluation,
    dataset: Dataset,
    request: Mapping[str, Any],
    out: Path,
    limit: int = 12,
) -> list[tuple[str, str]]:
    """For the ``limit`` most confident mistakes of each model: the maps of the predicted
    class and of the (first) true class, every method side by side."""
    models = {m.name: m for m in evaluation.models}
    written = []
    count: dict[str, int] = {}
    for f in failures(evaluation):
        count[f["model"]] = count.get(f["model"], 0) + 1
        if count[f["model"]] > limit:
            continue
        name = f"failures/{_safe(f['model'])}_{f['score']}_{f['index']:04d}_{_safe(Path(f['key']).stem)}.png"
        title = f"{f['key']}: misclassified, confidence {f['confidence']:.2f}"
        _explain_figure(
            dataset, models[f["model"]], evaluation.methods, request, f["index"],
            [f["prediction"], f["labels"][0]], ["predicted", "true"], f["score"], title,
            out / name,
        )  # fmt: skip
        written.append((f"{f['model']}: {f['key']}", name))
    return written


#: Which metric picks the examples: the first of these the run has.
EXAMPLE_METRICS = (
    "grid_pointing",
    "energy_pointing",
    "pointing",
    "insertion",
    "deletion",
    "average_drop",
    "road",
)


def example_figures(
    evaluation: Evaluation, dataset: Dataset, request: Mapping[str, Any], out: Path, worst: int = 2
) -> list[tuple[str, str]]:
    """Per method of the first model and score: its ``worst`` maps and its best one by the
    first metric of :data:`EXAMPLE_METRICS` the run has."""
    metric = next((m for m in EXAMPLE_METRICS if m in evaluation.metrics), None)
    if metric is None or not evaluation.records:
        return []
    spec = get_metric(metric)
    model_name, score = evaluation.records[0]["model"], evaluation.records[0]["score"]
    model = next(m for m in evaluation.models if m.name == model_name)
    written = []
    for method in evaluation.methods:
        scored = []
        for r in evaluation.records:
            if (r["model"], r["score"], r["method"]) != (model_name, score, method):
                continue
            for label, entry in zip(r["classes"], r["entries"][metric]):
                value = spec.shown(entry)
                if value is not None:
                    scored.append((value, r["index"], label, r["key"]))
        if not scored:
            continue
        scored.sort(key=lambda s: (s[0], s[1]), reverse=spec.higher_is_better)
        # the worst from the rest: with few pairs the best is not shown again as a worst
        picks = [("best", scored[0])] + [("worst", s) for s in scored[:0:-1][:worst]]
        for kind, (value, index, label, key) in picks:
            name = f"examples/{_safe(model_name)}_{_safe(method)}_{kind}_{index:04d}.png"
            title = f"{method}, {kind}: {metric} {value:.3f} ({Path(key).name})"
            _explain_figure(
                dataset, model, {method: evaluation.methods[method]}, request, index, [label],
                ["class"], score, title, out / name,
            )  # fmt: skip
            written.append((title, name))
    return written


def write_outputs(
    evaluation: Evaluation,
    dataset: Dataset,
    request: Mapping[str, Any],
    out: str | Path,
    *,
    figures: bool = True,
) -> dict[str, Path]:
    """Every output of a run in ``out``; returns the main paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = write_results(evaluation, dataset, request, out)
    drawn: dict[str, list[tuple[str, str]]] = {}
    plots: list[str] = []
    if figures:
        drawn["failures"] = failure_figures(evaluation, dataset, request, out)
        drawn["examples"] = example_figures(evaluation, dataset, request, out)
        plots = write_plots(evaluation, out)
    report = write_report(evaluation, dataset, request, out, drawn, plots)
    return {"results": results, "report": report}
