"""ROAD: Remove And Debias (Rong, Leemann, Borisov, Kasneci and Kasneci, "A Consistent and
Efficient Evaluation Strategy for Attribution Methods", ICML 2022,
https://arxiv.org/abs/2202.00449).

For each percentage ``p``, the ``p`` % of the pixels the map ranks highest (MoRF, most
relevant first) or lowest (LeRF, least relevant first) are removed and filled in by
**noisy linear imputation** (:func:`~seewhy.metrics.road_impute`), and the model scores the imputed image.
A faithful map makes the MoRF curve fall fast and the LeRF curve stay high.

The imputation (a sparse solve per image and percentage, then noise) is
:mod:`seewhy.metrics.imputation`.
What seewhy follows, and where the reference code (``tleemann/road_evaluation``) and
pytorch-grad-cam (``pytorch_grad_cam/metrics/road.py``, whose ``NoisyLinearImputer`` is
the authors' and gives the same numbers as :func:`~seewhy.metrics.road_impute` with ``noise=0``) differ:

- ``p`` is the share removed, in both orders (``int(HW * p / 100)`` pixels, as the
  authors count). pytorch-grad-cam's ``p`` is the share kept in both orders (its MoRF at
  ``p`` removes the pixels at or above the map's ``p``-th percentile, the top ``100 - p`` %),
  and the authors' LeRF at ``p`` keeps the top ``p`` %; over the symmetric 10..90 the
  averages are the same.
- Ties in the map are broken by a seeded random order (the authors add ``1e-4`` noise to
  the map for the same purpose); pytorch-grad-cam thresholds with ``<``, so tied pixels
  at the threshold all stay.
- The authors impute pixels in [0, 1] before normalizing, so their noise (0.01) is in
  pixel units; pytorch-grad-cam imputes the preprocessed tensor and adds 0.01 there. The
  imputation itself is linear and commutes with the normalization; seewhy adds
  ``noise / std`` per channel to the preprocessed tensor (the model's ``std``, ImageNet's for
  a bare module), the authors' noise. pytorch-grad-cam's noise is unseeded; seewhy's is
  drawn from ``numpy.random.default_rng([image seed, percentage])``, the image seed
  :func:`~seewhy.methods.ops.image_seeds` of ``seed`` and the image's values, so a run is
  reproducible and an image's scores do not depend on the batch size, its row or the
  other images (nor on the shard, in ``seewhy evaluate``).
- The score is the softmax probability of the target on the imputed image
  (:attr:`RoadScores.scores`; the paper's figures show the accuracy and the probability);
  :attr:`RoadScores.change` is that minus the probability on the image, what
  pytorch-grad-cam's ROAD metrics return, and :func:`road_combined` is its
  ``ROADCombined``: the mean over ``p`` of ``(LeRF - MoRF) / 2``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from seewhy.errors import OptionError
from seewhy.methods.ops import auto_batch_size, image_seeds
from seewhy.metrics.imputation import impute_one, noise_per_channel
from seewhy.metrics.scoring import (
    Scored,
    channel_stats,
    map_inputs,
    score_copies,
    top_classes,
)

__all__ = ["RoadScores", "road", "road_combined"]

PERCENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)

#: threads imputing copies (the solves release the GIL), and how many batches they run ahead.
IMPUTERS, AHEAD = 2, 1


@dataclass(frozen=True)
class RoadScores:
    """ROAD scores of N images at P percentages.

    Attributes:
        order: ``"morf"`` or ``"lerf"``.
        percentiles: (P,) the percentages of the pixels removed.
        scores: (N, P) the softmax probability of the target on each imputed image.
        clean: (N,) the probability on the image itself.
        targets: (N,) the classes.
    """

    order: str
    percentiles: np.ndarray
    scores: np.ndarray
    clean: np.ndarray
    targets: np.ndarray

    @property
    def change(self) -> np.ndarray:
        """(N, P) ``scores - clean``: pytorch-grad-cam's ROAD numbers."""
        return self.scores - self.clean[:, None]


def road_combined(morf: RoadScores, lerf: RoadScores) -> np.ndarray:
    """(N,) pytorch-grad-cam's ``ROADCombined``: the mean over the percentages of
    ``(LeRF change - MoRF change) / 2`` (higher is better)."""
    if morf.order != "morf" or lerf.order != "lerf":
        raise OptionError("road_combined takes the MoRF scores first, then the LeRF scores")
    return ((lerf.change - morf.change) / 2).mean(axis=1)


