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
import os
import re
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from seewhy.record import jsonable
from seewhy.render import SCALES, FigureBlock, explanation_figure, save_figure, save_png
from seewhy.result import ExplanationResult, InputRecord, source_name

__all__ = [
    "DEFAULT_SAVE",
    "OVERLAY_FORMATS",
    "ResultWriter",
    "SAVE_WHAT",
    "error_entries",
    "report_entry",
    "save_results",
    "skipped_entries",
    "write_report",
]


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
    result: ExplanationResult,
    record: InputRecord,
    box_threshold: float | None = None,
    scale: str = "image",
) -> dict[str, Any]:
    """The JSON-ready entry of one input of ``result``: its targets, scores and layers (the
    map files are added by :func:`save_results`), or its error. With ``box_threshold``, also
    ``"boxes"``: method -> per target the box of the map's largest segment at that share of
    its maximum (:func:`seewhy.localize.boxes`, ``[x0, y0, x1, y1]`` inclusive, or ``None``),
    and ``"box_threshold"``. Its ``"request"`` is the result's, with the ``scale`` and
    ``box_threshold`` its pictures are drawn with (what a loaded result draws by default)."""
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
        entry["request"] = {
            **jsonable(result.options),
            "scale": scale,
            "box_threshold": box_threshold,
        }
        if box_threshold is not None:
            entry["box_threshold"] = box_threshold
            entry["boxes"] = {
                method: [
                    None if box is None else list(box)
                    for box in result.boxes_of(b, method, box_threshold)
                ]
                for method in result.maps
            }
    return entry


def error_entries(records: Sequence[InputRecord], model: str) -> list[dict[str, Any]]:
    """The entries of inputs that ``model`` has no result for, as none could be read."""
    return [_base_entry(record, model) for record in records]


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


def write_report(entries: Sequence[dict[str, Any]], directory: str | Path) -> Path:
    """Write ``entries`` to ``directory/report.json`` (the folder is made); returns its path."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.json"
    path.write_text(json.dumps(list(entries), indent=2))
    return path


SAVE_WHAT = ("figure", "overlays", "maps")
DEFAULT_SAVE = ("figure", "maps")
OVERLAY_FORMATS = {"png": "png", "jpeg": "jpg", "jpg": "jpg", "webp": "webp"}


def save_results(
    results: Sequence[ExplanationResult],
    directory: str | Path,
    scale: str = "image",
    what: Sequence[str] = DEFAULT_SAVE,
    overlay_format: str = "png",
    workers: int | None = None,
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
    :class:`ResultWriter` writes the same files a part of the inputs at a time.

    Args:
        scale: which maps share a colour scale in figures and overlays: ``"map"``,
            ``"image"`` (default) or ``"global"`` (one per method and model for all inputs);
            see :meth:`~seewhy.result.ExplanationResult.scales`.
        what: the files to write, any of ``"figure"``, ``"overlays"`` and ``"maps"`` (the
            ``.npy`` files); ``report.json`` is always written and lists only files written.
            By default the figure and the maps: the figure holds every overlay beside its
            colour bar, and an overlay file alone does not say its scale; ask for
            ``"overlays"`` to have each map as its own picture too (it about doubles the
            writing time).
        overlay_format: ``"png"`` (zlib level 1: fast, lossless), ``"jpeg"`` (quality 90) or
            ``"webp"`` (quality 90), for overlays; figures are always PNG.
        box_threshold: e.g. 0.15 (Grad-CAM's): each map's localization box is in the report
            (:func:`report_entry`) and drawn on its panel, in the figure and the overlays.
        workers: threads writing inputs at once (default: up to 4, one per CPU); the
            encoders and NumPy release the GIL, so threads overlap most of the work.
    """
    records = results[0].records if results else []
    progress = len(records) * len(results) > 4
    with ResultWriter(
        directory, scale, what, overlay_format, workers, box_threshold, progress=progress
    ) as writer:
        writer.write(results)
    return writer.report


