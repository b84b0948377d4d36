"""One model's answer for one image, drawn: each map as a PNG data URL in seewhy's colour
scales (:mod:`seewhy.render`), its statistics, box (:func:`seewhy.localize.boxes` through
``ExplanationResult.boxes``) and faithfulness numbers, and each method's scale."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from PIL import Image

from seewhy.render import colorbar, encode_png, render_panel
from seewhy.render.overlay import resize_map
from seewhy.result import ExplanationResult
from seewhy.serve.schemas import (
    Faithfulness,
    MapAnswer,
    MapStats,
    ModelResult,
    Prediction,
    ScaleAnswer,
)

__all__ = ["BOX_THRESHOLD", "data_url", "model_result", "result_boxes"]

#: A map's box: its largest segment at this share of its maximum (Grad-CAM's 15%).
BOX_THRESHOLD = 0.15


def data_url(pixels: np.ndarray | Image.Image) -> str:
    """A ``data:image/png;base64,...`` URL of an RGB image (:func:`seewhy.render.encode_png`)."""
    return "data:image/png;base64," + base64.b64encode(encode_png(pixels)).decode("ascii")


def result_boxes(result: ExplanationResult) -> dict[str, list[list[Any]]]:
    """method -> [image][target] box of every map of ``result`` (found once per method)."""
    return {method: result.boxes(method, BOX_THRESHOLD) for method in result.maps}


def model_result(
    result: ExplanationResult,
    b: int,
    predictions: list[Prediction],
    faithful: dict[str, np.ndarray],
    boxes: dict[str, list[list[Any]]],
    pixels_per_step: int = 0,
) -> ModelResult:
    """Image ``b`` of ``result``: the top 5 ``predictions`` given, the targets, and per method
    one :class:`MapAnswer` per target (``faithful``: method -> (B, T, 2) deletion and
    insertion AUC, or nothing, at ``pixels_per_step``; ``boxes``: method ->
    :func:`result_boxes`) and its scale."""
    labels = result.labels[b] if result.labels else None
    targets = [
        Prediction(
            class_id=int(result.targets[b, t]),
            label=labels[t] if labels else None,
            prob=float(result.probs[b, t]),
            score=float(result.scores[b, t]),
        )
        for t in range(result.targets.shape[1])
    ]
    maps, scales = {}, {}
    photo = result.images[b]
    for method in result.maps:
        drawn = result.scales(b, method)
        display = result.displays.get(method, "cam")
        found = boxes[method][b]
        entries = []
        for t in range(len(targets)):
            heat = result.maps[method][b, t].numpy()
            scale = None if drawn is None else drawn[t]
            blend = scale is not None and scale.kind != "abs"
            if blend:
                pixels = scale.colorize(resize_map(heat, photo.shape[:2]))
            else:
                attribution = result.attributions.get(method)
                pixels = render_panel(
                    photo,
                    heat,
                    display,
                    None if attribution is None else attribution[b, t].numpy(),
                    scale=scale,
                )
            scores = faithful.get(method)
            entries.append(
                MapAnswer(
                    png=data_url(pixels),
                    blend=blend,
                    stats=MapStats(
                        min=float(heat.min()),
                        max=float(heat.max()),
                        mean=float(heat.mean()),
                        std=float(heat.std()),
                    ),
                    box=None if found[t] is None else [int(v) for v in found[t]],
                    faithfulness=None
                    if scores is None
                    else Faithfulness(
                        deletion_auc=float(scores[b, t, 0]), insertion_auc=float(scores[b, t, 1])
                    ),
                )
            )
        maps[method] = entries
        scales[method] = (
            None
            if drawn is None
            else ScaleAnswer(
                kind=drawn[0].kind,
                low=drawn[0].low,
                high=drawn[0].high,
                colorbar=_colorbar(drawn[0].cmap),
                caption=result.caption(method, drawn),
            )
        )
    return ModelResult(
        model=result.model_name,
        input=data_url(photo),
        size=[int(photo.shape[1]), int(photo.shape[0])],
        layers=dict(result.layers),
        predictions=predictions,
        targets=targets,
        maps=maps,
        scales=scales,
        refused=dict(result.refused),
        pixels_per_step=pixels_per_step,
    )


_COLORBARS: dict[str, str] = {}


def _colorbar(cmap: str) -> str:
    if cmap not in _COLORBARS:
        _COLORBARS[cmap] = data_url(colorbar(cmap, 256, 12))
    return _COLORBARS[cmap]
