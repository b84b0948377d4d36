"""Keeping results: per-input folders of overlays, figures and maps, and one ``report.json``.

``report.json`` is a list with one entry per input and model, in input order, then one per
file skipped in a folder::

    {"image": source, "status": "ok" | "error" | "skipped", "error": message | None,
     "model": name, "targets": [{"class", "label", "score", "prob"}, ...],
     "maps": {method: files}, "layers": {method: layer | [layer, ...]},
     "refused": {method: reason}, "request": {...}, "input": png, "layer_maps": {key: npy},
     "figure": path}

``layers``, ``refused`` (the methods that could not run on this model or layer, with why;
``{}`` when all ran) and ``request`` (every parameter of the call: model and weights,
layers, methods with all their options, targets as requested, score, counterfactual,
fast, batch size, device, versions; :meth:`seewhy.explain.Explainer.request`) are only in
entries of explained inputs; ``input`` (the image as the model saw it), ``layer_maps`` (the
maps at the layer's resolution, keyed as ``res.layer_maps``) and ``figure`` only in those
:func:`save_results` wrote. ``maps[method]`` has ``npy``, ``overlays``, ``display`` (how the
map is drawn), and ``attribution``/``delta`` where the method has them. A method computed
at several layers has the list of its layers; its ``maps`` files are those of the fused map,
plus ``"layers": {layer: npy}``, each layer's own map (T, H, W). Inputs that could not be
read have ``"status": "error"``, their message, no targets and no maps, whether the call
explained other inputs (:func:`report_entry`) or none (:func:`error_entries`). Files of a
folder left out as not images (``.txt``, ``.svg``) have ``"status": "skipped"`` and
``"model": None`` (:func:`skipped_entries`). :func:`seewhy.load_result` reads it all back. ``boxes`` and
``box_threshold`` are there only when asked for (``save_results(..., box_threshold=0.15)``,
``seewhy explain --boxes``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from seewhy.record import jsonable
from seewhy.render import explanation_figure, save_figure
from seewhy.render.boxes import draw_boxes
from seewhy.result import ExplanationResult, InputRecord

__all__ = ["error_entries", "report_entry", "save_results", "skipped_entries", "write_report"]


def _safe(text: str) -> str:
    """``text`` as a file name: runs of other characters than ``A-Za-z0-9_.+@-`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9_.+@-]+", "_", text).strip("_") or "x"


def _base_entry(record: InputRecord, model: str) -> dict[str, Any]:
    return {
        "image": record.source,
        "status": "ok" if record.ok else "error",
        "error": record.error,
        "model": model,
        "targets": [],
        "maps": {},
    }


def report_entry(
    result: ExplanationResult, record: InputRecord, box_threshold: float | None = None
) -> dict[str, Any]:
    """The JSON-ready entry of one input of ``result``: its targets, scores and layers (the
    map files are added by :func:`save_results`), or its error. With ``box_threshold``, also
    ``"boxes"``: method -> per target the box of the map's largest segment at that share of
    its maximum (:func:`seewhy.localize.boxes`, ``[x0, y0, x1, y1]`` inclusive, or ``None``),
    and ``"box_threshold"``."""
    entry = _base_entry(record, result.model_name)
    if record.ok and record.index is not None:
        b = record.index
        for t in range(result.targets.shape[1]):
            prob = float(result.probs[b, t])
            entry["targets"].append(
                {
                    "class": int(result.targets[b, t]),
                    "label": result.labels[b][t] if result.labels else None,
                    "score": float(result.scores[b, t]),
                    "prob": None if np.isnan(prob) else prob,
                }
            )
        entry["layers"] = dict(result.layers)
        entry["refused"] = dict(result.refused)
        entry["request"] = jsonable(result.options)
        if box_threshold is not None:
            from seewhy.localize import boxes

            entry["box_threshold"] = box_threshold
            entry["boxes"] = {
                method: [
                    None if box is None else list(box) for box in boxes(maps[b], box_threshold)
                ]
                for method, maps in result.maps.items()
            }
    return entry


def skipped_entries(skipped: Sequence[str]) -> list[dict[str, Any]]:
    """The entries of files a folder held that were not read, as not images by suffix."""
    return [
        {
            "image": path,
            "status": "skipped",
            "error": f"{path}: skipped, not an image file by its suffix",
            "model": None,
            "targets": [],
            "maps": {},
        }
        for path in skipped
    ]


def error_entries(records: Sequence[InputRecord], model: str) -> list[dict[str, Any]]:
    """The entries of inputs that ``model`` has no result for, as none could be read."""
    return [_base_entry(record, model) for record in records]


def write_report(entries: Sequence[dict[str, Any]], directory: str | Path) -> Path:
    """Write ``entries`` to ``directory/report.json`` (the folder is made); returns its path."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.json"
    path.write_text(json.dumps(list(entries), indent=2))
    return path


def save_results(
    results: Sequence[ExplanationResult],
    directory: str | Path,
    box_threshold: float | None = None,
) -> Path:
    """Save one or more models' results for the same inputs into ``directory``.

    Per input ``NNN_name/``: ``figure.png`` (one block per model), and per model
    ``MODEL/METHOD_tK.png`` overlays and ``MODEL/METHOD.npy`` raw maps (T, H, W), plus
    ``MODEL/METHOD_attribution.npy`` (T, C, H, W) for input-space methods. A method computed
    at several layers is drawn and saved as its fused map, and each layer's map is kept as
    ``MODEL/METHOD@LAYER.npy`` (overlays and figure columns per layer would multiply the
    files and columns; the fused map is the one asked for). One
    ``report.json`` lists every input and model, errors included (and convergence deltas).
    With ``box_threshold`` (e.g. 0.15, Grad-CAM's), each map's localization box is in the
    report (:func:`report_entry`) and drawn on its overlay.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    report: list[dict[str, Any]] = []
    records = results[0].records
    show = len(records) * len(results) > 4
    for position, record in enumerate(tqdm(records, desc="saving", unit="image", disable=not show)):
        folder = out / f"{position:03d}_{_safe(Path(record.source).stem)}"
        blocks = []
        for result in results:
            own = result.records[position]
            entry = report_entry(result, own, box_threshold)
            if own.ok and own.index is not None:
                b = own.index
                model_dir = folder / _safe(result.model_name)
                model_dir.mkdir(parents=True, exist_ok=True)
                image = model_dir / "input.png"
                Image.fromarray(result.images[b]).save(image, compress_level=1)
                entry["input"] = str(image.relative_to(out))
                for key, layer_map in result.layer_maps.items():
                    npy = model_dir / f"{_safe(key)}.layer.npy"
                    np.save(npy, layer_map[b].numpy())
                    entry.setdefault("layer_maps", {})[key] = str(npy.relative_to(out))
                for method, maps in result.maps.items():
                    npy = model_dir / f"{_safe(method)}.npy"
                    np.save(npy, maps[b].numpy())
                    pngs = []
                    for t in range(maps.shape[1]):
                        png = model_dir / f"{_safe(method)}_t{t}.png"
                        image = result.overlay(b, method, t)
                        if box_threshold is not None:
                            image = draw_boxes(image, [entry["boxes"][method][t]])
                        image.save(png)
                        pngs.append(str(png.relative_to(out)))
                    entry["maps"][method] = {
                        "npy": str(npy.relative_to(out)),
                        "overlays": pngs,
                        "display": result.displays.get(method, "cam"),
                    }
                    if method in result.attributions:
                        attr = model_dir / f"{_safe(method)}_attribution.npy"
                        np.save(attr, result.attributions[method][b].numpy())
                        entry["maps"][method]["attribution"] = str(attr.relative_to(out))
                    if method in result.deltas:
                        entry["maps"][method]["delta"] = result.deltas[method][b].tolist()
                    if isinstance(result.layers.get(method), list):
                        files = {}
                        for layer, layer_map in result.maps_by_layer[method].items():
                            npy = model_dir / f"{_safe(method)}@{_safe(layer)}.npy"
                            np.save(npy, layer_map[b].numpy())
                            files[layer] = str(npy.relative_to(out))
                        entry["maps"][method]["layers"] = files
                blocks.append(result.block(b))
                entry["figure"] = str((folder / "figure.png").relative_to(out))
            report.append(entry)
        if blocks:
            save_figure(explanation_figure(blocks, title=record.source), folder / "figure.png")
    return write_report(report + skipped_entries(results[0].skipped), out)
