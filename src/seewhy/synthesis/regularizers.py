"""Regularizers that make synthesized images recognizable, after Olah et al. 2017.

*Transformation robustness* (https://distill.pub/2017/feature-visualization/#regularizer-playground):
at every step each image is seen through its own random jitter, scaling and rotation, so the
optimizer cannot rely on patterns that only work at one exact position. *Penalties* pull the
image towards the mean: the L2 norm of Simonyan et al. 2014 (https://arxiv.org/abs/1312.6034),
the L1 norm of the seeds (``y_c - lambda sum |x|``, most pixels stay at the mean) and total
variation (Mahendran & Vedaldi 2015, https://arxiv.org/abs/1412.0035).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["Penalties", "Transforms", "penalties", "random_transform"]


@dataclass(frozen=True)
class Transforms:
    """A random affine transform drawn per image and per step.

    Attributes:
        jitter: largest shift, in pixels, along each axis (uniform in ``[-jitter, jitter]``).
        scale: range of the zoom factor (uniform; 1 = none).
        rotate: largest rotation in degrees (uniform in ``[-rotate, rotate]``).
    """

    jitter: float = 8.0
    scale: tuple[float, float] = (0.9, 1.1)
    rotate: float = 10.0

    @property
    def identity(self) -> bool:
        return self.jitter == 0 and self.scale == (1.0, 1.0) and self.rotate == 0


def random_transform(
    normalized: torch.Tensor, transforms: Transforms, generator: torch.Generator
) -> torch.Tensor:
    """``normalized`` (N, C, H, W) moved, zoomed and turned at random, bilinearly resampled.

    The transform acts on the normalized input, so the area uncovered at the borders is
    filled with zeros there, i.e. with the model's mean colour.
    """
    if transforms.identity:
        return normalized
    n, _, height, width = normalized.shape
    device = normalized.device

    def uniform(low: float, high: float) -> torch.Tensor:
        draw = torch.rand(n, generator=generator, device=device, dtype=normalized.dtype)
        return low + (high - low) * draw

    angle = uniform(-transforms.rotate, transforms.rotate) * (math.pi / 180)
    zoom = uniform(*transforms.scale)
    # affine_grid maps output coordinates in [-1, 1] to input coordinates.
    shift_x = uniform(-transforms.jitter, transforms.jitter) * (2.0 / width)
    shift_y = uniform(-transforms.jitter, transforms.jitter) * (2.0 / height)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [torch.stack([cos, -sin, shift_x], dim=1), torch.stack([sin, cos, shift_y], dim=1)], dim=1
    )
    grid = F.affine_grid(theta, list(normalized.shape), align_corners=False)
    return F.grid_sample(
        normalized, grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )


@dataclass(frozen=True)
class Penalties:
    """Weights of the penalties subtracted from the objective (0 = off).

    With ``I`` the normalized input (0 = the mean image) and ``P`` the pixels in [0, 1], each
    image maximizes ``objective - l2 * mean(I^2) - l1 * mean(|I|) - tv * TV(P)`` with
    ``TV(P) = mean|P[y+1, x] - P[y, x]| + mean|P[y, x+1] - P[y, x]|``. Means instead of the
    papers' sums keep the weights independent of the image size (same maximizers).
    """

    l2: float = 0.0
    l1: float = 0.0
    tv: float = 0.0


def penalties(pixels: torch.Tensor, normalized: torch.Tensor, weights: Penalties) -> torch.Tensor:
    """The (N,) weighted penalty of each image."""
    total = torch.zeros(pixels.shape[0], device=pixels.device, dtype=pixels.dtype)
    if weights.l2:
        total = total + weights.l2 * normalized.pow(2).mean(dim=(1, 2, 3))
    if weights.l1:
        total = total + weights.l1 * normalized.abs().mean(dim=(1, 2, 3))
    if weights.tv:
        down = (pixels[:, :, 1:] - pixels[:, :, :-1]).abs().mean(dim=(1, 2, 3))
        right = (pixels[:, :, :, 1:] - pixels[:, :, :, :-1]).abs().mean(dim=(1, 2, 3))
        total = total + weights.tv * (down + right)
    return total
