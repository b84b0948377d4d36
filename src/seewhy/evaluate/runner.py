"""``evaluate``: every method's maps of a data set, scored by every metric, resumable and
sharded.

For each model and score kind, the images this process takes (:mod:`.distributed`) that
the progress files (:mod:`.store`) do not already hold go through in batches: one forward
for the top-1 classes, one explanation pass (:class:`~seewhy.Explainer`) that serves every
method and every target (the image's labelled classes and its top-1 class), then each
metric of the registry (:mod:`seewhy.metrics.registry`) on each method's maps. Each batch's
per-image records are committed before the next starts. At the end the records are folded
into the metrics' additive states, gathered to rank 0 and merged there.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from seewhy.datasets.base import Dataset, Sample
from seewhy.engine.passes import model_pass
from seewhy.engine.targets import SCORES
from seewhy.errors import MethodRefusal, OptionError
from seewhy.evaluate.distributed import World
from seewhy.evaluate.store import Store, config_key
from seewhy.evaluate.truth import ImageTruth, image_truth, measured_classes, region_of
from seewhy.explain import Explainer
from seewhy.methods.registry import normalize_methods, resolved_options
from seewhy.metrics.registry import MetricInputs, default_metrics, get_metric, supported
from seewhy.models import LoadedModel, load_model

__all__ = ["Evaluation", "EvaluationRequest", "data_has", "evaluate", "resolve_metrics"]

#: Test hook: the process kills itself (SIGKILL) once it has committed this many images.
KILL_AFTER = "SEEWHY_EVALUATE_KILL_AFTER"


@dataclass
class EvaluationRequest:
    """What to evaluate.

    Attributes:
        models: model names (for :func:`seewhy.load_model`) or loaded models.
        methods: method names or ``{name: options}``.
        layer: ``"auto"`` or layer names (every model).
        scores: score kinds, each a separate run (``logit``, ``prob``, ``logprob``).
        metrics: metric names or ``{name: options}``; None: every default metric the data
            supports (:func:`~seewhy.metrics.registry.default_metrics`).
        limit: the first ``limit`` images only.
        batch_size: images per explanation pass.
        device: where to run (None: the model's device).
        fast: fold BatchNorms and run channels-last (see :class:`~seewhy.Explainer`).
    """

    models: Sequence[str | LoadedModel] = ("efficientnet_lite0",)
    methods: Sequence[str] | Mapping[str, Mapping[str, Any] | None] = ("gradcam",)
    layer: str | Sequence[str] = "auto"
    scores: Sequence[str] = ("logit",)
    metrics: Sequence[str] | Mapping[str, Mapping[str, Any] | None] | None = None
    limit: int | None = None
    batch_size: int = 8
    device: str | None = None
    fast: bool = True


@dataclass
class Evaluation:
    """What a run found (on rank 0; other ranks get ``records`` of their own shard).

    Attributes:
        rows: one per model x score x method x metric: ``model``, ``method``, ``layer``,
            ``score``, ``metric``, ``value``, ``n`` (the pairs or images scored).
        records: per-image records, in data order (model, score, method within an image).
        skipped: ``(key, reason)`` of the images that could not be used.
        metrics: the metrics run, with their options.
        methods: the methods run, with their options.
        refused: ``model -> method -> reason`` for methods that could not run on a model.
    """

    rows: list[dict[str, Any]]
    records: list[dict[str, Any]]
    skipped: list[tuple[str, str]]
    metrics: dict[str, dict[str, Any]]
    methods: dict[str, dict[str, Any]]
    refused: dict[str, dict[str, str]] = field(default_factory=dict)
    models: list[LoadedModel] = field(default_factory=list)


def data_has(dataset: Dataset, samples: Sequence[Sample] | None = None) -> set[str]:
    """What ``dataset`` offers the metrics (see :data:`~seewhy.metrics.registry.NEEDS`)."""
    samples = dataset.samples if samples is None else samples
    has: set[str] = set()
    for sample in samples:
        if sample.labels or any(t.label >= 0 for t in sample.objects):
            has.add("labels")
        if sample.kind == "grid":
            has.add("grid")
        for truth in sample.objects:
            if truth.box is not None:
                has.update(("boxes", "regions"))
            if truth.mask is not None:
                has.update(("masks", "regions"))
    return has


def resolve_metrics(
    metrics: Sequence[str] | Mapping[str, Mapping[str, Any] | None] | None, has: set[str]
) -> dict[str, dict[str, Any]]:
    """The metrics to run with every option: the request checked against what the data has,
    or the default metrics it supports."""
    if metrics is None:
        names: Mapping[str, Any] = {name: None for name in default_metrics(has)}
    elif isinstance(metrics, Mapping):
        names = metrics
    else:
        names = {name: None for name in metrics}
    resolved = {}
    for name, options in names.items():
        spec = get_metric(name)
        if not supported(spec, has):
            missing = [need for need in spec.needs if need not in has]
            raise OptionError(
                f"metric {name!r} needs {' and '.join(missing)}, which the data does not have "
                f"(it has: {', '.join(sorted(has)) or 'images only'})"
            )
        resolved[name] = spec.resolved(options)
    return resolved


def _load(sample: Sample) -> tuple[Any, str | None]:
    try:
        return sample.load(), None
    except Exception as error:  # a reader's failure for one image never stops the run
        text = " ".join(str(error).split()) or type(error).__name__
        return None, text


def _predict(model: LoadedModel, images: torch.Tensor, fast: bool) -> tuple[np.ndarray, ...]:
    """(B,) top-1 classes and their softmax probabilities."""
    with model_pass(model.module, fast=fast, in_place_off=False) as run, torch.no_grad():
        _, raw = run.forward(images, requires_grad=False)
        probabilities = model.select_output(raw).float().softmax(dim=1)
    best = probabilities.max(dim=1)
    return best.indices.cpu().numpy(), best.values.double().cpu().numpy()


@dataclass
class _Batch:
    indices: list[int]
    samples: list[Sample]
    images: torch.Tensor
    truths: list[ImageTruth]
    classes: list[list[int]]  # measured classes per image (labels, or [top-1])
    labelled: list[bool]
    predictions: np.ndarray
    confidence: np.ndarray
    targets: list[list[int]]  # the explanation's targets per image (padded)


def _batch(
    model: LoadedModel, indices: list[int], samples: list[Sample], images: list[Any], fast: bool
) -> _Batch:
    displays = [model.display(image) for image in images]
    x = model.normalize(displays)
    truths = [
        image_truth(sample, model.geometry(*image.size)) for sample, image in zip(samples, images)
    ]
    predictions, confidence = _predict(model, x, fast)
    classes, labelled, targets = [], [], []
    for sample, predicted in zip(samples, predictions.tolist()):
        measured = measured_classes(sample)
        labelled.append(bool(measured))
        classes.append(measured or [predicted])
        targets.append([*measured, predicted] if predicted not in measured else list(measured))
    width = max(len(t) for t in targets)
    targets = [t + [t[-1]] * (width - len(t)) for t in targets]
    return _Batch(indices, samples, x, truths, classes, labelled, predictions, confidence, targets)


def _inputs(
    model: LoadedModel, batch: _Batch, maps: torch.Tensor, batch_size: int | None, fast: bool
) -> MetricInputs:
    rows, pair_classes, masks, boxes, grid, pair_maps = [], [], [], [], [], []
    for b, (sample, truth) in enumerate(zip(batch.samples, batch.truths)):
        for label in batch.classes[b]:
            t = batch.targets[b].index(label)
            mask, found = region_of(truth, label, batch.labelled[b])
            rows.append(b)
            pair_classes.append(label)
            masks.append(mask)
            boxes.append(found)
            grid.append(sample.kind == "grid")
            pair_maps.append(maps[b, t])
    predicted = [batch.targets[b].index(int(p)) for b, p in enumerate(batch.predictions)]
    return MetricInputs(
        model=model,
        images=batch.images,
        maps=torch.stack(pair_maps).float(),
        rows=np.asarray(rows, dtype=np.int64),
        classes=np.asarray(pair_classes, dtype=np.int64),
        masks=masks,
        boxes=boxes,
        grid=np.asarray(grid, dtype=bool),
        predictions=batch.predictions,
        prediction_maps=maps[torch.arange(len(predicted)), torch.as_tensor(predicted)].float(),
        truth_boxes=[{k: v for k, v in t.boxes.items() if k >= 0} for t in batch.truths],
        labelled=np.asarray(batch.labelled, dtype=bool),
        batch_size=batch_size,
        fast=fast,
    )


def _records(
    batch: _Batch, inputs: MetricInputs, entries: dict[str, list[Any]], layer: Any
) -> list[dict[str, Any]]:
    out = []
    for b, (index, sample) in enumerate(zip(batch.indices, batch.samples)):
        pairs = np.flatnonzero(inputs.rows == b)
        predicted = int(batch.predictions[b])
        out.append(
            {
                "index": index,
                "key": sample.key,
                "kind": sample.kind,
                "labels": measured_classes(sample),
                "classes": [int(c) for c in inputs.classes[pairs]],
                "prediction": predicted,
                "confidence": float(batch.confidence[b]),
                "misclassified": batch.labelled[b] and predicted not in batch.classes[b],
                "layer": layer,
                "entries": {name: [values[p] for p in pairs] for name, values in entries.items()},
            }
        )
    return out


def _kill_hook(committed: int) -> None:
    limit = os.environ.get(KILL_AFTER)
    if limit and committed >= int(limit):
        os.kill(os.getpid(), signal.SIGKILL)


def evaluate(
    dataset: Dataset,
    request: EvaluationRequest,
    out: str | Path,
    *,
    world: World | None = None,
    progress: bool = True,
) -> Evaluation:
    """Explain and score ``dataset`` as ``request`` says, resuming from ``out``'s progress
    files; returns the rows and per-image records (all of them on rank 0).

    Images whose ``load`` fails are skipped and listed, never fatal.
    """
    world = world or World()
    samples = dataset.samples[: request.limit] if request.limit is not None else dataset.samples
    methods = {
        name: resolved_options(name, options)
        for name, options in normalize_methods(request.methods).items()
    }
    metrics = resolve_metrics(request.metrics, data_has(dataset, samples))
    for score in request.scores:
        if score not in SCORES:
            raise OptionError(f"score {score!r} is not allowed; use one of {', '.join(SCORES)}")
    models = [m if isinstance(m, LoadedModel) else load_model(m) for m in request.models]
    store = Store(out, world.rank)
    shard = world.shard(len(samples))
    records: list[dict[str, Any]] = []
    refused: dict[str, dict[str, str]] = {}
    skipped: dict[str, str] = {}
    committed = 0
    for model in models:
        explainer = Explainer(
            model, request.layer, device=request.device, batch_size=request.batch_size,
            fast=request.fast,
        )  # fmt: skip
        device = explainer.device
        for score in request.scores:
            configs = {
                method: config_key(
                    {
                        "data": dataset.name,
                        "model": model.describe(),
                        "layer": request.layer,
                        "score": score,
                        "method": method,
                        "options": options,
                        "metrics": metrics,
                        "fast": request.fast,
                    }
                )
                for method, options in methods.items()
            }
            done = {method: store.done(config) for method, config in configs.items()}
            pending = [i for i in shard if any(samples[i].key not in d for d in done.values())]
            bars = {
                method: tqdm(
                    total=len(shard),
                    initial=len(shard) - len(pending),
                    desc=f"{model.name} {method} ({score})",
                    unit="image",
                    disable=not progress,
                    position=n,
                    leave=True,
                )
                for n, method in enumerate(methods)
            }
            for start in range(0, len(pending), request.batch_size):
                chunk = pending[start : start + request.batch_size]
                loaded = [_load(samples[i]) for i in chunk]
                good = [i for i, (image, _) in zip(chunk, loaded) if image is not None]
                for i, (_, error) in zip(chunk, loaded):
                    if error is not None:
                        failed = {"index": i, "key": samples[i].key, "error": error}
                        for method in methods:
                            store.add(configs[method], [(samples[i].key, failed)])
                            done[method][samples[i].key] = failed
                if good:
                    images = [image for image, _ in loaded if image is not None]
                    batch = _batch(model, good, [samples[i] for i in good], images, request.fast)
                    batch.images = batch.images.to(device)
                    try:
                        result = explainer.explain(
                            batch.images, methods, batch.targets, score=score, progress=False
                        )
                    except MethodRefusal as refusal:
                        raise OptionError(f"{model.name}: {refusal}") from refusal
                    for method in methods:
                        if method in result.refused:
                            refused.setdefault(model.name, {})[method] = result.refused[method]
                            continue
                        inputs = _inputs(
                            model, batch, result.maps[method].to(device), request.batch_size,
                            request.fast,
                        )  # fmt: skip
                        entries = {
                            name: get_metric(name).score(inputs, options)
                            for name, options in metrics.items()
                        }
                        found = _records(batch, inputs, entries, result.layers.get(method))
                        store.add(configs[method], [(r["key"], r) for r in found])
                        done[method].update({r["key"]: r for r in found})
                committed += len(chunk)
                for bar in bars.values():
                    bar.update(len(chunk))
                _kill_hook(committed)
            for bar in bars.values():
                bar.close()
            for method in methods:
                for i in shard:
                    record = done[method].get(samples[i].key)
                    if record is None:
                        continue  # refused method
                    if "error" in record:
                        skipped[record["key"]] = record["error"]
                        continue
                    records.append(
                        {"model": model.name, "score": score, "method": method, **record}
                    )
    store.close()
    states = fold(records, metrics)
    gathered = world.gather(
        {"records": records, "skipped": skipped, "refused": refused, "states": states}
    )
    if gathered is None:
        return Evaluation([], records, sorted(skipped.items()), metrics, methods, refused, models)
    merged: dict[tuple[str, ...], Any] = {}
    for part in gathered:  # the additive reduction: rank order, exact whatever the order
        for key, state in part["states"].items():
            if key in merged:
                merged[key][1].merge(state[1])
            else:
                merged[key] = state
        skipped.update(part["skipped"])
        for name, reasons in part["refused"].items():
            refused.setdefault(name, {}).update(reasons)
    all_records = sorted(
        (r for part in gathered for r in part["records"]), key=lambda r: r["index"]
    )
    rows = summarize(merged, metrics, models, request.scores, methods)
    skipped_all = sorted({**dict(dataset.skipped), **skipped}.items())
    return Evaluation(rows, all_records, skipped_all, metrics, methods, refused, models)


StateKey = tuple[str, str, str, str]


def fold(
    records: Sequence[dict[str, Any]], metrics: Mapping[str, Mapping[str, Any]]
) -> dict[StateKey, Any]:
    """(model, score, method, metric) -> (layer, the metric's additive state over
    ``records``)."""
    states: dict[StateKey, Any] = {}
    for record in records:
        for name, options in metrics.items():
            key = (record["model"], record["score"], record["method"], name)
            if key not in states:
                states[key] = (record["layer"], get_metric(name).state(options))
            for entry in record["entries"][name]:
                states[key][1].add(entry)
    return states


def summarize(
    states: Mapping[StateKey, Any],
    metrics: Mapping[str, Mapping[str, Any]],
    models: Sequence[LoadedModel],
    scores: Sequence[str],
    methods: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """The rows, in the order model, score, method, metric, from the merged states."""
    rows = []
    for model in models:
        for score in scores:
            for method in methods:
                for name in metrics:
                    key = (model.name, score, method, name)
                    if key not in states:
                        continue
                    layer, state = states[key]
                    value = state.compute()
                    rows.append(
                        {
                            "model": model.name,
                            "method": method,
                            "layer": layer,
                            "score": score,
                            "metric": name,
                            "value": None if np.isnan(value) else value,
                            "n": state.n,
                        }
                    )
    return rows