class ResultWriter:
    """Writes results as :func:`save_results` does, a part of the inputs at a time, in
    worker threads, so that the caller explains the next inputs while the last ones are
    written (``seewhy explain`` does)::

        with ResultWriter("out/") as writer:
            for chunk in chunks:
                writer.write(explain_models(explainers, chunk, ...))
        writer.report  # out/report.json

    Each :meth:`write` takes every model's result for the same inputs; its inputs are
    numbered after those of the writes before (``000_cat/``, ``001_dog/``...), and
    ``report.json`` lists them all in order when the ``with`` block ends (:meth:`close`).
    ``scale="global"`` shares one scale over every input, so it takes a single write.
    The arguments are those of :func:`save_results`; ``total`` (inputs expected, for the
    bar) and ``progress`` (a "saving" bar counting inputs written) are the writer's own.
    """

    def __init__(
        self,
        directory: str | Path,
        scale: str = "image",
        what: Sequence[str] = DEFAULT_SAVE,
        overlay_format: str = "png",
        workers: int | None = None,
        box_threshold: float | None = None,
        *,
        total: int | None = None,
        progress: bool = False,
    ) -> None:
        from seewhy.errors import OptionError, suggestion

        if isinstance(what, str):
            raise OptionError(
                f"what must be a list of {', '.join(SAVE_WHAT)}, got the string {what!r}"
            )
        for name in what:
            if name not in SAVE_WHAT:
                raise OptionError(
                    f"cannot save {name!r}: choose from {', '.join(SAVE_WHAT)}."
                    f"{suggestion(name, SAVE_WHAT)}"
                )
        if scale not in SCALES:
            raise OptionError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
        if overlay_format not in OVERLAY_FORMATS:
            raise OptionError(
                f"overlay_format must be one of {', '.join(OVERLAY_FORMATS)}, "
                f"got {overlay_format!r}"
            )
        self.out = Path(directory)  # made by the first write: a failed call leaves no folder
        self.scale = scale
        self._files = _Files(self.out, set(what), overlay_format, scale, box_threshold)
        self._pool = ThreadPoolExecutor(workers or min(4, os.cpu_count() or 1))
        self._bar = tqdm(total=total, desc="saving", unit="image", disable=not progress)
        self._parts: list[Future[list[dict[str, Any]]]] = []
        self._skipped: list[str] = []
        self._count = 0
        self.report = self.out / "report.json"

    def write(self, results: Sequence[ExplanationResult]) -> None:
        """Queue every input of ``results`` (one result per model, the same inputs) for
        writing; returns at once, the files are written in the worker threads."""
        if self.scale == "global" and self._count:
            from seewhy.errors import OptionError

            raise OptionError(
                "scale='global' shares one scale over every input: write all results at once"
            )
        if not results:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        for result in results:
            _prepare(result, self.scale)
        for position in range(len(results[0].records)):
            part = self._pool.submit(
                self._files.write_input, results, position, self._count + position
            )
            part.add_done_callback(lambda _: self._bar.update())
            self._parts.append(part)
        self._count += len(results[0].records)
        self.skipped(results[0].skipped)

    def write_errors(self, records: Sequence[InputRecord], model: str) -> None:
        """Number and list inputs none of which could be read (:func:`error_entries`)."""
        for record in records:
            part: Future[list[dict[str, Any]]] = Future()
            part.set_result(error_entries([record], model))
            self._parts.append(part)
        self._count += len(records)

    def skipped(self, files: Sequence[str]) -> None:
        """Files left out of a folder as not images, for ``report.json``."""
        self._skipped += [s for s in files if s not in self._skipped]

    def close(self) -> Path:
        """Wait for every input, then write ``report.json``; returns its path."""
        try:
            entries = [entry for part in self._parts for entry in part.result()]
        finally:
            self._stop()
        return write_report(entries + skipped_entries(self._skipped), self.out)

    def _stop(self) -> None:
        """Let the running inputs finish, drop the queued ones, close the bar."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._bar.close()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if kind is None:
            self.close()
        else:  # the caller failed: stop writing, keep its error
            self._stop()


def _prepare(result: ExplanationResult, scale: str) -> None:
    """Compute once, before the threads start, what the result computes on first read:
    its images, upsampled maps and global scales."""
    _ = result.images
    for method in result.maps:
        _ = result.maps[method]
        if scale == "global" and len(result):
            result.scales(0, method, scale)
    for layer_maps in result.maps_by_layer.values():
        for layer in layer_maps:
            _ = layer_maps[layer]


@dataclass(frozen=True)
class _Files:
    """What :func:`save_results` writes for one input: its files and report entries."""

    out: Path
    what: set[str]
    overlay_format: str
    scale: str
    box_threshold: float | None = None

    def write_input(
        self, results: Sequence[ExplanationResult], position: int, number: int | None = None
    ) -> list[dict[str, Any]]:
        """Input ``position`` of ``results``, in folder ``NNN_name`` with NNN ``number``
        (default ``position``)."""
        record = results[0].records[position]
        number = position if number is None else number
        folder = self.out / f"{number:03d}_{_safe(Path(record.source).stem)}"
        entries, blocks = [], []
        for result in results:
            own = result.records[position]
            entry = report_entry(result, own, self.box_threshold, self.scale)
            if own.ok and own.index is not None:
                drawn = self.what & {"figure", "overlays"}
                block = result.block(own.index, self.scale, self.box_threshold) if drawn else None
                self._write_model(result, own.index, folder, entry, block)
                if block is not None and "figure" in self.what:
                    blocks.append(block)
                    entry["figure"] = str((folder / "figure.png").relative_to(self.out))
            entries.append(entry)
        if blocks:
            title = source_name(record.source)
            save_figure(explanation_figure(blocks, title=title), folder / "figure.png")
        return entries

    def _write_model(
        self,
        result: ExplanationResult,
        b: int,
        folder: Path,
        entry: dict[str, Any],
        block: FigureBlock | None,
    ) -> None:
        """The model's files for image ``b``; the overlays are the figure block's panels
        (drawn once for both)."""
        model_dir = folder / _safe(result.model_name)
        model_dir.mkdir(parents=True, exist_ok=True)
        image = model_dir / "input.png"  # the image as the model saw it (load_result)
        save_png(Image.fromarray(result.images[b]), image)
        entry["input"] = str(image.relative_to(self.out))
        if "maps" in self.what:
            for key, layer_map in result.layer_maps.items():
                npy = model_dir / f"{_safe(key)}.layer.npy"
                np.save(npy, layer_map[b].numpy())
                entry.setdefault("layer_maps", {})[key] = str(npy.relative_to(self.out))
        suffix = OVERLAY_FORMATS[self.overlay_format]
        columns = result.columns()
        for method, maps in result.maps.items():
            files: dict[str, Any] = entry["maps"].setdefault(method, {})
            files["display"] = result.displays.get(method, "cam")
            if "maps" in self.what:
                npy = model_dir / f"{_safe(method)}.npy"
                np.save(npy, maps[b].numpy())
                files["npy"] = str(npy.relative_to(self.out))
            if "overlays" in self.what and block is not None and block.panels is not None:
                pngs = []
                for t in range(maps.shape[1]):
                    path = model_dir / f"{_safe(method)}_t{t}.{suffix}"
                    panel = block.panels[t][columns.index(method)]
                    assert panel is not None  # a method with maps has its panels
                    _save_image(panel, path, suffix)
                    pngs.append(str(path.relative_to(self.out)))
                files["overlays"] = pngs
            if method in result.attributions and "maps" in self.what:
                attr = model_dir / f"{_safe(method)}_attribution.npy"
                np.save(attr, result.attributions[method][b].numpy())
                files["attribution"] = str(attr.relative_to(self.out))
            if method in result.deltas:
                files["delta"] = result.deltas[method][b].tolist()
            if isinstance(result.layers.get(method), list) and "maps" in self.what:
                layers = {}
                for layer, layer_map in result.maps_by_layer[method].items():
                    npy = model_dir / f"{_safe(method)}@{_safe(layer)}.npy"
                    np.save(npy, layer_map[b].numpy())
                    layers[layer] = str(npy.relative_to(self.out))
                files["layers"] = layers


def _save_image(image: Image.Image, path: Path, suffix: str) -> None:
    """An overlay in its format, fast: PNG as :func:`~seewhy.render.save_png` writes it,
    JPEG and WebP at quality 90."""
    if suffix == "png":
        save_png(image, path)
    elif suffix == "jpg":
        image.save(path, format="JPEG", quality=90)
    else:
        image.save(path, format="WEBP", quality=90, method=0)
