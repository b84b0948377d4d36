"""Deletion and insertion (Petsiuk, Das and Saenko, "RISE: Randomized Input Sampling for
Explanation of Black-box Models", BMVC 2018, https://arxiv.org/abs/1806.07421).

The pixels are ranked by the map, most salient first. Deletion starts from the image and
replaces ``pixels_per_step`` pixels (all channels) per step with a substrate, most salient
first, until every pixel is replaced; insertion starts from the substrate and puts the
image's pixels back in the same order. With ``n = ceil(HW / pixels_per_step)`` steps the curve
has ``n + 1`` points, ``s_i`` the softmax probability of the target after ``min(i *
pixels_per_step, HW)`` pixels changed, and

.. math::
    \\mathrm{AUC} = \\frac{1}{n} \\Big( \\sum_{i=0}^{n} s_i - \\frac{s_0}{2} - \\frac{s_n}{2} \\Big)

the trapezoid rule on [0, 1] with steps of ``1 / n`` (RISE's ``auc``; a shorter last step
counts as a full one, as there). A faithful map has a low deletion and a high insertion AUC.

As the reference code (``evaluation.py``, ``CausalMetric``, and its notebook): the
substrate of deletion is zeros of the preprocessed input (the dataset's mean colour), the
substrate of insertion the image blurred by :func:`rise_blur`, both in the preprocessed
space; ``pixels_per_step=224``. Where the reference ranks with ``np.flip(np.argsort(map))``
(NumPy's unstable quicksort: tied pixels in no set order) seewhy ranks with a stable
descending sort, so tied pixels go in row-major order, as torchcam's metric does.

torchcam 0.5's ``DeletionInsertionMetric`` computes the same curves where the definitions
agree: the same ranking and zeros substrate, ``steps = HW / pixels_per_step`` when that
divides ``HW``. It differs in that it uses one baseline (zeros by default) for both curves,
so its insertion starts from zeros, not from the blur; it integrates against the actual
fraction changed (a shorter last step weighs less); and it computes its own CAM.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seewhy.errors import OptionError
from seewhy.metrics.scoring import Scored, map_inputs, score_copies, top_classes

__all__ = ["CausalCurves", "deletion", "insertion", "rise_blur"]

#: RISE's blur: an 11 x 11 kernel, sigma 5 (``gkern(11, 5)`` in the reference notebook).
BLUR_SIZE, BLUR_SIGMA = 11, 5.0


@dataclass(frozen=True)
class CausalCurves:
    """Deletion or insertion curves of N images.

    Attributes:
        mode: ``"deletion"`` or ``"insertion"``.
        auc: (N,) the area under each image's curve (see :mod:`seewhy.metrics.deletion`).
        scores: (N, n + 1) the softmax probability of the target at each step.
        fractions: (n + 1,) the share of the pixels changed at each step.
        targets: (N,) the class of each image whose probability is read.
    """

    mode: str
    auc: np.ndarray
    scores: np.ndarray
    fractions: np.ndarray
    targets: np.ndarray


@lru_cache(maxsize=4)
def _blur_kernel(size: int, sigma: float) -> torch.Tensor:
    from scipy.ndimage import gaussian_filter

    delta = np.zeros((size, size))
    delta[size // 2, size // 2] = 1.0
    # RISE: ``gaussian_filter`` of a centred delta (mode "reflect"), cast to float32.
    return torch.from_numpy(gaussian_filter(delta, sigma).astype(np.float32))


def rise_blur(images: torch.Tensor) -> torch.Tensor:
    """RISE's insertion substrate: each channel of ``images`` (N, C, H, W) convolved with an
    11 x 11 kernel, SciPy's ``gaussian_filter`` (sigma 5) of a centred delta, with zero
    padding (so the borders fade towards zero, the preprocessed mean colour)."""
    channels = images.shape[1]
    kernel = _blur_kernel(BLUR_SIZE, BLUR_SIGMA).to(images.device, images.dtype)
    weight = kernel.expand(channels, 1, BLUR_SIZE, BLUR_SIZE)
    return F.conv2d(images, weight, padding=BLUR_SIZE // 2, groups=channels)


def _substrate(images: torch.Tensor, substrate: str | torch.Tensor) -> torch.Tensor:
    if isinstance(substrate, torch.Tensor):
        try:
            return torch.broadcast_to(substrate.to(images), images.shape)
        except RuntimeError as error:
            raise OptionError(
                f"a substrate tensor must broadcast to the images {tuple(images.shape)}, got "
                f"{tuple(substrate.shape)}"
            ) from error
    if substrate == "zeros":
        return torch.zeros_like(images)
    if substrate == "blur":
        return rise_blur(images)
    raise OptionError(f"substrate={substrate!r} is not allowed; use 'zeros', 'blur' or a tensor")


def descending_ranks(maps: torch.Tensor) -> torch.Tensor:
    """(N, HW) int32: each pixel's place when the map is sorted high to low (ties in
    row-major order)."""
    flat = maps.reshape(maps.shape[0], -1)
    order = torch.argsort(flat, dim=1, descending=True, stable=True)
    places = torch.arange(flat.shape[1], dtype=torch.int32, device=flat.device)
    return torch.empty_like(order, dtype=torch.int32).scatter_(1, order, places.expand_as(order))


def _causal(
    mode: str,
    model: nn.Module | Scored,
    images: torch.Tensor,
    maps: torch.Tensor,
    targets: object,
    pixels_per_step: int,
    substrate: str | torch.Tensor,
    batch_size: int | None,
    fast: bool,
    progress: bool | None,
) -> CausalCurves:
    scored, images, maps, wanted = map_inputs(model, images, maps, targets)
    if isinstance(pixels_per_step, bool) or not isinstance(pixels_per_step, int):
        raise OptionError(f"pixels_per_step must be a positive int, got {pixels_per_step!r}")
    if pixels_per_step < 1:
        raise OptionError(f"pixels_per_step must be a positive int, got {pixels_per_step!r}")
    if wanted is None:
        wanted = top_classes(scored, images, batch_size=batch_size, fast=fast)
    n, c, h, w = images.shape
    area = h * w
    steps = -(-area // pixels_per_step)
    points = steps + 1
    changed_after = (torch.arange(points, device=images.device) * pixels_per_step).clamp(max=area)
    ranks = descending_ranks(maps)
    other = _substrate(images, substrate)
    start, finish = (images, other) if mode == "deletion" else (other, images)
    # Pixels as rows (N, HW, C): a copy is built channels-last, the layout the fast path runs.
    start = start.permute(0, 2, 3, 1).reshape(n, area, c)
    finish = finish.permute(0, 2, 3, 1).reshape(n, area, c)

    def make(first: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        copies = torch.arange(first, stop, device=images.device)
        rows, step = copies // points, copies % points
        changed = ranks[rows] < changed_after[step, None]
        x = torch.where(changed[..., None], finish[rows], start[rows])
        return x.view(-1, h, w, c).permute(0, 3, 1, 2), wanted[rows]

    flat = score_copies(
        scored,
        make,
        n * points,
        images[:1],
        batch_size=batch_size,
        fast=fast,
        desc=mode,
        progress=progress,
    )
    scores = flat.view(n, points).numpy()
    auc = (scores.sum(axis=1) - scores[:, 0] / 2 - scores[:, -1] / 2) / steps
    return CausalCurves(
        mode=mode,
        auc=auc,
        scores=scores,
        fractions=(changed_after.double() / area).cpu().numpy(),
        targets=wanted.cpu().numpy(),
    )


def deletion(
    model: nn.Module | Scored,
    images: torch.Tensor,
    maps: torch.Tensor,
    targets: object = None,
    *,
    pixels_per_step: int = 224,
    substrate: str | torch.Tensor = "zeros",
    batch_size: int | None = None,
    fast: bool = True,
    progress: bool | None = None,
) -> CausalCurves:
    """RISE's deletion curve and AUC of each map (lower is better).

    Args:
        model: an ``nn.Module`` returning class scores, or a :class:`~seewhy.LoadedModel`
            (its ``select_output`` picks them); left exactly as found.
        images: (N, C, H, W) preprocessed images.
        maps: (N, H, W) maps at the images' resolution (``res.maps[method][:, t]``).
        targets: (N,) class ids, one int for all, or None: each image's top-1 class.
        pixels_per_step: pixels (all channels) changed per step.
        substrate: what deleted pixels become: ``"zeros"`` (RISE), ``"blur"``
            (:func:`rise_blur`) or a tensor broadcastable to ``images``.
        batch_size: copies per forward (None: about 8 images of 224 x 224). Every step of
            every image is one copy; all of them run in ``ceil(N * (n + 1) / batch_size)``
            forwards without gradients.
        fast: fold BatchNorms and run channels-last (:mod:`seewhy.engine.passes`).
        progress: a progress bar (None: for runs of 256 copies or more).

    Returns:
        :class:`CausalCurves` with ``auc`` (N,) and the curves.

    >>> curves = seewhy.metrics.deletion(lm, x, res.maps["gradcam"][:, 0], [281])  # doctest: +SKIP
    """
    return _causal(
        "deletion",
        model,
        images,
        maps,
        targets,
        pixels_per_step,
        substrate,
        batch_size,
        fast,
        progress,
    )


def insertion(
    model: nn.Module | Scored,
    images: torch.Tensor,
    maps: torch.Tensor,
    targets: object = None,
    *,
    pixels_per_step: int = 224,
    substrate: str | torch.Tensor = "blur",
    batch_size: int | None = None,
    fast: bool = True,
    progress: bool | None = None,
) -> CausalCurves:
    """RISE's insertion curve and AUC of each map (higher is better): from the substrate
    (by default :func:`rise_blur` of the image) back to the image, most salient pixels
    first. Arguments as :func:`deletion`."""
    return _causal(
        "insertion",
        model,
        images,
        maps,
        targets,
        pixels_per_step,
        substrate,
        batch_size,
        fast,
        progress,
    )
