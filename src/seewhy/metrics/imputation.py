"""Noisy linear imputation, ROAD's way of filling removed pixels (Rong et al. 2022,
https://arxiv.org/abs/2202.00449; the authors' ``NoisyLinearImputer``, which pytorch-grad-cam
ships unchanged).

Every removed pixel becomes the weighted mean of its 8 neighbours inside the image (weight
1/6 for the 4 direct ones, 1/12 for the diagonals, renormalized over the neighbours that
exist at the border), removed neighbours included, so the removed pixels ``R`` of a channel
solve one sparse linear system

.. math::
    \\Big(\\sum_{j \\in N(i)} w_{ij}\\Big) x_i - \\sum_{j \\in N(i) \\cap R} w_{ij} x_j
    = \\sum_{j \\in N(i) \\setminus R} w_{ij} v_j \\qquad (i \\in R)

(``v`` the kept values); then ``N(0, noise^2)`` is added to each removed value. The matrix
is the same for every channel: it is built vectorised (the reference fills a ``lil_matrix``
offset by offset), factorized once (SuperLU, minimum degree on ``A + A^T``, no pivoting: it
is symmetric and diagonally dominant) and every channel is solved from that factorization.
The reference's quirks, for whoever compares: its mask is 1 for the pixels *kept*
(``removed_mask`` here is True for the removed ones); its ``weighting=`` argument is stored
and ignored (the module's global weights are used); its noise is ``torch.randn_like``,
unseeded. With ``noise=0`` the two give the same values (``tests/metrics/test_road.py``).

The factorization is most of ROAD's time (about 0.3-0.5 s for 45 000 removed pixels on one
core); nested-dissection orderings, QDLDL and algebraic multigrid were tried and were no
faster.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import scipy.sparse as sparse
import torch
from scipy.sparse.linalg import splu

from seewhy.errors import OptionError

__all__ = ["road_impute"]

#: (row offset, column offset, weight) of the 8 neighbours.
NEIGHBOURS = (
    (-1, -1, 1 / 12),
    (-1, 0, 1 / 6),
    (-1, 1, 1 / 12),
    (0, -1, 1 / 6),
    (0, 1, 1 / 6),
    (1, -1, 1 / 12),
    (1, 0, 1 / 6),
    (1, 1, 1 / 12),
)


#: rectangles of at most this many pixels end the dissection (eliminated row by row).
LEAF = 16


@lru_cache(maxsize=16)
def dissection_order(height: int, width: int) -> np.ndarray:
    """(H*W,) the pixels of an ``height`` x ``width`` grid in a nested-dissection
    elimination order (George 1973, "Nested dissection of a regular finite element mesh").

    The grid is cut by its middle column or row (the longer side), each half again, down
    to rectangles of at most :data:`LEAF` pixels; a cut is eliminated after both of its
    halves (deepest cuts first). One line separates the halves for the 8-neighbour stencil.
    """
    grid = np.arange(height * width).reshape(height, width)
    depths: list[list[np.ndarray]] = []
    stack = [(0, 0, height, 0, width)]
    while stack:
        depth, r0, r1, c0, c1 = stack.pop()
        rows, cols = r1 - r0, c1 - c0
        if rows * cols <= LEAF:
            separator = grid[r0:r1, c0:c1].reshape(-1)
        elif cols >= rows:
            mid = c0 + cols // 2
            separator = grid[r0:r1, mid]
            stack += [(depth + 1, r0, r1, c0, mid), (depth + 1, r0, r1, mid + 1, c1)]
        else:
            mid = r0 + rows // 2
            separator = grid[mid, c0:c1]
            stack += [(depth + 1, r0, mid, c0, c1), (depth + 1, mid + 1, r1, c0, c1)]
        depths += [[] for _ in range(depth + 1 - len(depths))]
        depths[depth].append(separator)
    order = np.concatenate([part for level in reversed(depths) for part in level])
    order.setflags(write=False)
    return order


@lru_cache(maxsize=16)
def grid_matrix(height: int, width: int) -> sparse.csr_matrix:
    """(HW, HW) the system with every pixel removed, rows and columns in
    :func:`dissection_order`: each pixel's sum of in-image neighbour weights on the
    diagonal, ``-w_ij`` for each neighbour. A mask's matrix is its principal submatrix on
    the removed pixels (the diagonal does not depend on the mask)."""
    order = dissection_order(height, width)
    count = order.size
    rank = np.empty(count, dtype=np.int64)
    rank[order] = np.arange(count)
    rows, cols = np.divmod(order, width)
    diagonal = np.zeros(count)
    entries_i, entries_j, entries_v = [np.arange(count)], [np.arange(count)], []
    for dr, dc, weight in NEIGHBOURS:
        r, c = rows + dr, cols + dc
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        diagonal[inside] += weight
        entries_i.append(np.flatnonzero(inside))
        entries_j.append(rank[r[inside] * width + c[inside]])
        entries_v.append(np.full(int(inside.sum()), -weight))
    indices = (np.concatenate(entries_i), np.concatenate(entries_j))
    values = np.concatenate([diagonal, *entries_v])
    return sparse.csr_matrix((values, indices), shape=(count, count))


def _system(removed: np.ndarray) -> tuple[sparse.csc_matrix, np.ndarray, sparse.csr_matrix]:
    """The matrix of one mask's system, the removed pixels' flat indices in
    :func:`dissection_order` (the unknowns' order) and their rows of
    :func:`grid_matrix` (whose kept columns give the right-hand side)."""
    h, w = removed.shape
    order = dissection_order(h, w)
    positions = np.flatnonzero(removed.reshape(-1)[order])
    rows = grid_matrix(h, w)[positions]
    # symmetric: the transpose of the CSR submatrix is its CSC form, without a copy
    return rows[:, positions].T, order[positions], rows


def impute_one(
    image: np.ndarray, removed: np.ndarray, noise: np.ndarray, rng: np.random.Generator | None
) -> np.ndarray:
    """(C, H, W) float64 ``image`` with its ``removed`` (H, W) pixels imputed."""
    channels = image.shape[0]
    values = image.reshape(channels, -1)
    out = values.copy()
    if not removed.any():
        return out.reshape(image.shape)
    matrix, unknown, rows = _system(removed)
    kept = values[:, dissection_order(*removed.shape)].T  # (HW, C) in elimination order
    kept[removed.reshape(-1)[dissection_order(*removed.shape)]] = 0
    rhs = -(rows @ kept)  # sum over the kept neighbours j of w_ij v_j
    factor = splu(
        matrix,
        permc_spec="NATURAL",  # the unknowns are numbered in nested-dissection order
        diag_pivot_thresh=0.0,
        options={"SymmetricMode": True},
    )
    out[:, unknown] = factor.solve(rhs).T
    if rng is not None:
        # drawn for the removed pixels in raster order, whatever the elimination order
        holes = np.flatnonzero(removed)
        out[:, holes] += noise[:, None] * rng.standard_normal((channels, holes.size))
    return out.reshape(image.shape)


def noise_per_channel(noise: float | Sequence[float], channels: int) -> np.ndarray:
    values = np.atleast_1d(np.asarray(noise, dtype=np.float64))
    if values.size == 1:
        values = np.repeat(values, channels)
    if values.size != channels or (values < 0).any():
        raise OptionError(f"noise must be one number >= 0 or one per channel, got {noise!r}")
    return values


def road_impute(
    images: torch.Tensor,
    removed_mask: torch.Tensor,
    noise: float | Sequence[float] = 0.01,
    seed: int = 0,
) -> torch.Tensor:
    """Noisy linear imputation (see :mod:`seewhy.metrics.imputation`) of ``images`` (N, C, H, W)
    or (C, H, W) where ``removed_mask`` (N, H, W) or (H, W) is True.

    ``noise`` is the standard deviation added to the removed values, in the units of
    ``images`` (one number, or one per channel); image ``i`` draws it from
    ``numpy.random.default_rng([seed, i])``. With ``noise=0`` the result is exactly the
    sparse solve. Returns a new tensor of the images' dtype and device.
    """
    single = images.dim() == 3
    batch = images[None] if single else images
    masks = torch.as_tensor(removed_mask)
    masks = masks[None] if masks.dim() == 2 else masks
    if batch.dim() != 4 or tuple(masks.shape) != (batch.shape[0], *batch.shape[2:]):
        raise OptionError(
            f"road_impute needs images (N, C, H, W) and a removed_mask (N, H, W) of the same "
            f"N, H, W, got {tuple(images.shape)} and {tuple(torch.as_tensor(removed_mask).shape)}"
        )
    sigma = noise_per_channel(noise, batch.shape[1])
    pixels = batch.detach().cpu().double().numpy()
    holes = masks.detach().cpu().numpy().astype(bool)
    if holes.reshape(holes.shape[0], -1).all(axis=1).any():
        raise OptionError("road_impute needs at least one kept pixel per image")
    out = np.stack(
        [
            impute_one(pixels[i], holes[i], sigma, np.random.default_rng([seed, i]))
            for i in range(batch.shape[0])
        ]
    )
    result = torch.from_numpy(out).to(images.device, images.dtype)
    return result[0] if single else result
