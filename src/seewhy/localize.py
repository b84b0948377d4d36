"""Boxes from maps: weakly supervised localization as the Grad-CAM and CAM papers do it.

Selvaraju et al., *Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
Localization*, ICCV 2017, Sec. 4.1 (https://arxiv.org/abs/1610.02391): binarize the map at
15 % of its maximum, take the connected segments, draw one box around the largest.
Zhou et al., *Learning Deep Features for Discriminative Localization*, CVPR 2016
(https://arxiv.org/abs/1512.04150) did the same at 20 %.

Boxes are ``(x0, y0, x1, y1)``: 0-based pixel indices with inclusive ends, so a box of one
pixel has ``x0 == x1``. Maps are consumed as they are; nothing here runs a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NamedTuple, overload

import numpy as np
from scipy import ndimage

from seewhy.errors import OptionError

__all__ = ["Box", "box_iou", "box_mask", "boxes", "segment_boxes"]

Segments = Literal["largest", "all"]
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
FEW_SEGMENTS = 8


class Box(NamedTuple):
    """``(x0, y0, x1, y1)``, 0-based, inclusive ends; a tuple, so it goes to JSON as a list."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0 + 1

    @property
    def height(self) -> int:
        return self.y1 - self.y0 + 1

    @property
    def area(self) -> int:
        return self.width * self.height


def _as_array(maps: Any) -> np.ndarray:
    if hasattr(maps, "detach") and hasattr(maps, "cpu"):
        maps = maps.detach().cpu().double().numpy()  # any dtype, bfloat16 too
    return np.asarray(maps)


def segment_boxes(foreground: np.ndarray) -> list[tuple[Box, int]]:
    """Every 8-connected segment of a boolean ``(H, W)`` image as ``(box, pixel count)``,
    largest first; equal counts keep raster order (the segment whose first pixel comes first
    in row-major order goes first)."""
    rows, cols = np.flatnonzero(foreground.any(axis=1)), np.flatnonzero(foreground.any(axis=0))
    if rows.size == 0:
        return []
    # label only the rows and columns that hold foreground: raster order is kept, and at high
    # thresholds (box_accuracy tries 100) the crop is a small part of the map
    top, left = int(rows[0]), int(cols[0])
    crop = foreground[top : rows[-1] + 1, left : cols[-1] + 1]
    labels, count = ndimage.label(crop, structure=EIGHT_CONNECTED)
    found = []
    if count <= FEW_SEGMENTS:  # a mask per segment: 3x faster than find_objects + bincount
        for label in range(1, count + 1):
            segment = labels == label
            ys = np.flatnonzero(segment.any(axis=1))
            xs = np.flatnonzero(segment.any(axis=0))
            box = Box(left + int(xs[0]), top + int(ys[0]), left + int(xs[-1]), top + int(ys[-1]))
            found.append((box, int(np.count_nonzero(segment))))
    else:
        sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
        for (ys, xs), size in zip(ndimage.find_objects(labels), sizes):
            box = Box(left + xs.start, top + ys.start, left + xs.stop - 1, top + ys.stop - 1)
            found.append((box, int(size)))
    return sorted(found, key=lambda item: -item[1])  # stable: ties stay in label order


def _one(heat: np.ndarray, threshold: float, segments: Segments) -> Box | None | list[Box]:
    peak = np.nanmax(heat) if np.isfinite(heat).any() else np.nan
    if not peak > 0:  # also NaN: a map with no positive value has no box
        return None if segments == "largest" else []
    cutoff = threshold * peak if threshold > 0 else 0.0  # 0 * inf would be NaN
    found = [box for box, _ in segment_boxes(heat >= cutoff)]
    if segments == "largest":
        return found[0] if found else None
    return found


@overload
def boxes(
    maps: Any, threshold: float = 0.15, segments: Literal["largest"] = "largest"
) -> Box | None | list[Box | None]: ...


