"""The metric registry: a name -> what the metric needs, how it scores one batch of maps,
and the additive state that folds the per-image records into its value.

``seewhy evaluate --metric NAME`` reads this table; adding a metric is one function and
one :func:`register` call. A metric scores *pairs*: one map for one (image, class) pair,
the class an image's labelled class (or its top-1 class when the data has no labels). Its
``score`` returns one JSON-ready entry per pair (None where the pair cannot be scored), and
its ``state`` folds the entries (:mod:`seewhy.metrics.states`): every state is additive and
exact, so shards of a data set reduce to the single-process value.

Each metric's entry is what the measures functions give when called directly on the same
maps (``pointing_game``, ``energy_pointing_game``, ``BoxAccuracyAccumulator.best_ious``,
``deletion``, ``insertion``, ``average_drop_increase``, ``road``...); nothing is computed
a second way here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from seewhy.errors import OptionError, closest
from seewhy.localize import boxes as map_boxes
from seewhy.metrics.deletion import deletion, insertion
from seewhy.metrics.faithfulness import average_drop_increase
from seewhy.metrics.localization import BoxAccuracyAccumulator, localization_error
from seewhy.metrics.pointing import energy_pointing_game, pointing_game
from seewhy.metrics.road import road, road_combined
from seewhy.metrics.scoring import Scored
from seewhy.metrics.states import (
    BoxAccuracyState,
    ClassMeanState,
    MeanState,
    MetricState,
    PixelAPState,
)

__all__ = [
    "NEEDS",
    "MetricInputs",
    "MetricSpec",
    "available_metrics",
    "default_metrics",
    "get_metric",
    "register",
]

#: What a metric may need of the data: ``boxes``, ``regions`` (boxes or masks), ``masks``,
#: ``labels`` (the images' classes), ``grid`` (grid images of the samples benchmark).
NEEDS = ("boxes", "regions", "masks", "labels", "grid")


@dataclass
class MetricInputs:
    """One method's maps of one batch, as the metrics read them.

    Attributes:
        model: the model (its forwards for the faithfulness metrics).
        images: (B, C, H, W) the preprocessed images.
        maps: (P, H, W) one map per pair, at the input's resolution.
        rows: (P,) the image (row of ``images``) of each pair.
        classes: (P,) the class of each pair.
        masks: per pair, its class's ground-truth region (H, W) bool in input pixels, or None.
        boxes: per pair, its class's ground-truth boxes (K, 4) in input pixels, or None.
        grid: (P,) bool, the pair's image is a grid.
        segmentations: per pair, its class's mask annotations only (H, W), or None.
        predictions: (B,) each image's top-1 class.
        prediction_maps: (B, H, W) each image's map for its top-1 class.
        truth_boxes: per image, class -> its ground-truth boxes (K, 4) (empty: no boxes).
        labelled: (B,) bool, the image has labels.
        batch_size, fast: for the metrics' own forwards.
        memo: results shared between metrics of the same batch (average drop / increase).
    """

    model: Scored
    images: torch.Tensor
    maps: torch.Tensor
    rows: np.ndarray
    classes: np.ndarray
    masks: list[np.ndarray | None]
    boxes: list[np.ndarray | None]
    grid: np.ndarray
    segmentations: list[np.ndarray | None]
    predictions: np.ndarray
    prediction_maps: torch.Tensor
    truth_boxes: list[dict[int, np.ndarray]]
    labelled: np.ndarray
    batch_size: int | None = None
    fast: bool = True
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def pairs(self) -> int:
        return int(self.rows.shape[0])

    def pair_images(self, selected: np.ndarray) -> torch.Tensor:
        return self.images[torch.as_tensor(self.rows[selected], dtype=torch.long)]


#: ``score(inputs, options) -> one entry per pair`` (None where not scored).
ScoreFunction = Callable[[MetricInputs, Mapping[str, Any]], list[Any]]


@dataclass(frozen=True)
class MetricSpec:
    """One registered metric.

    Attributes:
        name: its ``--metric`` name.
        summary: one line: what it measures and where from.
        needs: what of the data it needs (see :data:`NEEDS`); empty for the faithfulness
            metrics, which need only the model.
        higher_is_better: which way is better (the report bolds the best row).
        uses_model: it runs the model (deletion, insertion, ...): slower.
        score: the pairs' entries (see :data:`ScoreFunction`).
        state: a new additive state from the options.
        value: the per-pair number an entry shows in ``results.json`` (default the entry).
        options: the options and their defaults.
        default: in the default set when the data supports it (ROAD is opt-in: slow).
        unit: ``"%"`` for values in percent, else ``""``.
    """

    name: str
    summary: str
    needs: tuple[str, ...]
    higher_is_better: bool
    uses_model: bool
    score: ScoreFunction
    state: Callable[[Mapping[str, Any]], MetricState]
    value: Callable[[Any], float | None] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    default: bool = True
    unit: str = ""
    additive: bool = True

    def shown(self, entry: Any) -> float | None:
        """The number of one pair's entry."""
        if entry is None:
            return None
        return self.value(entry) if self.value is not None else entry

    def resolved(self, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every option with its value: the defaults updated by ``options`` (checked)."""
        given = dict(options or {})
        unknown = [key for key in given if key not in self.options]
        if unknown:
            allowed = ", ".join(self.options) or "none"
            raise OptionError(
                f"metric {self.name!r} has no option {unknown[0]!r}; its options: {allowed}"
            )
        return {**self.options, **given}


_METRICS: dict[str, MetricSpec] = {}


def register(spec: MetricSpec) -> MetricSpec:
    """Add ``spec`` to the registry (its name must be new)."""
    if spec.name in _METRICS:
        raise OptionError(f"metric {spec.name!r} is already registered")
    unknown = [need for need in spec.needs if need not in NEEDS]
    if unknown:
        raise OptionError(f"metric {spec.name!r} needs {unknown[0]!r}; allowed: {NEEDS}")
    _METRICS[spec.name] = spec
    return spec


def available_metrics() -> dict[str, MetricSpec]:
    """Every registered metric by name, in registration order."""
    return dict(_METRICS)


def get_metric(name: str) -> MetricSpec:
    """The spec of ``name``; an OptionError listing the metrics (closest first) if unknown."""
    if name in _METRICS:
        return _METRICS[name]
    near = closest(name, _METRICS, 3)
    hint = f" Did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
    raise OptionError(f"unknown metric {name!r}.{hint} Available: {', '.join(_METRICS)}")


def supported(spec: MetricSpec, has: Iterable[str]) -> bool:
    """Whether data that has ``has`` (a subset of :data:`NEEDS`) supports ``spec``."""
    present = set(has)
    return all(need in present for need in spec.needs)


def default_metrics(has: Iterable[str]) -> list[str]:
    """The metrics run by default on data that has ``has``: every default metric whose
    needs it meets."""
    present = set(has)
    return [name for name, spec in _METRICS.items() if spec.default and supported(spec, present)]


# --- the metrics -----------------------------------------------------------------------------


def _with(values: list[Any], selected: np.ndarray, found: Iterable[Any]) -> list[Any]:
    for index, entry in zip(np.flatnonzero(selected), found):
        values[int(index)] = entry
    return values


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _regions(inputs: MetricInputs, only_grid: bool = False) -> np.ndarray:
    selected = np.array([m is not None for m in inputs.masks], dtype=bool)
    return selected & inputs.grid if only_grid else selected


def _stack_masks(inputs: MetricInputs, selected: np.ndarray) -> np.ndarray:
    return np.stack([inputs.masks[i] for i in np.flatnonzero(selected)])  # type: ignore[misc]


def _pointing(inputs: MetricInputs, options: Mapping[str, Any]) -> list[Any]:
    selected = _regions(inputs)
    out: list[Any] = [None] * inputs.pairs
    if not selected.any():
        return out
    hits = pointing_game(
        inputs.maps[torch.as_tensor(selected)], _stack_masks(inputs, selected), options["tolerance"]
    )
    classes = inputs.classes[selected]
    found = [None if np.isnan(h) else [int(c), int(h)] for c, h in zip(classes, hits)]
    return _with(out, selected, found)


def _energy(only_grid: bool) -> ScoreFunction:
    def score(inputs: MetricInputs, options: Mapping[str, Any]) -> list[Any]:
        selected = _regions(inputs, only_grid)
        out: list[Any] = [None] * inputs.pairs
        if not selected.any():
            return out
        shares = energy_pointing_game(
            inputs.maps[torch.as_tensor(selected)], _stack_masks(inputs, selected)
        )
        return _with(out, selected, (_number(v) for v in shares))

    return score


def _box_accuracy(inputs: MetricInputs, options: Mapping[str, Any]) -> list[Any]:
    accumulator = BoxAccuracyAccumulator(iou=options["iou"], segments=options["segments"])
    out: list[Any] = [None] * inputs.pairs
    for i, gt in enumerate(inputs.boxes):
        if gt is None or len(gt) == 0:
            continue
        heat = inputs.maps[i].detach().cpu().double().numpy()
        out[i] = [float(v) for v in accumulator.best_ious(heat, gt)]
    return out


def _pixel_ap(inputs: MetricInputs, options: Mapping[str, Any]) -> list[Any]:
    from seewhy.metrics.localization import PixelAPAccumulator

    out: list[Any] = [None] * inputs.pairs
    for i, mask in enumerate(inputs.segmentations):
        if mask is None or not mask.any():
            continue
        one = PixelAPAccumulator().update(inputs.maps[i : i + 1], mask[None])
        out[i] = [one.positives.tolist(), one.negatives.tolist()]
    return out


def _localization_error(inputs: MetricInputs, options: Mapping[str, Any]) -> list[Any]:
    """Top-1 localization error, scored once per image (on the image's first pair)."""
    out: list[Any] = [None] * inputs.pairs
    first = {}
    for i, row in enumerate(inputs.rows):
        first.setdefault(int(row), i)
    for row, pair in first.items():
        truth = inputs.truth_boxes[row]
        if not truth or not inputs.labelled[row]:
            continue
        predicted = int(inputs.predictions[row])
        box = map_boxes(inputs.prediction_maps[row], options["threshold"])
        error = localization_error(
            [{predicted: None if box is None else list(box)}], [truth], topk=(1,)
        )
        out[pair] = error[1]
    return out


def _causal(which: str) -> ScoreFunction:
    run = deletion if which == "deletion" else insertion

    def score(inputs: MetricInputs, options: Mapping[str, Any]) -> list[Any]:
        if inputs.pairs == 0:
            return []
        curves = run(
            inputs.model,
            inputs.pair_images(np.ones(inputs.pairs, dtype=bool)),
            inputs.maps,
            torch.as_tensor(inputs.classes, dtype=torch.long),
            pixels_per_step=options["pixels_per_step"],
            batch_size=inputs.batch_size,
            fast=inputs.fast,
            progress=False,
        )
        return [
            [float(auc), [round(float(s), 5) for s in curve]]
            for auc, curve in zip(curves.auc, curves.scores)
        ]

    return score


def _confidence(inputs: MetricInputs, space: str) -> Any:
    key = f"confidence:{space}"
    if key not in inputs.memo:
        inputs.memo[key] = average_drop_increase(
            inputs.model,
            inputs.pair_images(np.ones(inputs.pairs, dtype=bool)),
            inputs.maps,
            torch.as_tensor(inputs.classes, dtype=torch.long),
            space=space,
            batch_size=inputs.batch_size,
            fast=inputs.fast,
            progress=False,
        )
    return inputs.memo[key]


def _average_drop(inputs: MetricInputs, options: Mapping[str, Any]) -> list[Any]:
    if inputs.pairs == 0:
        return []
    return [float(v) for v in _confidence(inputs, options["space"]).drops]


def _average_increase(inputs: MetricInputs, options: Mapping[str, Any]) -> list[Any]:
    if inputs.pairs == 0:
        return []
    return [100.0 * float(v) for v in _confidence(inputs, options["space"]).increases]


def _road(inputs: MetricInputs, options: Mapping[str, Any]) -> list[Any]:
    if inputs.pairs == 0:
        return []
    images = inputs.pair_images(np.ones(inputs.pairs, dtype=bool))
    classes = torch.as_tensor(inputs.classes, dtype=torch.long)
    common = {
        "noise": options["noise"],
        "seed": options["seed"],
        "batch_size": inputs.batch_size,
        "fast": inputs.fast,
        "progress": False,
    }
    morf = road(inputs.model, images, inputs.maps, classes, order="morf", **common)
    lerf = road(inputs.model, images, inputs.maps, classes, order="lerf", **common)
    return [float(v) for v in road_combined(morf, lerf)]


def _first(entry: Any) -> float:
    return float(entry[0])


def _hit(entry: Any) -> float:
    return float(entry[1])


def _best_iou(entry: Any) -> float:
    return float(max(entry))


register(
    MetricSpec(
        "pointing",
        "pointing game: the map's peak within `tolerance` px of the class's object "
        "(Zhang et al. 2016; mean of per-class hit rates)",
        ("regions",),
        True,
        False,
        _pointing,
        lambda o: ClassMeanState(),
        value=_hit,
        options={"tolerance": 15},
    )
)
register(
    MetricSpec(
        "energy_pointing",
        "share of the map's positive mass on the class's object (Score-CAM paper)",
        ("regions",),
        True,
        False,
        _energy(False),
        lambda o: MeanState(),
    )
)
register(
    MetricSpec(
        "grid_pointing",
        "on grid images, each cell's class map's share of positive mass in its own cell "
        "(chance 1/n^2)",
        ("grid",),
        True,
        False,
        _energy(True),
        lambda o: MeanState(),
    )
)
register(
    MetricSpec(
        "box_accuracy",
        "MaxBoxAccV2: boxes of the map's segments against the class's boxes, best "
        "data-set threshold, mean over IoU 0.3 / 0.5 / 0.7 (Choe et al. 2020)",
        ("boxes",),
        True,
        False,
        _box_accuracy,
        lambda o: BoxAccuracyState(o["iou"], o["segments"]),
        value=_best_iou,
        options={"iou": (0.3, 0.5, 0.7), "segments": "all"},
    )
)
register(
    MetricSpec(
        "pixel_ap",
        "PxAP: area under the pixel precision-recall curve against masks (Choe et al. 2020)",
        ("masks",),
        True,
        False,
        _pixel_ap,
        lambda o: PixelAPState(),
        value=lambda entry: None,
    )
)
register(
    MetricSpec(
        "localization_error",
        "top-1 localization error: the top-1 class is wrong or its map's box (largest "
        "segment at 15 % of the peak) has IoU < 0.5 with its boxes (ILSVRC, Grad-CAM paper)",
        ("boxes", "labels"),
        False,
        False,
        _localization_error,
        lambda o: MeanState(),
        options={"threshold": 0.15},
    )
)
register(
    MetricSpec(
        "deletion",
        "RISE deletion AUC: probability as the most salient pixels are zeroed",
        (),
        False,
        True,
        _causal("deletion"),
        lambda o: MeanState(_first),
        value=_first,
        options={"pixels_per_step": 224},
    )
)
register(
    MetricSpec(
        "insertion",
        "RISE insertion AUC: probability as the most salient pixels are restored into a blur",
        (),
        True,
        True,
        _causal("insertion"),
        lambda o: MeanState(_first),
        value=_first,
        options={"pixels_per_step": 224},
    )
)
register(
    MetricSpec(
        "average_drop",
        "average drop in confidence on the image times its map (Grad-CAM++ paper)",
        (),
        False,
        True,
        _average_drop,
        lambda o: MeanState(),
        options={"space": "input"},
        unit="%",
    )
)
register(
    MetricSpec(
        "average_increase",
        "increase in confidence: % of maps whose masked image scores higher (Grad-CAM++ paper)",
        (),
        True,
        True,
        _average_increase,
        lambda o: MeanState(),
        options={"space": "input"},
        unit="%",
    )
)
register(
    MetricSpec(
        "road",
        "ROAD combined: mean over 10..90 % of (LeRF - MoRF) / 2 probability change, noisy "
        "linear imputation (Rong et al. 2022; slow, opt-in)",
        (),
        True,
        True,
        _road,
        lambda o: MeanState(),
        options={"noise": 0.01, "seed": 0},
        default=False,
    )
)
