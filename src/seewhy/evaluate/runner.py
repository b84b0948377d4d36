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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from seewhy.datasets.base import Dataset, Sample
from seewhy.engine.device import placed
from seewhy.engine.passes import model_pass
from seewhy.engine.targets import SCORES
from seewhy.errors import MethodRefusal, OptionError
from seewhy.evaluate.distributed import World
from seewhy.evaluate.store import Store, config_key, sample_key
from seewhy.evaluate.truth import ImageTruth, image_truth, measured_classes, region_of
from seewhy.explain import Explainer
from seewhy.methods.registry import normalize_methods, resolved_options
from seewhy.metrics.registry import MetricInputs, default_metrics, get_metric, supported
from seewhy.models import LoadedModel, load_model
from seewhy.models.base import check_distinct_names

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
            if truth.has_mask:
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


def _load(sample: Sample, model: LoadedModel) -> tuple[Any, np.ndarray | None, str | None]:
    """``(image, what the model sees of it, None)``, or ``(None, None, why)``."""
    try:
        image = sample.load()
        return image, model.display(image), None
    except Exception as error:  # a reader's failure for one image never stops the run
        text = " ".join(str(error).split()) or type(error).__name__
        return None, None, text


def _predict(model: LoadedModel, images: torch.Tensor, fast: bool) -> tuple[np.ndarray, ...]:
    """(B,) top-1 classes and their softmax probabilities (the model run on the images'
    device, then put back)."""
    with (
        placed(model.module, images.device),
        model_pass(model.module, fast=fast, in_place_off=False) as run,
        torch.no_grad(),
    ):
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
    model: LoadedModel,
    indices: list[int],
    samples: list[Sample],
    images: list[Any],
    displays: list[np.ndarray],
    fast: bool,
    device: torch.device,
) -> _Batch:
    x = model.normalize(displays).to(device)
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
    rows, pair_classes, masks, boxes, grid, pair_maps, segmentations = [], [], [], [], [], [], []
    for b, (sample, truth) in enumerate(zip(batch.samples, batch.truths)):
        for label in batch.classes[b]:
            t = batch.targets[b].index(label)
            mask, found, segmentation = region_of(truth, label, batch.labelled[b])
            rows.append(b)
            pair_classes.append(label)
            masks.append(mask)
            boxes.append(found)
            segmentations.append(segmentation)
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
        segmentations=segmentations,
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