@overload
def boxes(maps: Any, threshold: float, segments: Literal["all"]) -> list[Box] | list[list[Box]]: ...


@overload
def boxes(
    maps: Any, threshold: float = 0.15, *, segments: Literal["all"]
) -> list[Box] | list[list[Box]]: ...


def boxes(
    maps: Any, threshold: float = 0.15, segments: Segments = "largest"
) -> Box | None | list[Box] | list[Box | None] | list[list[Box]]:
    """The box of a map's largest segment above ``threshold`` times its maximum, or every
    segment's box.

    Foreground is :math:`\\{(i, j) : L_{ij} \\ge \\tau \\max L\\}` with :math:`\\tau` =
    ``threshold`` (Grad-CAM: 0.15, CAM: 0.20); segments are 8-connected (SciPy's
    ``ndimage.label`` with a 3 x 3 structure, the connectivity of the OpenCV contours the
    reference code draws boxes around). NaN pixels are never foreground.

    Args:
        maps: one ``(H, W)`` map or a batch ``(N, H, W)``, tensor or array.
        threshold: the share of the map's maximum a pixel needs, in ``[0, 1]``.
        segments: ``"largest"``: the box of the segment with the most pixels (ties: the
            segment whose first pixel comes first in row-major order); ``"all"``: every
            segment's box, largest first (ties in the same order).

    Returns:
        For one map: a :class:`Box`, or ``None`` when the map's maximum is <= 0
        (``"largest"``); a list of boxes, empty when the maximum is <= 0 (``"all"``).
        For a batch: a list with that for each map.

    >>> import numpy as np
    >>> m = np.zeros((5, 6)); m[1:3, 2:5] = 1.0
    >>> boxes(m)
    Box(x0=2, y0=1, x1=4, y1=2)
    """
    if segments not in ("largest", "all"):
        raise OptionError(f"segments must be 'largest' or 'all', got {segments!r}")
    if not 0.0 <= threshold <= 1.0:
        raise OptionError(f"threshold must be in [0, 1], got {threshold}")
    heat = _as_array(maps).astype(np.float64)
    if heat.ndim == 2:
        return _one(heat, threshold, segments)
    if heat.ndim == 3:
        return [_one(h, threshold, segments) for h in heat]  # type: ignore[return-value]
    raise OptionError(f"maps must be (H, W) or (N, H, W), got shape {tuple(heat.shape)}")


def box_iou(boxes_a: Any, boxes_b: Any) -> np.ndarray:
    """IoU of every box in ``boxes_a`` (A, 4) with every box in ``boxes_b`` (B, 4): (A, B).

    Inclusive ends, so areas count pixels: :math:`(x_1 - x_0 + 1)(y_1 - y_0 + 1)` (the "+1
    pixel convention" of PASCAL VOC, ILSVRC and wsolevaluation). A pair whose union is not
    positive (degenerate boxes) has IoU 0, as wsolevaluation's ``calculate_multiple_iou``.
    """
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)[None, :, :]
    width = np.maximum(0.0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1)
    height = np.maximum(
        0.0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1
    )
    intersection = width * height
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    union = area_a + area_b - intersection
    return np.where(union > 0, intersection / np.where(union > 0, union, 1.0), 0.0)


def box_mask(boxes: Sequence[Sequence[int]], size: tuple[int, int]) -> np.ndarray:
    """A boolean ``(H, W)`` mask, True inside any of ``boxes`` (inclusive ends, clipped to
    the image): ground-truth boxes as the masks the pointing games take."""
    height, width = size
    mask = np.zeros((height, width), dtype=bool)
    for x0, y0, x1, y1 in boxes:
        if int(x1) < 0 or int(y1) < 0:  # wholly left of or above the image (a negative
            continue  # end would count from the far side)
        mask[max(int(y0), 0) : int(y1) + 1, max(int(x0), 0) : int(x1) + 1] = True
    return mask
