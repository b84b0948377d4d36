"""Faithfulness measures of single perturbations: Grad-CAM++'s average drop / increase in
confidence, and Grad-CAM's rank correlation with occlusion.

Deletion / insertion are in :mod:`seewhy.metrics.deletion`, ROAD in :mod:`seewhy.metrics.road`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from seewhy.errors import OptionError
from seewhy.metrics.scoring import (
    Scored,
    as_model,
    channel_stats,
    check_inputs,
    map_inputs,
    score_copies,
    top_classes,
)
from seewhy.metrics.similarity import spearman

__all__ = [
    "ConfidenceChange",
    "average_drop_increase",
    "occlusion_correlation",
    "occlusion_maps",
]


@dataclass(frozen=True)
class ConfidenceChange:
    """Average drop and increase in confidence of N images.

    Attributes:
        drop: the average drop, in % (lower is better).
        increase: the increase in confidence, in % of the images (higher is better).
        drops: (N,) each image's ``100 * max(0, Y - O) / Y``.
        increases: (N,) bool, ``O > Y``.
        scores: (N,) ``Y``, the softmax probability of the target on the image.
        masked_scores: (N,) ``O``, the same on the image times its map.
        targets: (N,) the classes.
    """

    drop: float
    increase: float
    drops: np.ndarray
    increases: np.ndarray
    scores: np.ndarray
    masked_scores: np.ndarray
    targets: np.ndarray


def min_max(maps: torch.Tensor) -> torch.Tensor:
    """Each map scaled to [0, 1] by its own min and max; a constant map becomes all 0."""
    flat = maps.reshape(maps.shape[0], -1)
    low = flat.amin(dim=1, keepdim=True)
    span = flat.amax(dim=1, keepdim=True) - low
    scaled = torch.where(span > 0, (flat - low) / span.clamp_min(1e-30), torch.zeros_like(flat))
    return scaled.view_as(maps)


def average_drop_increase(
    model: nn.Module | Scored,
    images: torch.Tensor,
    maps: torch.Tensor,
    targets: object = None,
    *,
    space: str = "input",
    batch_size: int | None = None,
    fast: bool = True,
    progress: bool | None = None,
) -> ConfidenceChange:
    """Average drop and increase in confidence (Chattopadhay et al., "Grad-CAM++",
    WACV 2018, https://arxiv.org/abs/1710.11063, section 6.1).

    Each map ``L`` is min-max scaled to [0, 1] and multiplied with its image, ``E = L * x``
    (all channels); with ``Y_i`` the softmax probability of the target on ``x_i`` and ``O_i``
    on ``E_i``:

    .. math::
        \\text{Average Drop} = 100 \\cdot \\frac{1}{N} \\sum_i \\frac{\\max(0, Y_i - O_i)}{Y_i}
        \\qquad
        \\text{Increase in Confidence} = 100 \\cdot \\frac{1}{N} \\sum_i [Y_i < O_i]

    The paper writes ``E = L * I`` without saying in which space. ``space="input"`` (the
    default) multiplies the preprocessed tensor, as torchcam's ``ClassificationMetric`` and
    pytorch-grad-cam's ``CamMultImageConfidenceChange`` do: where the map is 0 the pixel
    becomes the dataset's mean colour. ``space="pixels"`` multiplies the [0, 1] pixels
    (``x * std + mean``, from a :class:`~seewhy.LoadedModel`, ImageNet's for a bare module)
    and normalizes again: where the map is 0 the pixel becomes black.

    Peers: pytorch-grad-cam's ``DropInConfidence`` returns ``max(0, Y - O)`` without
    dividing by ``Y`` (so its "drop" is not the paper's); seewhy divides, as the paper.
    torchcam divides by ``Y + 1e-7``; seewhy divides by ``Y`` exactly (a probability
    that is exactly 0 gives a drop of 0). Both peers' numbers are fractions, seewhy's %.

    Args:
        model, images, maps, targets, batch_size, fast, progress: as
            :func:`~seewhy.metrics.deletion`; the 2N forwards (images and masked images)
            run together.
        space: ``"input"`` or ``"pixels"``: where the map multiplies the image.

    Returns:
        :class:`ConfidenceChange`.
    """
    scored, images, maps, wanted = map_inputs(model, images, maps, targets)
    if space not in ("input", "pixels"):
        raise OptionError(f"space={space!r} is not allowed; use 'input' or 'pixels'")
    if wanted is None:
        wanted = top_classes(scored, images, batch_size=batch_size, fast=fast)
    weights = min_max(maps).unsqueeze(1).to(images.dtype)
    if space == "input":
        masked = weights * images
    else:
        mean, std = channel_stats(scored, images.shape[1])
        mean, std = mean.to(images), std.to(images)
        masked = (weights * (images * std + mean) - mean) / std
    n = images.shape[0]

    def make(start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.arange(start, stop, device=images.device)
        source = torch.where((rows < n)[:, None, None, None], images[rows % n], masked[rows % n])
        return source, wanted[rows % n]

    both = score_copies(
        scored,
        make,
        2 * n,
        images[:1],
        batch_size=batch_size,
        fast=fast,
        desc="average drop",
        progress=progress,
    ).numpy()
    y, o = both[:n], both[n:]
    with np.errstate(invalid="ignore", divide="ignore"):
        drops = np.where(y > 0, np.maximum(0.0, y - o) / y, 0.0) * 100
    increases = o > y
    return ConfidenceChange(
        drop=float(drops.mean()),
        increase=float(increases.mean() * 100),
        drops=drops,
        increases=increases,
        scores=y,
        masked_scores=o,
        targets=wanted.cpu().numpy(),
    )


def _as_stack(maps: Any, name: str) -> np.ndarray:
    array = np.asarray(maps.detach().cpu() if hasattr(maps, "detach") else maps, np.float64)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise OptionError(f"{name} must be (N, H, W) or (H, W), got shape {array.shape}")
    return array


def occlusion_correlation(maps: Any, occlusion_maps: Any) -> np.ndarray:
    """Spearman's rank correlation of each map with the occlusion map of the same image and
    target, over the pixels: the faithfulness measure of Selvaraju et al., "Grad-CAM"
    (ICCV 2017, https://arxiv.org/abs/1610.02391, "Faithfulness vs. Interpretability",
    where Guided Grad-CAM correlates better with occlusion than guided backprop does).

    .. math:: \\rho = \\operatorname{corr}(\\operatorname{rank}(L), \\operatorname{rank}(O))

    Pearson's correlation of the ranks, tied pixels given their mean rank (as
    ``scipy.stats.spearmanr``). Both stacks are (N, H, W) (tensors or arrays) of one shape;
    upsample a layer-resolution map first. Returns (N,) float64, NaN where either map is
    constant. :func:`occlusion_maps` computes the occlusion maps with seewhy.
    """
    a, b = _as_stack(maps, "maps"), _as_stack(occlusion_maps, "occlusion_maps")
    if a.shape != b.shape:
        raise OptionError(
            f"maps and occlusion_maps must have one shape, got {a.shape} and {b.shape}"
        )
    return spearman(a, b)


def occlusion_maps(
    model: nn.Module | Scored,
    images: torch.Tensor,
    targets: object,
    *,
    window: int = 16,
    stride: int = 8,
    baseline: float | str = 0.0,
    progress: bool | None = None,
) -> torch.Tensor:
    """(N, H, W) seewhy's ``occlusion`` maps of ``images`` for one target class each (the
    other argument of :func:`occlusion_correlation`): ``window``/``stride``/``baseline`` as
    the method's options. The Grad-CAM paper does not give its occlusion window."""
    from seewhy.explain import Explainer

    scored = as_model(model)
    images, _, wanted = check_inputs(images, None, targets)
    assert wanted is not None
    options = {"window": window, "stride": stride, "baseline": baseline}
    result = Explainer(scored).explain(  # type: ignore[arg-type]
        images, methods={"occlusion": options}, targets=wanted.tolist(), progress=progress
    )
    return result.maps["occlusion"][:, 0]