@dataclass
class _Run:
    """One call's fixed parts and what it has found so far (this process's shard)."""

    dataset: Dataset
    samples: Sequence[Sample]
    shard: list[int]
    methods: dict[str, dict[str, Any]]
    metrics: dict[str, dict[str, Any]]
    request: EvaluationRequest
    store: Store
    progress: bool
    records: list[dict[str, Any]] = field(default_factory=list)
    refused: dict[str, dict[str, str]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    committed: int = 0

    def configs(self, model: LoadedModel, score: str) -> dict[str, str]:
        """method -> the key of its configuration's records (see :mod:`.store`)."""
        return {
            method: config_key(
                {
                    "data": self.dataset.name,
                    "model": model.describe(),
                    "layer": self.request.layer,
                    "score": score,
                    "method": method,
                    "options": options,
                    "metrics": self.metrics,
                    "fast": self.request.fast,
                }
            )
            for method, options in self.methods.items()
        }

    def model(self, model: LoadedModel) -> None:
        """Every score kind of ``model`` over the shard."""
        explainer = Explainer(
            model, self.request.layer, device=self.request.device,
            batch_size=self.request.batch_size, fast=self.request.fast,
        )  # fmt: skip
        with placed(model.module, explainer.device):
            for score in self.request.scores:
                self.score(model, explainer, score)

    def score(self, model: LoadedModel, explainer: Explainer, score: str) -> None:
        """The images of the shard not yet done for ``model`` and ``score``, in batches;
        then every record of the shard collected."""
        configs = self.configs(model, score)
        done = {method: self.store.done(config) for method, config in configs.items()}
        stored = {i: sample_key(self.samples[i]) for i in self.shard}  # key + fingerprint
        keys = [stored[i] for i in self.shard]
        pending = [
            i for i, key in zip(self.shard, keys) if any(key not in d for d in done.values())
        ]
        bars = [
            tqdm(
                total=len(self.shard),
                initial=len(self.shard) - len(pending),
                desc=f"{model.name} {method} ({score})",
                unit="image",
                disable=not self.progress,
                position=n,
                leave=True,
            )  # fmt: skip
            for n, method in enumerate(self.methods)
        ]
        size = self.request.batch_size
        for start in range(0, len(pending), size):
            chunk = pending[start : start + size]
            found = self.batch(model, explainer, score, chunk)
            for method, records in found.items():
                pairs = [(stored[r["index"]], r) for r in records]
                self.store.add(configs[method], pairs)
                done[method].update(pairs)
            self.committed += len(chunk)
            for bar in bars:
                bar.update(len(chunk))
            _kill_hook(self.committed)
        for bar in bars:
            bar.close()
        for method in self.methods:
            for key in keys:
                record = done[method].get(key)
                if record is None:
                    continue  # a method refused on this model
                if "error" in record:
                    self.skipped[record["key"]] = record["error"]
                    continue
                self.records.append(
                    {"model": model.name, "score": score, "method": method, **record}
                )

    def batch(
        self, model: LoadedModel, explainer: Explainer, score: str, chunk: list[int]
    ) -> dict[str, list[dict[str, Any]]]:
        """method -> the records of the images ``chunk``: one explanation pass for every
        method, then every metric on each method's maps; an image that cannot be read gets
        an error record."""
        found: dict[str, list[dict[str, Any]]] = {method: [] for method in self.methods}
        good, images, displays = [], [], []
        for i in chunk:
            image, display, error = _load(self.samples[i], model)
            if error is None:
                good.append(i)
                images.append(image)
                displays.append(display)
                continue
            for records in found.values():
                records.append({"index": i, "key": self.samples[i].key, "error": error})
        if not good:
            return found
        batch = _batch(
            model, good, [self.samples[i] for i in good], images, displays,
            self.request.fast, explainer.device,
        )  # fmt: skip
        try:
            result = explainer.explain(
                batch.images, self.methods, batch.targets, score=score, progress=False
            )
        except MethodRefusal as refusal:
            raise OptionError(f"{model.name}: {refusal}") from refusal
        for method in self.methods:
            if method in result.refused:
                self.refused.setdefault(model.name, {})[method] = result.refused[method]
                continue
            maps = result.maps[method].to(explainer.device)
            inputs = _inputs(model, batch, maps, self.request.batch_size, self.request.fast)
            entries = {
                name: get_metric(name).score(inputs, options)
                for name, options in self.metrics.items()
            }
            found[method] += _records(batch, inputs, entries, result.layers.get(method))
        return found


def _once(models: Sequence[str | LoadedModel]) -> list[str | LoadedModel]:
    """``models`` with a name given again left out (loaded models are kept as they are)."""
    names = [m for m in models if not isinstance(m, LoadedModel)]
    first = {name: models.index(name) for name in reversed(names)}
    return [m for i, m in enumerate(models) if isinstance(m, LoadedModel) or first[m] == i]


def evaluate(
    dataset: Dataset,
    request: EvaluationRequest,
    out: str | Path,
    *,
    world: World | None = None,
    progress: bool = True,
) -> Evaluation:
    """Explain and score ``dataset`` as ``request`` says, resuming from ``out``'s progress
    files; returns the rows and per-image records (all of them on rank 0; on the other
    ranks no rows and their own records).

    Images whose ``load`` (or preprocessing) fails are skipped and listed, never fatal.
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
    # a score or model name given twice is run once (its rows would count every image twice)
    request = replace(
        request,
        scores=tuple(dict.fromkeys(request.scores)),
        models=_once(request.models),
    )
    models = [m if isinstance(m, LoadedModel) else load_model(m) for m in request.models]
    check_distinct_names(models, "rows and records")
    store = Store(out, world.rank)
    run = _Run(
        dataset, samples, world.shard(len(samples)), methods, metrics, request, store, progress
    )
    try:
        for model in models:
            run.model(model)
    finally:
        store.close()
    states = fold(run.records, metrics)
    gathered = world.gather(
        {"records": run.records, "skipped": run.skipped, "refused": run.refused, "states": states}
    )
    if gathered is None:
        skipped = sorted(run.skipped.items())
        return Evaluation([], run.records, skipped, metrics, methods, run.refused, models)
    merged: dict[StateKey, Any] = {}
    refused: dict[str, dict[str, str]] = {}
    skipped_keys: dict[str, str] = dict(dataset.skipped)
    for part in gathered:  # the additive reduction, in rank order (exact in any order)
        for key, (layer, state) in part["states"].items():
            if key in merged:
                merged[key][1].merge(state)
            else:
                merged[key] = (layer, state)
        skipped_keys.update(part["skipped"])
        for name, reasons in part["refused"].items():
            refused.setdefault(name, {}).update(reasons)
    order = {
        (m.name, s, method): n
        for n, (m, s, method) in enumerate(
            (m, s, method) for m in models for s in request.scores for method in methods
        )
    }
    records = sorted(
        (r for part in gathered for r in part["records"]),
        key=lambda r: (r["index"], order[(r["model"], r["score"], r["method"])]),
    )
    rows = summarize(merged, metrics, models, request.scores, methods)
    return Evaluation(
        rows, records, sorted(skipped_keys.items()), metrics, methods, refused, models
    )


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
