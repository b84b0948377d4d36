"""Weakly supervised localization scores: MaxBoxAcc(V2), PxAP and the ILSVRC localization error.

The box and mask scores follow Choe et al., *Evaluating Weakly Supervised Object Localization
Methods Right*, CVPR 2020 (https://arxiv.org/abs/2001.07437), definition by definition as
its code (clovaai/wsolevaluation, ``evaluation.py``) computes them, so seewhy's numbers sit
beside the published ones. Each score has an accumulator with ``update``, ``merge`` and
``compute`` holding integer counts only, so shards of a data set merge exactly.
Pure functions of maps; nothing here runs a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seewhy.errors import OptionError
from seewhy.localize import Segments, box_iou, segment_boxes
from seewhy.metrics.pointing import as_batch, maps_and_masks

__all__ = [
    "BoxAccuracy",
    "BoxAccuracyAccumulator",
    "PixelAPAccumulator",
    "box_accuracy",
    "localization_error",
    "pixel_average_precision",
    "scoremap",
]


def default_thresholds() -> np.ndarray:
    """wsolevaluation's map thresholds: ``arange(0, 1, 0.01)``."""
    return np.arange(0, 1, 0.01)


def scoremap(heat: np.ndarray) -> np.ndarray:
    """One map min-max scaled to ``[0, 1]`` as wsolevaluation's ``normalize_scoremap``: in
    float64, ``m - min`` then divided by its max; a constant map or one with a NaN becomes
    all zeros."""
    values = np.array(heat, dtype=np.float64)
    if np.isnan(values).any() or values.min() == values.max():
        return np.zeros_like(values)
    values -= values.min()
    values /= values.max()
    return values


@dataclass(frozen=True)
class BoxAccuracy:
    """MaxBoxAcc(V2) of a set of maps.

    Attributes:
        accuracy: IoU threshold -> the share of images localized at the best map threshold.
        best_threshold: IoU threshold -> that map threshold (the lowest one on ties).
        mean: the mean of ``accuracy`` over the IoU thresholds (MaxBoxAccV2 for
            ``iou=(0.3, 0.5, 0.7)``; MaxBoxAcc itself for ``iou=(0.5,)``).
        images: how many images were scored.
        thresholds: the map thresholds tried.
        curves: IoU threshold -> the share localized at each map threshold.
    """

    accuracy: dict[float, float]
    best_threshold: dict[float, float]
    mean: float
    images: int
    thresholds: np.ndarray
    curves: dict[float, np.ndarray]


def _gt_boxes(gt_boxes: Any, count: int) -> list[np.ndarray]:
    if hasattr(gt_boxes, "detach"):
        gt_boxes = gt_boxes.detach().cpu().numpy()
    if isinstance(gt_boxes, np.ndarray) and gt_boxes.ndim == 2:  # (N, 4): one box each
        gt_boxes = gt_boxes[:, None, :]
    per_image = [np.asarray(b, dtype=np.float64).reshape(-1, 4) for b in gt_boxes]
    if len(per_image) != count:
        raise OptionError(f"gt_boxes has {len(per_image)} entries for {count} maps")
    for n, b in enumerate(per_image):
        if len(b) == 0:
            raise OptionError(f"image {n} has no ground-truth box")
    return per_image