def removal_order(maps: torch.Tensor, seed: int) -> torch.Tensor:
    """(N, HW) each image's pixels from the highest map value to the lowest, ties in a
    seeded random order."""
    flat = maps.reshape(maps.shape[0], -1).cpu()
    generator = torch.Generator().manual_seed(seed)
    shuffle = torch.randperm(flat.shape[1], generator=generator)
    order = torch.argsort(flat[:, shuffle], dim=1, descending=True, stable=True)
    return shuffle[order]


def road(
    model: nn.Module | Scored,
    images: torch.Tensor,
    maps: torch.Tensor,
    targets: object = None,
    *,
    percentiles: Sequence[float] = PERCENTILES,
    order: str = "morf",
    noise: float = 0.01,
    seed: int = 0,
    batch_size: int | None = None,
    fast: bool = True,
    progress: bool | None = None,
) -> RoadScores:
    """ROAD (see :mod:`seewhy.metrics.road`): remove ``p`` % of each image's pixels, most
    (``order="morf"``) or least (``"lerf"``) relevant first, impute them, score.

    Args:
        model, images, maps, targets, batch_size, fast, progress: as
            :func:`~seewhy.metrics.deletion`; the ``N * (P + 1)`` forwards (the imputed
            images and the images themselves) run together, the imputed images made
            on :data:`IMPUTERS` threads a batch ahead of the forwards.
        percentiles: the percentages removed, each in (0, 100).
        order: ``"morf"`` or ``"lerf"``.
        noise: the imputation noise in [0, 1] pixel units (the authors' 0.01), divided by
            the model's per-channel ``std`` to act on the preprocessed images.
        seed: seeds the noise and the order of tied pixels.

    Returns:
        :class:`RoadScores`.
    """
    scored, images, maps, wanted = map_inputs(model, images, maps, targets)
    if order not in ("morf", "lerf"):
        raise OptionError(f"order={order!r} is not allowed; use 'morf' or 'lerf'")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise OptionError(f"seed must be an int (it makes the noise reproducible), got {seed!r}")
    shares = np.asarray(percentiles, dtype=np.float64).reshape(-1)
    if shares.size == 0 or (shares <= 0).any() or (shares >= 100).any():
        raise OptionError(f"percentiles must be in (0, 100), got {percentiles!r}")
    if wanted is None:
        wanted = top_classes(scored, images, batch_size=batch_size, fast=fast)
    n, channels, h, w = images.shape
    _, std = channel_stats(scored, channels)
    sigma = noise_per_channel(noise, channels) / std.view(-1).double().numpy()
    ranked = removal_order(maps, seed)
    if order == "lerf":
        ranked = ranked.flip(1)
    removed_counts = [int(h * w * share / 100) for share in shares]
    pixels = images.detach().cpu().double().numpy()
    points = shares.size + 1  # the image itself, then each percentage
    seeds = image_seeds(images, seed)

    def copy_of(copy: int) -> torch.Tensor:
        row, point = divmod(copy, points)
        if point == 0:
            return images[row]
        mask = np.zeros(h * w, dtype=bool)
        mask[ranked[row, : removed_counts[point - 1]].numpy()] = True
        rng = np.random.default_rng([seeds[row], point - 1])
        filled = impute_one(pixels[row], mask.reshape(h, w), sigma, rng)
        return torch.from_numpy(filled).to(images.device, images.dtype)

    total = n * points
    size = auto_batch_size(images[:1], batch_size)
    with ThreadPoolExecutor(IMPUTERS, thread_name_prefix="seewhy-road") as pool:
        # imputed copies are made ahead, at most AHEAD batches' worth, while the model
        # scores the batch before: the solves release the GIL and use the cores a
        # forward leaves idle (each copy's noise is seeded by its own image and percentage,
        # so the result does not depend on the threads)
        pending: dict[int, Future[torch.Tensor]] = {}
        following = iter(range(total))

        def make(start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
            for copy in itertools.islice(
                following, max(0, stop + AHEAD * size - start - len(pending))
            ):
                pending[copy] = pool.submit(copy_of, copy)
            copies = [pending.pop(copy).result() for copy in range(start, stop)]
            rows = torch.arange(start, stop, device=images.device) // points
            return torch.stack(copies), wanted[rows]

        try:
            flat = score_copies(
                scored,
                make,
                total,
                images[:1],
                batch_size=batch_size,
                fast=fast,
                desc=f"ROAD {order.upper()}",
                # about a second per image (18 imputations for MoRF + LeRF): a bar from 2 images
                progress=progress if progress is not None else n >= 2,
            )
        finally:
            for future in pending.values():
                future.cancel()
    table = flat.view(n, points).numpy()
    return RoadScores(
        order=order,
        percentiles=shares,
        scores=table[:, 1:],
        clean=table[:, 0],
        targets=wanted.cpu().numpy(),
    )
