"""What ``POST /api/explain`` computes, without HTTP: uploads in, :class:`ExplainAnswer` out.

The route parses the form and awaits :func:`explain_images` in the worker pool; the
benchmark (``bench/serve.py``) calls the same function in-process, so the two differ only
by the web layer. Everything here goes through seewhy's Python API: the explanation
(:func:`seewhy.explain_models`), the boxes (:func:`seewhy.localize.boxes`), the faithfulness
numbers (:func:`seewhy.metrics.deletion` and :func:`~seewhy.metrics.insertion`) and the
colours (:mod:`seewhy.render`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from seewhy.engine.targets import SCORES, Classes, class_index, parse_topk
from seewhy.errors import OptionError, TargetError
from seewhy.explain import explain_models
from seewhy.methods import available_methods
from seewhy.result import ExplanationResult
from seewhy.serve.answer import model_result, result_boxes
from seewhy.serve.models import ModelPool, UnknownName
from seewhy.serve.schemas import (
    ExplainAnswer,
    FaithfulnessSettings,
    ImageAnswer,
    Prediction,
    Timings,
)

__all__ = ["ExplainRequest", "explain_images", "method_names"]

#: Most classes one request may explain per image, and most steps of a faithfulness curve.
MAX_TARGETS, MAX_STEPS = 10, 64
PREDICTIONS = 5


def method_names() -> list[str]:
    """Every registered method (``smooth:<method>`` is accepted too)."""
    return list(available_methods())


@dataclass(frozen=True)
class ExplainRequest:
    """One request's choices, checked by :meth:`check` before any work.

    Attributes:
        models: the first picks the classes (``top5``: its top 5); each other model explains
            the same classes beside it (:func:`seewhy.explain_models`).
        layer: ``"auto"`` or one of the first model's candidate layers (every model uses
            ``"auto"`` unless it has a layer of that name too).
        methods: registered method names.
        targets: ``"top1"``..``"top10"``, or class ids and names separated by commas.
        score: ``"logit"``, ``"prob"`` or ``"logprob"``.
        counterfactual: explain what argues against each class.
        faithfulness_steps: steps of each deletion and insertion curve (0: none computed);
            ``pixels_per_step = ceil(H * W / steps)`` at each model's input size, coarser
            than RISE's 224 to stay cheap.
    """

    models: tuple[str, ...] = ("efficientnet_lite0",)
    layer: str = "auto"
    methods: tuple[str, ...] = ("gradcam",)
    targets: str = "top5"
    score: str = "logit"
    counterfactual: bool = False
    faithfulness_steps: int = 8

    def check(self, pool: ModelPool) -> None:
        """:class:`UnknownName` for a model or method that is not offered, an
        :class:`~seewhy.errors.OptionError` or :class:`~seewhy.errors.TargetError` for a
        bad value."""
        if not self.models:
            raise OptionError("give at least one model")
        for name in self.models:
            pool.check(name)
        if not self.methods:
            raise OptionError("give at least one method")
        known = method_names()
        for name in self.methods:
            base = name.removeprefix("smooth:")
            if base not in known:
                raise UnknownName("method", name, known)
        if self.score not in SCORES:
            raise UnknownName("score", self.score, SCORES)
        if not 0 <= self.faithfulness_steps <= MAX_STEPS:
            raise OptionError(
                f"faithfulness_steps must be 0 (none) to {MAX_STEPS}, got {self.faithfulness_steps}"
            )
        self.target_spec()

    def target_spec(self) -> str | Classes:
        """What :meth:`seewhy.Explainer.explain` takes: ``"topK"`` or the same classes on
        every image."""
        text = self.targets.strip()
        k = parse_topk(text)
        if k is not None:
            if not 1 <= k <= MAX_TARGETS:
                raise TargetError(f"targets {text!r}: ask for top1 to top{MAX_TARGETS}")
            return f"top{k}"
        classes = [part.strip() for part in text.split(",") if part.strip()]
        if not classes:
            raise TargetError("targets is empty: give 'top5', or class ids or names")
        if len(classes) > MAX_TARGETS:
            raise TargetError(f"at most {MAX_TARGETS} classes per request, got {len(classes)}")
        return Classes([int(c) if c.lstrip("-").isdigit() else c for c in classes])

    def check_classes(self, labels: Sequence[str] | None) -> None:
        """:class:`UnknownName` (the labels as choices) for a class name that is not one of
        ``labels``, the first model's: it resolves the classes (:func:`seewhy.explain_models`).
        Ids, and names on a model without labels, are checked by the explanation."""
        spec = self.target_spec()
        if not labels or not isinstance(spec, Classes):
            return
        for item in spec.classes:
            if isinstance(item, str):
                try:
                    class_index(item, len(labels), labels)
                except TargetError:
                    raise UnknownName("class name", item, labels) from None


@dataclass
class Clock:
    """Milliseconds per part of a request (:class:`~seewhy.serve.schemas.Timings`)."""

    parts: dict[str, float] = field(default_factory=dict)
    start: float = field(default_factory=time.perf_counter)

    def add(self, part: str, since: float) -> float:
        now = time.perf_counter()
        self.parts[part] = self.parts.get(part, 0.0) + (now - since) * 1000.0
        return now

    def timings(self) -> Timings:
        known = ("read", "wait", "explain", "predictions", "faithfulness", "render")
        values = {name: round(self.parts.get(name, 0.0), 1) for name in known}
        return Timings(**values, total=round((time.perf_counter() - self.start) * 1000.0, 1))


def explain_images(
    pool: ModelPool,
    request: ExplainRequest,
    images: Sequence[tuple[str, Image.Image]],
    clock: Clock | None = None,
) -> ExplainAnswer:
    """Explain ``images`` (display name, RGB image) as ``request`` asks; blocking (run it in
    a worker). The models are held (:meth:`ModelPool.using`) while they run; the time spent
    waiting for them (another request running one) is booked as ``wait``."""
    clock = clock or Clock()
    request.check(pool)
    steps = request.faithfulness_steps
    mark = time.perf_counter()
    explainers = [
        pool.explainer(name, request.layer if i == 0 else _layer_for(pool, name, request.layer))
        for i, name in enumerate(request.models)
    ]
    request.check_classes(explainers[0].model.labels)
    mark = clock.add("explain", mark)  # loading the models on first use
    with pool.using(request.models):
        mark = clock.add("wait", mark)
        results = explain_models(
            explainers,
            [image for _, image in images],
            list(request.methods),
            request.target_spec(),
            score=request.score,
            counterfactual=request.counterfactual,
            progress=False,
        )
        mark = clock.add("explain", mark)
        predictions = [
            _predictions(result, pool, name) for result, name in zip(results, request.models)
        ]
        mark = clock.add("predictions", mark)
        faithful = [_faithfulness(r, pool, n, steps) for r, n in zip(results, request.models)]
        mark = clock.add("faithfulness", mark)
    answers = []
    boxes = [result_boxes(result) for result in results]
    per_step = [_pixels_per_step(result, steps) for result in results]
    for b, (name, image) in enumerate(images):
        per_model = [
            model_result(result, b, predictions[m][b], faithful[m], boxes[m], per_step[m])
            for m, result in enumerate(results)
        ]
        answers.append(
            ImageAnswer(
                name=name,
                width=image.width,
                height=image.height,
                results=per_model,
            )
        )
    clock.add("render", mark)
    return ExplainAnswer(
        models=list(request.models),
        methods=list(request.methods),
        targets=request.targets,
        score=request.score,
        counterfactual=request.counterfactual,
        faithfulness=FaithfulnessSettings(steps=steps, pixels_per_step=per_step[0]),
        images=answers,
        timings=clock.timings(),
    )


def _layer_for(pool: ModelPool, name: str, layer: str) -> str:
    """A side-by-side model's layer: the one asked for when it has it, else its automatic."""
    if layer == "auto":
        return layer
    return layer if layer in {c.name for c in pool.layers(name)[1]} else "auto"