class BoxAccuracyAccumulator:
    """Counts for :func:`box_accuracy` over a data set fed in batches or shards.

    >>> acc = BoxAccuracyAccumulator()
    >>> for maps, gt_boxes in batches:  # doctest: +SKIP
    ...     acc.update(maps, gt_boxes)
    >>> acc.merge(other_shard).compute().mean  # doctest: +SKIP
    """

    def __init__(
        self,
        thresholds: Sequence[float] | np.ndarray | None = None,
        iou: Sequence[float] = (0.3, 0.5, 0.7),
        segments: Segments = "all",
    ) -> None:
        if segments not in ("largest", "all"):
            raise OptionError(f"segments must be 'largest' or 'all', got {segments!r}")
        self.thresholds = (
            default_thresholds() if thresholds is None else np.asarray(thresholds, np.float64)
        )
        if self.thresholds.ndim != 1 or not ((self.thresholds >= 0) & (self.thresholds < 1)).all():
            raise OptionError("thresholds must be a 1-D sequence of values in [0, 1)")
        self.iou = tuple(float(v) for v in iou)
        self.segments = segments
        self.correct = np.zeros((len(self.iou), len(self.thresholds)), dtype=np.int64)
        self.images = 0

    def best_ious(self, heat: np.ndarray, gt: np.ndarray) -> np.ndarray:
        """For one map: at each threshold, the best IoU between its boxes and the GT boxes.

        A pixel is foreground at threshold t when ``uint8(255 s) > int(t * max uint8(255 s))``
        (wsolevaluation's uint8 image and ``cv2.THRESH_BINARY``'s strict test). Its boxes
        end one pixel past the segment unless at the image's edge (``x + w`` of
        ``cv2.boundingRect``, clipped to ``W - 1``): kept so the numbers are the published
        ones. No foreground gives the box ``(0, 0, 0, 0)``, as the reference.
        """
        height, width = heat.shape
        image = (scoremap(heat) * 255).astype(np.uint8)
        peak = image.max()
        best = np.empty(len(self.thresholds))
        for i, threshold in enumerate(self.thresholds):
            found = [box for box, _ in segment_boxes(image > int(threshold * peak))]
            if self.segments == "largest":
                found = found[:1]
            boxes = [
                (x0, y0, min(x1 + 1, width - 1), min(y1 + 1, height - 1))
                for x0, y0, x1, y1 in found
            ] or [(0, 0, 0, 0)]
            best[i] = box_iou(boxes, gt).max()
        return best

    def update(self, maps: Any, gt_boxes: Any) -> BoxAccuracyAccumulator:
        """Add ``maps`` ``(N, H, W)`` with their ground-truth boxes: ``(N, 4)``, or per image
        a sequence of ``(x0, y0, x1, y1)`` boxes (inclusive ends). Returns ``self``."""
        heat = as_batch(maps, "maps")
        for one, gt in zip(heat, _gt_boxes(gt_boxes, len(heat))):
            best = self.best_ious(one, gt)
            for k, needed in enumerate(self.iou):
                self.correct[k] += best >= needed
            self.images += 1
        return self

    def merge(self, other: BoxAccuracyAccumulator) -> BoxAccuracyAccumulator:
        """Add another shard's counts (same thresholds, IoUs and segments) in place; returns ``self``."""
        same = (
            np.array_equal(self.thresholds, other.thresholds)
            and self.iou == other.iou
            and self.segments == other.segments
        )
        if not same:
            raise OptionError(
                "can only merge box accuracies with the same thresholds, iou and segments"
            )
        self.correct += other.correct
        self.images += other.images
        return self

    def compute(self) -> BoxAccuracy:
        """The scores so far (NaN accuracies before any image)."""
        if self.images == 0:
            curves = {v: np.full(len(self.thresholds), np.nan) for v in self.iou}
        else:
            curves = {v: self.correct[k] / self.images for k, v in enumerate(self.iou)}
        best = {v: int(np.argmax(c)) if self.images else 0 for v, c in curves.items()}
        accuracy = {v: float(curves[v][best[v]]) for v in self.iou}
        return BoxAccuracy(
            accuracy=accuracy,
            best_threshold={v: float(self.thresholds[best[v]]) for v in self.iou},
            mean=float(np.mean(list(accuracy.values()))),
            images=self.images,
            thresholds=self.thresholds.copy(),
            curves=curves,
        )


