"""Reading saved results back: the folder :meth:`ExplanationResult.save` (or ``seewhy
explain --out``) wrote becomes :class:`~seewhy.result.ExplanationResult` values again.

The maps, layer maps, attributions, deltas, targets, scores, probabilities, labels, layers,
refusals, skipped files, request (``res.options``) and the images as the model saw them
(``input.png``) come back equal to the saved ones, so ``load_result(d).figure(i)`` draws
the same figure, pixel for pixel. Not kept: the model itself, and the values of tensors in
the request (``res.options`` holds their shape, as ``report.json`` does).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from seewhy.errors import SeewhyError, suggestion
from seewhy.result import ExplanationResult, InputRecord

__all__ = ["load_result", "load_results"]


def load_results(directory: str | Path) -> list[ExplanationResult]:
    """One result per model saved in ``directory`` (its ``report.json``), in the order
    the models were run.

    Raises:
        SeewhyError: no ``report.json`` there, or it is not one seewhy wrote.
    """
    out = Path(directory)
    path = out / "report.json"
    try:
        entries = json.loads(path.read_text())
    except FileNotFoundError:
        raise SeewhyError(f"{out}: no report.json here; give the folder res.save() wrote") from None
    except json.JSONDecodeError as error:
        raise SeewhyError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(entries, list):
        raise SeewhyError(f"{path}: not a seewhy report (a list of entries)")
    models = list(dict.fromkeys(e["model"] for e in entries if e.get("model") is not None))
    skipped = [e["image"] for e in entries if e.get("status") == "skipped"]
    return [
        _result(out, [e for e in entries if e.get("model") == model], model, skipped)
        for model in models
    ]


def load_result(directory: str | Path, model: str | None = None) -> ExplanationResult:
    """The result saved in ``directory``; with several models side by side, ``model=``
    names which one (:func:`load_results` gives them all).

    Raises:
        SeewhyError: as :func:`load_results`, or several models and no ``model=``, or a
            ``model=`` that is not there.
    """
    results = load_results(directory)
    names = [r.model_name for r in results]
    if not results:
        raise SeewhyError(f"{directory}: the report holds no explained model")
    if model is None:
        if len(results) > 1:
            raise SeewhyError(
                f"{directory} holds {len(results)} models ({', '.join(names)}); pass model= "
                "to pick one, or use seewhy.load_results for all of them"
            )
        return results[0]
    if model not in names:
        raise SeewhyError(
            f"no model {model!r} in {directory}.{suggestion(model, names)} "
            f"Saved: {', '.join(names)}"
        )
    return results[names.index(model)]


def _result(out: Path, entries: list[dict[str, Any]], model: str, skipped: list[str]):
    records: list[InputRecord] = []
    explained = [e for e in entries if e.get("status") == "ok"]
    for entry in entries:
        ok = entry.get("status") == "ok"
        index = sum(1 for r in records if r.ok) if ok else None
        records.append(InputRecord(entry["image"], index, entry.get("error")))
    if not explained:
        raise SeewhyError(f"{out}: model {model!r} explained no input; nothing to load")
    first = explained[0]
    if "input" not in first:
        raise SeewhyError(
            f"{out}/report.json has no saved inputs (written by an older seewhy): the "
            "maps can be read with numpy, but not loaded as a result"
        )

    unsaved = [m for m, files in first["maps"].items() if "npy" not in files]
    if unsaved:
        raise SeewhyError(
            f"{out}: the maps were not saved (the run saved {', '.join(_saved(first))}), so "
            "there is no result to load; save with maps (what=['figure', 'maps'], or "
            "seewhy explain --save figure,maps)"
        )

    def stacked(files: list[str]) -> torch.Tensor:
        return torch.from_numpy(np.stack([np.load(out / f) for f in files]))

    maps = {m: stacked([e["maps"][m]["npy"] for e in explained]) for m in first["maps"]}
    attributions = {
        m: stacked([e["maps"][m]["attribution"] for e in explained])
        for m, files in first["maps"].items()
        if "attribution" in files
    }
    deltas = {
        m: torch.tensor([e["maps"][m]["delta"] for e in explained], dtype=torch.float32)
        for m, files in first["maps"].items()
        if "delta" in files
    }
    maps_by_layer = {
        m: {
            layer: stacked([e["maps"][m]["layers"][layer] for e in explained])
            for layer in files["layers"]
        }
        for m, files in first["maps"].items()
        if "layers" in files
    }
    for method, layers in first.get("layers", {}).items():
        if isinstance(layers, str) and method in maps:
            maps_by_layer.setdefault(method, {layers: maps[method]})
    layer_maps = {
        key: stacked([e["layer_maps"][key] for e in explained])
        for key in first.get("layer_maps", {})
    }
    targets = [e["targets"] for e in explained]
    labelled = all(t["label"] is not None for row in targets for t in row)
    return ExplanationResult(
        maps=maps,
        layer_maps=layer_maps,
        targets=torch.tensor([[t["class"] for t in row] for row in targets], dtype=torch.long),
        scores=torch.tensor([[t["score"] for t in row] for row in targets], dtype=torch.float32),
        probs=torch.tensor(
            [[np.nan if t["prob"] is None else t["prob"] for t in row] for row in targets],
            dtype=torch.float32,
        ),
        labels=[[t["label"] for t in row] for row in targets] if labelled else None,
        images=np.stack(
            [np.asarray(Image.open(out / e["input"]).convert("RGB")) for e in explained]
        ),
        records=records,
        model_name=model,
        layers=dict(first.get("layers", {})),
        options=first.get("request", {}),
        attributions=attributions,
        deltas=deltas,
        displays={m: files.get("display", "cam") for m, files in first["maps"].items()},
        maps_by_layer=maps_by_layer,
        refused=dict(first.get("refused", {})),
        skipped=list(skipped),
    )


def _saved(entry: dict[str, Any]) -> list[str]:
    """What a report entry says was written: ``figure``, ``overlays``."""
    found = ["figure"] if "figure" in entry else []
    if any("overlays" in files for files in entry["maps"].values()):
        found.append("overlays")
    return found or ["no pictures"]