def _pixels_per_step(result: ExplanationResult, steps: int) -> int:
    """Pixels each step of ``result``'s deletion and insertion curves changes: ``ceil(H * W /
    steps)`` at its model's input size (0 when ``steps`` is 0: no curves)."""
    if steps == 0:
        return 0
    return math.ceil(result.images.shape[1] * result.images.shape[2] / steps)


def _predictions(result: ExplanationResult, pool: ModelPool, name: str) -> list[list[Prediction]]:
    """The model's own top 5 of every image: read from the result when it explained its own
    top 5 or more, else from one forward without gradients (a model side by side explains the
    first model's classes: ``targets_from``)."""
    model = pool.get_model(name)
    labels = model.labels
    own = "targets_from" not in result.options
    asked = parse_topk(str(result.options.get("targets"))) if own else None
    if asked is not None and asked >= PREDICTIONS:
        ids, scores, probs = result.targets, result.scores, result.probs
    else:
        batch = model.normalize(list(result.images))
        parameter = next(model.module.parameters(), None)
        if parameter is not None:
            batch = batch.to(parameter.device, parameter.dtype)
        with torch.no_grad():
            logits = model.select_output(model.module(batch)).float().cpu()
        top = logits.topk(min(PREDICTIONS, logits.shape[1]), dim=1)
        ids, scores, probs = top.indices, top.values, logits.softmax(dim=1).gather(1, top.indices)
    return [
        [
            Prediction(
                class_id=int(ids[b, k]),
                label=labels[int(ids[b, k])] if labels else None,
                prob=float(probs[b, k]),
                score=float(scores[b, k]),
            )
            for k in range(min(PREDICTIONS, ids.shape[1]))
        ]
        for b in range(ids.shape[0])
    ]


def _faithfulness(
    result: ExplanationResult, pool: ModelPool, name: str, steps: int
) -> dict[str, np.ndarray]:
    """method -> (B, T, 2) deletion and insertion AUC of each map (empty when ``steps`` is 0),
    :func:`_pixels_per_step` pixels per step."""
    if steps == 0 or len(result) == 0:
        return {}
    from seewhy.metrics import deletion, insertion

    model = pool.get_model(name)
    batch, count = result.targets.shape
    images = model.normalize(list(result.images)).repeat_interleave(count, dim=0)
    targets = result.targets.reshape(-1)
    per_step = _pixels_per_step(result, steps)
    found = {}
    for method in result.maps:
        maps = result.maps[method].reshape(batch * count, *result.maps[method].shape[2:])
        drop = deletion(model, images, maps, targets, pixels_per_step=per_step, progress=False)
        rise = insertion(model, images, maps, targets, pixels_per_step=per_step, progress=False)
        found[method] = np.stack([drop.auc, rise.auc], axis=-1).reshape(batch, count, 2)
    return found
