"""Pointing games: does a map's peak, or its mass, fall on the object?

Pure functions of maps and ground-truth masks; nothing here runs a model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seewhy.errors import OptionError

__all__ = ["energy_pointing_game", "pointing_accuracy", "pointing_game"]


def as_batch(values: Any, name: str) -> np.ndarray:
    """``values`` (tensor or array, ``(H, W)`` or ``(N, H, W)``) as an ``(N, H, W)`` array."""
    if hasattr(values, "detach") and hasattr(values, "cpu"):  # a tensor, any dtype (bfloat16 too)
        values = values.detach().cpu()
        values = (values.double() if values.is_floating_point() else values).numpy()
    array = np.asarray(values)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise OptionError(f"{name} must be (N, H, W) or (H, W), got shape {tuple(array.shape)}")
    return array


def maps_and_masks(maps: Any, masks: Any) -> tuple[np.ndarray, np.ndarray]:
    """Float64 maps and boolean masks of the same ``(N, H, W)`` shape, or an OptionError."""
    heat = as_batch(maps, "maps").astype(np.float64)
    truth = as_batch(masks, "masks").astype(bool)
    if heat.shape != truth.shape:
        raise OptionError(
            f"maps and masks must have the same shape, got {tuple(heat.shape)} and {tuple(truth.shape)}"
        )
    return heat, truth


def pointing_game(maps: Any, masks: Any, tolerance: float = 15) -> np.ndarray:
    """Pointing game hits: is each map's maximum within ``tolerance`` px of the object?

    Zhang et al., *Top-down Neural Attention by Excitation Backprop*, ECCV 2016
    (https://arxiv.org/abs/1608.00507), with TorchRay's tolerance rule (its
    ``PointingGame.evaluate``): with :math:`p = \\arg\\max L` (the first maximum in row-major
    order, so a constant map points at its top-left pixel),

    .. math:: \\mathrm{hit} = \\big[\\exists\\, q \\in M : \\lVert p - q \\rVert_2 < t\\big]

    (strictly within ``t`` = ``tolerance`` pixels, Euclidean). Unlike Quantus 0.6, tied
    maxima are not all tried (a constant map points at one pixel only) and an empty mask is
    NaN, not a hit.

    Args:
        maps: ``(N, H, W)`` (or one ``(H, W)``) maps at the mask's resolution.
        masks: ``(N, H, W)`` boolean: the pixels of the object (e.g. :func:`seewhy.localize.box_mask`
            of its boxes).
        tolerance: the radius in pixels; 15 in the papers (at 224 px on the shorter side).

    Returns:
        ``(N,)`` float64: 1.0 hit, 0.0 miss, NaN where the mask is empty or the map is all
        NaN (NaN pixels are never the peak).
    """
    number = not isinstance(tolerance, bool) and isinstance(tolerance, (int, float, np.number))
    if not number or not 0 <= tolerance < np.inf:
        raise OptionError(f"tolerance must be a number of pixels >= 0, got {tolerance!r}")
    heat, truth = maps_and_masks(maps, masks)
    width = heat.shape[2]
    hits = np.full(heat.shape[0], np.nan)
    for n, (one, mask) in enumerate(zip(heat, truth)):
        ys, xs = np.nonzero(mask)
        if ys.size == 0 or np.isnan(one).all():
            continue
        # first maximum in row-major order; a NaN pixel is no peak (argmax would pick it)
        peak = int(np.argmax(np.where(np.isnan(one), -np.inf, one)))
        py, px = divmod(peak, width)
        squared = (ys - py) ** 2 + (xs - px) ** 2
        hits[n] = float(squared.min() < tolerance**2)
    return hits


def pointing_accuracy(hits: Any, classes: Any) -> float:
    """The pointing game's reported number: the mean over classes of each class's hit rate.

    .. math:: \\mathrm{acc} = \\frac{1}{|C|} \\sum_{c \\in C} \\frac{\\mathrm{hits}_c}{\\mathrm{hits}_c + \\mathrm{misses}_c}

    NaN hits (empty masks, skipped pairs) are left out; :math:`C` = the classes with at least
    one counted hit or miss. TorchRay averages over all of the data set's classes (a class
    never seen counts 0); on VOC07 and COCO14, where every class is seen, both agree.

    Args:
        hits: ``(N,)`` from :func:`pointing_game`.
        classes: ``(N,)`` the class each hit was scored for.

    Returns:
        The accuracy in ``[0, 1]`` (NaN when nothing was counted).
    """
    values = np.asarray(hits, dtype=np.float64).reshape(-1)
    labels = np.asarray(classes).reshape(-1)
    if values.shape != labels.shape:
        raise OptionError(
            f"hits and classes must have the same length, got {values.size} and {labels.size}"
        )
    counted = ~np.isnan(values)
    rates = [values[counted & (labels == c)].mean() for c in np.unique(labels[counted])]
    return float(np.mean(rates)) if rates else float("nan")


def energy_pointing_game(maps: Any, masks: Any) -> np.ndarray:
    """Energy-based pointing game: the share of the map's positive mass on the object.

    Wang et al., *Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural
    Networks*, CVPRW 2020 (https://arxiv.org/abs/1910.01279), Sec. 4.2.2:

    .. math:: \\mathrm{Proportion} = \\frac{\\sum_{(i, j) \\in M} L^+_{ij}}{\\sum_{(i, j)} L^+_{ij}},
       \\quad L^+ = \\max(L, 0)

    with the mask indexed as the map (the authors' code swaps x and y).

    Returns:
        ``(N,)`` float64 in ``[0, 1]``; NaN where the clipped map sums to 0.
    """
    heat, truth = maps_and_masks(maps, masks)
    positive = np.clip(heat, 0.0, None)
    total = positive.sum(axis=(1, 2))
    inside = (positive * truth).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / total, np.nan)