def box_accuracy(
    maps: Any,
    gt_boxes: Any,
    thresholds: Sequence[float] | np.ndarray | None = None,
    iou: Sequence[float] = (0.3, 0.5, 0.7),
    segments: Segments = "all",
) -> BoxAccuracy:
    """MaxBoxAccV2 (and MaxBoxAcc) of maps against ground-truth boxes.

    Choe et al., CVPR 2020 (https://arxiv.org/abs/2001.07437), Sec. 4, as wsolevaluation's
    ``BoxEvaluator`` computes it: each map is min-max scaled to ``[0, 1]``
    (:func:`scoremap`); at each map threshold :math:`\\tau` (one for the whole set) an image
    counts as localized at IoU level :math:`\\delta` when

    .. math:: \\max_{b \\in B(s \\ge \\tau),\\; g \\in G} \\mathrm{IoU}(b, g) \\ge \\delta

    with :math:`B` the boxes of the map's segments (all of them, or the largest) and :math:`G`
    the image's GT boxes; IoU counts pixels (the +1 convention, :func:`seewhy.localize.box_iou`).

    .. math:: \\mathrm{BoxAcc}(\\tau, \\delta) = \\frac{1}{N}\\sum_n [\\text{image } n \\text{ localized}],
       \\quad \\mathrm{MaxBoxAccV2} = \\frac{1}{3}\\sum_{\\delta \\in \\{0.3, 0.5, 0.7\\}} \\max_\\tau \\mathrm{BoxAcc}(\\tau, \\delta)

    ``segments="largest"``, ``iou=(0.5,)`` is MaxBoxAcc. Where seewhy differs from the
    reference: segments are 8-connected components (SciPy) rather than OpenCV contours, so
    the holes ``cv2.RETR_TREE`` lists as contours of their own give no boxes, and the largest
    segment is the one with the most pixels rather than the largest contour polygon area
    (a one-pixel-wide segment has contour area 0). Maps without holes and with a clear largest
    segment score identically. Values are shares in ``[0, 1]`` (the paper prints percents).

    Args:
        maps: ``(N, H, W)`` maps at the boxes' resolution.
        gt_boxes: ``(N, 4)``, or per image a sequence of ``(x0, y0, x1, y1)`` boxes.
        thresholds: map thresholds in ``[0, 1)``; default ``arange(0, 1, 0.01)``.
        iou: the IoU levels.
        segments: ``"all"`` (MaxBoxAccV2) or ``"largest"`` (MaxBoxAcc).
    """
    return BoxAccuracyAccumulator(thresholds, iou, segments).update(maps, gt_boxes).compute()


class PixelAPAccumulator:
    """Histograms for :func:`pixel_average_precision` over batches or shards."""

    def __init__(self, thresholds: Sequence[float] | np.ndarray | None = None) -> None:
        self.thresholds = (
            default_thresholds() if thresholds is None else np.asarray(thresholds, np.float64)
        )
        # bins [0, t1), ..., [t_last, 1), [1, 2), [2, 3]: a score of 1 falls in [1, 2)
        self.edges = np.append(self.thresholds, [1.0, 2.0, 3.0])
        self.positives = np.zeros(len(self.edges) - 1, dtype=np.int64)
        self.negatives = np.zeros(len(self.edges) - 1, dtype=np.int64)

    def update(self, maps: Any, masks: Any, ignore: Any = None) -> PixelAPAccumulator:
        """Add ``maps`` with their boolean ``masks`` (N, H, W); ``ignore`` (N, H, W), optional,
        marks pixels left out of the negatives (OpenImages' ignore regions). Returns ``self``."""
        heat, truth = maps_and_masks(maps, masks)
        skip = np.zeros_like(truth) if ignore is None else as_batch(ignore, "ignore").astype(bool)
        if skip.shape != truth.shape:
            raise OptionError(f"ignore must have the masks' shape {tuple(truth.shape)}")
        for one, mask, left_out in zip(heat, truth, skip):
            scores = scoremap(one)
            self.positives += np.histogram(scores[mask], bins=self.edges)[0]
            self.negatives += np.histogram(scores[~mask & ~left_out], bins=self.edges)[0]
        return self

    def merge(self, other: PixelAPAccumulator) -> PixelAPAccumulator:
        """Add another shard's histograms (same thresholds) in place; returns ``self``."""
        if not np.array_equal(self.thresholds, other.thresholds):
            raise OptionError("can only merge pixel APs with the same thresholds")
        self.positives += other.positives
        self.negatives += other.negatives
        return self

    def compute(self) -> float:
        """PxAP in ``[0, 1]``; NaN when no pixel is positive."""
        tp = self.positives[::-1].cumsum()
        fp = self.negatives[::-1].cumsum()
        if tp[-1] == 0:
            return float("nan")
        predicted = tp + fp
        precision = tp / np.where(predicted > 0, predicted, 1)
        recall = tp / tp[-1]
        area = (precision[1:] * np.diff(recall))[predicted[1:] != 0]
        return float(area.sum())


def pixel_average_precision(
    maps: Any,
    masks: Any,
    thresholds: Sequence[float] | np.ndarray | None = None,
    ignore: Any = None,
) -> float:
    """PxAP: the area under the pixel precision-recall curve of maps against masks.

    Choe et al., CVPR 2020 (https://arxiv.org/abs/2001.07437), Sec. 4, as wsolevaluation's
    ``MaskEvaluator``: maps min-max scaled per image (:func:`scoremap`), the pixel scores of
    the whole set binned at ``thresholds`` (default ``arange(0, 1, 0.01)``); from the top
    bin down, :math:`P_i = TP_i / (TP_i + FP_i)`, :math:`R_i = TP_i / |M|` and

    .. math:: \\mathrm{PxAP} = \\sum_{i \\ge 1} P_i (R_i - R_{i-1})

    over the bins where something is predicted. A share in ``[0, 1]`` (the paper prints
    percents); NaN when no mask pixel is set.
    """
    return PixelAPAccumulator(thresholds).update(maps, masks, ignore).compute()


def localization_error(
    boxes_per_class: Sequence[Mapping[int, Sequence[int] | None]],
    gt: Sequence[Mapping[int, Any]],
    topk: Sequence[int] = (1, 5),
    iou: float = 0.5,
) -> dict[int, float]:
    """Top-k localization error, the ILSVRC rule the Grad-CAM and CAM papers report.

    An image is localized at top-k when one of its k best-ranked predicted classes is one of
    its ground-truth classes and that class's box has :math:`\\mathrm{IoU} \\ge 0.5` with a
    ground-truth box of that class (the +1 pixel convention). Error = the share of images not
    localized. Selvaraju et al., ICCV 2017, Sec. 4.1 (https://arxiv.org/abs/1610.02391);
    Russakovsky et al., *ImageNet Large Scale Visual Recognition Challenge*, IJCV 2015
    (https://arxiv.org/abs/1409.0575), Sec. 4.1.

    Args:
        boxes_per_class: per image, a mapping from each predicted class to its box (or
            ``None``: no box), in rank order, best first. From an explanation of the top 5:
            ``[dict(zip(res.targets[b].tolist(), res.boxes("gradcam")[b])) for b in range(len(res))]``.
        gt: per image, a mapping from each ground-truth class to its box or boxes.
        topk: the k values.
        iou: the IoU needed (0.5 in ILSVRC).

    Returns:
        k -> the error in ``[0, 1]`` (NaN for no images).
    """
    if len(boxes_per_class) != len(gt):
        raise OptionError(f"{len(boxes_per_class)} predictions for {len(gt)} ground truths")
    ranks = []  # per image: the first rank (0-based) localized, or None
    for predicted, truth in zip(boxes_per_class, gt):
        first = None
        for rank, (cls, box) in enumerate(predicted.items()):
            if box is None or cls not in truth:
                continue
            if box_iou([box], np.asarray(truth[cls], dtype=np.float64).reshape(-1, 4)).max() >= iou:
                first = rank
                break
        ranks.append(first)
    if not ranks:
        return {k: float("nan") for k in topk}
    return {k: sum(r is None or r >= k for r in ranks) / len(ranks) for k in topk}
